"""tap-wistia as a real process: clean failures, and the token never shows anywhere."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

import pytest

from tap_wistia.sandbox.account import Account, AccountSpec
from tap_wistia.sandbox.server import WistiaSandbox
from tests.harness import ROOT, run_tap_process

pytestmark = pytest.mark.e2e  # each test runs a plugin as its own process

SECRET = "wistia-secret-3f9a2c"


@pytest.fixture
def sandbox(wistia_sandbox):
    tokens = {SECRET: frozenset({"stats", "media"}), "stats-only-9d1e": frozenset({"stats"})}
    spec = AccountSpec(seed=11, events=800, days=2, visitors=80, medias=4)
    return wistia_sandbox(spec, tokens=tokens)


def config(server: WistiaSandbox, **extra):
    start = (server.account.spec.end_at - dt.timedelta(days=2)).date().isoformat()
    return {"api_token": SECRET, "api_url": server.url, "start_date": start, **extra}


def test_a_run_with_retries_and_state_never_shows_the_token(sandbox):
    sandbox.set_faults(fail_next=[429, 500, 503], reset_next=1)
    out = run_tap_process(config(sandbox, max_parallel_requests=2))
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.of("wistia_events")
    assert "; retry 1 of" in out.stderr
    everything = out.stderr + json.dumps(out.messages)
    assert SECRET not in everything


def timeless(value: Any) -> Any:
    """A message without what the clock writes into it (time_extracted, the SDK's signposts)."""
    if isinstance(value, dict):
        return {
            key: timeless(item)
            for key, item in value.items()
            if key not in {"time_extracted", "replication_key_signpost"}
        }
    return value


def test_unbuffered_stdout_changes_nothing_the_tap_writes():
    """With `PYTHONUNBUFFERED=1` the tap holds its output itself: the same messages, in order."""
    end = dt.datetime(2025, 3, 10, 12, tzinfo=dt.UTC)  # a past period: every run reads the same
    account = Account(AccountSpec(seed=12, events=800, days=2, visitors=80, medias=4, end=end))
    tokens = {SECRET: frozenset({"stats", "media"})}
    with WistiaSandbox(account, tokens=tokens, rate_limit_per_minute=None) as server:
        settings = {
            **config(server),
            "start_date": "2025-03-08",
            "end_date": "2025-03-11",
            "keep_updated": False,
        }
        runs = [run_tap_process(settings, unbuffered=flag) for flag in (True, False)]
    for run in runs:
        assert run.returncode == 0, run.stderr[-2000:]
    unbuffered, buffered = ([timeless(message) for message in run.messages] for run in runs)
    assert unbuffered == buffered
    assert [message["type"] for message in unbuffered].count("RECORD") > 500
    assert unbuffered[-1]["type"] == "STATE"


def test_a_refused_token_fails_cleanly_with_the_permission_named(sandbox):
    out = run_tap_process({**config(sandbox), "api_token": "stats-only-9d1e"})
    assert out.returncode == 1
    assert "Read all folder and media data" in out.stderr
    assert "Traceback" not in out.stderr
    assert "stats-only-9d1e" not in out.stderr


def test_bad_settings_are_rejected_before_any_request(sandbox):
    sandbox.reset_stats()
    bad = {**config(sandbox), "start_date": "25/01/2021", "lookback_minutes": -3}
    out = run_tap_process(bad)
    assert out.returncode == 1
    assert "start_date" in out.stderr
    assert "YYYY-MM-DD" in out.stderr
    assert "lookback_minutes" in out.stderr
    assert "Traceback" not in out.stderr
    assert SECRET not in out.stderr
    assert sandbox.stats()["requests"] == 0


def test_about_lists_every_setting_and_marks_the_token_secret():
    done = subprocess.run(
        [sys.executable, "-m", "tap_wistia", "--about", "--format=json"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    )
    about = json.loads(done.stdout)
    properties = about["settings"]["properties"]
    for name in (
        "api_token",
        "api_url",
        "start_date",
        "end_date",
        "keep_updated",
        "lookback_minutes",
        "session_gap_minutes",
        "media_ids",
        "max_requests_per_minute",
        "max_parallel_requests",
    ):
        assert name in properties
    assert properties["api_token"].get("secret") is True
    assert "state" in about["capabilities"]


def test_a_reader_that_goes_away_stops_the_tap_with_one_line(sandbox, tmp_path):
    """A closed pipe (Meltano or a loader gone) ends the run with one line, no traceback."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps(config(sandbox)))
    for unbuffered in ("1", ""):
        env = {**os.environ, "PYTHONUNBUFFERED": unbuffered}
        tap = subprocess.Popen(
            [sys.executable, "-m", "tap_wistia", "--config", str(config_file)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert tap.stdout is not None
        tap.stdout.read(100)  # the reader takes a little, then goes away
        tap.stdout.close()
        _, stderr = tap.communicate(timeout=120)
        text = stderr.decode()
        assert tap.returncode == 1, text[-2000:]
        assert "Traceback" not in text
        assert "Exception ignored" not in text
        assert "unhandled error" not in text
        gone = [line for line in text.splitlines() if "broken pipe" in line]
        assert len(gone) == 1
        assert text.rstrip().splitlines()[-1] == gone[0]


def test_an_error_is_the_last_line_when_output_and_log_share_a_pipe(sandbox, tmp_path):
    """As Meltano's `config test` reads a tap (stderr into stdout): its message comes last."""
    config_file = tmp_path / "config.json"
    config_file.write_text(json.dumps({**config(sandbox), "api_token": "stats-only-9d1e"}))
    done = subprocess.run(
        [sys.executable, "-m", "tap_wistia", "--config", str(config_file)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    last = done.stdout.rstrip().splitlines()[-1]
    assert "Wistia refused GET /medias.json" in last
    assert '"Read all folder and media data"' in last
