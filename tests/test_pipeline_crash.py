"""Crash safety: the pipeline SIGKILLed at random points converges and never over-claims.

Each attempt kills one process of a running `meltano run tap-wistia target-lytics` — the tap,
the target or meltano itself — when a randomly drawn point is reached: a number of Wistia
requests answered, a number of records stored by Lytics, or a time after the tap's sync began.
Drawing progress points rather than times keeps a seed's kills at the same places of the data
from one machine to the next. After every kill, the state Meltano stored must claim no session
that Lytics does not hold; after the kills, an uninterrupted run must leave Lytics holding exactly
what a run never interrupted leaves (the account's sessions: see test_pipeline.py).

Reproduce a failure with PIPELINE_CRASH_SEED=<seed printed in the failure>.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import time

import pytest

from tap_wistia.sandbox import AccountSpec
from tests.pipeline_stack import (
    RUN_TIMEOUT,
    assert_claims_hold,
    assert_delivered,
    assert_profiles,
    running_stack,
    wait_until,
)

pytestmark = pytest.mark.e2e

SEED = int(os.environ.get("PIPELINE_CRASH_SEED", "20261127"))
VICTIMS = ("tap", "target", "meltano")
TRIGGERS = ("wistia requests", "lytics records", "seconds into the sync")
# Slow enough that kills land inside the data: 40 ms per Wistia request, 2 in flight, and
# Lytics requests of 20 records (the target drains every 2,000 records).
SLOW = {
    "TAP_WISTIA_MAX_PARALLEL_REQUESTS": "2",
    "TARGET_LYTICS_BATCH_SIZE_ROWS": "20",
}


def crash_run(stack, rng, *, force, requests_hint, records_hint):
    """One run killed at a drawn point; returns (what happened, the role killed or None)."""
    victim = rng.choice(VICTIMS)
    trigger = rng.choice(TRIGGERS)
    if trigger == "wistia requests":
        threshold = rng.randint(1, max(1, requests_hint))
    elif trigger == "lytics records":
        threshold = rng.randint(1, max(1, records_hint))
    else:
        threshold = round(rng.uniform(0.0, 3.0), 2)
    stack.wistia.reset_stats()
    stack.lytics.reset_stats()
    running = stack.meltano.start(force=force)

    def ended():
        return running.process.poll() is not None

    reached = False
    if trigger == "wistia requests":
        reached = wait_until(
            lambda: ended() or stack.wistia.stats()["requests"] >= threshold, RUN_TIMEOUT
        )
    elif trigger == "lytics records":
        reached = wait_until(
            lambda: ended() or stack.lytics.stats()["records_stored"] >= threshold, RUN_TIMEOUT
        )
    elif running.wait_for("tap", RUN_TIMEOUT, argv_has="--catalog"):
        time.sleep(threshold)
        reached = True
    killed = running.kill(victim) if reached and not ended() else None
    run = running.wait(RUN_TIMEOUT)
    outcome = f"killed pid {killed}" if killed else f"ran to the end (exit {run.returncode})"
    return f"{victim} at {threshold} {trigger}: {outcome}", victim if killed else None


def test_sigkill_anywhere_then_rerun_converges_and_state_never_over_claims(tmp_path):
    rng = random.Random(SEED)
    spec = AccountSpec(seed=SEED % 1000, events=6000, days=4)
    history: list[str] = []
    with running_stack(tmp_path, spec, wistia_latency_ms=40, settings=SLOW) as stack:

        def context():
            return f"seed {SEED}; kills so far:\n  " + "\n  ".join(history)

        force = False  # once meltano was killed, its run stays marked running for 5 minutes

        def attempts(count):
            nonlocal force
            kills = 0
            for _ in range(count):
                # Draw progress points within what is left to deliver (~35 sessions a page).
                missing = len(stack.delivery().missing)
                note, killed = crash_run(
                    stack,
                    rng,
                    force=force,
                    requests_hint=max(2, missing // 35),
                    records_hint=max(1, missing),
                )
                history.append(note)
                kills += killed is not None
                claimed = assert_claims_hold(stack, context=context())
                history[-1] += f"; the stored state then claimed {claimed} sessions"
                force = force or killed == "meltano"
            return kills

        # A backfill killed three times, then completed.
        kills = attempts(3)
        stack.meltano.run(force=force, timeout=RUN_TIMEOUT).check()
        assert_delivered(stack)

        # New activity, and an incremental run killed twice, then completed.
        now = dt.datetime.now(dt.UTC)
        stack.wistia.generate(60)
        newest = max(stack.expected_sessions(), key=lambda session: session.ended_at)
        stack.wistia.add_events([stack.wistia.new_event(now, newest.visitor_key, newest.media_id)])
        more = attempts(2)
        stack.meltano.run(force=force, timeout=RUN_TIMEOUT).check()
        assert_delivered(stack, context=context())
        assert_profiles(stack, context=context())
        assert kills + more >= 3, context()  # most draws must land inside a run
        print(context())  # shown by pytest -s or -rP: what this seed exercised
