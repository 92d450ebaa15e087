"""SIGINT and SIGTERM to the target-lytics CLI, at several moments of a run, over real HTTP.

Whenever the signal comes, every STATE the target prints must be covered by what the sandbox
stored, and the process must exit with 128 + the signal, so Meltano and schedulers see that the
run was cut short. Records carry `org-<i>`; a STATE `{"sent": n}` follows records 0 to n-1.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pytest

from tests.lytics_runs import (
    cli_output,
    config,
    faults,
    printed_states,
    session,
    singer_lines,
    start_cli,
    stats,
    stored,
)

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from target_lytics.sandbox.server import LyticsSandbox

pytestmark = pytest.mark.e2e  # each test runs a plugin as its own process

SIGNALS = pytest.mark.parametrize(
    ("signum", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)], ids=["SIGINT", "SIGTERM"]
)


@dataclass
class Stopped:
    """What a signalled target left behind."""

    status: int
    states: list[dict[str, Any]]
    stderr: str
    seconds_after_signal: float


def records(count: int) -> list[dict[str, Any]]:
    return [session(i, org=f"org-{i}") for i in range(count)]


def wait_for(condition: Callable[[], bool], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"not reached within {timeout} s")
        time.sleep(0.05)


def signal_target(
    lytics_sandbox: LyticsSandbox,
    tmp_path: Path,
    text: str,
    signum: int,
    *,
    ready: Callable[[], bool],
    end_input: bool,
    settle: float = 0.0,
    **settings: Any,
) -> Stopped:
    """Start the CLI, feed it `text` (and end its input or not), signal it once `ready()`.

    `settle`: seconds to wait after `ready()`, for the target to read what it was given.
    """
    process = start_cli(config(lytics_sandbox, **settings), tmp_path)
    assert process.stdin is not None
    process.stdin.write(text)
    process.stdin.flush()
    if end_input:
        process.stdin.close()
    wait_for(ready)
    time.sleep(settle)
    process.send_signal(signum)
    sent = time.monotonic()
    process.wait(timeout=60)
    seconds = time.monotonic() - sent
    if not end_input:
        process.stdin.close()
    out, err = cli_output(tmp_path)
    return Stopped(process.returncode, printed_states(out), err, seconds)


def assert_states_covered(lytics_sandbox: LyticsSandbox, states: list[dict[str, Any]]) -> None:
    orgs = {event["record"]["org"] for event in stored(lytics_sandbox)}
    for state in states:
        missing = {f"org-{i}" for i in range(state["sent"])} - orgs
        assert not missing, f"STATE {state} printed, but Lytics lacks {sorted(missing)[:5]}"


@SIGNALS
def test_a_signal_while_waiting_for_input_delivers_what_was_read_then_exits_with_it(
    lytics_sandbox, tmp_path, signum, status
):
    # 230 records in requests of 50: 200 are sent as requests fill, 30 wait in the batch.
    text = singer_lines(records(230)).rsplit("\n", 1)[0]  # the input stays open after it
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        text + "\n",
        signum,
        ready=lambda: stats(lytics_sandbox)["records_stored"] >= 200,
        end_input=False,
        settle=0.5,
        batch_size_rows=50,
    )
    assert stopped.status == status, stopped.stderr
    assert stopped.states == [{"sent": 230}]
    assert len(stored(lytics_sandbox)) == 230
    assert f"Received {signal.Signals(signum).name}: reading no more input" in stopped.stderr
    assert "Traceback" not in stopped.stderr


@SIGNALS
def test_a_signal_while_a_retry_waits_past_the_grace_period_prints_no_state(
    lytics_sandbox, tmp_path, signum, status
):
    # The issue's attack: the final drain waits on a Retry-After when the signal comes.
    faults(lytics_sandbox, fail_next=[429], retry_after_seconds=30)
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        singer_lines(records(1)),
        signum,
        ready=lambda: stats(lytics_sandbox)["by_status"].get("429") == 1,
        end_input=True,
    )
    assert stopped.status == status, stopped.stderr
    assert stopped.states == []
    assert stored(lytics_sandbox) == []
    assert "Lytics accepted 0 records" not in stopped.stderr  # no drain from the handler
    assert "the run was stopped while 1 records on stream 'wistia_activity' waited" in (
        stopped.stderr
    )
    assert "Traceback" not in stopped.stderr
    assert stopped.seconds_after_signal < 25, "the stop waited out the Retry-After"


def test_a_signal_while_a_retry_waits_within_the_grace_period_delivers_and_prints_the_state(
    lytics_sandbox, tmp_path
):
    faults(lytics_sandbox, fail_next=[429], retry_after_seconds=2)
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        singer_lines(records(3)),
        signal.SIGTERM,
        ready=lambda: stats(lytics_sandbox)["by_status"].get("429") == 1,
        end_input=True,
    )
    assert stopped.status == 143, stopped.stderr
    assert stopped.states == [{"sent": 3}]
    assert len(stored(lytics_sandbox)) == 3


def test_the_issues_repro_exits_143_and_prints_no_state_past_what_lytics_holds(
    lytics_sandbox, tmp_path
):
    # As filed: three 429s asking for 5 s each, one record, SIGTERM two seconds in.
    faults(lytics_sandbox, fail_next=[429, 429, 429], retry_after_seconds=5)
    started = time.monotonic()
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        singer_lines(records(1)),
        signal.SIGTERM,
        ready=lambda: time.monotonic() - started >= 2,
        end_input=True,
    )
    assert stopped.status == 143, stopped.stderr
    assert_states_covered(lytics_sandbox, stopped.states)


def test_a_signal_during_the_account_check_reads_no_input(lytics_sandbox, tmp_path):
    faults(lytics_sandbox, latency_ms=3000)  # the token check and schema reads take 3 s
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        singer_lines(records(5)),
        signal.SIGINT,
        # The SDK's set-up is logged, then the target takes over the signals and checks the
        # account: half a second later the check is under way.
        ready=lambda: "Skipping parse of env var settings" in cli_output(tmp_path)[1],
        settle=0.5,
        end_input=False,
    )
    assert stopped.status == 130, stopped.stderr
    assert stopped.states == []
    assert stats(lytics_sandbox)["collect_requests"] == 0
    assert "Stopped reading input after line 0" in stopped.stderr


@SIGNALS
def test_a_signal_while_requests_are_in_flight_mid_input_prints_only_covered_states(
    lytics_sandbox, tmp_path, signum, status
):
    faults(lytics_sandbox, latency_ms=150)
    text = singer_lines(records(3000), state_every=250).rsplit("\n", 3)[0] + "\n"  # still open
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        text,
        signum,
        ready=lambda: stats(lytics_sandbox)["records_stored"] >= 400,
        end_input=False,
        batch_size_rows=200,
    )
    assert stopped.status == status, stopped.stderr
    assert stopped.states, stopped.stderr
    assert stopped.states[-1]["sent"] > 0
    assert_states_covered(lytics_sandbox, stopped.states)


def test_a_second_signal_changes_nothing(lytics_sandbox, tmp_path):
    # Ctrl-C under Meltano: the target gets SIGINT from the terminal, then SIGTERM from Meltano.
    faults(lytics_sandbox, fail_next=[429], retry_after_seconds=2)
    process = start_cli(config(lytics_sandbox), tmp_path)
    assert process.stdin is not None
    process.stdin.write(singer_lines(records(2)))
    process.stdin.close()
    wait_for(lambda: stats(lytics_sandbox)["by_status"].get("429") == 1)
    process.send_signal(signal.SIGINT)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)
    out, err = cli_output(tmp_path)
    assert process.returncode == 130, err
    assert printed_states(out) == [{"sent": 2}]
    assert len(stored(lytics_sandbox)) == 2


@SIGNALS
def test_a_signal_while_a_request_is_in_flight_lets_its_answer_come_then_prints_the_state(
    lytics_sandbox, tmp_path, signum, status
):
    # No thread of the target's own: the one thread waits in the request when the signal comes,
    # runs the handler, and waits on for the answer (PEP 475), which comes within the grace.
    process = start_cli(config(lytics_sandbox), tmp_path)
    assert process.stdin is not None
    lines = singer_lines(records(40)).splitlines(keepends=True)
    process.stdin.write(lines[0])  # the SCHEMA: the account check and the schema step run
    process.stdin.flush()
    wait_for(lambda: stats(lytics_sandbox)["requests"] >= 3)
    faults(lytics_sandbox, latency_ms=2500)  # from now on, every answer takes 2.5 s
    process.stdin.write("".join(lines[1:]))
    process.stdin.close()
    wait_for(lambda: stats(lytics_sandbox)["requests_in_flight"] >= 1)
    process.send_signal(signum)
    sent = time.monotonic()
    process.wait(timeout=60)
    out, err = cli_output(tmp_path)
    assert process.returncode == status, err
    assert printed_states(out) == [{"sent": 40}]
    assert len(stored(lytics_sandbox)) == 40
    assert time.monotonic() - sent < 8


def test_a_signal_while_a_request_hangs_ends_the_run_at_the_grace_deadline_without_a_state(
    lytics_sandbox, tmp_path
):
    faults(lytics_sandbox, timeout_next=1, timeout_seconds=30)  # the collect is never answered
    stopped = signal_target(
        lytics_sandbox,
        tmp_path,
        singer_lines(records(5)),
        signal.SIGTERM,
        ready=lambda: stats(lytics_sandbox)["requests_in_flight"] >= 1,
        end_input=True,
        request_timeout=60,
    )
    assert stopped.status == 143, stopped.stderr
    assert stopped.states == []
    assert "did not confirm every record read within 8 s of the SIGTERM" in stopped.stderr
    assert 7 < stopped.seconds_after_signal < 20  # the grace period, not the request's 60 s
