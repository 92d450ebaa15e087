"""Stop signals reach the target's main thread, whose waits they must interrupt.

A signal sent to a process goes to any thread that does not block it. Taken by a worker, it
left the main thread blocked on input that stayed open: under load, SIGINT was handled 63 s
late, when the input closed. Every thread pool of the target now blocks the stop signals.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any, cast

from target_lytics.client import ClientSettings, LyticsClient
from target_lytics.stopping import STOP_SIGNALS, worker_pool
from tests.harness import ROOT


def blocked_here() -> set[int]:
    """The signals the calling thread blocks."""
    return {int(number) for number in signal.pthread_sigmask(signal.SIG_BLOCK, [])}


def test_a_worker_pool_blocks_the_stop_signals_and_the_main_thread_does_not():
    with worker_pool(2, "test") as pool:
        assert pool.submit(blocked_here).result() >= STOP_SIGNALS
    assert not blocked_here() & STOP_SIGNALS


def test_the_collect_requests_run_on_such_workers():
    client = LyticsClient(ClientSettings(api_url="http://127.0.0.1:9", api_token="t0ken-x"))
    try:
        blocked = cast("set[int]", client.submit(cast("Any", blocked_here)).result())
    finally:
        client.close()
    assert blocked >= STOP_SIGNALS


def test_every_thread_pool_of_the_target_is_a_worker_pool():
    made_elsewhere = [
        path.name
        for path in Path(ROOT / "target_lytics").rglob("*.py")
        if "ThreadPoolExecutor(" in path.read_text() and path.name != "stopping.py"
    ]
    assert made_elsewhere == []
