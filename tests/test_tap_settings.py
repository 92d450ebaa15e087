"""Settings are checked before anything is fetched; each problem names the setting and the fix."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_wistia.settings import TapSettings, problems

GOOD = {"api_token": "tok", "api_url": "https://api.wistia.com/v1"}


def test_a_minimal_config_is_fine_and_has_the_documented_defaults():
    assert problems(GOOD) == []
    settings = TapSettings.from_config(GOOD)
    assert settings.keep_updated is True
    assert settings.lookback == dt.timedelta(minutes=60)
    assert settings.session_gap == dt.timedelta(minutes=30)
    assert settings.max_requests_per_minute == 600
    assert settings.start_date is None
    assert settings.end_date is None


@pytest.mark.parametrize(
    ("change", "setting", "hint"),
    [
        ({"start_date": "2021/01/25"}, "start_date", "YYYY-MM-DD"),
        ({"start_date": "2021-02-30"}, "start_date", "YYYY-MM-DD"),
        ({"end_date": "yesterday"}, "end_date", "YYYY-MM-DD"),
        ({"start_date": "2021-03-01", "end_date": "2021-02-01"}, "end_date", "on or after"),
        ({"api_url": "http://api.wistia.com/v1"}, "api_url", "https://"),
        ({"api_url": "ftp://x"}, "api_url", "http(s)"),
        ({"api_token": " tok "}, "api_token", "exactly"),
        ({"lookback_minutes": -1}, "lookback_minutes", "from 0"),
        ({"max_requests_per_minute": 0}, "max_requests_per_minute", "from 1"),
        ({"max_parallel_requests": 1000}, "max_parallel_requests", "to 64"),
        ({"media_ids": ["12345 6"]}, "media_ids", "hashed"),
    ],
)
def test_each_bad_value_is_named_with_its_fix(change, setting, hint):
    found = problems({**GOOD, **change})
    assert len(found) == 1, found
    assert found[0].startswith(f"{setting}:")
    assert hint in found[0]


def test_plain_http_is_accepted_for_loopback_sandboxes():
    for url in ("http://127.0.0.1:8701/v1", "http://localhost:8701/v1", "http://[::1]:8/v1"):
        assert problems({**GOOD, "api_url": url}) == []


def test_meltano_midnight_datetimes_count_as_days():
    config = {**GOOD, "start_date": "2021-01-25T00:00:00+00:00", "end_date": "2021-02-01"}
    assert problems(config) == []
    settings = TapSettings.from_config(config)
    assert settings.start_date == dt.date(2021, 1, 25)
    assert problems({**GOOD, "start_date": "2021-01-25T13:00:00+00:00"})


def test_several_problems_are_reported_together():
    found = problems({**GOOD, "start_date": "x", "end_date": "y", "lookback_minutes": -5})
    assert [p.split(":")[0] for p in found] == ["start_date", "end_date", "lookback_minutes"]
