"""Faults in flight: Wistia and Lytics misbehave during `meltano run tap-wistia target-lytics`.

A run either completes with everything delivered, or fails with the plugin's own clear message
(never a traceback from the plugins), leaves a state that claims nothing Lytics lacks, and the
next run completes the delivery.
"""

from __future__ import annotations

import pytest

from tap_wistia.sandbox import AccountSpec
from tests.pipeline_stack import (
    RUN_TIMEOUT,
    assert_claims_hold,
    assert_clean_failure,
    assert_delivered,
    plugin_lines,
    running_stack,
)

pytestmark = pytest.mark.e2e

WISTIA_DOWN = "Wistia kept failing on GET /stats/events.json"
LYTICS_REJECTS = "Lytics rejected 2 of"
LYTICS_DOWN = "Lytics kept failing on"


def test_wistia_faults_are_retried_or_fail_cleanly_and_the_next_run_completes(tmp_path):
    spec = AccountSpec(seed=21, events=3000, days=3)
    # 10 tries per request: more than the 9 one-shot faults, so even a request drawing them
    # all gets through.
    settings = {"TAP_WISTIA_REQUEST_TIMEOUT_SECONDS": "1", "TAP_WISTIA_MAX_RETRIES": "10"}
    with running_stack(tmp_path, spec, wistia_latency_ms=20, settings=settings) as stack:
        # Every kind of transient failure once or more, and new events shifting the pages.
        stack.wistia.set_faults(
            fail_next=[429, 503, 500, 502, 504],
            timeout_next=1,
            timeout_seconds=3,
            reset_next=1,
            truncate_next=1,
            bad_json_next=1,
            page_drift=2,
        )
        run = stack.meltano.run(timeout=RUN_TIMEOUT).check()
        left = stack.wistia.admin_get("faults")
        assert (left["fail_next"], left["timeout_next"], left["bad_json_next"]) == ([], 0, 0)
        assert run.tap_summary()["retries"] >= 9, run.tap_summary()
        stack.wistia.set_faults()
        assert_claims_hold(stack, served=True)  # drifted events exist only in the sandbox

        # Wistia down for longer than the retries last: a clean failure, nothing over-claimed.
        stack.wistia.set_faults(fail_next=[503] * 20, retry_after_seconds=0)
        retries = {"TAP_WISTIA_MAX_RETRIES": "2"}
        failed = stack.meltano.run(extra_env=retries, timeout=RUN_TIMEOUT)
        assert_clean_failure(failed, WISTIA_DOWN)
        assert "Extractor failed" in failed.output
        stack.wistia.set_faults()  # the reference reader needs a sandbox that answers
        assert_claims_hold(stack, served=True)

        stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert_delivered(stack, served=True)


def test_lytics_faults_are_retried_or_fail_cleanly_and_the_next_run_completes(tmp_path):
    spec = AccountSpec(seed=22, events=3000, days=3)
    # 6 retries (the default) outlast the 6 one-shot faults; the outage run allows 2.
    settings = {
        "TARGET_LYTICS_BATCH_SIZE_ROWS": "100",
        "TARGET_LYTICS_REQUEST_TIMEOUT": "1",
        "TARGET_LYTICS_RETRY_BACKOFF_SECONDS": "0",
    }
    with running_stack(tmp_path, spec, settings=settings) as stack:
        # Records rejected while the tap still streams the backfill: the target stops with its
        # message. Meltano then adds a BrokenPipeError traceback of its own, writing to the
        # stopped target (meltano/meltano#7047); the plugins print none.
        stack.lytics.set_faults(reject_next=1, reject_count=2)
        failed = stack.meltano.run(timeout=RUN_TIMEOUT)
        assert not failed.ok
        assert any(LYTICS_REJECTS in line for line in plugin_lines(failed, "target-lytics"))
        assert not any("Traceback" in line for line in plugin_lines(failed, "tap-wistia"))
        assert "Traceback" not in failed.output or "BrokenPipeError" in failed.output
        assert_claims_hold(stack)

        # Transient failures during the backfill are retried: everything arrives.
        stack.lytics.set_faults(
            fail_next=[429, 503, 500, 502], timeout_next=1, timeout_seconds=3, reset_next=1
        )
        run = stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert run.target_summary()["retries"] >= 6, run.target_summary()
        assert_delivered(stack)

        # An hour's new activity; Lytics rejects records of it, then is down: each run fails
        # with the target's message and no traceback (the tap has finished writing by then).
        stack.wistia.generate(40)
        stack.lytics.set_faults(reject_next=1, reject_count=2)
        failed = stack.meltano.run(timeout=RUN_TIMEOUT)
        assert_clean_failure(failed, LYTICS_REJECTS)
        assert_claims_hold(stack)
        stack.lytics.set_faults(fail_next=[503] * 20)
        retries = {"TARGET_LYTICS_MAX_RETRIES": "2"}
        failed = stack.meltano.run(extra_env=retries, timeout=RUN_TIMEOUT)
        assert_clean_failure(failed, LYTICS_DOWN)
        assert_claims_hold(stack)

        stack.lytics.set_faults()
        stack.meltano.run(timeout=RUN_TIMEOUT).check()
        assert_delivered(stack)
