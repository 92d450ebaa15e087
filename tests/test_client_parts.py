"""The request budget, Retry-After parsing and day planning, without the network."""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import platform
import sys

import msgspec
import pytest
from singer_sdk.contrib.msgspec import serialize_jsonl

from api_http.client import RetryLaterError
from api_http.retry_after import parse_retry_after
from tap_wistia.client import (
    EncodedArray,
    RequestBudget,
    WistiaClient,
    WistiaError,
    _decode,
    _read_array,
    permission_for,
)
from tap_wistia.heap import map_large_blocks
from tap_wistia.pager import Unit, api_days, complete_before
from tests.hostile import HostileServer, Script


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


def test_a_rate_limit_without_retry_after_pauses_everyone_doubling_and_starts_short_again():
    clock = FakeClock()
    budget = RequestBudget(100, clock=clock, sleep=clock.sleep)
    assert budget.rate_limited(None) == (5.0, True)  # the first answer starts a pause
    clock.now += 1
    assert budget.rate_limited(None) == (4.0, False)  # an answer sent before it: no news
    clock.now += 5
    assert budget.rate_limited(None) == (10.0, True)  # limited again once it is over
    clock.now += 11
    assert budget.rate_limited(None) == (20.0, True)
    clock.now += 21
    assert budget.rate_limited(None)[0] == 40.0
    clock.now += 41
    assert budget.rate_limited(None)[0] == 60.0  # at most Wistia's rate window
    clock.now += 61
    assert budget.rate_limited(7.0) == (7.0, True)  # Retry-After says how long
    clock.now += 8
    budget.answered()
    assert budget.rate_limited(None) == (5.0, True)
    start = clock.now
    budget.acquire()
    assert clock.now - start >= 5.0


def test_retry_after_in_seconds_or_http_date():
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(" 0 ") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert parse_retry_after(date, now=now) == pytest.approx(12, abs=1.01)
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


@pytest.mark.parametrize("read", [_decode, _read_array])
def test_pages_msgspec_refuses_are_read_by_json_with_lone_surrogates_replaced(read):
    page = read(b'[{"a": "x\\ud800y", "b": "\\ud83d\\ude00", "c": NaN, "d": 1e400}]')
    assert page[0]["a"] == "x\ufffdy"  # a lone half of a pair cannot be written as UTF-8
    assert page[0]["b"] == "\U0001f600"  # a pair is one character
    assert math.isnan(page[0]["c"])
    assert page[0]["d"] == math.inf
    assert read(b'{"\\udc00": ["\\ud800"]}') == {"\ufffd": ["\ufffd"]}
    assert b"x\xef\xbf\xbdy" in serialize_jsonl({"type": "RECORD", "record": page[0]})


@pytest.mark.parametrize("read", [_decode, _read_array])
@pytest.mark.parametrize("body", [b'[{"a": 1}', b'[{"a": 1}, {"b": 01}]'])
def test_unreadable_pages_are_worth_a_retry(read, body: bytes):
    with pytest.raises(RetryLaterError, match="not valid JSON"):
        read(body)


def test_a_page_is_held_encoded_and_decoded_item_by_item_as_json_would():
    events = [
        {"event_key": f"k{n}", "city": "S\u00e3o Paulo", "lat": -23.5 + n, "details": {"n": [n]}}
        for n in range(5)
    ]
    body = json.dumps(events, ensure_ascii=False).encode()
    page = _read_array(body)
    assert isinstance(page, EncodedArray)
    assert all(isinstance(item, msgspec.Raw) for item in page._items)  # nothing decoded yet
    assert len(page) == 5
    assert page[0] == events[0]
    assert page[-1] == events[-1]
    assert page[1:3] == events[1:3]
    assert list(page) == events


def test_an_event_that_is_not_utf8_is_an_error_when_decoded_not_a_retry():
    page = _read_array(b'[{"a": 1}, {"a": "\xff"}]')  # the split checks syntax, not UTF-8
    assert page[0] == {"a": 1}
    with pytest.raises(WistiaError, match=r"cannot be decoded.*not valid UTF-8.*any bookmark"):
        page[1]


@pytest.mark.parametrize("body", [b'{"error": "busy"}', b'"events"', b"null"])
def test_an_events_page_that_is_not_an_array_is_an_error_naming_the_request(body: bytes):
    with HostileServer(lambda _: Script(200, body, {"Content-Type": "application/json"})) as server:
        client = WistiaClient(server.url, "secret-token")
        with pytest.raises(WistiaError, match=r"stats/events.json \(page=2\) with a JSON \w+, not"):
            client.get_array("stats/events.json", {"page": 2})


def test_large_blocks_get_their_own_mappings_where_the_c_library_is_glibc():
    glibc = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
    assert map_large_blocks() is glibc
    assert map_large_blocks() is glibc  # idempotent
