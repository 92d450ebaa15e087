"""What the end-to-end tests share: plugins installed once per session, stacks, assertions.

Every end-to-end test runs real processes: meltano, tap-wistia and target-lytics from the plugin
virtualenvs Meltano built, and both sandboxes over HTTP. The plugins are installed once per test
session into a private ``.meltano`` directory (``MELTANO_SYS_DIR_ROOT``), so the tests never
race with a demo or a benchmark using the repository's own ``.meltano``.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime as dt
import functools
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from playground import PROJECT_ROOT
from playground.expected import (
    check_delivery,
    claimed_sessions,
    expected_profiles,
    profile_differences,
)
from playground.meltano import Meltano
from playground.stack import Stack

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from playground.expected import DeliveryReport
    from playground.meltano import MeltanoResult, PipelineRun
    from tap_wistia.sandbox import AccountSpec

RUN_TIMEOUT = 240.0
GAP = dt.timedelta(minutes=30)


@functools.cache
def plugins_dir() -> Path:
    """A ``.meltano`` directory with every plugin of meltano.yml installed (once per session)."""
    root = Path(tempfile.mkdtemp(prefix="pipeline-plugins-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    meltano = Meltano(database=root / "install.db", logs=root / "logs", sys_dir=root / "sys")
    meltano.install()
    return root / "sys"


@contextlib.contextmanager
def running_stack(workdir: Path, spec: AccountSpec, **options: Any) -> Iterator[Stack]:
    """Both sandboxes started for ``spec``, Meltano pointed at them with the shared plugins."""
    with Stack(workdir, spec, sys_dir=plugins_dir(), **options) as stack:
        yield stack


def project_copy(directory: Path, additions: dict[str, Any]) -> Path:
    """A Meltano project in ``directory``: the repository's meltano.yml plus ``additions``.

    ``additions`` holds lists to append (``plugins.extractors``, ``plugins.loaders``, ``jobs``,
    ``schedules``), as a README example gives them. ``pip_url: -e .`` and relative executables
    point at the repository, so the plugins installed by ``plugins_dir`` serve this project too.
    """
    project = yaml.safe_load((PROJECT_ROOT / "meltano.yml").read_text())
    for kind in ("extractors", "loaders"):
        for plugin in project["plugins"][kind]:
            if plugin.get("pip_url") == "-e .":
                plugin["pip_url"] = f"-e {PROJECT_ROOT}"
            if str(plugin.get("executable", "")).startswith("playground/"):
                plugin["executable"] = str(PROJECT_ROOT / plugin["executable"])
        project["plugins"][kind] += additions.get("plugins", {}).get(kind, [])
    for section in ("jobs", "schedules"):
        project[section] = project.get(section, []) + additions.get(section, [])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "meltano.yml").write_text(yaml.safe_dump(project, sort_keys=False))
    return directory


def assert_delivered(stack: Stack, *, served: bool = False, context: str = "") -> DeliveryReport:
    """Lytics holds exactly the sessions of the account (latest values), nothing unexplained."""
    report = stack.delivery(served=served)
    assert report.ok, f"{report.describe()}\n{context}"
    return report


def assert_profiles(stack: Stack, context: str = "") -> None:
    """Lytics' merged profiles are those the expected sessions make."""
    differences = profile_differences(
        expected_profiles(stack.expected_sessions()), stack.lytics.profiles()
    )
    assert not differences, "\n".join([*differences[:10], context])


def assert_claims_hold(stack: Stack, *, served: bool = False, context: str = "") -> int:
    """Every session Meltano's stored state says was delivered is in Lytics, as expected.

    Returns how many sessions the state claims.
    """
    state = stack.meltano.state()
    claimed = claimed_sessions(state, stack.expected_sessions(served=served))
    report = check_delivery(claimed, stack.lytics.stored_events(), complete=False)
    assert not report.missing, (
        f"the state claims more than Lytics holds: {report.describe()}\n{context}"
    )
    assert not report.wrong, f"{report.describe()}\n{context}"
    return len(claimed)


def assert_clean_failure(run: MeltanoResult, message: str) -> None:
    """The run failed with ``message`` in its output and no traceback at all."""
    assert not run.ok, f"the run was expected to fail:\n{run.tail()}"
    assert message in run.output, f"{message!r} not in the output:\n{run.tail(40)}"
    assert "Traceback" not in run.output, run.tail(60)


def plugin_lines(run: PipelineRun, *names: str) -> list[str]:
    """The output lines the named plugins wrote (Meltano prefixes each with the plugin name)."""
    return [line for line in run.output.splitlines() if any(f" {n} " in line for n in names)]


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds passed; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
