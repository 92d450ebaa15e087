"""The Wistia sandbox renders each day once, however many days a client reads at the same time.

tap-wistia asks for the first pages of the following days in parallel while it pages through
one; a sandbox that kept four days rendered each day several times over and set the pace of a
backfill itself. What a client is served never depends on the cache.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from tap_wistia.sandbox import Account, AccountSpec, EventQuery

END = datetime(2025, 3, 10, 12, 0, 0, tzinfo=UTC)
SPEC = AccountSpec(seed=5, events=6000, days=12, visitors=200, medias=8, end=END)
PER_PAGE = 100


def days_of(account: Account) -> list[date]:
    day, days = account.first_day, []
    while day <= account.last_day:
        days.append(day)
        day += timedelta(days=1)
    return days


def keys_of_day(account: Account, day: date, first_page: int = 1) -> list[str]:
    """Every event key of one day from `first_page` on, page by page (newest first)."""
    keys: list[str] = []
    page = first_page
    while True:
        rows = account.page(EventQuery(start=day, end=day), page, PER_PAGE)
        keys += [row.key for row in rows]
        if len(rows) < PER_PAGE:
            return keys
        page += 1


def read_as_the_tap_does(account: Account) -> dict[date, list[str]]:
    """Page 1 of every day at once, then each day's other pages, eight requests in flight."""
    days = days_of(account)
    with ThreadPoolExecutor(8) as pool:
        firsts = list(pool.map(lambda day: keys_of_day_page(account, day), days))
        rests = list(pool.map(lambda day: keys_of_day(account, day, 2), days))
    return {day: first + rest for day, first, rest in zip(days, firsts, rests, strict=True)}


def keys_of_day_page(account: Account, day: date) -> list[str]:
    return [row.key for row in account.page(EventQuery(start=day, end=day), 1, PER_PAGE)]


def test_many_days_read_at_once_are_each_rendered_once() -> None:
    account = Account(SPEC, prefetch=False)
    read = read_as_the_tap_does(account)
    assert account.days_rendered == len(read) >= SPEC.days
    serial = Account(SPEC, prefetch=False)
    assert {day: keys_of_day(serial, day) for day in days_of(serial)} == read


def test_a_small_cache_serves_the_same_pages() -> None:
    account = Account(SPEC, prefetch=False, cache_rows=0)
    read = read_as_the_tap_does(account)
    assert account.days_rendered > len(read)  # evicted, so rendered again: still correct
    assert read == read_as_the_tap_does(Account(SPEC, prefetch=False))


def test_the_last_two_days_used_stay_whatever_the_budget() -> None:
    account = Account(SPEC, prefetch=False, cache_rows=0)
    day = days_of(account)[3]
    keys_of_day(account, day)
    keys_of_day(account, day - timedelta(days=1))
    keys_of_day(account, day)
    assert account.days_rendered == 2
    assert account.rendered_days() == [day - timedelta(days=1), day]
    keys_of_day(account, day + timedelta(days=1))
    assert account.rendered_days() == [day, day + timedelta(days=1)]


def test_prefetch_renders_the_day_a_forward_reader_reads_next() -> None:
    account = Account(SPEC)
    days = days_of(account)
    keys_of_day(account, days[0])
    account.page(EventQuery(start=days[1], end=days[1]), 1, PER_PAGE)  # a full page: more follow
    deadline = time.monotonic() + 20
    while days[2] not in account.rendered_days() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert days[2] in account.rendered_days()


def test_a_change_made_while_another_thread_renders_its_day_does_not_deadlock() -> None:
    """A live change holds the account's lock; it must not wait on a render that needs it."""
    account = Account(SPEC, prefetch=False)
    day = account.last_day - timedelta(days=3)
    generate = account.schedule.generate

    def slow_generate(slot: date) -> list:
        time.sleep(0.3)  # the reader's render is under way when the change takes the lock
        return generate(slot)

    account.schedule.generate = slow_generate  # type: ignore[method-assign]
    pages: list[list[str]] = []
    reader = threading.Thread(target=lambda: pages.append(keys_of_day_page(account, day)))
    writer = threading.Thread(target=account.add_late_events, args=(day, 3))
    for thread in (reader, writer):
        thread.daemon = True  # a deadlocked one must not hold the test run
        thread.start()
        time.sleep(0.1)
    for thread in (reader, writer):
        thread.join(timeout=20)
        assert not thread.is_alive(), "the sandbox deadlocked"
    assert len(pages[0]) == PER_PAGE
    assert len(keys_of_day(account, day)) == len(keys_of_day(Account(SPEC), day)) + 3


def test_deleting_many_events_of_a_day_renders_it_once_more() -> None:
    account = Account(SPEC, prefetch=False)
    day = account.last_day - timedelta(days=2)
    keys = keys_of_day(account, day)
    rendered = account.days_rendered
    gone = keys[:20]
    assert account.delete_events([*gone, gone[0], "no-such-key"]) == len(gone)
    assert keys_of_day(account, day) == keys[20:]
    assert account.days_rendered == rendered + 1
