"""tap-wistia reads every event whatever the gap and whatever Wistia leaves undocumented.

Over real HTTP against the Wistia sandbox, which serves each undocumented behaviour both ways:
the order of a day's events (newest first, oldest first, shuffled), whether `end_date` is
inclusive, whether `/medias` without `archived` lists archived medias, pages that move while a
day past is read, a day that never ends, and a rate limit answered 503 without `Retry-After`.
An assumption may make a run faster, never decide what it reads.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import pytest

from tap_wistia import client as client_module
from tap_wistia.events import format_timestamp
from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.days import EVENTS_ORDERS
from tap_wistia.sandbox.server import WistiaSandbox
from tests.clock import END, clock_at, run_moment
from tests.harness import TapOutput, moment, run_tap
from tests.test_tap import DAYS, TOKEN, config_for, events_between, expected_sessions

NOW = run_moment(END)
LOOKBACK = dt.timedelta(minutes=60)
MID_YESTERDAY = dt.datetime.combine(END.date() - dt.timedelta(days=1), dt.time(14, 30), dt.UTC)


@pytest.fixture(autouse=True)
def now():
    """Every run starts just after the account's end, whatever the wall clock says."""
    with clock_at(NOW):
        yield


@pytest.fixture
def account(now) -> Account:
    return Account(AccountSpec(seed=7, events=3000, days=DAYS, visitors=150, medias=8, end=END))


@pytest.fixture
def sandbox(wistia_sandbox, account: Account):
    return wistia_sandbox(account)


def bookmark(at: dt.datetime | object, stream: str = "wistia_events") -> dict[str, Any]:
    """A state holding one stream's bookmark (`at` as a timestamp, or any value as stored)."""
    value = format_timestamp(at) if isinstance(at, dt.datetime) else at
    return {
        "bookmarks": {stream: {"replication_key": "received_at", "replication_key_value": value}}
    }


def no_start(server: WistiaSandbox, **extra: Any) -> dict[str, Any]:
    """Lytics' import default: no start_date ("only new viewing activity")."""
    return {"api_token": TOKEN, "api_url": server.url, **extra}


def emitted(out: TapOutput) -> set[str]:
    return {event["event_key"] for event in out.of("wistia_events")}


def sessions(out: TapOutput) -> dict[str, dict[str, Any]]:
    return {session["session_id"]: session for session in out.of("wistia_activity")}


def first_line(caplog: pytest.LogCaptureFixture) -> str:
    return next(r.getMessage() for r in caplog.records if r.getMessage().startswith("Reading"))


# ---- the bookmark is the start --------------------------------------------------------------


@pytest.mark.parametrize(
    "gap", [dt.timedelta(days=2), dt.timedelta(minutes=65)], ids=["two-days", "65-minutes"]
)
def test_an_events_only_run_after_a_gap_without_start_date_emits_every_event_of_it(
    sandbox, account, caplog, gap
):
    last_run = NOW - gap
    with caplog.at_level(logging.INFO):
        out = run_tap(no_start(sandbox), bookmark(last_run), select={"wistia_events"})
    gap_events = events_between(account, last_run, NOW)
    assert len(gap_events) > 20
    assert emitted(out) == set(events_between(account, last_run - LOOKBACK, NOW))
    assert f"the wistia_events bookmark {format_timestamp(last_run)} minus the 60-minute" in (
        first_line(caplog)
    )
    stored = out.state["bookmarks"]["wistia_events"]["replication_key_value"]
    assert moment(stored) <= out.tap.started_at


@pytest.mark.parametrize(
    "gap", [dt.timedelta(days=2), dt.timedelta(minutes=65)], ids=["two-days", "65-minutes"]
)
@pytest.mark.parametrize("streams", [{"wistia_events"}, {"wistia_events", "wistia_activity"}])
def test_two_runs_a_gap_apart_emit_every_event_between_them(sandbox, account, gap, streams):
    with clock_at(NOW - gap):
        first = run_tap(no_start(sandbox), select=streams)
    second = run_tap(no_start(sandbox), first.state, select=streams)
    since = first.tap.started_at - dt.timedelta(hours=1)  # what a first run reads
    assert emitted(first) | emitted(second) == set(events_between(account, since, NOW))


def test_with_both_streams_the_gap_reaches_wistia_events_too(sandbox, account):
    last_run = NOW - dt.timedelta(days=2)
    first = run_tap(no_start(sandbox), select={"wistia_activity"})  # a carry of its own
    state = {"bookmarks": {**first.state["bookmarks"], **bookmark(last_run)["bookmarks"]}}
    out = run_tap(no_start(sandbox), state, select={"wistia_events", "wistia_activity"})
    assert emitted(out) == set(events_between(account, last_run - LOOKBACK, NOW))


def test_a_bookmark_older_than_start_date_starts_at_start_date_and_says_so(
    sandbox, account, caplog
):
    start = END.date() - dt.timedelta(days=1)
    with caplog.at_level(logging.INFO):
        out = run_tap(
            no_start(sandbox, start_date=start.isoformat()),
            bookmark(NOW - dt.timedelta(days=3)),
            select={"wistia_events"},
        )
    midnight = dt.datetime.combine(start, dt.time(), dt.UTC)
    assert emitted(out) == set(events_between(account, midnight, NOW))
    later = f"from start_date {start.isoformat()}, later than the wistia_events bookmark"
    assert later in first_line(caplog)
    assert "minus the 60-minute lookback" in first_line(caplog)


@pytest.mark.parametrize("stored", ["garbage", 1741600000, ""], ids=["text", "number", "empty"])
def test_an_unreadable_bookmark_is_refused_by_name_and_read_as_a_first_run(
    sandbox, account, caplog, stored
):
    with caplog.at_level(logging.INFO):
        out = run_tap(no_start(sandbox), bookmark(stored), select={"wistia_events"})
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert f"the wistia_events bookmark {stored!r} is not a timestamp" in warning
    assert "reading as a first run would, from a first run without start_date" in warning
    assert "set start_date" in warning
    assert emitted(out) == set(events_between(account, NOW - dt.timedelta(hours=1), NOW))


def test_a_malformed_carry_stops_the_run_with_advice_that_loses_no_gap(sandbox):
    state = bookmark(NOW - dt.timedelta(hours=3), "wistia_activity")
    state["bookmarks"]["wistia_activity"]["carry"] = {"watermark": "yesterday"}
    out = run_tap(no_start(sandbox), state, select={"wistia_activity"}, expect_error=True)
    message = str(out.error)
    day = (NOW - dt.timedelta(hours=3) - dt.timedelta(minutes=90) - dt.timedelta(days=1)).date()
    assert "watermark 'yesterday' is not a timestamp" in message
    assert f"set start_date to {day.isoformat()}" in message
    assert message.index("set start_date") < message.index("meltano state clear")


# ---- whatever the order -----------------------------------------------------------------------


@pytest.mark.parametrize("order", EVENTS_ORDERS)
def test_an_events_only_run_resuming_mid_day_emits_every_event_in_any_order(
    sandbox, account, order
):
    sandbox.set_faults(events_order=order)
    out = run_tap(no_start(sandbox), bookmark(MID_YESTERDAY), select={"wistia_events"})
    assert emitted(out) == set(events_between(account, MID_YESTERDAY - LOOKBACK, NOW))
    keys = [event["event_key"] for event in out.of("wistia_events")]
    assert len(keys) == len(set(keys))


def resumed_sessions(sandbox: WistiaSandbox, order: str) -> dict[str, dict[str, Any]]:
    """An activity-only run two hours before the end, then one resuming from it in `order`."""
    sandbox.set_faults()
    start = (END - dt.timedelta(days=2)).date().isoformat()
    with clock_at(END - dt.timedelta(hours=2)):
        first = run_tap(no_start(sandbox, start_date=start), select={"wistia_activity"})
    sandbox.set_faults(events_order=order)
    resumed = run_tap(no_start(sandbox, start_date=start), first.state, select={"wistia_activity"})
    return sessions(resumed)


@pytest.mark.parametrize("order", [order for order in EVENTS_ORDERS if order != "newest_first"])
def test_an_activity_only_run_resuming_mid_day_gives_the_same_sessions_in_any_order(sandbox, order):
    newest_first = resumed_sessions(sandbox, "newest_first")
    assert len(newest_first) > 20
    assert resumed_sessions(sandbox, order) == newest_first


@pytest.mark.parametrize("order", EVENTS_ORDERS)
def test_a_backfill_in_any_order_gives_every_event_and_the_exact_sessions(sandbox, account, order):
    sandbox.set_faults(events_order=order)
    config = config_for(sandbox)
    out = run_tap(config, select={"wistia_events", "wistia_activity"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, NOW)
    assert emitted(out) == set(wanted)
    assert sessions(out) == expected_sessions(account, wanted)


def test_the_newest_first_order_still_ends_a_day_early_where_it_proves_itself(sandbox):
    costs = {}
    for order in ("newest_first", "oldest_first"):
        sandbox.set_faults(events_order=order)
        out = run_tap(no_start(sandbox), bookmark(MID_YESTERDAY), select={"wistia_events"})
        costs[order] = out.tap.client.stats.requests
    pages = -(-len(out.of("wistia_events")) // 100)
    # the days asked (4), and per day at most a page proving where it ends or that it ended
    assert costs["newest_first"] <= pages + 4 + 4
    assert costs["newest_first"] < costs["oldest_first"]  # which reads the days whole


# ---- inclusive or exclusive end_date --------------------------------------------------------


def test_an_exclusive_end_date_is_found_and_every_day_read_again(sandbox, account, caplog):
    sandbox.set_faults(end_date_reading="exclusive")
    config = config_for(sandbox)
    with caplog.at_level(logging.WARNING):
        out = run_tap(config, select={"wistia_events", "wistia_activity"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, NOW)
    assert emitted(out) == set(wanted)
    assert sessions(out) == expected_sessions(account, wanted)
    assert "it reads end_date as the first day not served" in caplog.text


def assert_no_state_passes_an_event_not_yet_written(out: TapOutput, wanted: dict) -> None:
    """At every STATE, each wanted event received before its bookmark was already written."""
    written: set[str] = set()
    for message in out.messages:
        if message["type"] == "RECORD" and message["stream"] == "wistia_events":
            written.add(message["record"]["event_key"])
        elif message["type"] == "STATE":
            mark = moment(message["value"]["bookmarks"]["wistia_events"]["replication_key_value"])
            owed = {key for key, event in wanted.items() if moment(event["received_at"]) < mark}
            assert owed <= written, f"a STATE at {mark} passes {len(owed - written)} events"


@pytest.mark.parametrize("reading", ["inclusive", "exclusive"])
def test_no_state_passes_an_event_not_written_however_end_date_is_read(sandbox, account, reading):
    sandbox.set_faults(end_date_reading=reading)
    config = config_for(sandbox)
    out = run_tap(config, select={"wistia_events"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, NOW)
    assert emitted(out) == set(wanted)
    assert_no_state_passes_an_event_not_yet_written(out, wanted)


def test_a_quiet_run_asks_once_more_whether_end_date_is_exclusive(sandbox):
    quiet = NOW + dt.timedelta(days=3)  # no event in the period, nor the days around it
    with clock_at(quiet):
        out = run_tap(
            no_start(sandbox), bookmark(quiet - dt.timedelta(hours=1)), select={"wistia_events"}
        )
    assert out.of("wistia_events") == []
    days = 3  # the day of the period, and one on each side
    assert out.tap.client.stats.requests == days + 1  # and the probe
    assert moment(out.state["bookmarks"]["wistia_events"]["replication_key_value"]) > END


# ---- pages that move, days that never end ---------------------------------------------------


def test_a_day_past_whose_pages_move_down_is_read_again_and_loses_nothing(sandbox, account, caplog):
    config = config_for(sandbox, max_parallel_requests=1)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    before = events_between(account, start, NOW)
    sandbox.set_faults(insert_while_paging=1)
    with caplog.at_level(logging.WARNING):
        out = run_tap(config, select={"wistia_events", "wistia_activity"})
    assert set(before) <= emitted(out)
    assert out.tap.viewing_run().report.units_moved >= 1
    assert "moved while they were read" in caplog.text
    assert "read again one page at a time after their pages moved" in caplog.text


def test_a_deletion_that_shows_nothing_hides_at_most_one_event_each(sandbox, account):
    config = config_for(sandbox, max_parallel_requests=1)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    before = events_between(account, start, NOW)
    sandbox.set_faults(delete_while_paging=1)
    out = run_tap(config, select={"wistia_events"})
    after = events_between(account, start, NOW)
    deleted = set(before) - set(after)
    hidden = set(after) - emitted(out)
    assert deleted  # each page of a day past deleted one of its events once served
    assert len(hidden) <= len(deleted)  # what the README says such a deletion can cost


def test_a_day_that_never_ends_stops_the_run_bounded_with_no_bookmark_past_it(sandbox, account):
    sandbox.set_faults(endless_day=True)
    config = config_for(sandbox, max_pages_per_day=20)
    out = run_tap(config, select={"wistia_events", "wistia_activity"}, expect_error=True)
    message = str(out.error)
    endless = account.last_day
    assert f"more than 20 full pages of events for {endless.isoformat()}" in message
    assert "max_pages_per_day" in message
    assert "before any bookmark passes that day" in message
    midnight = dt.datetime.combine(endless, dt.time(), dt.UTC)
    for stream in ("wistia_events", "wistia_activity"):
        assert moment(out.state["bookmarks"][stream]["replication_key_value"]) <= midnight
    report = out.tap.viewing_run().report
    assert report.events_held_peak <= 20 * 100
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    other_pages = len(events_between(account, start, midnight)) // 100 + 2 * 6  # + ends, probes
    assert out.tap.client.stats.requests <= 21 + other_pages + 2  # and both media listings


# ---- the rate limit, 429 or 503, with or without Retry-After ---------------------------------


def test_a_503_without_retry_after_pauses_every_request_once_logged_once(
    sandbox, account, caplog, monkeypatch
):
    monkeypatch.setattr(client_module, "RATE_LIMIT_PAUSE_SECONDS", 1.0)
    # answered after 200 ms, the first requests (one per day) are all out when the first 503s
    # come back together: one pause for all of them
    sandbox.set_faults(fail_next=[503, 503, 503], retry_after_seconds=None, latency_ms=200)
    config = config_for(sandbox)
    with caplog.at_level(logging.INFO):
        out = run_tap(config, select={"wistia_events"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    assert emitted(out) == set(events_between(account, start, NOW))
    assert out.tap.client.stats.rate_limited == 3
    pauses = [r.getMessage() for r in caplog.records if "every request waits" in r.getMessage()]
    assert pauses == [pauses[0]]
    assert "HTTP 503" in pauses[0]
    assert "no Retry-After: a default" in pauses[0]
    assert out.tap.client.stats.retries == 3  # each waited out the one pause, logged once
    assert not [r for r in caplog.records if "; retry " in r.getMessage()]
    answered = sandbox.stats()
    assert answered["last_request_at"] - answered["first_request_at"] >= 1.0


def test_a_rate_limit_answered_503_without_retry_after_is_waited_out(account, monkeypatch):
    monkeypatch.setattr(client_module, "RATE_LIMIT_PAUSE_SECONDS", 0.2)
    with WistiaSandbox(
        account,
        rate_limit_per_minute=12,
        rate_limit_window_seconds=0.5,
        rate_limit_status=503,
        retry_after_style="none",
    ) as server:
        config = config_for(server)
        out = run_tap(config, select={"wistia_events"})
        assert server.stats()["rate_limited"] > 0
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    assert emitted(out) == set(events_between(account, start, NOW))


# ---- archived medias ----------------------------------------------------------------------------


@pytest.mark.parametrize("listing", ["active", "all"])
def test_an_archived_medias_events_get_their_time_viewed(sandbox, account, listing):
    sandbox.set_faults(archived_listing=listing)
    archived = next(media for media in account.medias() if media["archived"])
    out = run_tap(config_for(sandbox), select={"wistia_activity", "wistia_medias"})
    on_it = [s for s in out.of("wistia_activity") if s["media_id"] == archived["hashed_id"]]
    assert on_it
    assert all(s["media_duration"] == archived["duration"] for s in on_it)
    assert all(s["duration_viewed"] is not None for s in on_it if s["percent_viewed"] is not None)
    medias = {media["hashed_id"]: media for media in out.of("wistia_medias")}
    assert medias[archived["hashed_id"]]["archived"] is True
    assert len(medias) == len(account.medias())
