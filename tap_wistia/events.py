"""One Wistia stats event, normalised for the `wistia_events` stream and for sessionizing.

Wistia serves `received_at` in several ISO-8601 spellings and, in bad data, `percent_viewed` as
null, a string or a number outside 0..1. Every event passes through here once per run, so this
module turns those into one canonical form cheaply, counts what was wrong (the caller logs the
counts once instead of once per event) and never raises on bad data.

Pure: no I/O, no logging, no Singer imports.
"""

from __future__ import annotations

import math
import sys
from collections import Counter
from collections.abc import Hashable, Mapping
from contextlib import suppress
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any, NamedTuple

MISSING_EVENT_KEY = "missing_event_key"
ODD_EVENT_KEY = "odd_event_key"
MISSING_VISITOR_KEY = "missing_visitor_key"
MISSING_MEDIA_ID = "missing_media_id"
BAD_PERCENT_VIEWED = "bad_percent_viewed"
PERCENT_OUT_OF_RANGE = "percent_out_of_range"
BAD_RECEIVED_AT = "bad_received_at"
UNKNOWN_MEDIA_DURATION = "unknown_media_duration"
NOT_AN_OBJECT = "not_an_object"

_PROBLEM_PHRASES = {
    MISSING_EVENT_KEY: "without event_key (emitted each, not sessionized)",
    ODD_EVENT_KEY: "with an event_key that is not a string (emitted, keys compared as sent, not "
    "sessionized)",
    MISSING_VISITOR_KEY: "without visitor_key (not sessionized)",
    MISSING_MEDIA_ID: "without media_id (not sessionized)",
    BAD_PERCENT_VIEWED: "with a null or non-numeric percent_viewed (kept as null)",
    PERCENT_OUT_OF_RANGE: "with percent_viewed outside 0..1 (kept in events, clamped in sessions)",
    BAD_RECEIVED_AT: "with an unparseable received_at (skipped)",
    UNKNOWN_MEDIA_DURATION: (
        "of a media deleted, without a duration or that does not play (duration_viewed null)"
    ),
    NOT_AN_OBJECT: "that are not JSON objects (skipped)",
}

Details = tuple[tuple[str, Any], ...]
"""A JSON object as its (key, value) pairs, in the order given: immutable and shareable."""

# Lengths of the canonical-able Zulu forms: "YYYY-MM-DDTHH:MM:SSZ" and ".f" to ".ffffff" + "Z".
_Z_SHORT = 20
_Z_LONGEST = 27


class EventProblems(Counter[str]):
    """Counts of bad-data problems met while reading events, by name.

    Bad data must never crash a run nor vanish silently: each problem is counted here so the tap
    can log one readable line per run (`summary()`) instead of one line per event.
    """

    def summary(self) -> str:
        """Describe the counts in one line a user can read in the tap's log."""
        parts = []
        for name, count in sorted(self.items(), key=_problem_order):
            if count <= 0:
                continue
            noun = "event" if count == 1 else "events"
            phrase = _PROBLEM_PHRASES.get(name, f"with problem {name!r}")
            parts.append(f"{count} {noun} {phrase}")
        return ", ".join(parts) if parts else "no event problems"

    def merge(self, other: Mapping[str, int]) -> None:
        """Add another counter's counts (e.g. from a second stream or a retried page) to these."""
        self.update(other)


def _problem_order(item: tuple[str, int]) -> tuple[int, str]:
    """Known problems first, in their documented order, so summaries read the same every run."""
    names = list(_PROBLEM_PHRASES)
    name = item[0]
    return (names.index(name) if name in names else len(names), name)


def format_timestamp(dt: datetime) -> str:
    """Give the canonical UTC form `YYYY-MM-DDTHH:MM:SS.ffffffZ` of a datetime.

    The SDK compares bookmarks as strings: one fixed-width form makes string order equal time
    order. A naive datetime is taken as UTC.
    """
    offset = dt.utcoffset()
    if offset:
        dt = dt.astimezone(UTC)
    return "%04d-%02d-%02dT%02d:%02d:%02d.%06dZ" % (  # noqa: UP031 - the fastest spelling
        dt.year,
        dt.month,
        dt.day,
        dt.hour,
        dt.minute,
        dt.second,
        dt.microsecond,
    )


def parse_timestamp(value: object) -> datetime | None:
    """Read Wistia's timestamp spellings into an aware UTC datetime, or None when unparseable.

    Accepts `...53.000Z`, `...53Z`, `+00:00` and other offsets (converted to UTC), naive forms
    (taken as UTC) and datetime objects. Never raises: a bad timestamp is bad data to count.
    """
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return _parse_loose(value)
    elif isinstance(value, datetime):
        parsed = value
    else:
        return None
    if parsed.tzinfo is UTC:
        return parsed
    return _as_utc(parsed)


def _parse_loose(text: str) -> datetime | None:
    """Second chance for spellings `fromisoformat` refuses: surrounding spaces, a lower-case z."""
    cleaned = text.strip()
    if cleaned[-1:] == "z":
        cleaned = cleaned[:-1] + "Z"
    cleaned = cleaned.replace("t", "T", 1)
    if cleaned == text:
        return None
    try:
        return _as_utc(datetime.fromisoformat(cleaned))
    except ValueError:
        return None


def _as_utc(parsed: datetime) -> datetime | None:
    """Convert to UTC; None when the conversion leaves datetime's range (year 1 or 9999)."""
    if parsed.utcoffset() is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        return None


def _canonical_text(text: str, parsed: datetime) -> str:
    """Canonical form of a timestamp, by slicing when Wistia sent the usual Zulu spelling.

    `format_timestamp` costs about a microsecond; most events arrive as `...53.000Z` or `...53Z`,
    which only need their fraction padded.
    """
    size = len(text)
    if (
        _Z_SHORT <= size <= _Z_LONGEST
        and text[-1] == "Z"
        and text[10] == "T"
        and text[4] == "-"
        and text[13] == ":"
        and text[16] == ":"
    ):
        if size == _Z_SHORT:
            return text[:19] + ".000000Z"
        fraction = text[20:-1]
        if text[19] == "." and fraction.isdigit() and fraction.isascii():
            return text[:20] + fraction.ljust(6, "0") + "Z"
    return format_timestamp(parsed)


def read_percent(value: object) -> float | None:
    """Return percent_viewed as a finite float, or None when null, non-numeric or not finite.

    Numeric strings ("0.5") are read as numbers; booleans are not numbers here.
    """
    if type(value) is float:
        number = value
    elif isinstance(value, int) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def normalize_event(raw: Mapping[str, Any], problems: EventProblems) -> dict[str, Any] | None:
    """Build the `wistia_events` record: the API object with canonical received_at and percent.

    `percent_viewed` becomes a float or None (null/non-numeric, counted); numbers outside 0..1
    are kept as sent (counted: sessions clamp them). An event_key missing or not a string is
    counted (the record keeps it as sent, see `copy_key`). Returns None only when received_at
    cannot be read (counted): such an event cannot be placed in time, so the caller logs its
    event_key.
    """
    received = raw.get("received_at")
    parsed = parse_timestamp(received)
    if parsed is None:
        problems[BAD_RECEIVED_AT] += 1
        return None
    key = raw.get("event_key")
    if type(key) is not str:
        problems[MISSING_EVENT_KEY if key is None else ODD_EVENT_KEY] += 1
    elif not key.strip():
        problems[MISSING_EVENT_KEY] += 1
    record = dict(raw)
    if isinstance(received, str):
        record["received_at"] = _canonical_text(received, parsed)
    else:
        record["received_at"] = format_timestamp(parsed)
    percent = read_percent(raw.get("percent_viewed"))
    if percent is None:
        problems[BAD_PERCENT_VIEWED] += 1
    elif not 0.0 <= percent <= 1.0:
        problems[PERCENT_OUT_OF_RANGE] += 1
    record["percent_viewed"] = percent
    return record


class Viewing(NamedTuple):
    """What one event says about its viewer and where they watched, besides identity and time.

    Everything a viewing session reports apart from ids, times and percent. Consecutive events
    of one viewer usually say exactly the same, so `view_event` shares one tuple between them
    (see `_shared_viewing`): a held event then costs its own five fields and a pointer.
    Identity fields are already cleaned (None when empty); location fields are as the event gave
    them; `user_agent_details` is a shared tuple of (key, value) pairs.
    """

    media_name: str | None = None
    country: str | None = None
    region: str | None = None
    city: str | None = None
    org: str | None = None
    lat: float | None = None
    lon: float | None = None
    ip: str | None = None
    embed_url: str | None = None
    user_agent_details: Details | None = None
    email: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    conversion_type: str | int | None = None


NO_VIEWING = Viewing()
"""The viewing of an event that reports nothing besides its identity, time and percent."""


class ViewEvent(NamedTuple):
    """The compact form of one event that the sessionizer needs; the raw dict is not kept.

    A run holds a day of these (tens of thousands on a busy account), so this is an immutable
    tuple of five fields and a shared `Viewing` (no per-instance dict; built several times faster
    than a frozen dataclass). Repeated identifiers are interned; the event_key, unique, is not.
    `received_at` is an aware UTC datetime; `percent_viewed` is clamped to 0..1 (None when
    unknown).
    """

    event_key: str
    visitor_key: str
    media_id: str
    received_at: datetime
    percent_viewed: float | None
    viewing: Viewing = NO_VIEWING


def copy_key(key: object) -> Hashable | None:
    """What tells copies of an event apart: its event_key as Wistia sent it, or None.

    A string is itself. Another scalar keeps its type (`123` and `"123"` are two events, and so
    are `1` and `true`); a key that is missing, blank or not a scalar (a list, an object) is
    None: such an event cannot be told from another, so each copy is taken.
    """
    if type(key) is str:
        return key if key.strip() else None
    if isinstance(key, int | float):  # bool is an int: the type keeps them apart
        return (type(key), key)
    return None


def view_event(record: Mapping[str, Any], problems: EventProblems) -> ViewEvent | None:
    """Compact a normalised record (from `normalize_event`) for sessionizing.

    Returns None, counting why, for an event that cannot be sessionized: no visitor_key or no
    media_id (each missing one is counted; the events stream still emits the record), or an
    event_key that is missing or not a string (counted by `normalize_event`: sessions are
    named after their first event's key, a string, and `123` must not merge with `"123"`).
    Percent problems are not counted again here: `normalize_event` counted them.
    """
    event_key = record.get("event_key")
    if type(event_key) is not str or not event_key.strip():
        event_key = None
    visitor_key = _key(record.get("visitor_key"))
    media_id = _key(record.get("media_id"))
    received_at = parse_timestamp(record.get("received_at"))
    if visitor_key is None:
        problems[MISSING_VISITOR_KEY] += 1
    if media_id is None:
        problems[MISSING_MEDIA_ID] += 1
    if received_at is None:
        problems[BAD_RECEIVED_AT] += 1
    if event_key is None or visitor_key is None or media_id is None or received_at is None:
        return None
    percent = read_percent(record.get("percent_viewed"))
    if percent is not None:
        percent = 0.0 if percent <= 0.0 else min(percent, 1.0)  # no -0.0 in sessions
    conversion = record.get("conversion_data")
    if not isinstance(conversion, Mapping):
        conversion = {}
    get = record.get
    # Positional, in field order: keyword calls cost more than the rest of this function.
    viewing = Viewing(
        _filled(get("media_name")),
        _text(get("country")),
        _text(get("region")),
        _text(get("city")),
        _text(get("org")),
        _number(get("lat")),
        _number(get("lon")),
        _text(get("ip")),
        _text(get("embed_url")),
        _details(get("user_agent_details")),
        _email(get("email")) or _email(conversion.get("email")),
        _filled(conversion.get("first_name")),
        _filled(conversion.get("last_name")),
        _conversion_type(get("conversion_type")),
    )
    with suppress(TypeError):  # user_agent_details with a nested object or list: not shared
        viewing = _shared_viewing(viewing, id(viewing.user_agent_details))
    return ViewEvent(event_key, visitor_key, media_id, received_at, percent, viewing)


@lru_cache(maxsize=1024)
def _shared_viewing(viewing: Viewing, details: int) -> Viewing:  # noqa: ARG001 - cache key
    """One tuple per distinct viewing among the recent ones (bounded cache: pure memoization).

    A visitor's burst of events on a media says the same about them; sharing the tuple keeps a
    held event at about a third of its size. The tap walks each day and holds only the events
    around the page it reads, so the recent viewings are enough: a bigger cache would only
    keep more of the account's viewers alive. Shared viewings are equal field by field and of
    the same types: `details`, the identity of the (already shared, type-exact)
    user_agent_details, keeps `{"mobile": true}` and `{"mobile": 1}`, which Python deems equal,
    apart; coordinates have no -0.0 (`_number`).
    """
    return viewing


def _key(value: object) -> str | None:
    """An identifier as a string; None when absent or blank (ints, seen in odd data, are kept).

    Repeated identifiers (visitors, medias) are interned, so held events share one copy.
    """
    if isinstance(value, str):
        if not value.strip():
            return None
        return sys.intern(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _text(value: object) -> str | None:
    """A text field as given (interned: cities and orgs repeat); scalars become text."""
    if isinstance(value, str):
        return sys.intern(value)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    return None


def _filled(value: object) -> str | None:
    """A text field trimmed, or None when blank: 'latest non-empty' skips the Nones."""
    text = _text(value)
    if text is None:
        return None
    text = text.strip()
    return sys.intern(text) if text else None


def _email(value: object) -> str | None:
    """An email trimmed and lower-cased (Wistia keeps what the viewer typed); None when blank."""
    if not isinstance(value, str):
        return None
    return value.strip().lower() or None


def _number(value: object) -> float | None:
    """A coordinate as a finite float (-0.0 read as 0.0), or None."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value) + 0.0  # IEEE: -0.0 + 0.0 is 0.0
        return number if math.isfinite(number) else None
    return None


def _details(value: object) -> Details | None:
    """user_agent_details as shared pairs: thousands of events carry the same few objects."""
    if not isinstance(value, Mapping):
        return None
    pairs = tuple(value.items())
    try:
        return _shared_details(pairs, tuple([type(item) for _, item in pairs]))
    except TypeError:  # a nested object or list: still kept, only not shared
        return pairs


@lru_cache(maxsize=1024)
def _shared_details(pairs: Details, types: tuple[type, ...]) -> Details:  # noqa: ARG001 - key
    """One tuple per distinct user_agent_details (bounded cache: pure memoization).

    `types` keeps apart values Python deems equal across types (true, 1 and 1.0).
    """
    return pairs


def _conversion_type(value: object) -> str | int | None:
    """Wistia sends "" (no conversion), a name such as "pre-roll", or an int; blank is None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return _filled(value)
