"""The end-to-end tests' own checks can fail: each kind of wrong delivery is caught.

Fast (no processes): the expected sessions of a small generated account, and stored events
made from them, then broken on purpose.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import io
import json

import pytest

from playground import demo, tap_csv
from playground.expected import (
    activity_key,
    check_delivery,
    claimed_sessions,
    expected_profiles,
    expected_sessions,
    late_update_candidate,
    lytics_records,
    profile_differences,
)
from tap_wistia.sandbox import Account, AccountSpec
from tap_wistia.sessions import Carry
from tests.clock import END, ENDS, run_moment


@pytest.fixture(scope="module")
def sessions():
    account = Account(AccountSpec(seed=4, events=600, days=2, end=END), prefetch=False)
    return expected_sessions(account.all_events(), account.medias())


def stored(records):
    return [{"id": n, "record": record} for n, record in enumerate(records, start=1)]


def test_an_exact_delivery_passes_and_earlier_versions_are_recognised(sessions):
    records = lytics_records(sessions)
    longest = max(sessions, key=lambda s: s.event_count)
    assert longest.event_count > 1
    earlier = longest._replace(ended_at=longest.started_at, percent_viewed=0.01)
    report = check_delivery(sessions, stored([*lytics_records([earlier]), *records]))
    assert report.ok, report.describe()
    assert (report.delivered, report.earlier_versions) == (len(sessions), 1)


def test_every_stored_record_is_accounted_for_a_late_update_and_a_repeat_included(sessions):
    # A late percent_viewed update changes a session's figures but not when it ended: its first
    # version has the same (visitor, media, ended_at) as the final one, and must count as an
    # earlier version all the same (the demo's totals were one record off without it). A record
    # sent again unchanged (a re-send after an interrupted run) is a repeat.
    records = lytics_records(sessions)
    viewed = next(record for record in records if record.get("percent_viewed"))
    before_update = {**viewed, "percent_viewed": viewed["percent_viewed"] / 2}
    sent_again = records[1] if records[1] is not viewed else records[2]
    report = check_delivery(sessions, stored([before_update, *records, sent_again]))
    assert report.ok, report.describe()
    assert (report.delivered, report.earlier_versions, report.repeats) == (len(records), 1, 1)
    assert report.stored == report.delivered + report.earlier_versions + report.repeats


@pytest.mark.parametrize("end", ENDS.values(), ids=ENDS.keys())
def test_the_demos_late_update_visibly_raises_its_sessions_percent_viewed(end):
    # The demo showed `percent_viewed 100% -> 100%` when it picked an event of a session that
    # another event had already taken further than the update.
    account = Account(dataclasses.replace(demo.SPEC, end=end), prefetch=False)
    now = run_moment(end)

    def session_of(event):
        moment = dt.datetime.fromisoformat(event["received_at"])
        [session] = [
            s
            for s in expected_sessions(account.all_events(), account.medias())
            if (s.visitor_key, s.media_id) == (event["visitor_key"], event["media_id"])
            and s.started_at <= moment <= s.ended_at
        ]
        return session

    late = late_update_candidate(
        list(account.all_events()), account.medias(), now, percent=demo.LATE_PERCENT
    )
    assert late is not None
    received = dt.datetime.fromisoformat(late["received_at"])
    assert now - dt.timedelta(minutes=50) <= received <= now - dt.timedelta(minutes=5)
    before = session_of(late)
    account.update_event(late["event_key"], percent_viewed=demo.LATE_PERCENT)
    after = session_of(late)
    assert before.percent_viewed < after.percent_viewed == demo.LATE_PERCENT
    assert before.duration_viewed < after.duration_viewed


def test_a_missing_a_changed_and_an_invented_record_are_each_caught(sessions):
    records = copy.deepcopy(lytics_records(sessions))
    dropped = records.pop(3)
    records[0]["percent_viewed"] = 0.123456
    invented = {**records[1], "ended_at": "1999-01-01T00:00:00.000000Z"}
    report = check_delivery(sessions, stored([*records, invented]))
    assert not report.ok
    assert report.missing == [activity_key(dropped)]
    assert list(report.wrong) == [activity_key(records[0])]
    assert report.unexplained == [activity_key(invented)]
    assert "1 missing, 1 with other values, 1 unexplained" in report.describe()


def test_the_latest_stored_version_is_the_one_judged(sessions):
    records = lytics_records(sessions)
    stale = {**records[0], "percent_viewed": 0.5}
    assert check_delivery(sessions, stored([stale, *records])).ok
    assert not check_delivery(sessions, stored([*records, stale])).ok


def test_a_state_claims_the_sessions_closed_before_its_watermark_less_the_gap(sessions):
    ends = sorted(s.ended_at for s in sessions)
    watermark = ends[len(ends) // 2] + dt.timedelta(minutes=30)
    state = {"bookmarks": {"wistia_activity": {"carry": Carry(watermark, None).to_state()}}}
    claimed = claimed_sessions(state, sessions)
    assert claimed == [s for s in sessions if s.ended_at < ends[len(ends) // 2]]
    assert claimed_sessions(None, sessions) == []
    partial = lytics_records(claimed[:-1])
    assert check_delivery(claimed, stored(partial), complete=False).missing


def test_profile_differences_name_the_profile_and_field(sessions):
    profiles = expected_profiles(sessions)
    assert profile_differences(profiles, profiles) == []
    changed = copy.deepcopy(profiles)
    changed[0]["wistia_city"] = "Atlantis"
    [difference] = profile_differences(profiles, changed)
    assert "wistia_city" in difference
    assert "Atlantis" in difference
    assert profile_differences(profiles, profiles[1:])[0].startswith("missing profile")


def test_tap_csv_emits_schema_records_and_a_closing_state(tmp_path):
    source = tmp_path / "signups.csv"
    source.write_text("email,plan\na@example.com,pro\nb@example.com,\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"path": str(source), "key_properties": ["email"]}))
    out = io.StringIO()
    assert tap_csv.run(config, out) == 0
    messages = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [m["type"] for m in messages] == ["SCHEMA", "RECORD", "RECORD", "STATE"]
    assert messages[0]["stream"] == "signups"
    assert messages[0]["key_properties"] == ["email"]
    assert messages[2]["record"] == {"email": "b@example.com", "plan": None}
    assert messages[3]["value"] == {"bookmarks": {"signups": {"rows_emitted": 2}}}


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "path: set it to the CSV file"),
        ({"key_properties": ["id"]}, "key_properties: ['id'] are not columns"),
    ],
)
def test_tap_csv_refuses_unusable_settings_in_one_line(tmp_path, capsys, settings, message):
    source = tmp_path / "rows.csv"
    source.write_text("email\nx@example.com\n")
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"path": str(source), **settings} if settings else {}))
    assert tap_csv.run(config, io.StringIO()) == 1
    error = capsys.readouterr().err
    assert message in error
    assert error.count("\n") == 1
