"""Viewing-session events as the stats endpoint serves them: compact rows of pre-encoded JSON.

A served page is a join of 100 pre-encoded events, so everything that varies per event (key,
time, percent viewed, the email as typed) is spliced into pre-encoded fragments of the visitor and
the media here, once, when a day is generated. Rows keep only what paging and filtering need.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

if TYPE_CHECKING:
    from collections.abc import Mapping
    from random import Random

    from tap_wistia.sandbox.catalog import MediaProfile, VisitorProfile

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
DAY_MS = 86_400_000
KEY_LAG_MS = 90_000
"""A session key carries the player's load time, at most this long before received_at."""

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
"""Share of sessions that load the player and watch nothing (percent_viewed exactly 0)."""
_LOAD_AND_FULL = 0.17
"""... plus the share that watch everything (exactly 1.0)."""
_NO_VIEW = "0.0"
_FULL = "1.0"
_STAMP_WITHOUT_MILLIS = 0.1
_KEY_STYLE_UUID = 0.4
_PADDED_OR_CAPITALISED = 0.15
_PRE_ROLL = 0.1
_NUMBERED_GATE = 0.05
_UUID_VARIANT = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
_VIEWING_SKEW = 1.7
"""Most sessions watch a little, few watch most: percent_viewed ~ uniform ** skew."""
HEATMAP_PREFIX = "https://api.wistia.com/v1/stats/events/"
"""Wistia's heatmap links: ``<prefix><event_key>/iframe.html?public_token=<token>``."""


_new_row = tuple.__new__
"""Builds an ``EventRow`` without NamedTuple's Python-level ``__new__`` (the hot path)."""


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


def _minute_prefix(minute: int) -> str:
    """``YYYY-MM-DDTHH:MM:`` of an epoch minute, cached: every event needs one."""
    prefix = _MINUTES.get(minute)
    if prefix is None:
        if len(_MINUTES) >= _MINUTE_CACHE:
            _MINUTES.clear()
        prefix = datetime.fromtimestamp(minute * 60, UTC).strftime("%Y-%m-%dT%H:%M:")
        _MINUTES[minute] = prefix
    return prefix


def utc_stamp(ts_ms: int, *, millis: bool = True) -> str:
    """Wistia's received_at style: ``2025-10-17T17:24:53.000Z`` (or without ``.000``)."""
    seconds, ms = divmod(ts_ms, 1000)
    minute, second = divmod(seconds, 60)
    if ms or millis:
        return f"{_minute_prefix(minute)}{second:02d}.{ms:03d}Z"
    return f"{_minute_prefix(minute)}{second:02d}Z"


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
        digits = rng.randbytes(16).hex()
        return (
            f"{loaded_ms // 1_000_000}_{digits[:8]}-{digits[8:12]}-4{digits[13:16]}-"
            f"{_UUID_VARIANT[digits[16]]}{digits[17:20]}-{digits[20:]}"
        )
    return f"{loaded_ms}e0.{rng.getrandbits(52):016d}"


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

    def __init__(self, ghosts: list[MediaProfile], heatmap_token: str) -> None:
        """Keep the deleted medias that odd events point at and the account's heatmap token."""
        self._ghosts = ghosts
        self._heatmap_tail = f'/iframe.html?public_token={heatmap_token}",'

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
        ``ODD_KINDS`` ways. This is the generator's hot loop (a million events per benchmark):
        the fragments shared by the burst are joined once, and each event costs a few draws and
        one f-string (about 5 µs).
        """
        random = rng.random
        after_stamp = f'","visitor_key":"{visitor.key}",{media.event_fields},"percent_viewed":'
        place = visitor.away if away else visitor.home
        after_key = f"{self._heatmap_tail}{media.event_thumbnail},{visitor.agent_fields}}}"
        embeds = media.embed_urls
        rows: list[EventRow] = []
        for ts_ms in moments_ms:
            if odd_share and random() < odd_share:
                rows.append(self._odd(rng, ts_ms, visitor, media, place))
                continue
            key = session_key(rng, ts_ms)
            seconds, ms = divmod(ts_ms, 1000)
            stamp = f"{_minute_prefix(seconds // 60)}{seconds % 60:02d}"
            if ms:
                stamp = f"{stamp}.{ms:03d}Z"
            else:
                stamp += ".000Z" if random() >= _STAMP_WITHOUT_MILLIS else "Z"
            draw = random()
            percent = (
                _NO_VIEW
                if draw < _LOAD_ONLY
                else _FULL
                if draw < _LOAD_AND_FULL
                else repr(random() ** _VIEWING_SKEW)
            )
            text = (
                f'{{"event_key":"{key}","received_at":"{stamp}{after_stamp}{percent},'
                f'"embed_url":{embeds[int(random() * len(embeds))]},{place},'
                f"{_identity(rng, visitor, ts_ms)}"
                f'"iframe_heatmap_url":"{HEATMAP_PREFIX}{key}{after_key}'
            )
            rows.append(
                _new_row(EventRow, (ts_ms, key, media.hashed_id, visitor.key, text.encode()))
            )
        return rows

    def _odd(
        self, rng: Random, ts_ms: int, visitor: VisitorProfile, media: MediaProfile, place: str
    ) -> EventRow:
        """A malformed event: no visitor, a deleted media, or an impossible percent_viewed."""
        odd = ODD_KINDS[int(rng.random() * len(ODD_KINDS))]
        if odd == "deleted_media":
            media = self._ghosts[int(rng.random() * len(self._ghosts))]
        key = session_key(rng, ts_ms)
        percent = _odd_percent(rng, odd) if odd.endswith("_percent") else _percent_text(rng)
        visitor_key = None if odd == "no_visitor" else visitor.key
        text = (
            f'{{"event_key":"{key}","received_at":"{utc_stamp(ts_ms)}",'
            f'"visitor_key":{msgspec.json.encode(visitor_key).decode()},{media.event_fields},'
            f'"percent_viewed":{percent},"embed_url":{media.embed_urls[0]},{place},'
            f"{_identity(rng, visitor, ts_ms)}"
            f'"iframe_heatmap_url":"{HEATMAP_PREFIX}{key}{self._heatmap_tail}'
            f"{media.event_thumbnail},{visitor.agent_fields}}}"
        )
        return EventRow(ts_ms, key, media.hashed_id, visitor_key, text.encode())


def _percent_text(rng: Random) -> str:
    draw = rng.random()
    if draw < _LOAD_ONLY:
        return _NO_VIEW
    if draw < _LOAD_AND_FULL:
        return _FULL
    return repr(rng.random() ** _VIEWING_SKEW)


def _odd_percent(rng: Random, odd: str) -> str:
    if odd == "null_percent":
        return "null"
    if odd == "negative_percent":
        return repr(-rng.random())
    if odd == "over_percent":
        return "1.7"
    return '"abc"'


_ANONYMOUS = '"email":null,"conversion_type":"","conversion_data":{},'


def _identity(rng: Random, visitor: VisitorProfile, ts_ms: int) -> str:
    """The email, conversion_type and conversion_data members: empty until the visitor converts.

    After converting, the email is sometimes typed capitalised or padded with spaces, and the
    gate that caught it is sometimes named ("pre-roll") or numbered.
    """
    if visitor.converts_at_ms is None or ts_ms < visitor.converts_at_ms:
        return _ANONYMOUS
    spelling = 0
    if rng.random() < _PADDED_OR_CAPITALISED:
        spelling = 1 + int(rng.random() * (len(visitor.emails) - 1))
    draw = rng.random()
    conversion_type = '""'
    if draw < _PRE_ROLL:
        conversion_type = '"pre-roll"'
    elif draw < _PRE_ROLL + _NUMBERED_GATE:
        conversion_type = str(1 + int(rng.random() * 3))
    return (
        f'"email":{visitor.emails[spelling]},"conversion_type":{conversion_type},'
        f'"conversion_data":{visitor.conversions[spelling]},'
    )
