"""The request budget, Retry-After parsing and day planning, without the network."""

from __future__ import annotations

import datetime as dt
import email.utils
import math

import pytest
from singer_sdk.contrib.msgspec import serialize_jsonl

from tap_wistia.client import (
    RequestBudget,
    RetriableError,
    _decode,
    parse_retry_after,
    permission_for,
)
from tap_wistia.pager import Unit, api_days, complete_before


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_budget_never_allows_more_than_the_limit_in_any_window():
    clock = FakeClock()
    budget = RequestBudget(10, window=60, margin=1, clock=clock, sleep=clock.sleep)
    sent = []
    for _ in range(35):
        budget.acquire()
        sent.append(clock.now)
    for i, start in enumerate(sent):
        in_window = [t for t in sent[i:] if t < start + 61]
        assert len(in_window) <= 10
    # and it is not slower than it must be: 35 requests fit in 3 windows of 61 s
    assert sent[-1] - sent[0] <= 3 * 61 + 0.01


def test_budget_pause_holds_every_caller_back():
    clock = FakeClock()
    budget = RequestBudget(100, clock=clock, sleep=clock.sleep)
    budget.acquire()
    budget.pause_for(7.5)
    start = clock.now
    budget.acquire()
    assert clock.now - start >= 7.5


def test_retry_after_in_seconds_or_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert abs(parse_retry_after(date, now=now) - 12) < 1.01
    past = email.utils.formatdate(now - 100, usegmt=True)
    assert parse_retry_after(past, now=now) == 0.0


def test_permission_named_per_endpoint_family():
    assert permission_for("stats/events.json") == "Read detailed stats"
    assert permission_for("/medias.json") == "Read all folder and media data"


def test_api_days_pad_one_day_each_side_for_unknown_account_time_zones():
    start = dt.datetime(2026, 11, 3, 23, 30, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 4, 0, 30, tzinfo=dt.UTC)
    assert api_days(start, end) == [dt.date(2026, 11, d) for d in (2, 3, 4, 5)]


def test_complete_before_is_safe_for_any_time_zone_and_clamped():
    start = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    end = dt.datetime(2026, 11, 10, 5, tzinfo=dt.UTC)
    # day 3 in a UTC+14 zone ends at 3rd 10:00 UTC
    assert complete_before(dt.date(2026, 11, 3), start, end) == dt.datetime(
        2026, 11, 3, 10, tzinfo=dt.UTC
    )
    assert complete_before(dt.date(2026, 10, 20), start, end) == start
    assert complete_before(dt.date(2026, 11, 11), start, end) == end


def test_unit_params_are_one_inclusive_day_of_full_pages():
    params = Unit(dt.date(2026, 1, 2), "abc123").params(3)
    assert params == {
        "start_date": "2026-01-02",
        "end_date": "2026-01-02",
        "per_page": 100,
        "page": 3,
        "media_id": "abc123",
    }


def test_pages_msgspec_refuses_are_read_by_json_with_lone_surrogates_replaced():
    page = _decode(b'[{"a": "x\\ud800y", "b": "\\ud83d\\ude00", "c": NaN, "d": 1e400}]', None)
    assert page[0]["a"] == "x\ufffdy"  # a lone half of a pair cannot be written as UTF-8
    assert page[0]["b"] == "\U0001f600"  # a pair is one character
    assert math.isnan(page[0]["c"])
    assert page[0]["d"] == math.inf
    assert _decode(b'{"\\udc00": ["\\ud800"]}', None) == {"\ufffd": ["\ufffd"]}
    assert b"x\xef\xbf\xbdy" in serialize_jsonl({"type": "RECORD", "record": page[0]})


@pytest.mark.parametrize(
    ("body", "length", "problem"),
    [(b'[{"a": 1}', None, "not valid JSON"), (b"[]", "7", "cut off")],
)
def test_unreadable_pages_are_worth_a_retry(body: bytes, length: str | None, problem: str):
    with pytest.raises(RetriableError, match=problem):
        _decode(body, length)
