"""The pure parts of the streams beyond viewing: what a run reads, which days, the records."""

from __future__ import annotations

import datetime as dt
import threading
import time
from typing import Any

import pytest

from tap_wistia.api_versions import ApiVersion
from tap_wistia.captions import caption_records, captions_path
from tap_wistia.client import RunInterruptedError, WistiaError
from tap_wistia.daily import days_to_read, first_open_day, settle
from tap_wistia.fanout import read_each
from tap_wistia.folders import folder_record, folders_path, subfolder_record
from tap_wistia.refresh import (
    CHANGES_MARK,
    READ_MARK,
    MediaChanges,
    mark_done,
    plan_read,
)
from tap_wistia.settings import TapSettings
from tap_wistia.statistics import curve_record, day_of, day_records, media_path, totals_record
from tap_wistia.tags import tag_record

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(hours=24)
HOUR = dt.timedelta(hours=1)


def stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def changes(since: dt.datetime, *medias: str) -> MediaChanges:
    return MediaChanges(since, NOW, frozenset(medias))


# -- refresh: which medias a run reads ---------------------------------------------------------


def test_a_first_run_reads_every_media_and_marks_both_moments():
    plan = plan_read({}, now=NOW, refresh=DAY, changes=changes(NOW - HOUR, "a"))
    assert plan.whole
    assert plan.reads
    state: dict[str, Any] = {}
    mark_done(state, plan, now=NOW, changes=changes(NOW - HOUR, "a"))
    assert state == {READ_MARK: stamp(NOW), CHANGES_MARK: stamp(NOW)}


def test_between_full_reads_only_the_medias_with_events_are_read():
    state = {READ_MARK: stamp(NOW - 5 * HOUR), CHANGES_MARK: stamp(NOW - HOUR)}
    seen = MediaChanges(NOW - 2 * HOUR, NOW - dt.timedelta(minutes=1), frozenset({"a", "b"}))
    plan = plan_read(state, now=NOW, refresh=DAY, changes=seen)
    assert not plan.whole
    assert plan.medias == {"a", "b"}
    assert "2 media(s) with events" in plan.reason
    mark_done(state, plan, now=NOW, changes=seen)
    assert state[READ_MARK] == stamp(NOW - 5 * HOUR)  # a full read only moves it
    assert state[CHANGES_MARK] == stamp(NOW - dt.timedelta(minutes=1))


def test_a_run_whose_events_start_after_the_last_read_of_changes_reads_nothing():
    state = {READ_MARK: stamp(NOW - 5 * HOUR), CHANGES_MARK: stamp(NOW - 3 * HOUR)}
    plan = plan_read(state, now=NOW, refresh=DAY, changes=changes(NOW - 2 * HOUR, "a"))
    assert not plan.reads
    assert "unknown" in plan.reason
    assert "2026-03-11T07:00:00" in plan.reason  # when the full read is due
    kept = dict(state)
    mark_done(state, plan, now=NOW, changes=changes(NOW - 2 * HOUR, "a"))
    assert state == kept


def test_a_run_without_events_reads_only_when_the_full_read_is_due():
    state = {READ_MARK: stamp(NOW - 23 * HOUR), CHANGES_MARK: stamp(NOW - 23 * HOUR)}
    assert not plan_read(state, now=NOW, refresh=DAY, changes=None).reads
    assert "reads no events" in plan_read(state, now=NOW, refresh=DAY, changes=None).reason
    assert plan_read(state, now=NOW + HOUR, refresh=DAY, changes=None).whole
    assert plan_read(state, now=NOW, refresh=dt.timedelta(0), changes=None).whole


def test_state_from_before_the_changes_mark_waits_for_the_full_read():
    state = {READ_MARK: stamp(NOW - HOUR)}
    assert not plan_read(state, now=NOW, refresh=DAY, changes=changes(NOW - HOUR, "a")).reads


def test_an_unreadable_mark_means_a_full_read():
    assert plan_read({READ_MARK: "yesterday"}, now=NOW, refresh=DAY, changes=None).whole


# -- daily: which days, and the bookmark ----------------------------------------------------------


def settings(**values: Any) -> TapSettings:
    return TapSettings.from_config({"api_token": "t", **values})


def test_a_day_is_final_once_over_everywhere_and_past_the_lookback():
    lookback = dt.timedelta(minutes=60)
    # 2026-03-09 ends at UTC-12 on 2026-03-10 12:00, plus the hour of lookback
    assert first_open_day(dt.datetime(2026, 3, 10, 12, 59, tzinfo=dt.UTC), lookback) == dt.date(
        2026, 3, 9
    )
    assert first_open_day(dt.datetime(2026, 3, 10, 13, 0, tzinfo=dt.UTC), lookback) == dt.date(
        2026, 3, 10
    )


def test_days_run_from_the_bookmark_to_the_account_today_in_the_most_advanced_zone():
    days = days_to_read({"replication_key_value": "2026-03-08"}, settings(), NOW)
    assert (days.first, days.last) == (dt.date(2026, 3, 8), dt.date(2026, 3, 11))
    assert days.params() == {"start_date": "2026-03-08", "end_date": "2026-03-11"}
    assert "bookmark" in days.reason


def test_a_first_run_starts_at_start_date_else_yesterday():
    assert days_to_read({}, settings(start_date="2026-01-05"), NOW).first == dt.date(2026, 1, 5)
    assert days_to_read({}, settings(), NOW).first == dt.date(2026, 3, 9)


def test_start_date_moves_only_an_older_bookmark():
    state = {"replication_key_value": "2026-03-01"}
    assert days_to_read(state, settings(start_date="2026-03-05"), NOW).first == dt.date(2026, 3, 5)
    assert days_to_read(state, settings(start_date="2026-02-05"), NOW).first == dt.date(2026, 3, 1)


def test_end_date_bounds_the_days_only_with_keep_updated_off():
    days = days_to_read({}, settings(start_date="2026-03-01", end_date="2026-03-03"), NOW)
    assert days.last == dt.date(2026, 3, 11)
    frozen = settings(start_date="2026-03-01", end_date="2026-03-03", keep_updated=False)
    assert days_to_read({}, frozen, NOW).last == dt.date(2026, 3, 3)
    state: dict[str, Any] = {}
    settle(state, NOW, dt.timedelta(minutes=60))
    assert days_to_read(state, frozen, NOW).empty


def test_a_bookmark_that_is_no_day_is_refused_with_a_note():
    days = days_to_read({"replication_key_value": "last week"}, settings(), NOW)
    assert "last week" in days.note
    assert days.first == dt.date(2026, 3, 9)


def test_settle_writes_the_first_open_day():
    state: dict[str, Any] = {}
    settle(state, NOW, dt.timedelta(minutes=60))
    assert state == {"replication_key": "date", "replication_key_value": "2026-03-09"}


# -- records ------------------------------------------------------------------------------------


def test_paths_are_the_same_in_both_apis_but_for_the_suffix():
    v1, current = ApiVersion(), ApiVersion("2026-03")
    assert media_path(v1, "abc") == "stats/medias/abc.json"
    assert media_path(current, "abc", "/by_date") == "stats/medias/abc/by_date"
    assert media_path(v1, "a/b", "/engagement") == "stats/medias/a%2Fb/engagement.json"
    assert captions_path(v1, "abc") == "medias/abc/captions.json"
    assert folders_path(v1) == "projects.json"
    assert folders_path(current) == "folders"


def test_totals_and_curve_records_keep_wistias_fields():
    answer = {
        "load_count": 10,
        "play_count": 8,
        "play_rate": 0.5,
        "hours_watched": 1.5,
        "engagement": 0.4,
        "visitors": 6,
        "actions": [{"type": "Call to Action", "action_count": 1}],
        "extra": "left out",
    }
    record = totals_record("m1", answer, NOW)
    assert record == {
        "media_id": "m1",
        **{key: value for key, value in answer.items() if key != "extra"},
        "read_at": stamp(NOW),
    }
    answer = {"engagement": 0.5, "engagement_data": [3, 2], "rewatch_data": 7}
    curve = curve_record("m1", answer, NOW)
    assert curve["engagement_data"] == [3, 2]
    assert curve["rewatch_data"] is None
    with pytest.raises(WistiaError, match="not an object"):
        totals_record("m1", [1], NOW)


def test_day_records_take_every_listed_day_in_any_order():
    answer = [
        {"date": "2026-03-09", "load_count": 1, "play_count": 1, "hours_watched": 0.5},
        {"date": "2026-03-08T00:00:00Z", "load_count": 2},
        {"date": "yesterday"},
        "junk",
    ]
    records = list(day_records(answer, "x", "m1"))
    assert records[0] == {
        "media_id": "m1",
        "date": "2026-03-09",
        "load_count": 1,
        "play_count": 1,
        "hours_watched": 0.5,
    }
    second = records[1]
    assert second is not None
    assert second["date"] == "2026-03-08"
    assert second["play_count"] is None
    assert records[2:] == [None, None]
    assert "media_id" not in (next(iter(day_records(answer[:1], "x"))) or {})
    with pytest.raises(WistiaError, match="not a list of days"):
        list(day_records({"date": "2026-03-09"}, "x"))
    assert day_of("2026-02-30") is None


def test_folder_records_read_both_spellings_and_say_when_subfolders_are_unknown():
    v1 = {"id": 1, "hashedId": "f1", "name": "A", "mediaCount": 3, "publicId": "p", "public": True}
    record = folder_record(v1, None)
    assert record["hashed_id"] == "f1"
    assert record["media_count"] == 3
    assert record["public_id"] == "p"
    assert record["subfolders"] is None
    current = {"id": 1, "hashed_id": "f1", "media_count": 3, "cursor": "c", "medias": []}
    sub = subfolder_record({"hashed_id": "s", "name": "S", "position": 0, "cursor": "x"})
    record = folder_record(current, [sub])
    assert record["subfolders"] == [
        {
            "hashed_id": "s",
            "name": "S",
            "description": None,
            "position": 0,
            "created": None,
            "updated": None,
        }
    ]
    assert "cursor" not in record
    assert "medias" not in record


def test_tag_and_caption_records():
    assert (tag_record({"name": "a", "taggingsCount": 2}) or {})["taggings_count"] == 2
    assert (tag_record({"name": "a", "taggings_count": 3}) or {})["taggings_count"] == 3
    assert tag_record({"name": ""}) is None
    tracks = [{"language": "eng", "text": "1\n...", "is_draft": False}, {"text": "no language"}]
    records = list(caption_records("m1", tracks))
    assert records[0] == {
        "media_id": "m1",
        "language": "eng",
        "english_name": None,
        "native_name": None,
        "text": "1\n...",
        "is_draft": False,
        "id": None,
    }
    assert records[1] is None
    with pytest.raises(WistiaError, match="not a list of captions"):
        list(caption_records("m1", {}))


# -- fan-out: many reads at once, answers in order ------------------------------------------------


def test_read_each_answers_in_order_with_many_at_once():
    running, most = 0, 0
    lock = threading.Lock()

    def job(number: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.01 * (number % 3))
        with lock:
            running -= 1
        return number * 10

    jobs = ((number, lambda number=number: job(number)) for number in range(40))
    answers = list(read_each(jobs, max_parallel=4, stopping=lambda: False))
    assert answers == [(number, number * 10) for number in range(40)]
    assert 1 < most <= 4


def test_read_each_stops_when_the_run_stops_and_passes_errors_on():
    stop = threading.Event()

    def job(number: int) -> int:
        if number == 8:
            stop.set()
        time.sleep(0.05)
        return number

    jobs = ((number, lambda number=number: job(number)) for number in range(100))
    answers = read_each(jobs, max_parallel=2, stopping=stop.is_set)
    taken = [next(answers)[0] for _ in range(3)]
    with pytest.raises(RunInterruptedError):
        list(answers)
    assert taken == [0, 1, 2]

    def failing() -> int:
        msg = "boom"
        raise WistiaError(msg)

    with pytest.raises(WistiaError, match="boom"):
        list(read_each([(1, failing)], max_parallel=2, stopping=lambda: False))
