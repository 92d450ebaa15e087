"""Meltano commands and runs in this project (or a copy of it), with state kept apart.

Every command gets an environment of its own: its own system database (state and run history),
no telemetry, and none of the caller's ``MELTANO_*``/``TAP_*``/``TARGET_*`` variables, so a
production token in the caller's shell never reaches a sandbox. A ``meltano run`` runs in its
own process group, its processes watched (``playground.processes``) and its log followed while
it runs, for people watching (``follow``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from playground import PROJECT_ROOT, StackError
from playground.lifetime import STOP_TIMEOUT, forget, track
from playground.processes import ProcessInfo, ProcessWatch, group_alive

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping, Sequence

    Follower = Callable[[Sequence[str]], None]
    """Gets, every ``FOLLOW_INTERVAL`` while a command runs, the log lines it added (often
    none: a follower can tell silence too)."""

__all__ = [
    "ENVIRONMENT",
    "STATE_ID",
    "LogLines",
    "Meltano",
    "MeltanoResult",
    "PipelineRun",
    "RunningPipeline",
    "wait_following",
]

ENVIRONMENT = "sandbox"
STATE_ID = f"{ENVIRONMENT}:tap-wistia-to-target-lytics"
"""Meltano's state id of ``meltano --environment=sandbox run tap-wistia target-lytics``."""
RUN_TIMEOUT = 600.0
FOLLOW_INTERVAL = 0.25
"""Seconds between two looks at a followed log."""
_LOG_TAIL_LINES = 25
_INHERITED_PREFIXES = ("MELTANO_", "TAP_WISTIA_", "TARGET_LYTICS_", "TARGET_JSONL_", "TAP_CSV_")
"""Variables of the caller's shell that would silently reconfigure a stack run (a prod token in
``TAP_WISTIA_API_TOKEN`` would reach the sandbox, a ``MELTANO_DATABASE_URI`` would share state):
they are dropped, and a stack sets what it needs explicitly."""


@dataclass(frozen=True)
class MeltanoResult:
    """A finished Meltano command: its arguments, exit status, time and output."""

    args: tuple[str, ...]
    returncode: int
    seconds: float
    output: str
    log_path: Path | None = None
    stdout: str = ""
    """The standard output alone (``output`` also holds the log), for commands printing data."""

    @property
    def ok(self) -> bool:
        """Whether the command exited 0."""
        return self.returncode == 0

    def tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The end of the output, for error messages."""
        return "\n".join(self.output.splitlines()[-lines:])

    def check(self) -> Self:
        """Return self if the command succeeded.

        Raises:
            StackError: it failed (with the end of its output).
        """
        if not self.ok:
            where = f" (full log: {self.log_path})" if self.log_path else ""
            msg = (
                f"`meltano {' '.join(self.args)}` failed with exit status {self.returncode}"
                f"{where}; its output ends with:\n{self.tail()}"
            )
            raise StackError(msg)
        return self


@dataclass(frozen=True)
class PipelineRun(MeltanoResult):
    """A finished ``meltano run``: also the memory and CPU of its processes."""

    peak_rss_bytes: dict[str, int] = field(default_factory=dict)
    peak_tree_rss_bytes: int = 0
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    killed: str | None = None

    def tap_summary(self) -> dict[str, int]:
        """The tap's closing figures (events read, sessions emitted, requests...), if logged."""
        match = re.search(
            r"Wrote (?:(?P<events_emitted>[\d,]+) events to wistia_events)?(?: and )?"
            r"(?:(?P<sessions_emitted>[\d,]+) viewing sessions to wistia_activity)?(?:nothing)?\. "
            r"Read (?P<events_read>[\d,]+) events from Wistia \((?P<duplicates>[\d,]+) repeated "
            r"copies dropped, (?P<out_of_range>[\d,]+) outside the period, "
            r"(?P<pages_repeated>[\d,]+) pages served twice skipped\) in "
            r"(?P<requests>[\d,]+) requests \((?P<retries>[\d,]+) retries, "
            r"(?P<rate_limited>[\d,]+) rate-limited\)",
            self.output,
        )
        if match is None:
            return {}
        return {
            name: int((value or "0").replace(",", "")) for name, value in match.groupdict().items()
        }

    def target_summary(self) -> dict[str, int]:
        """The target's delivery figures summed over its batches (records, requests, retries)."""
        totals = {"records": 0, "requests": 0, "retries": 0, "batches": 0}
        pattern = r"Lytics accepted (\d+) records on stream .*? in (\d+) requests \((\d+) retries"
        for records, requests_made, retries in re.findall(pattern, self.output):
            totals["records"] += int(records)
            totals["requests"] += int(requests_made)
            totals["retries"] += int(retries)
            totals["batches"] += 1
        return totals


class LogLines:
    """The complete lines a growing log gained since the last look (a command still writing)."""

    def __init__(self, path: Path) -> None:
        """Follow ``path`` from its start."""
        self.path = path
        self._offset = 0

    def new(self, *, final: bool = False) -> list[str]:
        """The lines completed since the last call.

        A line still being written waits for its end, unless ``final`` (the writer is done).
        """
        try:
            with self.path.open("rb") as log:
                log.seek(self._offset)
                chunk = log.read()
        except FileNotFoundError:
            return []
        end = len(chunk) if final else chunk.rfind(b"\n") + 1
        self._offset += end
        return chunk[:end].decode(errors="replace").splitlines()


def wait_following(
    process: subprocess.Popen[bytes],
    log_path: Path,
    timeout: float,
    follow: Follower | None,
) -> bool:
    """Wait for ``process``, handing its new log lines to ``follow``; False when time ran out."""
    deadline = time.monotonic() + timeout
    lines = LogLines(log_path)
    while True:
        remaining = deadline - time.monotonic()
        try:
            process.wait(min(FOLLOW_INTERVAL, remaining) if follow else max(remaining, 0))
        except subprocess.TimeoutExpired:
            if follow is not None:
                follow(lines.new())
            if time.monotonic() < deadline:
                continue
            return False
        if follow is not None:
            follow(lines.new(final=True))
        return True


class RunningPipeline:
    """A ``meltano run`` in progress, in its own process group, its processes watched.

    ``kill(role)`` sends SIGKILL to the meltano process itself or to its tap or target, as a
    crash would; ``wait()`` then reaps everything the run started, including orphans.
    """

    def __init__(
        self, args: Sequence[str], env: Mapping[str, str], log_path: Path, project: Path
    ) -> None:
        """Start ``meltano ARGS`` in ``project`` with its output going to ``log_path``."""
        self.args = tuple(args)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the project's own meltano
                [str(meltano_executable()), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=project,
                env=dict(env),
                start_new_session=True,
            )
        track(self)
        self.watch = ProcessWatch(self.process.pid)
        self.killed: str | None = None

    def processes(self, role: str | None = None) -> list[ProcessInfo]:
        """The run's live processes now (of one role: ``meltano``, ``tap``, ``target``)."""
        tree = self.watch.sample()
        return [info for info in tree if role is None or info.role == role]

    def wait_for(self, role: str, timeout: float = 60.0, *, argv_has: str = "") -> bool:
        """Wait until a process of ``role`` runs (with ``argv_has`` in its arguments).

        Returns False when the run ended or the time ran out first.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and self.process.poll() is None:
            for info in self.processes(role):
                if not argv_has or any(argv_has in part for part in info.argv):
                    return True
            time.sleep(0.02)
        return False

    def kill(self, role: str) -> int | None:
        """SIGKILL the run's process of ``role`` (the newest one); returns its pid, or None."""
        candidates = self.processes(role)
        if not candidates:
            return None
        victim = max(candidates, key=lambda info: info.pid if role != "meltano" else -info.pid)
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim.pid, signal.SIGKILL)
        self.killed = role
        return victim.pid

    def wait(
        self,
        timeout: float = RUN_TIMEOUT,
        *,
        follow: Follower | None = None,
    ) -> PipelineRun:
        """Wait for the run (and every process it started) to end, and collect the result.

        ``follow`` gets the run's new log lines while it runs. A run past ``timeout`` is
        stopped (SIGTERM, then SIGKILL) and reported as failed.
        """
        if not wait_following(self.process, self.log_path, timeout, follow):
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        self._reap_orphans()
        seconds = time.monotonic() - self.started
        self.watch.stop()
        forget(self)
        return PipelineRun(
            args=self.args,
            returncode=self.process.returncode,
            seconds=seconds,
            output=self.log_path.read_text(errors="replace"),
            log_path=self.log_path,
            peak_rss_bytes=dict(self.watch.peak_rss_bytes),
            peak_tree_rss_bytes=self.watch.peak_tree_rss_bytes,
            cpu_seconds=dict(self.watch.cpu_seconds),
            killed=self.killed,
        )

    def _reap_orphans(self) -> None:
        """Let processes orphaned by a kill finish (a target drains), then end them for sure.

        They are in the run's process group, so a signal to the group reaches all of them
        and nothing outlives the run to touch the sandboxes during the next one.
        """
        deadline = time.monotonic() + STOP_TIMEOUT
        while group_alive(self.process.pid):
            if time.monotonic() > deadline:
                self._signal_group(signal.SIGKILL)
                time.sleep(0.1)
                break
            time.sleep(0.05)

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        """End the run now (SIGKILL to its process group) and reap it."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        self.watch.stop()
        forget(self)


def meltano_executable() -> Path:
    """Meltano from the interpreter's own virtualenv (``make`` installs it there).

    Raises:
        StackError: it is not there.
    """
    candidate = Path(sys.executable).parent / "meltano"
    if not candidate.exists():
        msg = f"meltano is not installed next to {sys.executable}: run `make install`"
        raise StackError(msg)
    return candidate


class Meltano:
    """Meltano commands in a Meltano project, with state kept apart per user.

    ``database`` is the system database (state and run history) of this user only;
    ``sys_dir`` (optional) moves Meltano's ``.meltano`` directory, plugin virtualenvs included,
    so concurrent users of the repository (tests, benchmarks, a demo) cannot race on its run
    files. ``settings`` are extra environment variables, e.g. ``TAP_WISTIA_API_URL``.
    ``project`` is the directory holding ``meltano.yml`` (default: this repository).
    """

    def __init__(
        self,
        *,
        database: Path,
        logs: Path,
        settings: Mapping[str, str] | None = None,
        sys_dir: Path | None = None,
        project: Path = PROJECT_ROOT,
    ) -> None:
        """Configure the commands; nothing runs yet."""
        self.database = database
        self.logs = logs
        self.sys_dir = sys_dir
        self.project = project
        self.settings = dict(settings or {})
        self._logged = 0

    def env(self, extra: Mapping[str, str] | None = None) -> dict[str, str]:
        """The environment of every command: isolated state, no telemetry, the settings."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_INHERITED_PREFIXES)}
        env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
        env["MELTANO_SEND_ANONYMOUS_USAGE_STATS"] = "false"
        env["MELTANO_DATABASE_URI"] = f"sqlite:///{self.database}"
        env["MELTANO_STATE_BACKEND_URI"] = "systemdb"
        if self.sys_dir is not None:
            env["MELTANO_SYS_DIR_ROOT"] = str(self.sys_dir)
        env.update(self.settings)
        env.update(extra or {})
        return env

    def command(
        self,
        *args: str,
        timeout: float = RUN_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
    ) -> MeltanoResult:
        """Run ``meltano ARGS`` to the end and capture its output (never raises on failure).

        Raises:
            StackError: it did not finish within ``timeout``.
        """
        started = time.monotonic()
        try:
            done = subprocess.run(  # noqa: S603 - the project's own meltano
                [str(meltano_executable()), *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=self.project,
                env=self.env(extra_env),
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as error:
            msg = f"`meltano {' '.join(args)}` did not finish within {timeout:g} s"
            raise StackError(msg) from error
        output = done.stdout + (("\n" + done.stderr) if done.stderr else "")
        seconds = time.monotonic() - started
        return MeltanoResult(tuple(args), done.returncode, seconds, output, stdout=done.stdout)

    def logged(
        self,
        *args: str,
        timeout: float = RUN_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
        follow: Follower | None = None,
    ) -> MeltanoResult:
        """Run ``meltano ARGS`` to the end with its output in a log under ``logs``.

        ``follow`` gets the new log lines while it runs (never raises on failure).

        Raises:
            StackError: it did not finish within ``timeout`` (it is stopped).
        """
        log_path = self._log_path(args)
        started = time.monotonic()
        with log_path.open("wb") as log:
            process = subprocess.Popen(  # noqa: S603 - the project's own meltano
                [str(meltano_executable()), *args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.project,
                env=self.env(extra_env),
            )
        if not wait_following(process, log_path, timeout, follow):
            process.kill()
            process.wait()
            msg = f"`meltano {' '.join(args)}` did not finish within {timeout:g} s"
            raise StackError(msg)
        output = log_path.read_text(errors="replace")
        seconds = time.monotonic() - started
        return MeltanoResult(tuple(args), process.returncode, seconds, output, log_path)

    def install(
        self,
        *plugins: str,
        timeout: float = RUN_TIMEOUT,
        follow: Follower | None = None,
    ) -> MeltanoResult:
        """``meltano install`` (all plugins, or the named ones); quick when already installed.

        Raises:
            StackError: the installation failed (with the end of its output).
        """
        return self.logged("install", *plugins, timeout=timeout, follow=follow).check()

    def start(
        self,
        *blocks: str,
        extra_env: Mapping[str, str] | None = None,
        environment: str = ENVIRONMENT,
        force: bool = False,
        install: bool = True,
    ) -> RunningPipeline:
        """Start ``meltano --environment=ENV run BLOCKS...`` in the background.

        ``force`` adds ``--force``: after meltano itself was killed, its run stays marked as
        running and Meltano refuses the same pipeline until the mark is 5 minutes stale.
        ``install=False`` adds ``--no-install``: Meltano then runs the plugins as installed,
        without reinstalling one whose ``pip_url`` changed (jobs sharing a virtualenv would
        reinstall it at the same moment). Default blocks: ``tap-wistia target-lytics``.
        """
        blocks = blocks or ("tap-wistia", "target-lytics")
        options = [*(["--force"] if force else []), *([] if install else ["--no-install"])]
        args = (f"--environment={environment}", "run", *options, *blocks)
        return RunningPipeline(args, self.env(extra_env), self._log_path(args), self.project)

    def run(
        self,
        *blocks: str,
        timeout: float = RUN_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
        environment: str = ENVIRONMENT,
        force: bool = False,
        follow: Follower | None = None,
    ) -> PipelineRun:
        """Run ``meltano --environment=ENV run BLOCKS...`` to the end (never raises on failure).

        Default blocks: ``tap-wistia target-lytics``; ``force`` as in ``start``, ``follow`` as
        in ``RunningPipeline.wait``.
        """
        running = self.start(*blocks, extra_env=extra_env, environment=environment, force=force)
        return running.wait(timeout, follow=follow)

    def state(self, state_id: str = STATE_ID) -> dict[str, Any] | None:
        """The Singer state Meltano stored for ``state_id`` (None when there is none).

        Raises:
            StackError: ``meltano state get`` failed for another reason.
        """
        result = self.command(f"--environment={ENVIRONMENT}", "state", "get", state_id)
        if not result.ok:
            if "No state found" in result.output or "does not exist" in result.output:
                return None
            result.check()
        text = result.stdout.strip()
        start = text.find("{")
        if start < 0:
            return None
        payload, _ = json.JSONDecoder().raw_decode(text[start:])
        singer_state = payload.get("singer_state") if isinstance(payload, dict) else None
        return singer_state if isinstance(singer_state, dict) else None

    def _log_path(self, args: Sequence[str]) -> Path:
        """A new log file under ``logs``, numbered in order and named after the command."""
        self._logged += 1
        self.logs.mkdir(parents=True, exist_ok=True)
        verb, *rest = [arg for arg in args if not arg.startswith("-")] or ["meltano"]
        names = [Path(arg).name for arg in rest]  # a file given to a plugin: its name alone
        return self.logs / ("-".join([verb, f"{self._logged:02d}", *names]) + ".log")
