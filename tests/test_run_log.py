"""What a tap run tells its operator: the window and why, steady progress, a plain summary."""

from __future__ import annotations

import datetime as dt
import logging
import re

import pytest

from tap_wistia.client import WistiaClient
from tap_wistia.progress import Progress, duration_words
from tap_wistia.sandbox.account import AccountSpec
from tests.clock import END
from tests.harness import run_tap

TOKEN = "sandbox-wistia-token"


pytestmark = pytest.mark.usefixtures("pinned_clock")


@pytest.fixture
def sandbox(wistia_sandbox):
    return wistia_sandbox(AccountSpec(seed=3, events=900, days=3, visitors=60, medias=4, end=END))


def messages(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [record.getMessage() for record in caplog.records]


def test_the_first_line_says_the_window_and_where_it_comes_from(sandbox, caplog):
    start = (END - dt.timedelta(days=3)).date().isoformat()
    config = {"api_token": TOKEN, "api_url": sandbox.url, "start_date": start}
    with caplog.at_level(logging.INFO):
        first = run_tap(config)
    line = next(m for m in messages(caplog) if m.startswith("Reading Wistia events"))
    assert f"from start_date {start}" in line
    assert "to now (keep_updated)" in line
    for stream, why in [
        ("wistia_events", "the wistia_events bookmark"),
        ("wistia_activity", "the wistia_activity watermark"),
    ]:
        caplog.clear()
        with caplog.at_level(logging.INFO):
            run_tap({**config, "lookback_minutes": 45}, first.state, select={stream})
        line = next(m for m in messages(caplog) if m.startswith("Reading Wistia events"))
        assert f"from {why}" in line
        assert "minus the 45-minute lookback" in line


def test_each_day_read_logs_progress_and_the_summary_names_each_stream(sandbox, caplog):
    start = (END - dt.timedelta(days=3)).date().isoformat()
    config = {"api_token": TOKEN, "api_url": sandbox.url, "start_date": start}
    with caplog.at_level(logging.INFO):
        out = run_tap(config, select={"wistia_events", "wistia_activity"})
    lines = [m for m in messages(caplog) if m.startswith("Progress:")]
    days = 3 + 1 + 2  # the period's days, one more on each side for time zones
    assert len(lines) == days
    assert lines[0].startswith(f"Progress: 1 of {days} days read")
    assert f"Progress: {days} of {days} days read" in lines[-1]
    allowed = r"\d+ requests in the last minute of the 600 allowed, 0 rate-limited"
    assert re.search(allowed, lines[-1])
    summary = next(m for m in messages(caplog) if m.startswith("Wrote "))
    events = len(out.of("wistia_events"))
    sessions = len(out.of("wistia_activity"))
    assert summary.startswith(
        f"Wrote {events:,} events to wistia_events and {sessions:,} viewing sessions to "
        "wistia_activity. Read "
    )


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_progress_is_logged_every_thirty_seconds_with_an_estimate_of_the_time_left(caplog):
    clock = FakeClock()
    client = WistiaClient("http://127.0.0.1:9", TOKEN)
    progress = Progress(logging.getLogger("t"), client, days_planned=10, clock=clock)
    with caplog.at_level(logging.INFO):
        progress.page(100, 0)
        clock.now += 29
        progress.page(200, 0)
        assert messages(caplog) == []  # not yet due
        clock.now += 2
        progress.page(300, 5)
        clock.now += 29
        progress.day_done(dt.date(2026, 3, 1), 400, 7)  # 60 s for the first day of ten
    first, second = messages(caplog)
    assert "0 of 10 days read, 300 events read, 5 viewing sessions written" in first
    assert "time left not known" in first
    assert "1 of 10 days read (2026-03-01 done), 400 events read" in second
    assert second.endswith("about 9 min left")


@pytest.mark.parametrize(
    ("seconds", "words"),
    [(5, "under a minute"), (420, "7 min"), (7500, "2 h 05 min")],
)
def test_durations_read_as_words(seconds, words):
    assert duration_words(seconds) == words
