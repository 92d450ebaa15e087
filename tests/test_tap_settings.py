"""Settings are checked before anything is fetched; each problem names the setting and the fix."""

from __future__ import annotations

import datetime as dt

import pytest

from tap_wistia.api_versions import ApiVersion
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
    assert settings.max_pages_per_day == 10_000


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
        ({"media_ids": ["abc123", "def456", "abc123"]}, "media_ids", "'abc123' is listed twice"),
        ({"max_pages_per_day": 5}, "max_pages_per_day", "from 10"),
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


def test_the_base_url_follows_the_api_version_unless_given():
    v1 = TapSettings.from_config({"api_token": "tok"})
    assert v1.api_url == "https://api.wistia.com/v1"
    assert v1.api_version == ApiVersion(None)
    assert v1.api_version.events_path == "stats/events.json"
    current = TapSettings.from_config({"api_token": "tok", "api_version": "2026-03"})
    assert current.api_url == "https://api.wistia.com/modern"
    assert current.api_version.headers == {"X-Wistia-Api-Version": "2026-03"}
    assert current.api_version.events_path == "stats/events"
    proxied = {"api_token": "tok", "api_version": "2026-05", "api_url": "https://proxy.example/w/"}
    assert problems(proxied) == []
    assert TapSettings.from_config(proxied).api_url == "https://proxy.example/w"
    assert TapSettings.from_config({"api_token": "tok"}).visitors_refresh == dt.timedelta(hours=24)


@pytest.mark.parametrize(
    ("change", "setting", "hints"),
    [
        ({"api_version": "2026-3"}, "api_version", ["2026-03", "empty for v1"]),
        ({"api_version": "latest"}, "api_version", ["YYYY-MM"]),
        ({"api_version": "2025-11"}, "api_version", ["2026-01 or later"]),
        (
            {"api_version": "2026-03", "api_url": "https://api.wistia.com/v1"},
            "api_url",
            ["api_version 2026-03", "leave api_url empty", "https://api.wistia.com/modern"],
        ),
        (
            {"api_url": "https://api.wistia.com/modern/"},
            "api_url",
            ["set api_version", "https://api.wistia.com/v1"],
        ),
        ({"visitors_refresh_hours": -1}, "visitors_refresh_hours", ["from 0"]),
    ],
)
def test_bad_or_contradictory_versions_are_named_with_the_fix(change, setting, hints):
    config = {"api_token": "tok", **change}
    found = problems(config)
    assert len(found) == 1, found
    assert found[0].startswith(f"{setting}:")
    for hint in hints:
        assert hint in found[0]


def test_a_sandbox_of_either_api_is_accepted():
    assert problems({**GOOD, "api_url": "http://127.0.0.1:8701/v1"}) == []
    current = {"api_token": "tok", "api_url": "http://127.0.0.1:8701/modern"}
    assert problems({**current, "api_version": "2026-03"}) == []
    assert problems(current)  # the current API without a release
