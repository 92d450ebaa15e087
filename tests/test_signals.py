"""SIGINT and SIGTERM: the plugins stop at a safe point and say so with their exit status."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest

from tap_wistia.sandbox.account import AccountSpec
from tests.harness import ROOT, TapOutput, run_tap

if TYPE_CHECKING:
    from pathlib import Path

    from tap_wistia.sandbox.server import WistiaSandbox

pytestmark = pytest.mark.e2e  # each test runs a plugin as its own process

TOKEN = "sandbox-wistia-token"


@pytest.fixture
def slow_wistia(wistia_sandbox):
    """An account whose backfill takes seconds: each answer waits 150 ms."""
    server = wistia_sandbox(AccountSpec(seed=12, events=3000, days=6, visitors=120, medias=5))
    server.set_faults(latency_ms=150)
    return server


def start_tap(server: WistiaSandbox, folder: Path, state: dict | None = None) -> subprocess.Popen:
    start = (server.account.spec.end_at - dt.timedelta(days=6)).date().isoformat()
    config = {
        "api_token": TOKEN,
        "api_url": server.url,
        "start_date": start,
        "max_parallel_requests": 2,
    }
    (folder / "config.json").write_text(json.dumps(config))
    command = [sys.executable, "-m", "tap_wistia", "--config", str(folder / "config.json")]
    if state is not None:
        (folder / "state.json").write_text(json.dumps(state))
        command += ["--state", str(folder / "state.json")]
    return subprocess.Popen(
        command,
        stdout=(folder / "out.jsonl").open("wb"),
        stderr=(folder / "err.log").open("wb"),
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def wait_for_states(folder: Path, count: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = (folder / "out.jsonl").read_text()
        if text.count('"type":"STATE"') >= count:
            return
        time.sleep(0.05)
    pytest.fail(f"the tap wrote fewer than {count} STATE messages in {timeout} s")


@pytest.mark.parametrize(("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signalled_tap_stops_between_pages_and_exits_with_the_signal(
    slow_wistia, tmp_path, signum, status
):
    process = start_tap(slow_wistia, tmp_path)
    wait_for_states(tmp_path, 3)  # a day or two written
    sent = time.monotonic()
    process.send_signal(signum)
    assert process.wait(timeout=15) == status
    assert time.monotonic() - sent < 10, "the tap did not stop promptly"
    lines = (tmp_path / "out.jsonl").read_text().splitlines()
    cut = TapOutput([json.loads(line) for line in lines])  # every line whole
    stderr = (tmp_path / "err.log").read_text()
    assert f"Received {signal.Signals(signum).name}: stopping at the next page" in stderr
    assert "Traceback" not in stderr

    # What the last STATE claims holds: resuming from it gives every event of the account.
    resumed = run_tap(json.loads((tmp_path / "config.json").read_text()), cut.state)
    keys = {r["event_key"] for r in cut.of("wistia_events")}
    keys |= {r["event_key"] for r in resumed.of("wistia_events")}
    full = run_tap(json.loads((tmp_path / "config.json").read_text()))
    assert keys >= {r["event_key"] for r in full.of("wistia_events")}
