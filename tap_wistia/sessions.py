"""Viewing sessions: a visitor's events on one media, grouped while they are close in time.

Wistia calls each event a "session", but one viewing often yields several events minutes apart;
Lytics wants one record per viewing with the time actually watched. `sessionize` is the pure
definition; `ActivityBuilder` and `Carry` compute the same sessions across hourly runs that cut
sessions at arbitrary points, emitting each session again only when its figures changed, with
bounded memory and bounded state.

Definition (events deduplicated by event_key first, see `dedupe`): a session is a run of events
of one visitor_key on one media_id, ordered by (received_at, event_key), in which each event
follows the previous one by at most `gap` (a zero gap makes every event its own session).
Its id is the event_key of its first event. Events with an unknown percent_viewed count in
event_count and the latest-value fields but add nothing to percent_viewed or duration_viewed;
a session whose events all have unknown percent has both null. duration_viewed is
the sum of percent_viewed * media duration, null when the duration is unknown: never a guess.

Pure: no I/O, no logging, no Singer imports; the caller logs the counts in `EventProblems`.
"""

from __future__ import annotations

import gc
import hashlib
import heapq
import math
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from operator import attrgetter
from typing import Any, NamedTuple, overload

import msgspec

from tap_wistia.events import (
    UNKNOWN_MEDIA_DURATION,
    Details,
    EventProblems,
    ViewEvent,
    format_timestamp,
    parse_timestamp,
)

STATE_VERSION = 1

_BY_TIME = attrgetter("received_at", "event_key")
_BY_END = attrgetter("ended_at", "session_id")
_RECEIVED = attrgetter("received_at")
# `repr` for anything JSON cannot hold (user_agent_details is arbitrary JSON, so only in theory).
_FINGERPRINT_JSON = msgspec.json.Encoder(enc_hook=repr)
_NO_GAP = timedelta(0)


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


_PACK = msgspec.msgpack.Encoder()
_UNPACK = msgspec.msgpack.Decoder(ViewingSession).decode
_EPOCH = datetime(1, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def _pack(session: ViewingSession) -> bytes | None:
    """One bytes object that sorts as the session does by (ended_at, session_id), or None.

    Layout: ended_at (8 bytes, microseconds, big-endian), session_id (UTF-8), NUL, the events
    counted as of unknown duration (4 bytes), then the session in msgpack: what a settle needs
    to decide on most sessions (`_packed_facts`) is read without unpacking them.

    About 0.4 KB where the session's objects take about 0.75 KB, and one object instead of a
    dozen. None when msgpack cannot hold it exactly (an integer beyond 64 bits, a lone UTF-16
    surrogate, a NUL in the session_id): such a session is kept as it is.
    """
    try:
        identity = session.session_id.encode()
        body = _PACK.encode(session)
        order = (session.ended_at - _EPOCH) // _MICROSECOND
    except (OverflowError, TypeError, ValueError):  # UnicodeEncodeError is a ValueError
        return None
    if b"\0" in identity:
        return None
    unknown = session.event_count if session.media_duration is None else 0
    return b"".join((order.to_bytes(8, "big"), identity, b"\0", unknown.to_bytes(4, "big"), body))


def _unpack(packed: bytes) -> ViewingSession:
    """The session `_pack` packed, equal to it field for field."""
    return _UNPACK(memoryview(packed)[packed.index(b"\0", 8) + 5 :])


def _packed_facts(packed: bytes) -> tuple[datetime, str, int]:
    """A packed session's ended_at, session_id and events of unknown duration, not unpacking it."""
    end = packed.index(b"\0", 8)
    ended = _EPOCH + int.from_bytes(packed[:8], "big") * _MICROSECOND
    return ended, packed[8:end].decode(), int.from_bytes(packed[end + 1 : end + 5], "big")


class Sessions(Sequence[ViewingSession]):
    """The sessions a settle emits, sorted by (ended_at, session_id), decoded as they are read.

    A busy day's swept sessions wait for their settle packed (`_pack`); unpacking them all at
    once would hold the day's sessions as objects again, so they are unpacked one at a time,
    merged with the sessions computed at the settle. Compares equal to a list of the same
    sessions.
    """

    __slots__ = ("_packed", "_whole")

    def __init__(self, packed: list[bytes], whole: list[ViewingSession]) -> None:
        """Both lists sorted: `packed` as bytes, `whole` by (ended_at, session_id)."""
        self._packed = packed
        self._whole = whole

    def __len__(self) -> int:
        """How many sessions."""
        return len(self._packed) + len(self._whole)

    def __iter__(self) -> Iterator[ViewingSession]:
        """The sessions in order, each unpacked only when its turn comes."""
        unpacked = map(_unpack, self._packed)
        if not self._whole:
            return unpacked
        if not self._packed:
            return iter(self._whole)
        return heapq.merge(unpacked, self._whole, key=_BY_END)

    @overload
    def __getitem__(self, index: int) -> ViewingSession: ...
    @overload
    def __getitem__(self, index: slice) -> list[ViewingSession]: ...
    def __getitem__(self, index: int | slice) -> ViewingSession | list[ViewingSession]:
        """A session by position (unpacks those before it: for tests and small settles)."""
        return list(self)[index]

    def __eq__(self, other: object) -> bool:
        """Equal to any sequence of the same sessions in the same order."""
        if isinstance(other, Sequence):
            return list(self) == list(other)
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable-like: compared by content

    def __repr__(self) -> str:
        """The sessions, as a list would show them."""
        return f"Sessions({list(self)!r})"


def dedupe(events: Iterable[ViewEvent]) -> list[ViewEvent]:
    """Keep one copy per event_key: the highest percent_viewed (None lowest), then the latest.

    Wistia pages shift while a run reads them (the same event on two pages) and a re-read
    lookback window serves events again, possibly with a grown percent_viewed.
    """
    return list(_dedupe(events, {}).values())


def _dedupe(events: Iterable[ViewEvent], kept: dict[str, ViewEvent]) -> dict[str, ViewEvent]:
    """Fold events into `kept` (event_key → preferred copy) and return it."""
    for event in events:
        key = event.event_key
        held = kept.setdefault(key, event)
        if held is not event and _prefer(event, held):
            kept[key] = event
    return kept


def _prefer(new: ViewEvent, old: ViewEvent) -> bool:
    """Whether `new` is the better copy of the same event (a total order: input order is moot)."""
    new_percent, old_percent = new.percent_viewed, old.percent_viewed
    if new_percent != old_percent:
        if new_percent is None:
            return False
        return old_percent is None or new_percent > old_percent
    if new.received_at != old.received_at:
        return new.received_at > old.received_at
    return repr(new) > repr(old)


def sessionize(
    events: Iterable[ViewEvent],
    durations: Mapping[str, float | None],
    gap: timedelta,
) -> list[ViewingSession]:
    """Group events into viewing sessions: the pure definition every run must agree with.

    Any input order and duplicate copies give the same result. `durations` maps media_id to
    seconds (None or absent: deleted or not a video). Sessions come sorted by
    (ended_at, session_id). Linear in events apart from a sort per visitor and media.
    """
    _check_span("gap", gap)
    media = _MediaDurations(durations)
    with _collector_paused():
        runs = _runs(_dedupe(events, {}).values(), gap)
        sessions = [_session(run, media.of(run[0].media_id)) for run in runs]
        sessions.sort(key=_BY_END)
    return sessions


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause CPython's cycle collector while sessionizing, resuming it if it was running.

    Sessionizing allocates about one container per event (groups, sessions) and frees none
    before it returns, so the collector would rescan every held event several times: 40% of
    the time measured. Nothing here creates reference cycles, so nothing is left uncollected.
    """
    running = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if running:
            gc.enable()


def _runs(events: Iterable[ViewEvent], gap: timedelta) -> list[list[ViewEvent]]:
    """Split deduplicated events into the event lists of sessions, each in time order."""
    return [run for group in _groups(events).values() for run in _group_runs(group, gap)]


def _groups(events: Iterable[ViewEvent]) -> dict[tuple[str, str], list[ViewEvent]]:
    """Deduplicated events by (visitor_key, media_id), in input order."""
    groups: dict[tuple[str, str], list[ViewEvent]] = {}
    for event in events:
        key = (event.visitor_key, event.media_id)
        group = groups.get(key)
        if group is None:
            groups[key] = [event]
        else:
            group.append(event)
    return groups


def _group_runs(group: list[ViewEvent], gap: timedelta) -> list[list[ViewEvent]]:
    """The sessions of one visitor's events on one media, each in time order."""
    if gap <= _NO_GAP:
        return [[event] for event in group]
    if len(group) == 1:
        return [group]
    runs: list[list[ViewEvent]] = []
    _split(group, gap, runs)
    return runs


def _split(group: list[ViewEvent], gap: timedelta, runs: list[list[ViewEvent]]) -> None:
    """Append the sessions of one visitor's events on one media to `runs`.

    Sorting on received_at alone is cheaper; the rare equal received_at sends the group back
    through the full (received_at, event_key) order, which makes the result independent of
    the input order.
    """
    mark = len(runs)
    group.sort(key=_RECEIVED)
    start = 0
    last = group[0].received_at
    for index in range(1, len(group)):
        moment = group[index].received_at
        if moment == last and group[index - 1].event_key > group[index].event_key:
            del runs[mark:]
            group.sort(key=_BY_TIME)
            _split_sorted(group, gap, runs)
            return
        if moment - last > gap:
            runs.append(group[start:index])
            start = index
        last = moment
    runs.append(group[start:] if start else group)


def _split_sorted(group: list[ViewEvent], gap: timedelta, runs: list[list[ViewEvent]]) -> None:
    """Append the sessions of a group already in (received_at, event_key) order."""
    start = 0
    for index in range(1, len(group)):
        if group[index].received_at - group[index - 1].received_at > gap:
            runs.append(group[start:index])
            start = index
    runs.append(group[start:] if start else group)


def _session(run: list[ViewEvent], duration: float | None) -> ViewingSession:
    """Compute one session's figures from its events in time order."""
    first, latest = run[0], run[-1]
    best = first.percent_viewed
    named, place = first.viewing, latest.viewing
    media_name, email = named.media_name, named.email
    first_name, last_name = named.first_name, named.last_name
    conversion_type = named.conversion_type
    viewed: float | None = None
    if len(run) == 1:
        if best is not None and duration is not None:
            viewed = best * duration
    else:
        best, viewed = _percent_and_time(run, duration)
        for event in run:
            viewing = event.viewing
            if viewing is named:  # shared: the same values as already taken
                continue
            named = viewing
            if viewing.media_name is not None:
                media_name = viewing.media_name
            if viewing.email is not None:
                email = viewing.email
            if viewing.first_name is not None:
                first_name = viewing.first_name
            if viewing.last_name is not None:
                last_name = viewing.last_name
            if viewing.conversion_type is not None:
                conversion_type = viewing.conversion_type
    # Positional, in field order: keyword calls would cost as much as the figures above.
    return ViewingSession(
        first.event_key,
        first.visitor_key,
        first.media_id,
        media_name,
        duration,
        best,
        viewed,
        first.received_at,
        latest.received_at,
        len(run),
        place.country,
        place.region,
        place.city,
        place.org,
        place.lat,
        place.lon,
        place.ip,
        place.embed_url,
        place.user_agent_details,
        email,
        first_name,
        last_name,
        conversion_type,
    )


def _percent_and_time(
    run: list[ViewEvent], duration: float | None
) -> tuple[float | None, float | None]:
    """Highest known percent and the sum of percent * duration, in time order (stable floats)."""
    known = [event.percent_viewed for event in run if event.percent_viewed is not None]
    if not known:
        return None, None
    if duration is None:
        return max(known), None
    return max(known), sum([percent * duration for percent in known], 0.0)


class _MediaDurations:
    """Media durations read once per media: seconds as a finite float ≥ 0, else None."""

    __slots__ = ("_cache", "_durations")

    def __init__(self, durations: Mapping[str, float | None]) -> None:
        self._durations = durations
        self._cache: dict[str, float | None] = {}

    def of(self, media_id: str) -> float | None:
        """Duration of one media; None when deleted, not a video or nonsense."""
        try:
            return self._cache[media_id]
        except KeyError:
            pass
        value: object = self._durations.get(media_id)
        seconds: float | None = None
        if isinstance(value, int | float) and not isinstance(value, bool):
            number = float(value)
            if math.isfinite(number) and number >= 0:
                seconds = number
        self._cache[media_id] = seconds
        return seconds


def _check_span(name: str, span: timedelta) -> None:
    """Refuse negative settings early, naming the setting."""
    if span < _NO_GAP:
        msg = f"{name} must be zero or positive, got {span}"
        raise ValueError(msg)


@dataclass(frozen=True, slots=True)
class Carry:
    """What one run leaves to the next so that hourly runs agree with one big run.

    - `watermark`: every event received before it was fed, and every session that ended before
      `watermark - gap` was emitted.
    - `horizon`: sessions that ended before it are final (emitted by an earlier run); a later
      run never emits them again, as it may see only their tail. Sessions ending at or after it
      are "in the window": the next run recomputes them whole. Normally
      `watermark - lookback - gap`; it never moves back, so raising `lookback` is safe. None
      (a hand-built carry) means `watermark - lookback - gap` of the builder that reads it.
    - `reread_from`: earliest start of a session in the window (None when the window is empty):
      the next run re-reads events from there so those sessions are recomputed whole.
    - `emitted`: session_id → fingerprint last emitted, only for sessions in the window, so its
      size follows the activity of the window, never the history.
    """

    watermark: datetime
    reread_from: datetime | None
    emitted: dict[str, str] = field(default_factory=dict)
    horizon: datetime | None = None

    def to_state(self) -> dict[str, Any]:
        """Give a JSON-able form for the tap's state (timestamps canonical, fingerprints hex)."""
        return {
            "version": STATE_VERSION,
            "watermark": format_timestamp(self.watermark),
            "horizon": _format_optional(self.horizon),
            "reread_from": _format_optional(self.reread_from),
            "emitted": dict(self.emitted),
        }

    @classmethod
    def from_state(cls, state: object) -> Carry | None:
        """Read `to_state`'s form back; None when there is none yet (None or empty: first run).

        Raises:
            UnreadableStateError: (a ValueError) the stored state is malformed. Guessing
                would re-emit or skip sessions silently; the message says how to rebuild it.
        """
        if state is None or (isinstance(state, Mapping) and not state):
            return None
        if not isinstance(state, Mapping):
            problem = f"expected an object, got {type(state).__name__}"
            raise UnreadableStateError(problem)
        version = state.get("version", STATE_VERSION)
        if version != STATE_VERSION:
            problem = f"version {version!r} is not {STATE_VERSION}; upgrade the tap"
            raise UnreadableStateError(problem)
        watermark = parse_timestamp(state.get("watermark"))
        if watermark is None:
            problem = f"watermark {state.get('watermark')!r} is not a timestamp"
            raise UnreadableStateError(problem)
        emitted = state.get("emitted", {})
        if not isinstance(emitted, Mapping) or not all(
            isinstance(key, str) and isinstance(value, str) for key, value in emitted.items()
        ):
            problem = "emitted must map session ids to fingerprint strings"
            raise UnreadableStateError(problem)
        return cls(
            watermark=watermark,
            reread_from=_parse_optional(state, "reread_from"),
            emitted=dict(emitted),
            horizon=_parse_optional(state, "horizon"),
        )


def _format_optional(moment: datetime | None) -> str | None:
    return None if moment is None else format_timestamp(moment)


def _parse_optional(state: Mapping[str, Any], key: str) -> datetime | None:
    """An optional timestamp of the state; a present but unreadable one is an error."""
    value = state.get(key)
    if value is None:
        return None
    moment = parse_timestamp(value)
    if moment is None:
        problem = f"{key} {value!r} is not a timestamp"
        raise UnreadableStateError(problem)
    return moment


class WalkBrokenError(Exception):
    """An event broke the newest-first order a walk relies on, where the walk swept sessions.

    Nothing wrong has been emitted: swept sessions wait for the settle. See
    `ActivityBuilder.abandon_walk`.
    """

    def __init__(self, event: ViewEvent, why: str) -> None:
        """Name the event and what about it breaks the order."""
        self.event = event
        super().__init__(
            f"event {event.event_key} received at {format_timestamp(event.received_at)} breaks "
            f"the newest-first order: {why}"
        )


class _Waiting:
    """A visitor-and-media group's walked events not yet swept, and the oldest of them."""

    __slots__ = ("keys", "oldest")

    def __init__(self, oldest: datetime, key: str) -> None:
        self.oldest = oldest
        self.keys = [key]


class _Walk:
    """What a walk has read (see `ActivityBuilder.start_walk`)."""

    __slots__ = (
        "decided_from",
        "disordered",
        "newest",
        "oldest",
        "pending",
        "still",
        "swept_before",
        "swept_keys",
        "swept_mark",
    )

    def __init__(self, swept_mark: int, *, still: bool) -> None:
        self.swept_mark = swept_mark  # where this walk's sessions begin in the builder's list
        self.still = still  # see `ActivityBuilder.start_walk`
        self.oldest: datetime | None = None
        self.newest: datetime | None = None
        self.decided_from: datetime | None = None  # earliest start of a session swept or kept
        # hash() of each swept event_key: an event's key string is then freed with the event.
        # Two keys of one day sharing a 64-bit hash would only make the walk break for nothing
        # (a re-read of the day), never a wrong session. A still walk keeps two sweeps' worth.
        self.swept_keys: set[int] = set()
        self.swept_before: set[int] = set()
        self.disordered = False  # an event came newer than one walked before it
        # Oldest first in the order of the walk: groups the walk left behind come first.
        self.pending: OrderedDict[tuple[str, str], _Waiting] = OrderedDict()

    def take(self, event: ViewEvent, gap: timedelta) -> None:
        """Check a new event (not a copy of a held one) against the order and queue it.

        Raises:
            WalkBrokenError: it is a copy of a swept event, or newer than an event walked
                before it and within `gap` of a session the walk has already decided.
        """
        key, moment = event.event_key, event.received_at
        hashed = hash(key)
        if hashed in self.swept_keys or hashed in self.swept_before:
            raise WalkBrokenError(event, "a copy of an event already swept")
        if self.oldest is None or moment <= self.oldest:
            self.oldest = moment
        elif self.decided_from is not None and moment >= self.decided_from - gap:
            raise WalkBrokenError(
                event, f"it comes after one received at {format_timestamp(self.oldest)}"
            )
        else:
            self.disordered = True
        if self.newest is None or moment > self.newest:
            self.newest = moment
        group = (event.visitor_key, event.media_id)
        waiting = self.pending.get(group)
        if waiting is None:
            self.pending[group] = _Waiting(moment, key)
            return
        waiting.keys.append(key)
        waiting.oldest = min(waiting.oldest, moment)
        self.pending.move_to_end(group)

    def forget_old_sweeps(self) -> None:
        """Before a sweep: a still walk forgets the events swept before the last sweep."""
        if self.still:
            self.swept_before, self.swept_keys = self.swept_keys, set()

    def decided(self, started_at: datetime) -> None:
        """A session starting at `started_at` was swept or left to the settle: guard it."""
        if self.decided_from is None or started_at < self.decided_from:
            self.decided_from = started_at


class UnreadableStateError(ValueError):
    """The stored carry is malformed: guessing would re-emit or skip sessions silently."""

    def __init__(self, problem: str) -> None:
        """Say what is wrong and how to rebuild the state."""
        super().__init__(
            f"The stored wistia_activity state is unreadable: {problem}. Clear the tap's "
            "state (e.g. `meltano state clear <state id>`) to rebuild activity from start_date."
        )


def fetch_start(carry: Carry | None, *, lookback: timedelta, default: datetime) -> datetime:
    """Where the next run must start reading events.

    Far enough back to re-read the lookback (late percent_viewed updates) and every event of the
    sessions in the carry's window (so they are recomputed whole); `default` on a first run.
    """
    if carry is None:
        return default
    start = carry.watermark - lookback
    if carry.reread_from is not None and carry.reread_from < start:
        return carry.reread_from
    return start


class ActivityBuilder:
    """Build the viewing sessions of one run incrementally, agreeing with `sessionize`.

    Feed every event read since `fetch_start(carry, ...)` with `add` (any order), declare
    progress with `settle(watermark)` (e.g. after each day read) and end with
    `finish(watermark)`. Each call returns the sessions to emit now (`Sessions`, sorted by
    (ended_at, session_id), unpacked as they are read); `carry` is the state to store
    afterwards. Memory holds the events of sessions still open plus those added since the
    last settle; closed sessions are freed.

    A busy day holds tens of thousands of events until its settle. Wistia pages a day newest
    first, so a caller reading that way can *walk* it (`start_walk`, `add` newest first, `sweep`
    after each page): the sessions that order proves complete are computed early and their
    events freed; only the sessions wait for the settle, packed. The order is observed, not
    documented, so it is checked: an event that breaks it near a swept session raises
    `WalkBrokenError`, and the caller gives up the walk (`abandon_walk`) and adds that unit's
    events again. Walking or not, the sessions emitted are the same.
    """

    def __init__(
        self,
        durations: Mapping[str, float | None],
        *,
        gap: timedelta,
        lookback: timedelta,
        carry: Carry | None,
        problems: EventProblems | None = None,
    ) -> None:
        """Start a run from the carry the previous run stored (None on a first run).

        `problems` receives `unknown_media_duration` counts (events in emitted sessions whose
        media has no known duration); pass the run's counter to log everything in one line.
        """
        _check_span("gap", gap)
        _check_span("lookback", lookback)
        self._media = _MediaDurations(durations)
        self._gap = gap
        self._lookback = lookback
        self._start = carry
        self._final_before: datetime | None = None
        if carry is not None:
            self._final_before = carry.horizon
            if self._final_before is None:
                self._final_before = carry.watermark - lookback - gap
        self._pool: dict[str, ViewEvent] = {}
        self._open: list[tuple[str, datetime, datetime]] = []
        self._spans: dict[str, tuple[datetime, datetime]] = {}
        self._emitted: dict[str, str] = dict(carry.emitted) if carry is not None else {}
        self._walk: _Walk | None = None
        # Complete sessions waiting for the next settle, packed (`_pack`) where they can be.
        self._swept: list[bytes | ViewingSession] = []
        self._settled: datetime | None = None
        self._carry = carry
        self._finished = False
        self.problems = problems if problems is not None else EventProblems()

    @property
    def carry(self) -> Carry:
        """The carry to store: after any settle an interrupted run resumes correctly from it.

        Before the first settle it is the carry the builder started with.

        Raises:
            RuntimeError: a first run (no starting carry) has not settled yet: there is nothing
                to store.
        """
        if self._carry is None:
            msg = "no carry yet: a first run has one only after its first settle or finish"
            raise RuntimeError(msg)
        return self._carry

    @property
    def held_events(self) -> int:
        """How many events are held in memory (open sessions and events not yet settled)."""
        return len(self._pool)

    def add(self, event: ViewEvent) -> None:
        """Take one event of this run (duplicates welcome: the best copy is kept).

        Raises:
            ValueError: the event is older than a watermark already settled and not part of a
                session still held, so its session may already be emitted: the caller settled
                too early (settle only once every event before the watermark was added).
            WalkBrokenError: while walking, the event breaks the order the walk relies on; it
                was not taken (see `abandon_walk`).
        """
        self._check_running()
        settled = self._settled
        if (
            settled is not None
            and event.received_at < settled
            and event.event_key not in self._pool
        ):
            msg = (
                f"event {event.event_key} received at {format_timestamp(event.received_at)} "
                f"was added after settle({format_timestamp(settled)}); settle(w) must come only "
                "after every event received before w was added"
            )
            raise ValueError(msg)
        key = event.event_key
        held = self._pool.get(key)
        if held is None:
            if self._walk is not None:
                self._walk.take(event, self._gap)
            self._pool[key] = event
        elif _prefer(event, held):
            if self._walk is not None and event.received_at != held.received_at:
                raise WalkBrokenError(event, "a copy of it received at another time")
            self._pool[key] = event

    def start_walk(self, *, still: bool = False) -> None:
        """Begin walking one unit of Wistia's paging (a day, or one media's events of a day).

        Until the next `start_walk`, `abandon_walk` or settle, `add` expects the unit's events
        newest first (any order within a page: `sweep` runs between pages) and checks it.
        Contract (which Wistia's days and media filters meet): no event added after the walk
        belongs to one of its visitor-and-media groups within `gap` of what it read, unless it
        is newer than everything the walk read by more than `gap`.

        A copy of an event already swept breaks the walk. `still`: the unit's pages do not
        move (a day past, no longer receiving events), so a copy can come only on the page
        after its event's, and only the events of the last two sweeps are remembered for it;
        otherwise every swept event of the unit is.
        """
        self._check_running()
        self._walk = _Walk(len(self._swept), still=still)

    def sweep(self) -> None:
        """Compute the sessions the walk so far proves complete, and free their events.

        A visitor-and-media group whose oldest walked event is more than `gap` newer than the
        oldest event walked so far can gain no older event; its sessions ending more than `gap`
        before the walk's newest event can gain no newer one. Those sessions wait for the next
        settle (`WalkBrokenError` may still take them back); the others stay held as usual.
        """
        walk = self._walk
        if walk is None or walk.oldest is None or walk.newest is None:
            return
        line, top = walk.oldest + self._gap, walk.newest - self._gap
        walk.forget_old_sweeps()
        pending, pool, final_before = walk.pending, self._pool, self._final_before
        if walk.disordered:
            # Out of order, the queue's front is no longer the most complete group: look at
            # every group, so that an order that breaks the walk is caught at its next event.
            complete = [group for group, waiting in pending.items() if waiting.oldest > line]
        else:
            complete = []
            for group, waiting in pending.items():  # newest first: the front is the most complete
                if waiting.oldest <= line:
                    break
                complete.append(group)
        with _collector_paused():
            for group in complete:
                waiting = pending.pop(group)
                for run in _group_runs([pool[key] for key in waiting.keys], self._gap):
                    first, ended = run[0], run[-1].received_at
                    walk.decided(first.received_at)
                    if ended >= top:  # the next unit's events may still join it
                        continue
                    for event in run:
                        walk.swept_keys.add(hash(event.event_key))
                        del pool[event.event_key]
                    if final_before is None or ended >= final_before:
                        session = _session(run, self._media.of(first.media_id))
                        self._swept.append(_pack(session) or session)

    def abandon_walk(self) -> None:
        """Give up the walk (after `WalkBrokenError`): forget the sessions it swept.

        Their events are no longer held, so the caller must add every event of the walk's unit
        again (not walking); the copies still held are simply deduplicated.
        """
        walk = self._walk
        if walk is not None:
            del self._swept[walk.swept_mark :]
            self._walk = None

    def settle(self, watermark: datetime) -> Sessions:
        """Declare every event received before `watermark` added; return the sessions to emit.

        Those are the sessions now closed (ended before `watermark - gap`: no later event can
        join them) whose figures differ from what was last emitted, excluding sessions final
        before this run's start (see `Carry.horizon`). Closed sessions' events are freed.
        """
        return self._close(watermark, include_open=False)

    def finish(self, watermark: datetime) -> Sessions:
        """End the run: like `settle`, but also emit the open sessions that changed.

        An open session is emitted as it stands; the next run recomputes it whole and emits it
        again only if it grew.
        """
        sessions = self._close(watermark, include_open=True)
        self._finished = True
        return sessions

    def _check_running(self) -> None:
        if self._finished:
            msg = "this run has finished; start a new ActivityBuilder with its carry"
            raise RuntimeError(msg)

    def _close(self, watermark: datetime, *, include_open: bool) -> Sessions:
        """Emit what is closed (and, at the end of the run, what is open); keep the rest."""
        self._check_running()
        if self._settled is not None and watermark < self._settled:
            msg = (
                f"watermark {format_timestamp(watermark)} is before the one already settled, "
                f"{format_timestamp(self._settled)}: watermarks only move forward"
            )
            raise ValueError(msg)
        limit = watermark - self._gap
        keep_from = self._horizon_after(watermark)
        kept: dict[str, ViewEvent] = {}
        still_open: list[tuple[str, datetime, datetime]] = []
        self._walk = None
        packed, out = self._changed_swept(keep_from)
        # The groups alone hold the events from here on, and each group is dropped once its
        # sessions are done: a day of events and a day of sessions are never held together.
        groups = _groups(self._pool.values())
        self._pool = kept
        with _collector_paused():
            while groups:
                _, group = groups.popitem()
                for run in _group_runs(group, self._gap):
                    first, ended = run[0], run[-1].received_at
                    if ended >= limit and not include_open:
                        kept.update((event.event_key, event) for event in run)
                        still_open.append((first.event_key, first.received_at, ended))
                        continue
                    if self._final_before is not None and ended < self._final_before:
                        continue
                    session = _session(run, self._media.of(first.media_id))
                    if self._changed(session, keep_from):
                        out.append(session)
        self._open = still_open
        self._settled = watermark
        self._carry = self._next_carry(watermark, keep_from)
        out.sort(key=_BY_END)
        packed.sort()
        return Sessions(packed, out)

    def _changed_swept(
        self, keep_from: datetime | None
    ) -> tuple[list[bytes], list[ViewingSession]]:
        """Take the swept sessions that changed, those packed still packed, the others as they are.

        Swept sessions are complete whatever the watermark: every one of their events is read.
        Packed ones are unpacked when they are emitted, and here only if they must be compared.
        """
        swept, self._swept = self._swept, []
        packed: list[bytes] = []
        whole: list[ViewingSession] = []
        for entry in swept:
            if isinstance(entry, bytes):
                if self._changed_packed(entry, keep_from):
                    packed.append(entry)
            elif self._changed(entry, keep_from):
                whole.append(entry)
        return packed, whole

    def _changed_packed(self, packed: bytes, keep_from: datetime | None) -> bool:
        """`_changed` for a packed session, unpacking it only to compare or remember it.

        A session ending before the next carry's window, of which no fingerprint is held, is
        emitted without further ado: most of a backfill's.
        """
        ended, key, unknown = _packed_facts(packed)
        if keep_from is None or ended >= keep_from or key in self._emitted:
            return self._changed(_unpack(packed), keep_from)
        if unknown:
            self.problems[UNKNOWN_MEDIA_DURATION] += unknown
        return True

    def _changed(self, session: ViewingSession, keep_from: datetime | None) -> bool:
        """Whether a complete session differs from the one last emitted; remember it if so.

        Only sessions of the next carry's window (ending at or after `keep_from`, every session
        when it is None) are remembered: a day's worth of fingerprints would be held until the
        carry is cut to its window anyway.
        """
        key = session.session_id
        if keep_from is None or session.ended_at >= keep_from:
            fingerprint = session.fingerprint()
            self._spans[key] = (session.started_at, session.ended_at)
            if self._emitted.get(key) == fingerprint:
                return False
            self._emitted[key] = fingerprint
        elif key in self._emitted and self._emitted.pop(key) == session.fingerprint():
            return False
        if session.media_duration is None:
            self.problems[UNKNOWN_MEDIA_DURATION] += session.event_count
        return True

    def _horizon_after(self, watermark: datetime) -> datetime | None:
        """The horizon of the carry after settling at `watermark`; None while re-reading.

        While this run re-reads time the previous run already covered (watermark before the
        starting carry's), the starting carry stays valid and keeps every fingerprint.
        """
        start = self._start
        if start is not None and watermark < start.watermark:
            return None
        horizon = watermark - self._lookback - self._gap
        if self._final_before is not None and self._final_before > horizon:
            horizon = self._final_before
        return horizon

    def _next_carry(self, watermark: datetime, horizon: datetime | None) -> Carry:
        """The carry after settling at `watermark`; `horizon` is `_horizon_after(watermark)`.

        While this run re-reads time the previous run already covered (watermark before the
        starting carry's), the starting carry stays valid: only fingerprints are updated. Past
        it, every session of the starting carry's window has been recomputed, so the window is
        exactly what this run knows: closed sessions ending at or after the horizon and the
        open ones.
        """
        start = self._start
        if horizon is None:
            assert start is not None  # noqa: S101 - _horizon_after is None only while re-reading
            return Carry(start.watermark, start.reread_from, dict(self._emitted), start.horizon)
        self._spans = {key: span for key, span in self._spans.items() if span[1] >= horizon}
        window = dict(self._spans)
        window.update((key, (started, ended)) for key, started, ended in self._open)
        self._emitted = {key: self._emitted[key] for key in window if key in self._emitted}
        reread_from = min((started for started, _ in window.values()), default=None)
        return Carry(watermark, reread_from, dict(self._emitted), horizon)
