"""Reading `stats/events.json` day by day, many requests in flight, pages handed over in order.

Wistia's events endpoint filters by whole days and pages newest first with no total count, so
the only way to know a day's last page is to meet a short one. A serial pager leaves most of the
request budget unused on a slow API; fetching pages blindly ahead wastes requests past the end.
`EventPager` does neither:

- page 1 of a day is always needed, so the first pages of the following days go out in parallel;
- further pages of a day go out ahead only as far as the day surely reaches: half of what its
  own first pages project (how much of the day's time they cover), or up to 80% of the last
  finished days' page counts where the projection agrees; one at a time beyond that. So on the
  happy path every request is a page of events or the one probe that finds a day's end;
- a day that may still receive events (the account's "today", see `live_from`) is read one page
  at a time, each page requested only once the one before it was answered. New events go to
  the front of that day: read in order, a shift only repeats events on the next page, but a page
  answered before the one above it would miss the events pushed across their boundary;
- a page whose oldest event is older than the run's start may end its day early, which holds
  only if Wistia serves the day newest first: an order observed, not documented. So no page
  past it is asked for, but the day ends there only once the pages handed over prove that
  order (each event no newer than the one before it, and some older); otherwise the day is
  read to its end (`_Order`). The order saves requests, never decides what is read;
- a day's query that takes more than `max_pages` pages stops the run (`DayTooLongError`): a
  server that never ends a day (full pages, forever) cannot hold a run for hours;
- pages are handed to the caller strictly in (day, page) order, and `DayDone` is handed over
  only when every page of that day has been, which is what makes a day-granular bookmark safe;
- results that arrive ahead of their turn are held, up to a bound, so memory does not grow with
  the size of the backfill or of a day: when the bound is reached, the only request that may
  still go out is the page the caller needs next. They are held as the client's checked but
  still encoded arrays, decoded when handed over: a third of the memory of their objects.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tap_wistia.client import WistiaError, check_running
from tap_wistia.fanout import POLL_SECONDS, in_pool

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

    from tap_wistia.client import WistiaClient

EVENTS_PATH = "stats/events.json"
PER_PAGE = 100
# Wistia's day filters use the account's time zone, which the API does not tell (UTC or the
# account's zone: undocumented). UTC offsets run from -12 h to +14 h.
MAX_UTC_OFFSET = dt.timedelta(hours=14)
MIN_UTC_OFFSET = dt.timedelta(hours=-12)


@dataclass(frozen=True)
class Unit:
    """One query: one day, optionally one media.

    `exclusive_end`: the server reads `end_date` as the first day *not* served (undocumented
    either way; see `tap_wistia.run`), so one day is asked for as `[day, day + 1]`.
    """

    day: dt.date
    media_id: str | None = None
    exclusive_end: bool = False

    def params(self, page: int) -> dict[str, Any]:
        """Query parameters of one page of this unit."""
        last = self.day + dt.timedelta(days=1) if self.exclusive_end else self.day
        params: dict[str, Any] = {
            "start_date": self.day.isoformat(),
            "end_date": last.isoformat(),
            "per_page": PER_PAGE,
            "page": page,
        }
        if self.media_id:
            params["media_id"] = self.media_id
        return params


@dataclass(frozen=True)
class EventPage:
    """One page of raw events, handed over in order."""

    unit: Unit
    number: int
    events: list[dict[str, Any]]


@dataclass(frozen=True)
class DayDone:
    """Every page of `day` (for every media) has been handed over."""

    day: dt.date


def api_days(start: dt.datetime, end: dt.datetime) -> list[dt.date]:
    """The days to ask Wistia for so that no event received in [start, end) is missed.

    One extra day on each side covers an account whose day filters are not in UTC.
    """
    first = start.date() - dt.timedelta(days=1)
    last = end.date() + dt.timedelta(days=1)
    return [first + dt.timedelta(days=n) for n in range((last - first).days + 1)]


def live_from(now: dt.datetime) -> dt.date:
    """The first day that may still receive events at `now`, whatever the account's time zone."""
    return (now + MIN_UTC_OFFSET).date()


def complete_before(day: dt.date, start: dt.datetime, end: dt.datetime) -> dt.datetime:
    """The time before which every event is known once all days up to `day` are read.

    Holds whatever the account's time zone: its day `day` ends no earlier than
    `day + 1 - 14 h` in UTC.
    """
    boundary = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC) - MAX_UTC_OFFSET
    return max(start, min(end, boundary))


class DayTooLongError(WistiaError):
    """One day's query took more pages than a day of Wistia can hold (`max_pages_per_day`)."""


class _Order:
    """Whether the pages of a unit handed over so far are newest first, as Wistia is observed.

    Proven when every event is no newer than the one before it (across pages too) and the
    last is older than the first: all equal times prove nothing, either order gives them.
    Events without a readable time are left out, and so are events of the page before served
    again (new events at the front of a day push the last ones of a page onto the next). A
    break is final for the unit.
    """

    __slots__ = ("first", "last", "ordered", "previous_keys")

    def __init__(self) -> None:
        self.ordered = True
        self.first: dt.datetime | None = None
        self.last: dt.datetime | None = None
        self.previous_keys: set[object] = set()

    def check(
        self,
        events: Sequence[Any],
        moment_of: Callable[[Any], dt.datetime | None],
        key_of: Callable[[Any], object],
    ) -> None:
        """Follow the order through one page's events (in the order served)."""
        last = self.last
        previous, keys = self.previous_keys, set()
        for event in events:
            key = key_of(event)
            if key is not None:
                keys.add(key)
                if key in previous:
                    continue
            moment = moment_of(event)
            if moment is None:
                continue
            if last is not None and moment > last:
                self.ordered = False
                return
            last = moment
            if self.first is None:
                self.first = moment
        self.last, self.previous_keys = last, keys

    def proven(self) -> bool:
        """Newest first so far, and not only because every time is the same."""
        return (
            self.ordered and self.first is not None and self.last is not None
        ) and self.last < self.first


@dataclass
class _UnitProgress:
    next_page: int = 1
    end: int | None = None  # the last page with events, once known
    stop_at: int | None = None  # where the day ends if the order proves newest first
    handed_over: int = 0
    probed_past_end: bool = False  # the end was found by an empty page (a needed request)
    newest: dt.datetime | None = None  # first event of page 1
    oldest: dict[int, dt.datetime] = field(default_factory=dict)  # last event of full pages
    in_flight: set[int] = field(default_factory=set)
    results: dict[int, Sequence[Any]] = field(default_factory=dict)  # held, still encoded
    order: _Order = field(default_factory=_Order)

    def last_page(self) -> int | None:
        """The last page to hand over: the known end, or where the order would end the day."""
        if self.stop_at is not None and (self.end is None or self.stop_at < self.end):
            return self.stop_at
        return self.end

    def finished(self) -> bool:
        if self.end is not None and self.handed_over >= self.end:
            return True
        return self.stop_at is not None and self.handed_over >= self.stop_at and self.order.proven()


@dataclass
class PagerStats:
    """Requests made and wasted (a page past a day's end), for logs and tests."""

    pages: int = 0
    wasted: int = 0
    held_peak: int = 0


class EventPager:
    """Fetches every event of some days, many requests in flight; hands pages over in order."""

    def __init__(  # noqa: PLR0913
        self,
        client: WistiaClient,
        units: Sequence[Unit],
        *,
        since: dt.datetime,
        timestamp_of: Callable[[dict[str, Any]], dt.datetime | None],
        key_of: Callable[[dict[str, Any]], object],
        max_parallel: int = 8,
        max_held: int | None = None,
        live_from: dt.date | None = None,
        stopping: Callable[[], bool] = lambda: False,
        path: str = EVENTS_PATH,
        max_pages: int,
    ) -> None:
        """Plan the reading of `units` (in order); nothing is sent before `pages()` runs.

        Units of `live_from` and later days are read one page at a time (None: every day may be
        read in parallel, for periods that no longer change). Once `stopping()` says so, the
        pager stops between two pages with `RunInterruptedError`, without waiting for requests
        still out. `path` is the events endpoint of the API the run speaks (v1's by default).
        A unit that has events past page `max_pages` raises `DayTooLongError`. `key_of` tells
        an event served again on the next page (None: no key to tell by), which the order check
        leaves out.
        """
        self._client = client
        self._stopping = stopping
        self._path = path
        self._live_from = live_from
        self._units = list(units)
        self._since = since
        self._timestamp_of = timestamp_of
        self._key_of = key_of
        self._max_parallel = max_parallel
        self._max_held = max_held if max_held is not None else 8 * max_parallel
        self._progress = [_UnitProgress() for _ in self._units]
        self._max_pages = max_pages
        self._recent_days: deque[int] = deque(maxlen=3)
        self._held = 0
        self._frontier = 0
        self.stats = PagerStats()

    def pages(self) -> Iterator[EventPage | DayDone]:
        """Yield every page in (day, media, page) order, and `DayDone` after each day.

        Raises:
            RunInterruptedError: `stopping()` said so (checked between pages and while waiting).
            DayTooLongError: a unit has events past `max_pages`.
        """
        return in_pool(self._max_parallel, "wistia", self._read)

    def _read(self, pool: ThreadPoolExecutor) -> Iterator[EventPage | DayDone]:
        futures: dict[Future[Any], tuple[int, int]] = {}
        while self._frontier < len(self._units):
            check_running(self._stopping)
            self._issue(pool, futures)
            yield from self._hand_over()
            if self._frontier >= len(self._units):
                break
            self._issue(pool, futures)  # handing over may have made room
            if not futures:  # pragma: no cover - _issue always has work here
                msg = "event pager stalled with nothing in flight"
                raise RuntimeError(msg)
            done: set[Future[Any]] = set()
            while not done:
                done, _ = wait(futures, timeout=POLL_SECONDS, return_when=FIRST_COMPLETED)
                check_running(self._stopping)
            for future in done:
                index, number = futures.pop(future)
                self._record(index, number, future.result())

    # -- scheduling --------------------------------------------------------------------------

    def _issue(self, pool: ThreadPoolExecutor, futures: dict[Future[Any], tuple[int, int]]) -> None:
        for index in range(self._frontier, len(self._units)):
            progress = self._progress[index]
            if self._held >= self._max_held and (
                index > self._frontier or progress.next_page > progress.handed_over + 1
            ):
                return  # full: only the page the frontier hands over next may still go out
            unit = self._units[index]
            while len(futures) < self._max_parallel and self._may_request(unit, progress):
                number = progress.next_page
                progress.next_page += 1
                progress.in_flight.add(number)
                params = unit.params(number)
                futures[pool.submit(self._client.get_array, self._path, params)] = (index, number)
            if len(futures) >= self._max_parallel:
                return

    def _may_request(self, unit: Unit, progress: _UnitProgress) -> bool:
        if progress.end is not None or progress.next_page > self._max_pages + 1:
            return False
        if progress.stop_at is not None and progress.next_page > progress.stop_at:
            return False  # the order may end the day there: see `_hand_over`
        if progress.next_page == 1 or not progress.in_flight:
            return True
        if self.is_live(unit):
            return False  # still receiving events: never ahead of an unanswered page
        return progress.next_page <= self._safe_pages(unit, progress)

    def is_live(self, unit: Unit) -> bool:
        """Whether `unit`'s day may still receive events, so its pages may shift while read."""
        return self._live_from is not None and unit.day >= self._live_from

    def _safe_pages(self, unit: Unit, progress: _UnitProgress) -> int:
        """Pages this day surely has: requesting up to there wastes nothing."""
        projected = self._projected_pages(unit, progress)
        history = 0.8 * min(self._recent_days) if self._recent_days else 0.0
        return int(max(0.5 * projected, min(history, projected)))

    def _projected_pages(self, unit: Unit, progress: _UnitProgress) -> float:
        """The day's page count if the rest of it is as busy as what its pages covered so far."""
        covered = progress.handed_over
        while covered + 1 in progress.results:
            covered += 1
        oldest = progress.oldest.get(covered)
        if covered < 2 or progress.newest is None or oldest is None:  # noqa: PLR2004
            return 0.0
        floor = max(self._since, dt.datetime.combine(unit.day, dt.time(), dt.UTC))
        seen = (progress.newest - oldest).total_seconds()
        whole = (progress.newest - floor).total_seconds()
        if seen <= 0 or whole <= 0:
            return 0.0
        return covered * whole / seen

    def _record(self, index: int, number: int, events: Sequence[Any]) -> None:
        progress = self._progress[index]
        progress.in_flight.discard(number)
        self.stats.pages += 1
        if progress.end is not None and number > progress.end:
            return
        if not events:
            self._end_at(progress, number - 1)
            progress.probed_past_end = progress.end == number - 1
            return
        progress.results[number] = events
        self._held += 1
        self.stats.held_peak = max(self.stats.held_peak, self._held)
        oldest = self._timestamp_of(events[-1])
        if number == 1:
            progress.newest = self._timestamp_of(events[0])
        if len(events) < PER_PAGE:
            self._end_at(progress, number)
            return
        if oldest is not None and oldest < self._since and progress.order.ordered:
            progress.stop_at = min(progress.stop_at or number, number)
        elif oldest is not None:
            progress.oldest[number] = oldest

    def _too_long(self, unit: Unit) -> DayTooLongError:
        media = f" of media {unit.media_id}" if unit.media_id else ""
        return DayTooLongError(
            f"Wistia served more than {self._max_pages:,} full pages of events for "
            f"{unit.day.isoformat()}{media} ({self._max_pages * PER_PAGE:,} events), past "
            "max_pages_per_day: a server that never ends a day, or a day busier than the "
            "setting allows. The run stops before any bookmark passes that day; if the day is "
            "real, raise max_pages_per_day."
        )

    def _end_at(self, progress: _UnitProgress, last: int) -> None:
        if progress.end is not None and last >= progress.end:
            return
        progress.end = last
        progress.probed_past_end = False
        self._drop_after(progress, last)

    def _drop_after(self, progress: _UnitProgress, last: int) -> None:
        """Forget results held past a unit's last page."""
        for number in [n for n in progress.results if n > last]:
            del progress.results[number]
            self._held -= 1

    def skip_rest(self, unit: Unit) -> None:
        """End `unit` at the page handed over last (the caller read it again whole meanwhile).

        Only for the unit being handed over; its pages still out are dropped on arrival.
        """
        progress = self._progress[self._frontier]
        if self._units[self._frontier] != unit:
            msg = f"skip_rest({unit}) while {self._units[self._frontier]} is being handed over"
            raise RuntimeError(msg)
        self._end_at(progress, progress.handed_over)

    # -- handing over ------------------------------------------------------------------------

    def _hand_over(self) -> Iterator[EventPage | DayDone]:
        while self._frontier < len(self._units):
            unit = self._units[self._frontier]
            progress = self._progress[self._frontier]
            number = progress.handed_over + 1
            if number in progress.results and number <= (progress.last_page() or number):
                if number > self._max_pages:
                    raise self._too_long(unit)
                events = list(progress.results.pop(number))  # decoded only now
                self._held -= 1
                progress.handed_over = number
                progress.order.check(events, self._timestamp_of, self._key_of)
                if not progress.order.ordered:
                    progress.stop_at = None  # not newest first: the day is read to its end
                yield EventPage(unit, number, events)
                continue
            if not progress.finished():
                if progress.stop_at is not None and progress.handed_over >= progress.stop_at:
                    progress.stop_at = None  # the order is not proven: read the day to its end
                return
            last = progress.last_page() or 0
            self._drop_after(progress, last)
            progress.order.previous_keys = set()  # a day read keeps no keys
            self._recent_days.append(last)
            needed = last + int(progress.probed_past_end and last == progress.end)
            self.stats.wasted += progress.next_page - 1 - needed
            self._frontier += 1
            following = self._units[self._frontier] if self._frontier < len(self._units) else None
            if following is None or following.day != unit.day:
                yield DayDone(unit.day)
