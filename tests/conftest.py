"""What every test module shares: a fake clock for the whole run, and the sandboxes.

``TEST_CLOCK=HH:MM`` (UTC) moves this process's clock to that time of today before any test
runs, ticking from there (``TEST_CLOCK=00:05 make unit``); combine it with ``TZ`` to change the
local zone too. Tests that run the tap pin their own moment on top of it (``tests/clock.py``).
Processes the tests start keep the real clock.

``lytics_sandbox`` is a Lytics sandbox of the test's own, and ``wistia_sandbox(spec)`` starts
a Wistia sandbox serving an account of that spec (or that `Account`), both over real HTTP on
127.0.0.1 and stopped when the test ends.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import TYPE_CHECKING

import pytest
import time_machine

from tap_wistia.sandbox.account import Account
from tap_wistia.sandbox.server import WistiaSandbox
from target_lytics.sandbox.server import LyticsSandbox
from tests.clock import END, clock_at, run_moment
from tests.lytics_runs import SECRET_TOKEN, TOKEN

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any, Protocol

    from tap_wistia.sandbox.account import AccountSpec

    class StartWistia(Protocol):
        """`wistia_sandbox(spec, **options)`."""

        def __call__(self, spec: AccountSpec | Account, **options: Any) -> WistiaSandbox: ...


_CLOCK = "TEST_CLOCK"


def _fake_now(text: str) -> dt.datetime:
    try:
        at = dt.time.fromisoformat(text)
    except ValueError:
        msg = f"{_CLOCK}={text!r} is not a time of day; use HH:MM (UTC), e.g. {_CLOCK}=23:55"
        raise pytest.UsageError(msg) from None
    return dt.datetime.combine(dt.datetime.now(dt.UTC).date(), at, dt.UTC)


def pytest_configure(config: pytest.Config) -> None:
    """Start the fake clock (if asked for) before any test module is imported."""
    text = os.environ.get(_CLOCK, "").strip()
    if text:
        # A timestamp, not a datetime: time_machine would also set TZ to the datetime's zone.
        traveller = time_machine.travel(_fake_now(text).timestamp(), tick=True)
        traveller.start()
        config.add_cleanup(traveller.stop)


def pytest_report_header() -> str:
    """Say which clock the run used."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    return f"clock: {now}, local zone {dt.datetime.now().astimezone().tzname()}"


@pytest.fixture
def pinned_clock() -> Iterator[None]:
    """This process's clock just after the usual pinned account end (`tests.clock.END`).

    Modules whose sandboxes all end at `END` use it for every test
    (``pytestmark = pytest.mark.usefixtures("pinned_clock")``); a fixture that starts such a
    sandbox names it, so the clock moves first.
    """
    with clock_at(run_moment(END)):
        yield


@pytest.fixture
def lytics_sandbox(tmp_path: Path) -> Iterator[LyticsSandbox]:
    """A Lytics sandbox keeping its data in the test's folder, reached by `TOKEN` (the
    `acct-sandbox` account, set up as Lytics' Wistia import sets it up) and `SECRET_TOKEN`
    (`acct-2`)."""
    with LyticsSandbox(
        db_path=tmp_path / "lytics.db", tokens={TOKEN: "acct-sandbox", SECRET_TOKEN: "acct-2"}
    ) as server:
        yield server


@pytest.fixture
def wistia_sandbox() -> Iterator[StartWistia]:
    """Start Wistia sandboxes: `wistia_sandbox(spec_or_account, **options)`, stopped after the test.

    Options are `WistiaSandbox`'s; the rate limit is off unless `rate_limit_per_minute` is given
    (tests of the limit set it), so a test's speed never depends on the limit's window.
    """
    started: list[WistiaSandbox] = []

    def start(spec: AccountSpec | Account, **options: Any) -> WistiaSandbox:
        account = spec if isinstance(spec, Account) else Account(spec)
        sandbox = WistiaSandbox(account, **{"rate_limit_per_minute": None, **options})
        started.append(sandbox.start())
        return sandbox

    try:
        yield start
    finally:
        for sandbox in started:
            sandbox.stop()
