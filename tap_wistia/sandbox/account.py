"""A deterministic Wistia account: medias, visitors and their viewing sessions over some days.

The account is the sandbox's source of truth. Each UTC day of events is generated on its own from
a seed of (seed, day), so serving one day never generates the others and two processes with the
same spec serve the same bytes. Days are kept, a few at a time, as rows of pre-encoded JSON:
a page of 100 events is a slice and a join, which keeps a million-event pull cheap.

Live changes (events added by tests, page drift, late updates) are layered over the generated
days and invalidate or patch only the cached day they touch.
"""

from __future__ import annotations

import bisect
import itertools
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from tap_wistia.sandbox.catalog import (
    Audience,
    MediaProfile,
    VisitorProfile,
    build_medias,
    ghost_medias,
    seeded,
)
from tap_wistia.sandbox.viewing import (
    DAY_MS,
    EPOCH_ORDINAL,
    EventError,
    EventRow,
    SessionWriter,
    epoch_ms,
    key_window_ms,
    row_from_event,
    row_order,
    utc_stamp,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence
    from random import Random

__all__ = ["Account", "AccountSpec", "EventError", "EventQuery", "EventRow"]

HOURLY_RHYTHM: tuple[float, ...] = (
    0.55, 0.45, 0.35, 0.3, 0.3, 0.3, 0.35, 0.45, 0.6, 0.75, 0.85, 0.9,
    0.95, 1.0, 1.1, 1.2, 1.25, 1.2, 1.1, 1.0, 0.95, 0.85, 0.75, 0.65,
)  # fmt: skip
"""Relative activity per UTC hour: Europe by day, the Americas into the UTC evening."""

BURST_SIZES = (1, 2, 3, 4, 5, 6)
BURST_WEIGHTS = (30, 25, 18, 12, 8, 7)
"""How many sessions a visitor starts on one media within minutes of each other."""
_BURST_CUMULATIVE = list(itertools.accumulate(BURST_WEIGHTS))
GAP_SECONDS = (60, 1200)
"""Minutes between the sessions of a burst: a replay, a second tab, a come-back."""
FAVOURITE_SHARE = 0.75
AWAY_SHARE = 0.1
ODD_SHARE = 0.01
WEEKEND_FACTOR = 0.65
LIVE_HORIZON_MS = DAY_MS
"""Page drift adds events at "now" while the account ends less than this long ago."""
MAX_TZ_OFFSET = 14
SLOT_CACHE = 6
MAX_PENDING = 2
SELECTION_CACHE = 256


@dataclass(frozen=True, slots=True)
class AccountSpec:
    """What account to generate; equal specs generate identical accounts, byte for byte.

    ``end`` is the newest moment of the data (UTC; naive means UTC); left out, it is the moment
    the spec is made, truncated to the second. ``tz_offset_hours`` is the account's time zone,
    which the events endpoint's day filters use.
    """

    seed: int = 1
    medias: int = 12
    visitors: int = 300
    events: int = 5000
    days: int = 7
    end: datetime | None = None
    conversion_rate: float = 0.3
    tz_offset_hours: int = 0
    odd_events: bool = False

    def __post_init__(self) -> None:
        """Pin ``end`` (so the spec means one account) and reject specs that cannot be served."""
        end = self.end or datetime.now(UTC)
        if end.tzinfo is None:
            end = end.replace(tzinfo=UTC)
        object.__setattr__(self, "end", end.astimezone(UTC).replace(microsecond=0))
        problems = [
            "medias must be at least 1" if self.medias < 1 else "",
            "visitors must be at least 1" if self.visitors < 1 else "",
            "events must be 0 or more" if self.events < 0 else "",
            "days must be at least 1" if self.days < 1 else "",
            "conversion_rate must be between 0 and 1" if not 0 <= self.conversion_rate <= 1 else "",
            f"tz_offset_hours must be within ±{MAX_TZ_OFFSET}"
            if abs(self.tz_offset_hours) > MAX_TZ_OFFSET
            else "",
        ]
        if any(problems):
            msg = "Invalid sandbox account: " + "; ".join(filter(None, problems))
            raise ValueError(msg)

    @property
    def end_at(self) -> datetime:
        """The pinned end (never None once the spec exists)."""
        assert self.end is not None  # noqa: S101 - set by __post_init__
        return self.end


@dataclass(frozen=True, slots=True)
class EventQuery:
    """The filters of ``/v1/stats/events.json``: account-zone days (inclusive), media, visitor."""

    start: date | None = None
    end: date | None = None
    media_id: str | None = None
    visitor_key: str | None = None

    @property
    def filtered(self) -> bool:
        """Whether a media or visitor filter applies (day filters only bound the walk)."""
        return self.media_id is not None or self.visitor_key is not None


class _Day:
    """One account-zone day of rows, oldest first, with lookups built on first use."""

    __slots__ = ("_index", "_selections", "rows")

    def __init__(self, rows: list[EventRow]) -> None:
        self.rows = rows
        self._index: dict[str, int] | None = None
        self._selections: dict[tuple[str | None, str | None], list[int]] = {}

    def position(self, key: str) -> int | None:
        if self._index is None:
            self._index = {row.key: position for position, row in enumerate(self.rows)}
        return self._index.get(key)

    def selection(self, media_id: str | None, visitor_key: str | None) -> list[int]:
        """Positions (oldest first) of the rows matching a media and/or visitor filter."""
        wanted = (media_id, visitor_key)
        positions = self._selections.get(wanted)
        if positions is None:
            if len(self._selections) >= SELECTION_CACHE:
                self._selections.clear()
            positions = [
                position
                for position, row in enumerate(self.rows)
                if (media_id is None or row.media_id == media_id)
                and (visitor_key is None or row.visitor_key == visitor_key)
            ]
            self._selections[wanted] = positions
        return positions

    def append(self, row: EventRow) -> None:
        """Add a row newer than every other (page drift's fast path)."""
        self.rows.append(row)
        if self._index is not None:
            self._index[row.key] = len(self.rows) - 1
        self._selections.clear()

    def replace(self, position: int, row: EventRow) -> None:
        """Swap a row for its updated version at the same time."""
        self.rows[position] = row
        self._selections.clear()


class _Sighting(msgspec.Struct):
    """The few event fields a visitor summary reads."""

    received_at: str = ""
    percent_viewed: Any = None
    email: Any = None
    conversion_data: Any = None
    user_agent_details: Any = None


_SIGHTING = msgspec.json.Decoder(_Sighting)


class Account:
    """A generated Wistia account that a sandbox server serves and tests change live.

    Thread-safe: every method takes the account's lock, so a threaded server can serve pages
    while tests or faults add and update events.
    """

    def __init__(
        self, spec: AccountSpec | None = None, *, cache_days: int = 4, prefetch: bool = True
    ) -> None:
        """Draw the cast (medias, visitors) and apportion events to days; events come lazily.

        ``cache_days`` rendered days are kept (about 35 MB each at 35,000 events a day);
        ``prefetch`` generates the next older day in a background thread while a client pages.
        """
        self.spec = spec or AccountSpec()
        self._lock = threading.RLock()
        self._cache_days = max(1, cache_days)
        self._end_ms = epoch_ms(self.spec.end_at)
        self._start_ms = self._end_ms - self.spec.days * DAY_MS
        self._tz_ms = self.spec.tz_offset_hours * 3_600_000
        self._cast(seeded(self.spec.seed, "cast"))
        self._slot_counts = self._apportion()
        self._slots: OrderedDict[date, list[EventRow]] = OrderedDict()
        self._pending: dict[date, Future[list[EventRow]]] = {}
        self._prefetcher = ThreadPoolExecutor(1, "wistia-sandbox-prefetch") if prefetch else None
        self._days: OrderedDict[date, _Day] = OrderedDict()
        self._counts: dict[date, int] = {}
        self._added: dict[date, list[EventRow]] = {}
        self._added_days: dict[str, date] = {}
        self._removed: set[str] = set()
        self._overrides: dict[str, dict[str, Any]] = {}
        self._first_day = self.day_of(self._start_ms)
        self._last_day = self.day_of(self._end_ms)
        self._newest_ms = self._end_ms
        self._live_rng = seeded(self.spec.seed, "live")
        self._visitor_summaries: tuple[int, dict[str, dict[str, Any]]] | None = None
        self.version = 0
        """Bumped by every change, so derived views (visitor summaries) know when to refresh."""

    def _cast(self, rng: Random) -> None:
        spec = self.spec
        before = spec.end_at - timedelta(days=spec.days)
        self._medias = build_medias(rng, spec.medias, before)
        self._media_by_id = {media.hashed_id: media for media in self._medias}
        self._ghosts = ghost_medias(rng, before)
        self._media_weights = [media.popularity for media in self._medias]
        self._media_cumulative = list(itertools.accumulate(self._media_weights))
        window = (self._start_ms, self._end_ms)
        self._audience = Audience(
            spec.seed, spec.visitors, self._media_weights, window, spec.conversion_rate
        )
        self._writer = SessionWriter(self._ghosts)

    # ---- the cast ---------------------------------------------------------------------------

    def medias(self) -> list[dict[str, Any]]:
        """The account's media objects as ``/v1/medias.json`` shows them (fresh copies)."""
        return [msgspec.json.decode(msgspec.json.encode(media.api)) for media in self._medias]

    def deleted_media_ids(self) -> list[str]:
        """Hashed ids of medias that are gone but that odd events still reference."""
        return [ghost.hashed_id for ghost in self._ghosts]

    def visitor_keys(self) -> list[str]:
        """Keys of the generated visitors (some may have no events in a small account)."""
        return self._audience.keys()

    # ---- time -------------------------------------------------------------------------------

    def day_of(self, ts_ms: int) -> date:
        """The account-zone day an epoch-ms moment falls on."""
        return date.fromordinal(EPOCH_ORDINAL + (ts_ms + self._tz_ms) // DAY_MS)

    def _day_start_ms(self, day: date) -> int:
        return (day.toordinal() - EPOCH_ORDINAL) * DAY_MS - self._tz_ms

    @property
    def first_day(self) -> date:
        """The oldest account-zone day that holds events."""
        with self._lock:
            return self._first_day

    @property
    def last_day(self) -> date:
        """The newest account-zone day that holds events (grows with live events)."""
        with self._lock:
            return self._last_day

    # ---- generation -------------------------------------------------------------------------

    def _slot_window(self, slot: date) -> tuple[int, int]:
        """The seconds [lo, hi) of a UTC day that lie inside the account's range."""
        midnight = (slot.toordinal() - EPOCH_ORDINAL) * 86_400
        return max(self._start_ms // 1000, midnight), min(
            self._end_ms // 1000 + 1, midnight + 86_400
        )

    def _hour_buckets(self, slot: date) -> tuple[list[tuple[int, int]], list[float]]:
        """The slot's hours (clipped to its window) and their cumulative activity weights."""
        lo, hi = self._slot_window(slot)
        buckets: list[tuple[int, int]] = []
        weights: list[float] = []
        for hour in range(lo // 3600, (hi - 1) // 3600 + 1):
            start, stop = max(lo, hour * 3600), min(hi, hour * 3600 + 3600)
            if stop > start:
                buckets.append((start, stop))
                weights.append(HOURLY_RHYTHM[hour % 24] * (stop - start))
        return buckets, list(itertools.accumulate(weights))

    def _apportion(self) -> dict[date, int]:
        """Split ``events`` over the UTC days by rhythm, weekend and a daily mood; sums exactly."""
        first = date.fromordinal(EPOCH_ORDINAL + self._start_ms // DAY_MS)
        last = date.fromordinal(EPOCH_ORDINAL + self._end_ms // DAY_MS)
        weights: dict[date, float] = {}
        for offset in range((last - first).days + 1):
            slot = first + timedelta(days=offset)
            _, cumulative = self._hour_buckets(slot)
            mood = seeded(self.spec.seed, "mood", slot.isoformat())
            weekend = WEEKEND_FACTOR if slot.weekday() >= 5 else 1.0  # noqa: PLR2004 - Sat, Sun
            weights[slot] = (
                (cumulative[-1] if cumulative else 0.0) * weekend * mood.uniform(0.8, 1.2)
            )
        total = sum(weights.values()) or 1.0
        shares = {slot: self.spec.events * weight / total for slot, weight in weights.items()}
        counts = {slot: int(share) for slot, share in shares.items()}
        leftover = self.spec.events - sum(counts.values())
        by_remainder = sorted(shares, key=lambda slot: (counts[slot] - shares[slot], slot))
        for slot in by_remainder[:leftover]:
            counts[slot] += 1
        return counts

    def _slot(self, slot: date) -> list[EventRow]:
        rows = self._slots.get(slot)
        if rows is None:
            pending = self._pending.pop(slot, None)
            rows = pending.result() if pending is not None else self._generate_slot(slot)
            self._slots[slot] = rows
            if len(self._slots) > SLOT_CACHE:
                self._slots.popitem(last=False)
        else:
            self._slots.move_to_end(slot)
        return rows

    def _prefetch_before(self, day: date) -> None:
        """Start generating the UTC day the next older account day will need, in the background.

        A client paging newest-first spends its time between pages parsing; generating the next
        day meanwhile keeps a million-event pull from waiting on the generator. Generation reads
        only the immutable cast, so it needs no lock; the result is picked up by ``_slot``.
        """
        if self._prefetcher is None:
            return
        slot = date.fromordinal(EPOCH_ORDINAL + self._day_start_ms(day) // DAY_MS - 2)
        if slot in self._slots or slot in self._pending or not self._slot_counts.get(slot):
            return
        if len(self._pending) < MAX_PENDING:
            self._pending[slot] = self._prefetcher.submit(self._generate_slot, slot)

    def _generate_slot(self, slot: date) -> list[EventRow]:
        """The events of one UTC day, from that day's own seed (bursts may spill past midnight)."""
        count = self._slot_counts.get(slot, 0)
        if count == 0:
            return []
        rng = seeded(self.spec.seed, "day", slot.isoformat())
        buckets, cumulative = self._hour_buckets(slot)
        rows: list[EventRow] = []
        while len(rows) < count:
            size = min(count - len(rows), BURST_SIZES[_pick(rng, _BURST_CUMULATIVE)])
            rows.extend(self._burst(rng, buckets, cumulative, size))
        return rows

    def _burst(
        self,
        rng: Random,
        buckets: list[tuple[int, int]],
        cumulative: list[float],
        size: int,
    ) -> list[EventRow]:
        """A visitor's few sessions on one media, minutes apart, never after the account's end."""
        visitor = self._audience.pick(rng)
        media = self._pick_media(rng, visitor)
        away = rng.random() < AWAY_SHARE
        start, stop = buckets[_pick(rng, cumulative)]
        moment = start + int(rng.random() * (stop - start))
        moments = [moment]
        shortest, longest = GAP_SECONDS
        for _ in range(size - 1):
            moment += shortest + int(rng.random() * (longest - shortest + 1))
            moments.append(moment)
        overflow = moments[-1] - self._end_ms // 1000
        if overflow > 0:
            overflow += int(rng.random() * longest)
            moments = [max(self._start_ms // 1000, second - overflow) for second in moments]
        return self._writer.burst(
            rng,
            [second * 1000 for second in moments],
            visitor,
            media,
            away=away,
            odd_share=ODD_SHARE if self.spec.odd_events else 0.0,
        )

    def _pick_media(self, rng: Random, visitor: VisitorProfile) -> MediaProfile:
        if visitor.favourites and rng.random() < FAVOURITE_SHARE:
            return self._medias[visitor.favourites[int(rng.random() * len(visitor.favourites))]]
        return self._medias[_pick(rng, self._media_cumulative)]

    # ---- days -------------------------------------------------------------------------------

    def _day(self, day: date) -> _Day:
        """The rendered day, from the cache or built from its UTC slots plus live changes."""
        cached = self._days.get(day)
        if cached is not None:
            self._days.move_to_end(day)
            return cached
        lo = self._day_start_ms(day)
        hi = lo + DAY_MS
        first_slot = date.fromordinal(EPOCH_ORDINAL + lo // DAY_MS - 1)
        last_slot = date.fromordinal(EPOCH_ORDINAL + (hi - 1) // DAY_MS + 1)
        rows: list[EventRow] = []
        for offset in range((last_slot - first_slot).days + 1):
            rows.extend(
                row
                for row in self._slot(first_slot + timedelta(days=offset))
                if lo <= row.ts_ms < hi
            )
        if self._removed or self._overrides:
            rows = [self._revised(row) for row in rows if row.key not in self._removed]
        rows.extend(self._added.get(day, ()))
        rows.sort(key=row_order)
        rendered = _Day(rows)
        self._days[day] = rendered
        self._counts[day] = len(rows)
        if len(self._days) > self._cache_days:
            self._days.popitem(last=False)
        return rendered

    def _revised(self, row: EventRow) -> EventRow:
        fields = self._overrides.get(row.key)
        if fields is None:
            return row
        return row_from_event({**msgspec.json.decode(row.blob), **fields})

    def _count(self, day: date) -> int:
        count = self._counts.get(day)
        return len(self._day(day).rows) if count is None else count

    def _walk(self, query: EventQuery) -> Iterator[date]:
        """The query's days inside the data, newest first."""
        newest = min(query.end or self._last_day, self._last_day)
        oldest = max(query.start or self._first_day, self._first_day)
        for ordinal in range(newest.toordinal(), oldest.toordinal() - 1, -1):
            yield date.fromordinal(ordinal)

    def page(self, query: EventQuery, page: int, per_page: int) -> list[EventRow]:
        """Rows of one page of ``/v1/stats/events.json``: newest first, ``[]`` past the end."""
        with self._lock:
            skip, need = (page - 1) * per_page, per_page
            taken: list[EventRow] = []
            for day in self._walk(query):
                if query.filtered:
                    rendered = self._day(day)
                    positions = rendered.selection(query.media_id, query.visitor_key)
                    size = len(positions)
                    if skip < size:
                        chosen = positions[max(0, size - skip - need) : size - skip]
                        taken.extend(rendered.rows[position] for position in reversed(chosen))
                else:
                    size = self._count(day)
                    if skip < size:
                        rows = self._day(day).rows[max(0, size - skip - need) : size - skip]
                        taken.extend(reversed(rows))
                skip = max(0, skip - size)
                need = per_page - len(taken)
                if need <= 0:
                    self._prefetch_before(day)
                    break
            return taken

    def events_on(self, day: date) -> Sequence[dict[str, Any]]:
        """The events of one account-zone day, newest first by received_at."""
        with self._lock:
            rows = list(self._day(day).rows)
        return [msgspec.json.decode(row.blob) for row in reversed(rows)]

    def all_events(self) -> Iterator[dict[str, Any]]:
        """Every event of the account, oldest first (one day in memory at a time)."""
        day = self.first_day
        while day <= self.last_day:
            with self._lock:
                rows = list(self._day(day).rows)
            for row in rows:
                yield msgspec.json.decode(row.blob)
            day += timedelta(days=1)

    def count(self) -> int:
        """How many events the account holds now (renders every day once; slow on big accounts)."""
        with self._lock:
            return sum(self._count(day) for day in self._walk(EventQuery()))

    # ---- single events ----------------------------------------------------------------------

    def _locate(self, key: str) -> tuple[_Day, int] | None:
        """The cached day and position of an event, found from the time its key carries."""
        added_day = self._added_days.get(key)
        candidates: Iterable[date]
        if added_day is not None:
            candidates = (added_day,)
        elif key in self._removed:
            return None
        else:
            window = key_window_ms(key)
            if window is None:
                return None
            newest = min(self.day_of(window[1]), self._last_day)
            oldest = max(self.day_of(window[0]), self._first_day)
            candidates = (
                date.fromordinal(ordinal)
                for ordinal in range(oldest.toordinal(), newest.toordinal() + 1)
            )
        for day in candidates:
            rendered = self._day(day)
            position = rendered.position(key)
            if position is not None:
                return rendered, position
        return None

    def event_blob(self, event_key: str) -> bytes | None:
        """The event's JSON as served, or None when there is no such event."""
        with self._lock:
            found = self._locate(event_key)
            return None if found is None else found[0].rows[found[1]].blob

    def event(self, event_key: str) -> dict[str, Any] | None:
        """One event by key (as ``/v1/stats/events/{key}.json`` serves it), or None."""
        blob = self.event_blob(event_key)
        return None if blob is None else msgspec.json.decode(blob)

    # ---- live changes -----------------------------------------------------------------------

    def add_events(self, events: Iterable[Mapping[str, Any]]) -> None:
        """Add events (each needs a unique event_key and an ISO received_at).

        Raises:
            EventError: an event has no key, no usable received_at, or a key already served.
        """
        rows = [row_from_event(event) for event in events]
        with self._lock:
            seen: set[str] = set()
            for row in rows:
                if row.key in seen or self._locate(row.key) is not None:
                    msg = f"event_key {row.key!r} already exists; use update_event to change it"
                    raise EventError(msg)
                seen.add(row.key)
            for row in rows:
                self._insert(row)
            self.version += 1

    def _insert(self, row: EventRow) -> None:
        day = self.day_of(row.ts_ms)
        self._added.setdefault(day, []).append(row)
        self._added_days[row.key] = day
        self._first_day = min(self._first_day, day)
        self._last_day = max(self._last_day, day)
        self._newest_ms = max(self._newest_ms, row.ts_ms)
        if day in self._counts:
            self._counts[day] += 1
        cached = self._days.get(day)
        if cached is None:
            return
        if not cached.rows or row_order(row) > row_order(cached.rows[-1]):
            cached.append(row)
        else:
            del self._days[day]

    def _forget(self, day: date) -> None:
        """Drop a day's cached rows and count after a change that moves rows around."""
        self._days.pop(day, None)
        self._counts.pop(day, None)

    def update_event(self, event_key: str, **fields: Any) -> dict[str, Any]:
        """Change fields of an event (e.g. a late ``percent_viewed``); returns the new event.

        Raises:
            KeyError: there is no event with this key.
            EventError: the change would leave the event without a usable key or received_at.
        """
        if fields.get("event_key", event_key) != event_key:
            msg = "event_key cannot be changed; add a new event instead"
            raise EventError(msg)
        with self._lock:
            found = self._locate(event_key)
            if found is None:
                msg = f"no event with event_key {event_key!r}"
                raise KeyError(msg)
            rendered, position = found
            old = rendered.rows[position]
            event = {**msgspec.json.decode(old.blob), **fields}
            row = row_from_event(event)
            if event_key in self._added_days or row.ts_ms != old.ts_ms:
                self._move(old, row)
            else:
                self._overrides[event_key] = {**self._overrides.get(event_key, {}), **fields}
                rendered.replace(position, row)
            self.version += 1
            return event

    def _move(self, old: EventRow, row: EventRow) -> None:
        """Re-file an event whose time changed, or an added one, as an added event."""
        old_day = self.day_of(old.ts_ms)
        if self._added_days.pop(old.key, None) is not None:
            self._added[old_day] = [kept for kept in self._added[old_day] if kept.key != old.key]
        else:
            self._removed.add(old.key)
            self._overrides.pop(old.key, None)
        self._forget(old_day)
        self._insert(row)

    def new_event(
        self,
        at: datetime,
        visitor_key: str | None = None,
        media_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A realistic event at ``at`` (not added); ``fields`` override generated values.

        Raises:
            EventError: ``media_id`` is neither a media of the account nor a deleted one.
        """
        with self._lock:
            rng = self._live_rng
            visitor = self._visitor_for(rng, visitor_key)
            media = self._media_by_id.get(media_id or "") if media_id else None
            if media_id and media is None:
                media = next((g for g in self._ghosts if g.hashed_id == media_id), None)
                if media is None:
                    msg = f"media_id {media_id!r} is not a media of this account"
                    raise EventError(msg)
            media = media or self._pick_media(rng, visitor)
            (row,) = self._writer.burst(rng, [epoch_ms(at)], visitor, media)
        return {**msgspec.json.decode(row.blob), **fields}

    def _visitor_for(self, rng: Random, visitor_key: str | None) -> VisitorProfile:
        if visitor_key is None:
            return self._audience.pick(rng)
        return self._audience.find(visitor_key) or self._audience.newcomer(visitor_key)

    def generate(self, count: int, at: datetime | None = None) -> list[dict[str, Any]]:
        """Add ``count`` new realistic events at ``at`` (default: the live edge); returns them.

        The live edge is "now" for an account that ends about now, otherwise one second past the
        newest event, so live events always land at the front of the newest day.
        """
        with self._lock:
            events = []
            for _ in range(count):
                moment = at or datetime.fromtimestamp(self._live_ms() / 1000, UTC)
                event = self.new_event(moment)
                self._insert(row_from_event(event))
                events.append(event)
            self.version += 1
            return events

    def _live_ms(self) -> int:
        now_ms = int(time.time() * 1000)
        if now_ms - self._end_ms <= LIVE_HORIZON_MS:
            return max(now_ms, self._newest_ms + 1)
        return self._newest_ms + 1000

    # ---- visitors ---------------------------------------------------------------------------

    def visitors(self) -> list[dict[str, Any]]:
        """Visitor objects for every visitor with events, most recently active first.

        Derived from all events, so the first call after a change reads the whole account.
        """
        summaries = self._summaries()
        return sorted(
            summaries.values(),
            key=lambda visitor: (visitor["last_active_at"], visitor["visitor_key"]),
            reverse=True,
        )

    def visitor(self, visitor_key: str) -> dict[str, Any] | None:
        """One visitor object, or None for a key with no events."""
        return self._summaries().get(visitor_key)

    def _summaries(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            if self._visitor_summaries is not None and self._visitor_summaries[0] == self.version:
                return self._visitor_summaries[1]
            summaries: dict[str, dict[str, Any]] = {}
            for day in reversed(list(self._walk(EventQuery()))):
                for row in self._day(day).rows:
                    if row.visitor_key is not None:
                        self._sight(summaries, row)
            self._visitor_summaries = (self.version, summaries)
            return summaries

    def _sight(self, summaries: dict[str, dict[str, Any]], row: EventRow) -> None:
        """Fold one event (rows come oldest first) into its visitor's summary."""
        assert row.visitor_key is not None  # noqa: S101 - the caller skips anonymous rows
        seen = _SIGHTING.decode(row.blob)
        summary = summaries.get(row.visitor_key)
        stamp = utc_stamp(row.ts_ms)
        if summary is None:
            summary = summaries[row.visitor_key] = {
                "visitor_key": row.visitor_key,
                "created_at": stamp,
                "last_active_at": stamp,
                "last_event_key": row.key,
                "load_count": 0,
                "play_count": 0,
                "visitor_identity": {"name": "", "email": None, "org": _org(None)},
                "user_agent_details": seen.user_agent_details,
            }
        summary["last_active_at"] = stamp
        summary["last_event_key"] = row.key
        summary["load_count"] += 1
        played = isinstance(seen.percent_viewed, (int, float)) and seen.percent_viewed > 0
        summary["play_count"] += int(played)
        summary["user_agent_details"] = seen.user_agent_details
        if isinstance(seen.email, str) and seen.email.strip():
            summary["visitor_identity"] = self._identity(row.visitor_key, seen)

    def _identity(self, visitor_key: str, seen: _Sighting) -> dict[str, Any]:
        conversion = seen.conversion_data if isinstance(seen.conversion_data, dict) else {}
        name = f"{conversion.get('first_name') or ''} {conversion.get('last_name') or ''}".strip()
        profile = self._audience.find(visitor_key)
        return {
            "name": name,
            "email": str(seen.email).strip(),
            "org": _org(profile),
        }


def _org(profile: VisitorProfile | None) -> dict[str, str | None]:
    person = profile.person if profile is not None else None
    if person is None:
        return {"name": None, "title": None}
    return {"name": person.company, "title": person.title}


def _pick(rng: Random, cumulative: Sequence[float]) -> int:
    """An index drawn with the weights whose running totals are ``cumulative``."""
    return min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)
