"""Ctrl-C and SIGTERM to a running `meltano run tap-wistia target-lytics`.

What Meltano 4.4 does (read from its source and checked here): on SIGTERM to the meltano
process it cancels the run, sends SIGTERM to the tap and the target and waits for both, marks
the job failed and exits 143. On Ctrl-C every process of the foreground group gets SIGINT; the
plugins handle theirs, and Meltano cancels the run the same way (sending them SIGTERM as
well), then exits non-zero. Either way the plugins stop at a safe point and exit 130/143, so
`meltano run` fails, and the state Meltano stored must never claim a session Lytics lacks; a
normal run afterwards completes what was cut short.
"""

from __future__ import annotations

import os
import signal
from typing import TYPE_CHECKING

import pytest

from tap_wistia.sandbox import AccountSpec
from tests.pipeline_stack import (
    RUN_TIMEOUT,
    assert_claims_hold,
    assert_delivered,
    plugin_lines,
    running_stack,
    wait_until,
)

if TYPE_CHECKING:
    from playground.meltano import PipelineRun

pytestmark = pytest.mark.e2e

# Slow enough that the signal lands inside the data: 120 ms per Wistia request, 2 in flight, and
# Lytics requests of 20 records taking 100 ms each. (At 60 ms, once the Wistia sandbox rendered
# each day only once, a backfill could end before Lytics had stored 100 records.)
SLOW = {
    "TAP_WISTIA_MAX_PARALLEL_REQUESTS": "2",
    "TARGET_LYTICS_BATCH_SIZE_ROWS": "20",
}


def signal_mid_run(stack, how: str, *, tap_reading: bool = True) -> PipelineRun:
    """Start a run, signal it once Lytics stored 100 more records (the target still loading).

    `tap_reading`: the tap must still be reading then (a backfill). A short incremental run's
    tap has often written everything when the target gets its first records, as STATE flushes
    them: there only the target must still be running.
    """
    stack.lytics.reset_stats()
    running = stack.meltano.start()
    reached = wait_until(
        lambda: running.process.poll() is not None or stack.lytics.stats()["records_stored"] >= 100,
        RUN_TIMEOUT,
    )
    assert reached, "no record reached Lytics"
    if tap_reading:
        assert running.processes("tap"), "the tap ended before the signal"
    assert running.processes("target")
    if how == "ctrl-c":
        os.killpg(running.process.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    else:
        os.kill(running.process.pid, signal.SIGTERM)  # what a scheduler sends meltano
    return running.wait(RUN_TIMEOUT)


def assert_stopped(run: PipelineRun, how: str, *, tap_reading: bool = True) -> None:
    """`meltano run` failed, and the plugins stopped on the first signal they got.

    `tap_reading`: the tap was still reading Wistia (so it must have stopped too); in a short
    incremental run it has often written everything when the target gets its records.
    """
    assert not run.ok, run.tail(40)
    # Meltano exits 143 on SIGTERM; on Ctrl-C click's "Aborted!" and 1.
    assert run.returncode == (143 if how == "sigterm" else 1), run.tail(40)
    first = "SIGTERM" if how == "sigterm" else "SIGINT"
    status = 143 if how == "sigterm" else 130
    target_log = "\n".join(plugin_lines(run, "target-lytics"))
    tap_log = "\n".join(plugin_lines(run, "tap-wistia"))
    assert f"Received {first}: reading no more input" in target_log, run.tail(60)
    assert f"then exiting with {status}" in target_log, run.tail(60)
    if tap_reading:
        assert f"Received {first}: stopping at the next page" in tap_log, run.tail(60)
    assert "Traceback" not in run.output, run.tail(60)


@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_a_signalled_run_fails_and_its_state_is_never_ahead_of_lytics(tmp_path, how):
    spec = AccountSpec(seed=316, events=9000, days=6)
    with running_stack(
        tmp_path,
        spec,
        wistia_latency_ms=120,
        lytics_latency_ms=100,
        lytics_preset="wistia-import",  # the schema is in place: records flow at once
        settings=SLOW,
    ) as stack:
        # A backfill cut short: no state, or only one Lytics confirmed.
        first = signal_mid_run(stack, how)
        assert_stopped(first, how)
        assert_claims_hold(stack, context=first.tail(60))
        stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert_delivered(stack)
        completed = assert_claims_hold(stack)

        # New activity, and an incremental run cut short: the stored state stays covered.
        stack.wistia.generate(6000)
        later = signal_mid_run(stack, how, tap_reading=False)
        assert_stopped(later, how, tap_reading=False)
        assert assert_claims_hold(stack, context=later.tail(60)) >= completed

        # The next run, not interrupted, finishes the job.
        stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert_delivered(stack)
