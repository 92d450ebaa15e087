"""tap-wistia over real HTTP against the Wistia sandbox: completeness, state, retries, errors."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import requests

from tap_wistia.client import WistiaClient, WistiaError
from tap_wistia.events import EventProblems, normalize_event, parse_timestamp, view_event
from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox
from tap_wistia.sessions import sessionize
from tests.clock import END, ENDS, clock_at, run_moment
from tests.harness import TapOutput, moment, run_tap

TOKEN = "sandbox-wistia-token"
DAYS = 4
#: Tests that read the account's newest day run with the account ending at each pinned hour.
AT_EVERY_END = pytest.mark.parametrize("end", ENDS.values(), ids=ENDS.keys())


@pytest.fixture
def end() -> dt.datetime:
    """When the test's account ends (tests parametrize it to try other hours)."""
    return END


@pytest.fixture(autouse=True)
def now(end: dt.datetime):
    """Every test runs just after its account's end, whatever the wall clock says."""
    with clock_at(run_moment(end)):
        yield


@pytest.fixture
def account(now, end: dt.datetime) -> Account:
    """A fresh account for each test: tests add events and update them."""
    return Account(AccountSpec(seed=7, events=3000, days=DAYS, visitors=150, medias=8, end=end))


@pytest.fixture
def sandbox(wistia_sandbox, account: Account):
    return wistia_sandbox(account)


def config_for(server: WistiaSandbox, **extra: Any) -> dict[str, Any]:
    start = (server.account.spec.end_at - dt.timedelta(days=DAYS)).date()
    return {"api_token": TOKEN, "api_url": server.url, "start_date": start.isoformat(), **extra}


def events_between(account: Account, since: dt.datetime, until: dt.datetime) -> dict[str, dict]:
    found = {}
    for event in account.all_events():
        moment = parse_timestamp(event["received_at"])
        assert moment is not None
        if since <= moment < until:
            found[event["event_key"]] = event
    return found


def expected_sessions(account: Account, events: dict[str, dict], gap_minutes: int = 30):
    problems = EventProblems()
    views = []
    for raw in events.values():
        record = normalize_event(raw, problems)
        view = view_event(record, problems) if record else None
        if view is not None:
            views.append(view)
    # duration is seconds only for media that play; a document's counts pages
    durations = {
        m["hashed_id"]: m.get("duration") if m["type"] in ("Video", "Audio") else None
        for m in account.medias()
    }
    sessions = sessionize(views, durations, dt.timedelta(minutes=gap_minutes))
    return {s.session_id: s.to_record() for s in sessions}


def pages_today(account: Account) -> int:
    """Pages of 100 the account's newest UTC day has now: page drift shows only past the first."""
    newest = account.spec.end_at.date()
    today = sum(1 for e in account.all_events() if e["received_at"][:10] == newest.isoformat())
    return -(-today // 100)


def latest_by_key(*outputs: TapOutput, stream: str, key: str) -> dict[str, dict]:
    merged: dict[str, dict] = {}
    for output in outputs:
        for record in output.of(stream):
            merged[record[key]] = record
    return merged


def assert_resumes_from_every_state(
    config, full: TapOutput, wanted, expected
) -> list[tuple[TapOutput, TapOutput]]:
    """Resume from each intermediate STATE of `full`: nothing lost, sessions exact."""
    resumed_runs = []
    states = [i for i, m in enumerate(full.messages) if m["type"] == "STATE"]
    for cut in states[1:-1]:
        durable = TapOutput(full.messages[: cut + 1])
        resumed = run_tap(config, durable.state)
        events = latest_by_key(durable, resumed, stream="wistia_events", key="event_key")
        assert set(events) == set(wanted)
        sessions = latest_by_key(durable, resumed, stream="wistia_activity", key="session_id")
        assert sessions == expected
        resumed_runs.append((durable, resumed))
    return resumed_runs


@AT_EVERY_END
def test_backfill_emits_every_event_and_exactly_the_expected_sessions(sandbox, account):
    config = config_for(sandbox)
    out = run_tap(config)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, dt.datetime.now(dt.UTC))
    emitted = out.of("wistia_events")
    assert len(emitted) == len({e["event_key"] for e in emitted}), "duplicates emitted"
    assert {e["event_key"] for e in emitted} == set(wanted)
    sessions = {s["session_id"]: s for s in out.of("wistia_activity")}
    assert len(sessions) == len(out.of("wistia_activity")), "a session emitted twice in one run"
    assert sessions == expected_sessions(account, wanted)
    assert {m["hashed_id"] for m in out.of("wistia_medias")} == {
        m["hashed_id"] for m in account.medias()
    }


@AT_EVERY_END
def test_walking_each_day_newest_first_holds_a_fraction_of_the_busiest_day(sandbox, account):
    out = run_tap(config_for(sandbox), select={"wistia_activity"})
    report = out.tap.viewing_run().report
    per_day: dict[dt.date, int] = {}
    for event in account.all_events():
        day = event["received_at"][:10]
        per_day[day] = per_day.get(day, 0) + 1
    assert report.units_reread == 0
    assert 0 < report.events_held_peak < max(per_day.values()) / 3, report


def test_events_served_oldest_first_are_caught_and_the_day_is_reread_whole(
    sandbox, account, caplog
):
    sandbox.set_faults(events_order="oldest_first")
    config = config_for(sandbox)
    out = run_tap(config)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, dt.datetime.now(dt.UTC))
    keys = [e["event_key"] for e in out.of("wistia_events")]
    assert len(keys) == len(set(keys))
    assert set(keys) == set(wanted)
    sessions = {s["session_id"]: s for s in out.of("wistia_activity")}
    assert len(sessions) == len(out.of("wistia_activity"))
    assert sessions == expected_sessions(account, wanted)
    assert out.tap.viewing_run().report.units_reread == 1  # then every day is held whole
    assert "out of newest-first order" in caplog.text


def test_sessions_of_media_units_served_oldest_first_are_exact(sandbox, account):
    medias = [m["hashed_id"] for m in account.medias()[:2]]
    sandbox.set_faults(events_order="oldest_first")
    config = config_for(sandbox, media_ids=medias)
    out = run_tap(config, select={"wistia_activity"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = {
        key: event
        for key, event in events_between(account, start, dt.datetime.now(dt.UTC)).items()
        if event["media_id"] in medias
    }
    sessions = {s["session_id"]: s for s in out.of("wistia_activity")}
    assert sessions
    assert sessions == expected_sessions(account, wanted)


def test_happy_path_costs_one_request_per_page(sandbox):
    out = run_tap(config_for(sandbox), select={"wistia_events"})
    report = out.tap.viewing_run().report
    stats = out.tap.client.stats
    assert report.wasted_requests == 0
    assert stats.retries == 0
    pages_of_events = -(-report.events_read // 100)
    # every page of events once, plus at most one probe per day (short page / padding days)
    days = DAYS + 3
    assert pages_of_events <= stats.requests <= pages_of_events + days
    assert sandbox.stats()["requests"] == stats.requests


def test_state_is_small_and_timestamps_are_one_utc_format(sandbox):
    out = run_tap(config_for(sandbox))
    state = out.state
    assert state is not None
    assert len(str(state)) < 20_000
    bookmark = state["bookmarks"]["wistia_events"]["replication_key_value"]
    assert bookmark.endswith("Z")
    assert len(bookmark) == len("2026-01-01T00:00:00.000000Z")
    for record in out.of("wistia_events")[:50]:
        assert len(record["received_at"]) == len(bookmark)


def test_second_run_emits_only_new_events_and_those_in_the_lookback(sandbox):
    config = config_for(sandbox, lookback_minutes=60)
    first = run_tap(config)
    bookmark = moment(first.state["bookmarks"]["wistia_events"]["replication_key_value"])
    new = sandbox.generate_events(15, at=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5))
    second = run_tap(config, first.state)
    emitted = {e["event_key"]: e for e in second.of("wistia_events")}
    assert {e["event_key"] for e in new} <= set(emitted)
    for record in emitted.values():
        assert moment(record["received_at"]) >= bookmark - dt.timedelta(minutes=60)
    # sessions: only those touched by the new events come out again
    new_sessions = second.of("wistia_activity")
    assert new_sessions
    new_keys = {(e["visitor_key"], e["media_id"]) for e in new}
    assert {(s["visitor_key"], s["media_id"]) for s in new_sessions} <= new_keys


def test_a_run_with_nothing_new_emits_no_sessions(sandbox):
    config = config_for(sandbox)
    first = run_tap(config)
    second = run_tap(config, first.state)
    assert second.of("wistia_activity") == []


def test_late_percent_update_is_reflected_on_the_next_run(sandbox, account):
    config = config_for(sandbox)
    first = run_tap(config)
    # A session of one event, watched less than the update says: the update must show in it.
    alone = [s for s in first.of("wistia_activity") if s["event_count"] == 1]
    recent = max((s for s in alone if s["percent_viewed"] < 0.9), key=lambda s: s["ended_at"])
    key = recent["session_id"]
    sandbox.update_event(key, percent_viewed=0.999)
    second = run_tap(config, first.state)
    again = [s for s in second.of("wistia_activity") if s["session_id"] == key]
    assert len(again) == 1
    assert again[0]["percent_viewed"] == pytest.approx(0.999)
    if again[0]["media_duration"]:
        assert again[0]["duration_viewed"] > recent["duration_viewed"]


@AT_EVERY_END
def test_resuming_from_any_state_of_an_interrupted_backfill_loses_nothing(sandbox, account):
    config = config_for(sandbox, lookback_minutes=30)
    full = run_tap(config)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, dt.datetime.now(dt.UTC))
    expected = expected_sessions(account, wanted)
    states = [m for m in full.messages if m["type"] == "STATE"]
    assert len(states) >= DAYS, "a backfill must checkpoint at least once per day"
    for durable, resumed in assert_resumes_from_every_state(config, full, wanted, expected):
        # the resumed run did not start from scratch
        bookmark = moment(durable.state["bookmarks"]["wistia_events"]["replication_key_value"])
        assert all(
            moment(e["received_at"]) >= bookmark - dt.timedelta(minutes=30)
            for e in resumed.of("wistia_events")
        )


@AT_EVERY_END
def test_page_drift_neither_duplicates_nor_loses_events(sandbox, account):
    config = config_for(sandbox)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    before = events_between(account, start, dt.datetime.now(dt.UTC))
    # Drift only shifts the pages of the day receiving events, once it has more than one.
    drifts = pages_today(account) > 1
    sandbox.set_faults(page_drift=3)
    out = run_tap(config, select={"wistia_events"})
    keys = [e["event_key"] for e in out.of("wistia_events")]
    assert len(keys) == len(set(keys))
    assert set(before) <= set(keys)
    assert (out.tap.viewing_run().report.duplicates > 0) == drifts


@AT_EVERY_END
def test_page_drift_does_not_break_the_walk(sandbox, account):
    config = config_for(sandbox)
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    before = events_between(account, start, dt.datetime.now(dt.UTC))
    drifts = pages_today(account) > 1
    sandbox.set_faults(page_drift=3)
    out = run_tap(config)
    report = out.tap.viewing_run().report
    assert (report.duplicates > 0) == drifts  # copies were served...
    assert report.units_reread == 0  # ...and none looked like a broken order
    sessions = [s["session_id"] for s in out.of("wistia_activity")]
    assert len(sessions) == len(set(sessions))
    keys = {e["event_key"] for e in out.of("wistia_events")}
    assert set(before) <= keys, sorted(set(before) - keys)[:5]
    # Every event present before the run is in exactly one emitted session.
    counted = sum(s["event_count"] for s in out.of("wistia_activity"))
    assert counted >= len(before)


@pytest.mark.parametrize(
    "fault",
    [
        {"fail_next": [429, 429]},
        {"fail_next": [500, 502, 503, 504]},
        {"timeout_next": 2, "timeout_seconds": 5},
        {"reset_next": 2},
        {"truncate_next": 2},
        {"bad_json_next": 2},
    ],
    ids=["429", "5xx", "timeout", "reset", "truncated", "bad-json"],
)
def test_transient_failures_are_retried_and_the_run_completes(sandbox, account, fault):
    config = config_for(sandbox, request_timeout_seconds=1)
    sandbox.set_faults(**fault)
    out = run_tap(config, select={"wistia_events"})
    start = dt.datetime.fromisoformat(config["start_date"]).replace(tzinfo=dt.UTC)
    wanted = events_between(account, start, dt.datetime.now(dt.UTC))
    assert {e["event_key"] for e in out.of("wistia_events")} == set(wanted)
    assert out.tap.client.stats.retries >= 2


def test_retry_after_pauses_the_whole_budget(account):
    with WistiaSandbox(account, rate_limit_per_minute=None) as server:
        server.set_faults(fail_next=[429], retry_after_seconds=2)
        client = WistiaClient(server.url, TOKEN, backoff_factor=0.01)
        started = dt.datetime.now(dt.UTC)
        client.get("stats/events.json", {"per_page": 1})
        waited = (dt.datetime.now(dt.UTC) - started).total_seconds()
    assert waited >= 2
    assert client.stats.rate_limited == 1


def test_rate_limit_answers_are_honoured(account):
    with WistiaSandbox(account, rate_limit_per_minute=5, rate_limit_window_seconds=1.0) as server:
        out = run_tap(config_for(server), select={"wistia_events"})
        assert server.stats()["rate_limited"] > 0
    assert out.of("wistia_events")
    assert out.tap.client.stats.rate_limited > 0


def test_retries_give_up_with_a_clear_message(sandbox):
    sandbox.set_faults(fail_next=[500] * 10)
    config = config_for(sandbox, max_retries=3, max_parallel_requests=1)
    out = run_tap(config, expect_error=True)
    assert isinstance(out.error, WistiaError)
    assert "HTTP 500" in str(out.error)
    assert "gave up after 3 attempts (last: HTTP 500" in str(out.error)


@pytest.mark.parametrize(
    ("token", "stream", "permission"),
    [
        ("sandbox-media-only", "wistia_events", "Read detailed stats"),
        ("sandbox-stats-only", "wistia_activity", "Read all folder and media data"),
        ("not-a-token", "wistia_events", "Read detailed stats"),
    ],
)
def test_auth_failures_name_the_missing_permission(sandbox, token, stream, permission):
    out = run_tap({**config_for(sandbox), "api_token": token}, select={stream}, expect_error=True)
    message = str(out.error)
    assert permission in message
    assert "api_token" in message
    assert token not in message


@pytest.mark.parametrize(
    ("token", "stream", "permission"),
    [
        ("sandbox-media-only", "wistia_events", "Read detailed stats"),
        ("sandbox-stats-only", "wistia_medias", "Read all folder and media data"),
    ],
)
def test_a_401_unauthorized_scope_says_the_token_lacks_that_permission(
    sandbox, token, stream, permission
):
    out = run_tap({**config_for(sandbox), "api_token": token}, select={stream}, expect_error=True)
    assert f'the API token lacks the "{permission}" permission' in str(out.error)
    assert "unauthorized_scope" in str(out.error)


def test_a_403_says_the_accounts_plan_lacks_the_feature_not_the_token(sandbox):
    sandbox.set_faults(plan_lacks=["stats"])
    out = run_tap(config_for(sandbox), select={"wistia_events"}, expect_error=True)
    message = str(out.error)
    assert "HTTP 403 (Stats are not available on your current plan)" in message
    assert "this Wistia account's plan does not include the feature" in message
    assert "a new token will not help" in message
    assert "permission" not in message


def test_a_stats_only_token_is_enough_for_the_events_stream(sandbox):
    config = {**config_for(sandbox), "api_token": "sandbox-stats-only"}
    out = run_tap(config, select={"wistia_events"})
    assert out.of("wistia_events")


def test_422_names_the_parameter(sandbox):
    client = WistiaClient(sandbox.url, TOKEN)
    with pytest.raises(WistiaError) as caught:
        client.get("stats/events.json", {"start_date": "01/02/2026"})
    assert "422" in str(caught.value)
    assert "start_date" in str(caught.value)


def test_start_and_end_dates_bound_the_import_when_not_kept_updated(sandbox, account):
    end = account.spec.end_at.date() - dt.timedelta(days=2)
    start = end - dt.timedelta(days=1)
    config = {
        **config_for(sandbox),
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "keep_updated": False,
    }
    out = run_tap(config)
    since = dt.datetime.combine(start, dt.time(), dt.UTC)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(), dt.UTC)
    wanted = events_between(account, since, until)
    assert wanted
    assert {e["event_key"] for e in out.of("wistia_events")} == set(wanted)
    # the import is finished: the next run produces nothing
    again = run_tap(config, out.state)
    assert again.of("wistia_events") == []
    assert again.of("wistia_activity") == []


def test_keep_updated_ignores_the_end_date(sandbox, account):
    end = account.spec.end_at.date() - dt.timedelta(days=2)
    config = {**config_for(sandbox), "end_date": end.isoformat(), "keep_updated": True}
    out = run_tap(config, select={"wistia_events"})
    newest = max(moment(e["received_at"]) for e in out.of("wistia_events"))
    assert newest.date() > end


@AT_EVERY_END
def test_without_start_date_a_first_run_takes_the_last_hour(sandbox, account):
    config = {"api_token": TOKEN, "api_url": sandbox.url}
    out = run_tap(config, select={"wistia_events"})
    now = out.tap.started_at
    wanted = events_between(account, now - dt.timedelta(hours=1), now)
    assert wanted
    assert {e["event_key"] for e in out.of("wistia_events")} == set(wanted)


def test_media_ids_restrict_the_import(sandbox, account):
    media = account.medias()[0]["hashed_id"]
    out = run_tap(config_for(sandbox, media_ids=[media]))
    assert out.of("wistia_events")
    assert {e["media_id"] for e in out.of("wistia_events")} == {media}
    assert {s["media_id"] for s in out.of("wistia_activity")} == {media}
    assert [m["hashed_id"] for m in out.of("wistia_medias")] == [media]


def test_deleted_media_gives_sessions_without_duration_not_guesses(sandbox, account):
    gone = account.medias()[1]["hashed_id"]
    sandbox.set_faults(deleted_medias=[gone])
    out = run_tap(config_for(sandbox), select={"wistia_activity"})
    of_gone = [s for s in out.of("wistia_activity") if s["media_id"] == gone]
    assert of_gone
    assert all(s["media_duration"] is None and s["duration_viewed"] is None for s in of_gone)
    assert any(s["duration_viewed"] is not None for s in out.of("wistia_activity"))


def test_activity_alone_works_and_reads_events_once(sandbox):
    out = run_tap(config_for(sandbox), select={"wistia_activity"})
    assert out.of("wistia_activity")
    assert out.of("wistia_events") == []
    both = run_tap(config_for(sandbox), select={"wistia_activity", "wistia_events"})
    assert both.tap.client.stats.requests == out.tap.client.stats.requests


def test_sandbox_rejects_the_removed_query_token(sandbox):
    response = requests.get(
        f"{sandbox.url}/stats/events.json", params={"api_password": TOKEN}, timeout=5
    )
    assert response.status_code == 401


def test_odd_events_are_emitted_counted_and_never_crash(end, caplog):
    odd = Account(
        AccountSpec(seed=5, events=1500, days=2, visitors=80, medias=5, odd_events=True, end=end)
    )
    with WistiaSandbox(odd, rate_limit_per_minute=None) as server:
        start = (odd.spec.end_at - dt.timedelta(days=2)).date().isoformat()
        config = {"api_token": TOKEN, "api_url": server.url, "start_date": start}
        with caplog.at_level("WARNING"):
            out = run_tap(config)
    since = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
    wanted = events_between(odd, since, dt.datetime.now(dt.UTC))
    emitted = {e["event_key"]: e for e in out.of("wistia_events")}
    assert set(emitted) == set(wanted)
    assert any(e["visitor_key"] is None for e in emitted.values())
    assert any(e["percent_viewed"] is None for e in emitted.values())
    assert all(
        e["percent_viewed"] is None or isinstance(e["percent_viewed"], float)
        for e in emitted.values()
    )
    assert {s["session_id"]: s for s in out.of("wistia_activity")} == expected_sessions(odd, wanted)
    warning = " ".join(r.getMessage() for r in caplog.records if "Odd events" in r.getMessage())
    assert "visitor_key" in warning
    assert "percent_viewed" in warning


@AT_EVERY_END
@pytest.mark.parametrize("tz_offset", [9, -7])
def test_accounts_whose_days_are_not_utc_lose_nothing_even_when_resumed(end, tz_offset):
    spec = AccountSpec(
        seed=21, events=1200, days=3, visitors=60, medias=4, tz_offset_hours=tz_offset, end=end
    )
    zoned = Account(spec)
    with WistiaSandbox(zoned, rate_limit_per_minute=None) as server:
        start = (zoned.spec.end_at - dt.timedelta(days=3)).date().isoformat()
        config = {"api_token": TOKEN, "api_url": server.url, "start_date": start}
        full = run_tap(config)
        since = dt.datetime.fromisoformat(start).replace(tzinfo=dt.UTC)
        wanted = events_between(zoned, since, dt.datetime.now(dt.UTC))
        assert {e["event_key"] for e in full.of("wistia_events")} == set(wanted)
        expected = expected_sessions(zoned, wanted)
        assert {s["session_id"]: s for s in full.of("wistia_activity")} == expected
        assert_resumes_from_every_state(config, full, wanted, expected)
