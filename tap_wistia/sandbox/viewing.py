"""Viewing-session events as the stats endpoint serves them: compact rows of pre-encoded JSON.

A served page is a join of 100 pre-encoded events, so everything that varies per event (key,
time, percent viewed, the email as typed) is spliced into pre-encoded fragments of the visitor and
the media here, once, when a day is generated. Rows keep only what paging and filtering need.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from tap_wistia.sandbox.catalog import ACCOUNT_HOST

if TYPE_CHECKING:
    from collections.abc import Mapping
    from random import Random

    from tap_wistia.sandbox.catalog import MediaProfile, VisitorProfile

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY_MS = 86_400_000
KEY_LAG_MS = 90_000
"""A session key's clock (the player's load time) runs at most this far ahead of received_at."""

ODD_KINDS = (
    "no_visitor",
    "deleted_media",
    "null_percent",
    "negative_percent",
    "over_percent",
    "text_percent",
)
"""The malformed events a real account produces now and then, for ``odd_events`` accounts."""

_LOAD_ONLY = 0.12
_FULL_VIEW = 0.05
_STAMP_WITHOUT_MILLIS = 0.1
_KEY_STYLE_UUID = 0.4
_PADDED_OR_CAPITALISED = 0.15
_PRE_ROLL = 0.1
_NUMBERED_GATE = 0.05
_TWO_POW_52 = float(2**52)
_VIEWING_SKEW = 1.7
"""Most sessions watch a little, few watch most: percent_viewed ~ uniform ** skew."""


class EventRow(NamedTuple):
    """One event in a day: sort/filter fields and its JSON, ready to be joined into a page."""

    ts_ms: int
    key: str
    media_id: str | None
    visitor_key: str | None
    blob: bytes


def row_order(row: EventRow) -> tuple[int, str]:
    """Oldest first, ties broken by key, so the order is total and deterministic."""
    return row.ts_ms, row.key


_MINUTES: dict[int, str] = {}
_MINUTE_CACHE = 200_000


def utc_stamp(ts_ms: int, *, millis: bool = True) -> str:
    """Wistia's received_at style: ``2025-10-17T17:24:53.000Z`` (or without ``.000``)."""
    seconds, ms = divmod(ts_ms, 1000)
    minute, second = divmod(seconds, 60)
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) >= _MINUTE_CACHE:
            _MINUTES.clear()
        moment = datetime.fromtimestamp(minute * 60, UTC)
        prefix = _MINUTES[minute] = moment.strftime("%Y-%m-%dT%H:%M:")
    if ms or millis:
        return f"{prefix}{second:02d}.{ms:03d}Z"
    return f"{prefix}{second:02d}Z"


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the epoch of an aware datetime (naive means UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_received_at(value: object) -> int | None:
    """Epoch milliseconds of a received_at string, or None when it is not an ISO timestamp."""
    if not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return epoch_ms(moment)


def session_key(rng: Random, ts_ms: int) -> str:
    """A unique session key in one of the two styles Wistia uses, tied to the session's time.

    ``1390862572596e0.8447021404281259`` (the player's clock in ms + a random fraction) or
    ``1760721_0a81a338-...`` (epoch seconds // 1000 + a UUID). Both carry the time, which lets
    ``Account.event`` find the day of a key without an index over the whole account.
    """
    loaded_ms = ts_ms - int(rng.random() * KEY_LAG_MS)
    if rng.random() < _KEY_STYLE_UUID:
        digits = f"{rng.getrandbits(128):032x}"
        variant = "89ab"[int(digits[16], 16) & 3]
        token = (
            f"{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-{variant}{digits[17:20]}-{digits[20:]}"
        )
        return f"{loaded_ms // 1_000_000}_{token}"
    return f"{loaded_ms}e{rng.getrandbits(52) / _TWO_POW_52:.16f}"


def key_window_ms(key: str) -> tuple[int, int] | None:
    """The received_at range a generated key can belong to, or None for a foreign key."""
    head, sep, _ = key.partition("_")
    if sep and head.isdigit():
        start = int(head) * 1_000_000
        return start, start + 1_000_000 + KEY_LAG_MS
    head, sep, tail = key.partition("e0.")
    if sep and head.isdigit() and tail.isdigit():
        start = int(head)
        return start, start + KEY_LAG_MS
    return None


class EventError(ValueError):
    """An event given to the sandbox cannot be stored (no key, or no usable received_at)."""


def row_from_event(event: Mapping[str, Any]) -> EventRow:
    """A row for an event given as a dict (added by a test, the admin API or page drift)."""
    key = event.get("event_key")
    if not isinstance(key, str) or not key:
        msg = f"event_key must be a non-empty string, got {key!r}"
        raise EventError(msg)
    ts_ms = parse_received_at(event.get("received_at"))
    if ts_ms is None:
        msg = f"event {key}: received_at must be an ISO timestamp, got {event.get('received_at')!r}"
        raise EventError(msg)
    media_id = event.get("media_id")
    visitor = event.get("visitor_key")
    return EventRow(
        ts_ms,
        key,
        media_id if isinstance(media_id, str) else None,
        visitor if isinstance(visitor, str) else None,
        msgspec.json.encode(event),
    )


class SessionWriter:
    """Renders one viewing-session event from a visitor, a media and a moment.

    The random draws per event are few and always in the same order, so a day regenerated in
    another process comes out byte for byte the same.
    """

    def __init__(self, ghosts: list[MediaProfile]) -> None:
        """Keep the deleted medias that odd events point at."""
        self._ghosts = ghosts

    def burst(  # noqa: PLR0913 - the facts of a burst of sessions, all required
        self,
        rng: Random,
        moments_ms: list[int],
        visitor: VisitorProfile,
        media: MediaProfile,
        *,
        away: bool = False,
        odd_share: float = 0.0,
    ) -> list[EventRow]:
        """Rows of a visitor's sessions on one media at the given moments.

        With ``odd_share`` > 0, that fraction of the events is malformed in one of the
        ``ODD_KINDS`` ways. This is the generator's hot loop (a million events per benchmark), so
        the per-burst fragments are looked up once and the per-event work is a few draws and one
        f-string.
        """
        random = rng.random
        place = visitor.away if away else visitor.home
        tail = f"{place},"
        thumbnail_and_agent = f"{media.event_thumbnail},{visitor.agent_fields}}}"
        embeds = media.embed_urls
        visitor_json = f'"{visitor.key}"'
        rows: list[EventRow] = []
        for ts_ms in moments_ms:
            odd = (
                ODD_KINDS[int(random() * len(ODD_KINDS))]
                if odd_share and random() < odd_share
                else None
            )
            key = session_key(rng, ts_ms)
            stamp = utc_stamp(ts_ms, millis=random() >= _STAMP_WITHOUT_MILLIS)
            percent = (
                _percent_text(rng)
                if odd is None or not odd.endswith("_percent")
                else _odd_percent(rng, odd)
            )
            embed = embeds[int(random() * len(embeds))]
            shown = (
                media if odd != "deleted_media" else self._ghosts[int(random() * len(self._ghosts))]
            )
            email, conversion_type, conversion = _identity_texts(rng, visitor, ts_ms)
            anonymous = odd == "no_visitor"
            text = (
                f'{{"event_key":"{key}","received_at":"{stamp}",'
                f'"visitor_key":{"null" if anonymous else visitor_json},'
                f'{shown.event_fields},"percent_viewed":{percent},"embed_url":{embed},{tail}'
                f'"email":{email},"conversion_type":{conversion_type},"conversion_data":{conversion},'
                f'"iframe_heatmap_url":"https://{ACCOUNT_HOST}/stats/events/{key}/heatmap",'
                f"{thumbnail_and_agent}"
            )
            rows.append(
                EventRow(
                    ts_ms,
                    key,
                    shown.hashed_id,
                    None if anonymous else visitor.key,
                    text.encode(),
                )
            )
        return rows


def _percent_text(rng: Random) -> str:
    draw = rng.random()
    if draw < _LOAD_ONLY:
        return "0.0"
    if draw < _LOAD_ONLY + _FULL_VIEW:
        return "1.0"
    return repr(rng.random() ** _VIEWING_SKEW)


def _odd_percent(rng: Random, odd: str) -> str:
    if odd == "null_percent":
        return "null"
    if odd == "negative_percent":
        return repr(-rng.random())
    if odd == "over_percent":
        return "1.7"
    return '"abc"'


def _identity_texts(rng: Random, visitor: VisitorProfile, ts_ms: int) -> tuple[str, str, str]:
    """email, conversion_type and conversion_data: empty until the visitor has converted."""
    if visitor.converts_at_ms is None or ts_ms < visitor.converts_at_ms:
        return "null", '""', "{}"
    spelling = 0
    if rng.random() < _PADDED_OR_CAPITALISED:
        spelling = 1 + int(rng.random() * (len(visitor.emails) - 1))
    draw = rng.random()
    conversion_type = '""'
    if draw < _PRE_ROLL:
        conversion_type = '"pre-roll"'
    elif draw < _PRE_ROLL + _NUMBERED_GATE:
        conversion_type = str(1 + int(rng.random() * 3))
    return visitor.emails[spelling], conversion_type, visitor.conversions[spelling]
