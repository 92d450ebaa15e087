"""The viewing session record (`wistia_activity`) and its fingerprint."""

from __future__ import annotations

import hashlib
from datetime import datetime  # noqa: TC003 - a NamedTuple's field types are read at runtime
from operator import attrgetter
from typing import Any, NamedTuple

import msgspec

from tap_wistia.events import Details, format_timestamp

BY_END = attrgetter("ended_at", "session_id")
"""The order sessions are emitted in."""
# `repr` for anything JSON cannot hold (user_agent_details is arbitrary JSON, so only in theory).
_FINGERPRINT_JSON = msgspec.json.Encoder(enc_hook=repr)


class ViewingSession(NamedTuple):
    """One viewing session: the figures of one `wistia_activity` record.

    An immutable tuple, like `ViewEvent`: cheap to build, no per-instance dict.
    `user_agent_details` is kept as (key, value) pairs; `to_record` gives the object.
    """

    session_id: str
    visitor_key: str
    media_id: str
    media_name: str | None
    media_duration: float | None
    percent_viewed: float | None
    duration_viewed: float | None
    started_at: datetime
    ended_at: datetime
    event_count: int
    country: str | None
    region: str | None
    city: str | None
    org: str | None
    lat: float | None
    lon: float | None
    ip: str | None
    embed_url: str | None
    user_agent_details: Details | None
    email: str | None
    first_name: str | None
    last_name: str | None
    conversion_type: str | int | None

    def to_record(self) -> dict[str, Any]:
        """Give the `wistia_activity` record, timestamps in the canonical UTC form."""
        details = self.user_agent_details
        return {
            "session_id": self.session_id,
            "visitor_key": self.visitor_key,
            "media_id": self.media_id,
            "media_name": self.media_name,
            "media_duration": self.media_duration,
            "percent_viewed": self.percent_viewed,
            "duration_viewed": self.duration_viewed,
            "started_at": format_timestamp(self.started_at),
            "ended_at": format_timestamp(self.ended_at),
            "event_count": self.event_count,
            "country": self.country,
            "region": self.region,
            "city": self.city,
            "org": self.org,
            "lat": self.lat,
            "lon": self.lon,
            "ip": self.ip,
            "embed_url": self.embed_url,
            "user_agent_details": dict(details) if details is not None else None,
            "email": self.email,
            "first_name": self.first_name,
            "last_name": self.last_name,
            "conversion_type": self.conversion_type,
        }

    def fingerprint(self) -> str:
        """Give a short stable digest of every figure, to emit a session again only on change.

        Stable across processes (no `hash()`): it is compared with fingerprints stored in the
        state by earlier runs. The fields are encoded in their order as one JSON array, which
        is several times faster than encoding the record.
        """
        return hashlib.blake2b(_FINGERPRINT_JSON.encode(self), digest_size=8).hexdigest()
