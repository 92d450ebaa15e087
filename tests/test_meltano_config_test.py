"""target-lytics under `meltano config test`: Meltano's test record goes as a dry run.

Meltano 4.4 tests a loader by piping it a SCHEMA, a RECORD and a STATE of `meltano_test_stream`
(its own `LoaderTestService` makes them here) and reads stdout and stderr as one stream: the test
passes when the loader exits 0 and no line says "error" or "exception". Lytics cannot delete
what it stored, so the record must be validated and stored nowhere.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from types import SimpleNamespace
from typing import TYPE_CHECKING

import pytest
from meltano.core.plugin_test_service import LoaderTestService

from target_lytics.config_test import MELTANO_TEST_STREAM
from target_lytics.target import TargetLytics
from tests.lytics_runs import WRONG_TOKEN, config, stats, stored

if TYPE_CHECKING:
    from pathlib import Path


def meltano_test_input() -> str:
    """What `meltano config test` pipes into a loader (Meltano's own generator)."""
    service = LoaderTestService(SimpleNamespace(capabilities=[]))  # type: ignore[arg-type]
    return "".join(line + "\n" for line in service._generate_test_messages(MELTANO_TEST_STREAM))


def test_the_test_record_is_a_dry_run_and_nothing_is_stored(lytics_sandbox, capsys):
    TargetLytics(config=config(lytics_sandbox)).listen(io.StringIO(meltano_test_input()))
    counts = stats(lytics_sandbox)
    assert counts["collect_requests"] == counts["dryrun_requests"] == 1
    assert counts["records_stored"] == 0
    assert stored(lytics_sandbox, MELTANO_TEST_STREAM) == []
    assert '"last_record": 1' in capsys.readouterr().out  # the STATE, once Lytics took it


def test_other_streams_still_store(lytics_sandbox):
    text = meltano_test_input().replace(MELTANO_TEST_STREAM, "signups")
    TargetLytics(config=config(lytics_sandbox)).listen(io.StringIO(text))
    assert len(stored(lytics_sandbox, "signups")) == 1


def as_meltano_tests(cfg_file: Path) -> subprocess.CompletedProcess[str]:
    """The target run the way `meltano config test` runs it: stderr into stdout."""
    return subprocess.run(
        [sys.executable, "-m", "target_lytics", "--config", str(cfg_file)],
        input=meltano_test_input(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.e2e  # runs a process
def test_meltano_passes_a_good_token_and_hears_a_wrong_one(lytics_sandbox, tmp_path):
    good, wrong = tmp_path / "good.json", tmp_path / "wrong.json"
    good.write_text(json.dumps(config(lytics_sandbox)))
    wrong.write_text(json.dumps(config(lytics_sandbox, api_token=WRONG_TOKEN)))
    passed = as_meltano_tests(good)
    assert passed.returncode == 0, passed.stdout[-2000:]
    flagged = [line for line in passed.stdout.splitlines() if _meltano_reads_a_failure(line)]
    assert flagged == []
    assert "as a dry run" in passed.stdout
    failed = as_meltano_tests(wrong)
    assert failed.returncode == 1
    assert "refused the api_token" in failed.stdout.rstrip().splitlines()[-1]
    assert stored(lytics_sandbox, MELTANO_TEST_STREAM) == []


def _meltano_reads_a_failure(line: str) -> bool:
    """Meltano 4.4's rule (LoaderTestService.validate) for a line that fails the test."""
    return "error" in line.lower() or "exception" in line.lower()
