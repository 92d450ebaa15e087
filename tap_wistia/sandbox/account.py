"""A deterministic Wistia account: medias, visitors and their viewing sessions over some days.

The account is the sandbox's source of truth (what a day holds and how it is paged is ``days``;
what tests and faults change over it, ``live``). Each UTC day of events is generated on its own from
a seed of (seed, day) (see ``schedule.py``), so serving one day never generates the others and two
processes with the same spec serve the same bytes. Days are kept, as many as ``CACHE_ROWS``
allows, as rows of pre-encoded JSON: a page of 100 events is a slice and a join, which keeps a
million-event pull cheap. Generation runs outside the account's lock, once per day however many
clients ask for it at the same time, and the days either side of the one a client pages through
are generated in the background, so concurrent clients are not held up by it.

Live changes (events added by tests, page drift, late updates) are layered over the generated
days and patch or invalidate only the cached day they touch.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import msgspec

from tap_wistia.sandbox.catalog import seeded
from tap_wistia.sandbox.days import EventQuery, OwnedLock, RenderedDay, made_once
from tap_wistia.sandbox.live import BY_TIME, Changes, endless_rows, new_event
from tap_wistia.sandbox.schedule import Schedule
from tap_wistia.sandbox.viewing import (
    DAY_MS,
    EPOCH_ORDINAL,
    EventError,
    EventRow,
    key_window_ms,
    row_from_event,
    row_order,
)
from tap_wistia.sandbox.visitors import summarize_visitors

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator, Mapping, Sequence

__all__ = ["Account", "AccountSpec", "EventError", "EventRow"]

MAX_TZ_OFFSET = 14
LIVE_HORIZON_MS = DAY_MS
"""Live events (page drift) land at "now" while the account ends less than this long ago."""
SLOT_CACHE = 6
"""Generated UTC days kept; an account day in a shifted zone needs up to four of them."""
CACHE_ROWS = 300_000
"""Rendered events kept, in all days together (about 1.2 KB each: some 350 MB at the most).

A client may read many days at once: tap-wistia asks for the first pages of the following days
in parallel. Four days kept, as before, made a 200,000-event backfill render each day about three
times, so the sandbox, not the client, set the pace (11-13 CPU seconds against 4).
"""
MIN_CACHED_DAYS = 2
"""Days kept whatever their size: the one being read and the one read before it."""


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


class Account:
    """A generated Wistia account that a sandbox server serves and tests change live.

    Thread-safe: reads and changes may come from any number of server threads at once.
    """

    def __init__(
        self,
        spec: AccountSpec | None = None,
        *,
        cache_rows: int = CACHE_ROWS,
        prefetch: bool = True,
    ) -> None:
        """Draw the cast (medias, visitors) and apportion events to days; events come lazily.

        Rendered days are kept while they hold ``cache_rows`` events in all (and always the
        last ``MIN_CACHED_DAYS`` used); ``prefetch`` generates the days either side of the one a
        client pages through in a background thread.
        """
        self.spec = spec or AccountSpec()
        self.schedule = Schedule(self.spec)
        self._lock = OwnedLock()
        self._cache_rows = max(0, cache_rows)
        self._tz_ms = self.spec.tz_offset_hours * 3_600_000
        self._slots: OrderedDict[date, list[EventRow]] = OrderedDict()
        self._generating: dict[date, Future[list[EventRow]]] = {}
        self._prefetcher = ThreadPoolExecutor(1, "wistia-sandbox-prefetch") if prefetch else None
        self._warming: set[date] = set()
        self._days: OrderedDict[date, RenderedDay] = OrderedDict()
        self._rendering: dict[date, Future[RenderedDay]] = {}
        self.days_rendered = 0
        """How many times a day was rendered (once per day while the cache holds it)."""
        self._counts: dict[date, int] = {}
        self._changes = Changes()
        self._first_day = self.day_of(self.schedule.start_ms)
        self._last_day = self.day_of(self.schedule.end_ms)
        self._newest_ms = self.schedule.end_ms
        self._live_rng = seeded(self.spec.seed, "live")
        self._summaries: tuple[int, dict[str, dict[str, Any]]] | None = None
        self.version = 0
        """Bumped by every change, so derived views (visitor summaries) know when to refresh."""

    # ---- the cast ---------------------------------------------------------------------------

    def medias(self) -> list[dict[str, Any]]:
        """The account's media objects as ``/v1/medias.json`` shows them (fresh copies)."""
        return [
            msgspec.json.decode(msgspec.json.encode(media.api)) for media in self.schedule.medias
        ]

    def deleted_media_ids(self) -> list[str]:
        """Hashed ids of medias that are gone but that odd events still reference."""
        return [ghost.hashed_id for ghost in self.schedule.ghosts]

    def visitor_keys(self) -> list[str]:
        """Keys of the generated visitors (some may have no events in a small account)."""
        return self.schedule.audience.keys()

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

    # ---- generated days ---------------------------------------------------------------------

    def _slot_rows(self, slot: date) -> list[EventRow]:
        """A UTC day's generated rows: cached, awaited from another thread, or generated here."""
        return made_once(
            self._lock, self._slots, self._generating, slot, lambda: self._generate(slot)
        )

    def _generate(self, slot: date) -> list[EventRow]:
        """Generate a UTC day (outside the lock) and cache it."""
        rows = self.schedule.generate(slot)
        with self._lock:
            self._slots[slot] = rows
            if len(self._slots) > SLOT_CACHE:
                self._slots.popitem(last=False)
        return rows

    def _prefetch_around(self, day: date) -> None:
        """Render the days either side in the background while the client works on this one.

        A client paging through a day spends most of its time between pages; preparing the day
        it reads next meanwhile keeps a million-event pull from stalling at every day boundary.
        Clients walk the days either way (tap-wistia oldest first, each day's pages newest
        first), and the day a client came from is still cached, so only the next one renders.
        """
        if self._prefetcher is None:
            return
        for neighbour in (day + timedelta(days=1), day - timedelta(days=1)):
            with self._lock:
                if (
                    not self._first_day <= neighbour <= self._last_day
                    or neighbour in self._days
                    or neighbour in self._rendering
                    or neighbour in self._warming
                ):
                    continue
                self._warming.add(neighbour)
            self._prefetcher.submit(self._warm_day, neighbour)

    def _warm_day(self, day: date) -> None:
        try:
            self._day(day)
        finally:
            with self._lock:
                self._warming.discard(day)

    def warm(self) -> None:
        """Start rendering the newest day in the background, so a first page is served at once."""
        if self._prefetcher is None:
            return
        with self._lock:
            newest = self._last_day
            if newest in self._days or newest in self._warming:
                return
            self._warming.add(newest)
        self._prefetcher.submit(self._warm_day, newest)

    def _day(self, day: date) -> RenderedDay:
        """The rendered day: cached, awaited from the thread rendering it, or rendered here."""
        return made_once(self._lock, self._days, self._rendering, day, lambda: self._render(day))

    def _render(self, day: date) -> RenderedDay:
        """Generate a day (outside the lock), apply the live changes and cache it."""
        lo = self._day_start_ms(day)
        hi = lo + DAY_MS
        first_slot = EPOCH_ORDINAL + lo // DAY_MS - 1
        last_slot = EPOCH_ORDINAL + (hi - 1) // DAY_MS + 1
        generated = [
            row
            for ordinal in range(first_slot, last_slot + 1)
            for row in self._slot_rows(date.fromordinal(ordinal))
            if lo <= row.ts_ms < hi
        ]
        generated.sort(key=BY_TIME)
        with self._lock:
            rendered = RenderedDay(self._changes.apply(day, generated))
            self._days[day] = rendered
            self._counts[day] = len(rendered.rows)
            self.days_rendered += 1
            self._evict_days()
            return rendered

    def rendered_days(self) -> list[date]:
        """The days held rendered, least recently used first."""
        with self._lock:
            return list(self._days)

    def _evict_days(self) -> None:
        """Drop the least recently used days beyond the row budget (lock held)."""
        held = sum(len(rendered.rows) for rendered in self._days.values())
        while len(self._days) > MIN_CACHED_DAYS and held > self._cache_rows:
            _, dropped = self._days.popitem(last=False)
            held -= len(dropped.rows)

    def _count(self, day: date) -> int:
        with self._lock:
            count = self._counts.get(day)
        return len(self._day(day).rows) if count is None else count

    def _walk(self, query: EventQuery) -> list[date]:
        """The query's days inside the data, newest first."""
        with self._lock:
            newest = min(query.end or self._last_day, self._last_day)
            oldest = max(query.start or self._first_day, self._first_day)
        return [
            date.fromordinal(ordinal)
            for ordinal in range(newest.toordinal(), oldest.toordinal() - 1, -1)
        ]

    # ---- reading ----------------------------------------------------------------------------

    def page(
        self, query: EventQuery, page: int, per_page: int, *, order: str = "newest_first"
    ) -> list[EventRow]:
        """Rows of one page of ``/v1/stats/events.json``, ``[]`` past the end.

        Newest first, as Wistia is observed to serve them; ``order`` serves another order,
        which no document rules out (``EVENTS_ORDERS``, the ``events_order`` fault): oldest
        first, or each day shuffled (days newest first).
        """
        skip = (page - 1) * per_page
        taken: list[EventRow] = []
        days = self._walk(query)
        oldest_first = order == "oldest_first"
        if oldest_first:
            days.reverse()
        for day in days:
            if not query.filtered:
                size = self._count(day)
                if skip >= size:
                    skip -= size
                    continue
            rendered = self._day(day)
            pick = {"oldest_first": rendered.oldest, "shuffled": rendered.shuffled}.get(
                order, rendered.newest
            )
            with self._lock:
                chosen, size = pick(skip, per_page - len(taken), query)
            taken.extend(chosen)
            skip = max(0, skip - size)
            if len(taken) >= per_page:
                if not oldest_first:
                    self._prefetch_around(day)
                break
        return taken

    def events_on(self, day: date) -> Sequence[dict[str, Any]]:
        """The events of one account-zone day, newest first by received_at."""
        rendered = self._day(day)
        with self._lock:
            rows = list(rendered.rows)
        return [msgspec.json.decode(row.blob) for row in reversed(rows)]

    def all_events(self) -> Iterator[dict[str, Any]]:
        """Every event of the account, oldest first (one day in memory at a time)."""
        for row in self._rows_oldest_first():
            yield msgspec.json.decode(row.blob)

    def _rows_oldest_first(self) -> Iterator[EventRow]:
        day = self.first_day
        while day <= self.last_day:
            rendered = self._day(day)
            with self._lock:
                rows = list(rendered.rows)
            yield from rows
            day += timedelta(days=1)

    def count(self) -> int:
        """How many events the account holds now (renders every day once; slow on big accounts)."""
        return sum(self._count(day) for day in self._walk(EventQuery()))

    def _candidate_days(self, key: str) -> list[date]:
        """Days an event can be on: its own if it was added, else those its key's time spans."""
        with self._lock:
            added_day = self._changes.added_day(key)
            if added_day is not None:
                return [added_day]
            window = key_window_ms(key)
            if self._changes.removed(key) or window is None:
                return []
            newest = min(self.day_of(window[1]), self._last_day)
            oldest = max(self.day_of(window[0]), self._first_day)
        return [
            date.fromordinal(ordinal)
            for ordinal in range(oldest.toordinal(), newest.toordinal() + 1)
        ]

    def _locate(self, key: str) -> tuple[RenderedDay, int] | None:
        """The rendered day holding an event and its position there."""
        for day in self._candidate_days(key):
            rendered = self._day(day)
            with self._lock:
                position = rendered.position(key)
            if position is not None:
                return rendered, position
        return None

    def event_blob(self, event_key: str) -> bytes | None:
        """The event's JSON as served, or None when there is no such event."""
        found = self._locate(event_key)
        if found is None:
            return None
        with self._lock:
            return found[0].rows[found[1]].blob

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
        """File an added event under its day; a newest event is appended to a cached day."""
        day = self.day_of(row.ts_ms)
        self._changes.add(day, row)
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

    def add_late_events(self, day: date, count: int) -> None:
        """Add ``count`` events to a day past, newer than the rest of it (before its end).

        Events that arrive late, filed under a day whose pages a client may be reading: the
        day's pages move down (the ``insert_while_paging`` fault).
        """
        with self._lock:
            rows = self._day(day).rows
            newest = rows[-1].ts_ms if rows else self._day_start_ms(day)
        last = self._day_start_ms(day) + DAY_MS - 1
        moments = [min(newest + 1 + offset, last) for offset in range(count)]
        self.add_events([self.new_event(datetime.fromtimestamp(ms / 1000, UTC)) for ms in moments])

    def endless_rows(self, day: date, first: int, count: int) -> list[EventRow]:
        """Events past the real end of a day that never ends (`live.endless_rows`)."""
        return endless_rows(self.schedule, day, self._day_start_ms(day), first, count)

    def delete_events(self, keys: Iterable[str]) -> int:
        """Delete events (a media deleted, a visitor erased): later pages move up; how many.

        Keys that name no event are left alone.
        """
        touched: set[date] = set()
        deleted = 0
        with self._lock:
            for key in dict.fromkeys(keys):  # each key once; its day is re-rendered once, after
                found = self._locate(key)
                if found is None:
                    continue
                day = self.day_of(found[0].rows[found[1]].ts_ms)
                self._changes.remove(day, key)
                touched.add(day)
                deleted += 1
            for day in touched:
                self._forget(day)
            if deleted:
                self.version += 1
        return deleted

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
            if self._changes.added_day(event_key) is not None or row.ts_ms != old.ts_ms:
                self._move(old, row)
            else:
                self._changes.override(event_key, fields)
                rendered.replace(position, row)
            self.version += 1
            return event

    def _move(self, old: EventRow, row: EventRow) -> None:
        """Re-file an event whose time changed, or an added one, as an added event."""
        old_day = self.day_of(old.ts_ms)
        self._changes.remove(old_day, old.key)
        self._forget(old_day)
        self._insert(row)

    def new_event(
        self,
        at: datetime,
        visitor_key: str | None = None,
        media_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """A realistic event at ``at``, not added (`live.new_event`).

        Raises:
            EventError: ``media_id`` is neither a media of the account nor a deleted one.
        """
        with self._lock:  # one random sequence for every thread
            return new_event(
                self.schedule, self._live_rng, at, visitor_key=visitor_key, media_id=media_id,
                fields=fields,
            )  # fmt: skip

    def generate(self, count: int, at: datetime | None = None) -> list[dict[str, Any]]:
        """Add ``count`` new realistic events at ``at`` (default: the live edge); returns them.

        The live edge is "now" for an account that ends about now, otherwise just past the
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
        if now_ms - self.schedule.end_ms <= LIVE_HORIZON_MS:
            return max(now_ms, self._newest_ms + 1)
        return self._newest_ms + 1000

    # ---- visitors ---------------------------------------------------------------------------

    def visitors(self) -> list[dict[str, Any]]:
        """Visitor objects for every visitor with events, most recently active first.

        Derived from all events, so the first call after a change reads the whole account.
        """
        return sorted(
            self._visitor_summaries().values(),
            key=lambda visitor: (visitor["last_active_at"], visitor["visitor_key"]),
            reverse=True,
        )

    def visitor(self, visitor_key: str) -> dict[str, Any] | None:
        """One visitor object, or None for a key with no events."""
        return self._visitor_summaries().get(visitor_key)

    def _visitor_summaries(self) -> dict[str, dict[str, Any]]:
        with self._lock:
            version = self.version
            if self._summaries is not None and self._summaries[0] == version:
                return self._summaries[1]
        summaries = summarize_visitors(self._rows_oldest_first(), self.schedule.audience.find)
        with self._lock:
            self._summaries = (version, summaries)
        return summaries
