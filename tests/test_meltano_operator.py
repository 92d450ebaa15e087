"""What an operator meets through Meltano: settings reach the plugins as written."""

from __future__ import annotations

import pytest

from playground.meltano import Meltano
from tests.pipeline_stack import RUN_TIMEOUT, plugins_dir

pytestmark = pytest.mark.e2e


@pytest.fixture
def meltano(tmp_path) -> Meltano:
    return Meltano(database=tmp_path / "meltano.db", logs=tmp_path, sys_dir=plugins_dir())


@pytest.mark.parametrize("value", ["2021-13-01", "next tuesday", "01/02/2021"])
def test_a_malformed_date_reaches_the_tap_unchanged_and_fails_with_its_message(meltano, value):
    setting = {"TAP_WISTIA_START_DATE": value}
    shown = meltano.command(
        "--environment=sandbox", "config", "list", "tap-wistia", extra_env=setting
    ).check()
    line = next(line for line in shown.output.splitlines() if line.startswith("start_date"))
    assert f"current value: {value!r}" in line  # not rewritten into another date

    run = meltano.run("tap-wistia", "target-jsonl", extra_env=setting, timeout=RUN_TIMEOUT)
    assert not run.ok
    assert f"start_date: {value!r} is not a date; use YYYY-MM-DD" in run.output, run.tail(30)
