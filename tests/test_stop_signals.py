"""The target starts no thread: the thread that waits is the one a stop signal reaches.

A signal sent to a process goes to any thread that does not block it. When the target had
worker threads, one of them could take it and leave the main thread blocked on input that
stayed open (seen under load: SIGINT handled 63 s late). With one request at a time on the
thread that reads the input there is no other thread to take it.
"""

from __future__ import annotations

import re
import threading
import time
from pathlib import Path

import psutil
import pytest

from target_lytics.target import TargetLytics
from tests.harness import ROOT
from tests.lytics_runs import cli_output, config, faults, session, singer_lines, start_cli, stats

STARTS_A_THREAD = re.compile(r"\b(Thread|ThreadPoolExecutor|ProcessPoolExecutor|Timer)\(|joblib")


def test_no_module_of_the_target_starts_a_thread():
    starting = [
        path.name
        for path in Path(ROOT / "target_lytics").glob("*.py")  # the plugin, not its sandbox
        if STARTS_A_THREAD.search(path.read_text())
    ]
    assert starting == []


def test_the_sinks_drain_one_after_another_on_the_calling_thread(lytics_sandbox):
    assert TargetLytics(config=config(lytics_sandbox)).max_parallelism == 1


@pytest.mark.e2e  # runs a process
def test_a_run_keeps_one_thread_from_start_to_end(lytics_sandbox, tmp_path):
    faults(lytics_sandbox, latency_ms=100)  # requests long enough to be seen in flight
    process = start_cli(config(lytics_sandbox, batch_size_rows=500), tmp_path)
    watched = psutil.Process(process.pid)
    most = 0

    def feed() -> None:
        assert process.stdin is not None
        process.stdin.write(singer_lines([session(i) for i in range(6000)]))
        process.stdin.close()

    feeder = threading.Thread(target=feed)
    feeder.start()
    while process.poll() is None:
        try:
            most = max(most, watched.num_threads())
        except psutil.NoSuchProcess:
            break
        time.sleep(0.005)
    feeder.join()
    assert process.returncode == 0, cli_output(tmp_path)[1]
    assert stats(lytics_sandbox)["records_stored"] == 6000
    assert most == 1
