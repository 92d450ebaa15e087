"""The event pager against a fake API whose current day keeps receiving events while it is read."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from tap_wistia.pager import DayTooLongError, EventPage, EventPager, Unit, live_from
from tap_wistia.seen import (
    BETTER,
    MAX_REPEATED_PAGES,
    NEW,
    TAKEN,
    RepeatedPageError,
    RepeatedPages,
    SeenKeys,
)

DAY = dt.date(2026, 11, 27)
MIDNIGHT = dt.datetime.combine(DAY, dt.time(), dt.UTC)


class LiveDay:
    """One day of events, newest first, that receives `drift` new events after each page served.

    Odd pages after the first are answered late, so a page read ahead in parallel is served
    before the page above it, as happens on a real network.
    """

    def __init__(self, events: int, drift: int) -> None:
        self._lock = threading.Lock()
        self._drift = drift
        self._made = 0
        self.events: list[dict[str, Any]] = []
        for _ in range(events):
            self._add()
        self.original = {event["event_key"] for event in self.events}

    def _add(self) -> None:
        moment = MIDNIGHT + dt.timedelta(seconds=10 * self._made)
        self.events.insert(0, {"event_key": f"e{self._made:05d}", "received_at": moment})
        self._made += 1

    def get_array(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        assert path == "stats/events.json"
        page = params["page"]
        if page > 1 and page % 2:
            time.sleep(0.05)
        with self._lock:
            start = (page - 1) * params["per_page"]
            served = self.events[start : start + params["per_page"]]
            for _ in range(self._drift):
                self._add()
            return served


def read(
    day: object,
    live: dt.date | None = None,
    *,
    since: dt.datetime = MIDNIGHT,
    max_pages: int = 10_000,
) -> set[str]:
    """Every event key a pager hands over of `day` (a fake API) from `since`."""
    pager = EventPager(
        day,  # type: ignore[arg-type]
        [Unit(DAY)],
        since=since,
        timestamp_of=lambda event: event["received_at"],
        key_of=lambda event: event["event_key"],
        max_parallel=8,
        live_from=live,
        max_pages=max_pages,
    )
    return {
        event["event_key"]
        for item in pager.pages()
        if isinstance(item, EventPage)
        for event in item.events
    }


def test_a_day_still_receiving_events_is_read_one_page_at_a_time_and_loses_nothing() -> None:
    day = LiveDay(events=2000, drift=3)
    assert day.original <= read(day, live=DAY)


def test_reading_such_a_day_in_parallel_would_miss_the_events_shifted_across_a_boundary() -> None:
    day = LiveDay(events=2000, drift=3)
    assert not day.original <= read(day, live=None)  # why live days are read in order


@pytest.mark.parametrize(
    ("now", "first_live_day"),
    [
        (dt.datetime(2026, 11, 27, 11, 59, tzinfo=dt.UTC), dt.date(2026, 11, 26)),  # UTC-12: 26th
        (dt.datetime(2026, 11, 27, 12, 0, tzinfo=dt.UTC), dt.date(2026, 11, 27)),
        (dt.datetime(2026, 11, 27, 23, 0, tzinfo=dt.UTC), dt.date(2026, 11, 27)),
    ],
)
def test_live_days_start_where_the_westernmost_time_zone_still_is(
    now: dt.datetime, first_live_day: dt.date
) -> None:
    assert live_from(now) == first_live_day


def test_keys_of_a_past_day_are_kept_for_two_pages_and_of_a_live_day_for_the_whole_day() -> None:
    past, live = SeenKeys(whole_unit=False), SeenKeys(whole_unit=True)
    for seen in (past, live):
        assert seen.take("a", -1.0) == NEW
        assert seen.take("a", -1.0) == TAKEN  # the same copy again, on the same page
        seen.next_page()
        assert seen.take("a", -1.0) == TAKEN  # on the next page
        assert seen.take("a", 0.5) == BETTER  # a better copy
        assert seen.take("a", 0.4) == TAKEN
        for _ in range(2):
            seen.next_page()
    assert past.take("a", 0.5) == NEW  # two pages on, a past day has forgotten it
    assert live.take("a", 0.5) == TAKEN
    for page in range(400):  # a busy past day keeps two pages of keys, whatever its length
        past.next_page()
        for n in range(100):
            past.take(f"k{page}-{n}", -1.0)
    assert len(past._page) + len(past._before) == 200


def test_a_page_served_again_and_again_is_recognised_on_every_copy() -> None:
    seen = SeenKeys(whole_unit=False)
    page = [f"k{n}" for n in range(100)]
    assert [seen.take(key, -1.0) for key in page] == [NEW] * 100
    for _ in range(4):  # copies in a row: each one is compared with the copy just before it
        seen.next_page()
        assert [seen.take(key, -1.0) for key in page] == [TAKEN] * 100


def test_repeated_pages_are_fingerprinted_across_units_and_bounded_in_a_row() -> None:
    repeats = RepeatedPages()
    page = [{"event_key": f"k{n}", "received_at": "2026-11-27T10:00:00Z"} for n in range(3)]
    assert not repeats.seen_before(page)
    assert repeats.seen_before(list(page))  # the same events again, on any unit
    assert not repeats.seen_before(page[:2])
    repeats.new_unit()
    for _ in range(MAX_REPEATED_PAGES - 1):
        repeats.count(repeated=True, where="2026-11-27")
    repeats.count(repeated=False, where="2026-11-27")  # a new page restarts the count
    for _ in range(MAX_REPEATED_PAGES - 1):
        repeats.count(repeated=True, where="2026-11-27")
    with pytest.raises(RepeatedPageError, match="5 pages in a row of 2026-11-27"):
        repeats.count(repeated=True, where="2026-11-27")
    assert repeats.skipped == 2 * MAX_REPEATED_PAGES - 1


class OrderedDay:
    """One past day of `events` events, ten minutes apart, paged in `order`; counts requests."""

    def __init__(self, events: int, order: str, *, same_time: bool = False) -> None:
        self.events: list[dict[str, Any]] = [
            {
                "event_key": f"e{n:05d}",
                "received_at": MIDNIGHT + dt.timedelta(minutes=0 if same_time else n),
            }
            for n in range(events)
        ]
        if order == "newest_first":
            self.events.reverse()
        elif order == "shuffled":
            self.events.sort(key=lambda event: hash(event["event_key"]) % 1009)
        self.requests = 0

    def get_array(self, path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        self.requests += 1
        start = (params["page"] - 1) * params["per_page"]
        return self.events[start : start + params["per_page"]]


@pytest.mark.parametrize("order", ["newest_first", "oldest_first", "shuffled"])
def test_a_day_read_from_its_middle_gives_every_event_after_it_in_any_order(order: str) -> None:
    day = OrderedDay(events=1000, order=order)
    since = MIDNIGHT + dt.timedelta(minutes=700)
    wanted = {e["event_key"] for e in day.events if e["received_at"] >= since}
    assert wanted <= read(day, since=since)
    if order == "newest_first":
        assert day.requests == 4  # three pages hold the 300 events after it, one proves it ends
    else:
        assert day.requests == 11  # the whole day and the empty page past it


def test_a_day_whose_times_are_all_equal_proves_no_order_and_is_read_to_its_end() -> None:
    day = OrderedDay(events=450, order="oldest_first", same_time=True)
    day.events[-1]["received_at"] = MIDNIGHT + dt.timedelta(hours=5)  # newer, on the last page
    assert "e00449" in read(day, since=MIDNIGHT + dt.timedelta(hours=1))
    assert day.requests == 5


def test_a_day_past_max_pages_stops_the_run_naming_the_day_and_the_setting() -> None:
    day = OrderedDay(events=2000, order="newest_first")
    with pytest.raises(DayTooLongError, match=r"more than 12 full pages of events for 2026-11-27"):
        read(day, max_pages=12)
    assert day.requests <= 13 + 8  # the pages allowed, the one past them, those in flight


def test_a_live_day_receiving_events_still_ends_early_where_its_order_shows() -> None:
    day = LiveDay(events=2000, drift=3)  # events ten seconds apart: the day so far is 5.5 h
    since = MIDNIGHT + dt.timedelta(hours=4)
    wanted = {e["event_key"] for e in day.events if e["received_at"] >= since}
    requests = 0
    answer = day.get_array

    def counted(path: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        nonlocal requests
        requests += 1
        return answer(path, params)

    day.get_array = counted  # type: ignore[method-assign]
    assert wanted <= read(day, live=DAY, since=since)
    assert requests <= 8  # 560 events and those arriving meanwhile, of 2,000 and more
