"""What `make demo` prints while Meltano works: the long steps are never silent.

Fast (no Meltano): real log lines condensed, the heartbeat on a fake clock, and a log followed
while the process writing it still runs.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

from playground.meltano import wait_following
from playground.narration import Narration, condense

RUN_LOG = """\
2026-12-01T23:38:03.157182Z [info     ] meltano      Environment 'sandbox' is active
2026-12-01T23:38:04.636880Z [info     ] meltano      Running job with name 'sandbox:tap-wistia-to-target-lytics' and run ID '01a2'
2026-12-01T23:38:05.448650Z [warning  ] meltano      No state was found, complete import.
2026-12-01T23:38:05.449459Z [info     ] meltano      Running catalog discovery
2026-12-01T23:38:20.658383Z [info     ] tap-wistia   tap-wistia v0.1.0, Meltano SDK v0.54.9
2026-12-01T23:38:20.668060Z [info     ] tap-wistia   Skipping parse of env var settings...
2026-12-01T23:38:20.750689Z [info     ] tap-wistia   Reading Wistia events received from 2026-11-26T00:00:00.000000Z to 2026-12-01T23:38:20.749217Z: from start_date 2026-11-26, to now (keep_updated)
2026-12-01T23:38:21.415068Z [info     ] tap-wistia   Progress: 3 of 8 days read (2026-11-27 done), 1,543 events read, 518 viewing sessions written, 3660 requests/min of the 600 allowed, 0 rate-limited answers, about under a minute left
2026-12-01T23:38:22.441294Z [info     ] tap-wistia   Wrote 2,051 viewing sessions to wistia_activity. Read 6,000 events from Wistia (0 repeated copies dropped, 0 outside the period, 0 pages served twice skipped) in 67 requests (0 retries, 0 rate-limited).
2026-12-01T23:38:22.441859Z [info     ] tap-wistia   METRIC                         metric_name=sync_duration metric_value=1.7284119129180908
2026-12-01T23:38:23.000000Z [info     ] target-lytics Lytics accepted 43 records on stream 'wistia_activity' in 1 requests (0 retries, 0 splits)
2026-12-01T23:38:23.372945Z [info     ] meltano      Incremental state has been updated at 2026-12-01 23:38:23.372870+00:00.
2026-12-01T23:38:24.009079Z [info     ] meltano      Run completed
"""  # noqa: E501 - Meltano's own lines, as it writes them


def test_a_run_log_condenses_to_its_steps_and_the_taps_progress():
    said = [s.text for line in RUN_LOG.splitlines() if (s := condense(line)) is not None]
    assert said == [
        "Meltano started, environment sandbox",
        "job sandbox:tap-wistia-to-target-lytics (its state id)",
        "no state yet: everything since start_date",
        "catalog discovery (tap-wistia --discover)",
        "tap-wistia started",
        (
            "tap-wistia reads events received from 2026-11-26 00:00 to 2026-12-01 23:38: from "
            "start_date 2026-11-26, to now (keep_updated)"
        ),
        "tap-wistia: 3 of 8 days read, 1,543 events, 518 viewing sessions written",
        (
            "tap-wistia: Wrote 2,051 viewing sessions to wistia_activity (read 6,000 events in 67 "
            "requests)"
        ),
        "target-lytics: Lytics accepted 43 records on 'wistia_activity'",
        "state saved: the new bookmarks",
    ]


def test_warnings_are_always_shown_and_plain_output_is_not():
    warning = "2026-12-01T23:38:05Z [warning  ] target-lytics Lytics rejected 2 of 10 records"
    said = condense(warning)
    assert said is not None
    assert said.text == "warning: Lytics rejected 2 of 10 records"
    assert condense("Installing collected packages: foo") is None


def test_a_quiet_step_gets_a_heartbeat_naming_what_it_waits_for():
    now = [0.0]
    printed: list[str] = []
    narration = Narration(printed.append, heartbeat=5.0, clock=lambda: now[0])
    lines = RUN_LOG.splitlines()
    now[0] = 1.0
    narration(lines[3:4])  # catalog discovery
    now[0] = 4.0
    narration([])
    assert len(printed) == 1
    now[0] = 6.5
    narration([])
    assert printed[-1] == "     6.5 s  … still running, waiting for both plugins to start"
    now[0] = 7.0
    narration([])  # the heartbeat itself counts as something said
    assert len(printed) == 2
    narration(lines[4:5])
    assert printed[-1] == "     7.0 s  tap-wistia started"


@pytest.mark.e2e  # runs a process
def test_a_followed_log_is_read_while_the_command_still_writes_it(tmp_path):
    log_path = tmp_path / "slow.log"
    script = (
        "import sys, time\n"
        "for n in range(3):\n"
        "    print(f'line {n}', flush=True)\n"
        "    time.sleep(0.4)\n"
        "print('no newline at the end', end='', flush=True)\n"
    )
    seen: list[tuple[bool, list[str]]] = []
    with log_path.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-c", script], stdout=log)
    finished = wait_following(
        process, log_path, 60, lambda lines: seen.append((process.poll() is None, list(lines)))
    )
    assert finished
    assert [line for _, lines in seen for line in lines] == [
        "line 0",
        "line 1",
        "line 2",
        "no newline at the end",
    ]
    assert any(running and lines for running, lines in seen)  # shown live, not at the end
