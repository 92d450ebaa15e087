"""The local stack: both sandboxes as processes, Meltano pointed at them, and what to expect.

Everything that runs the whole pipeline on one machine goes through here: ``make demo``, the
end-to-end tests and the benchmarks. Typical use::

    spec = AccountSpec(seed=7, events=6000, days=5)
    with Stack(workdir, spec) as stack:
        stack.meltano.install()
        run = stack.meltano.run("tap-wistia", "target-lytics").check()
        report = check_delivery(stack.expected_sessions(), stack.lytics.stored_events())

Why processes and not threads: Meltano runs the plugins as processes, and the pipeline's
promises (nothing lost when any process is killed, no traceback on expected failures, bounded
memory) are only visible across process boundaries. The sandboxes are started with
``--port 0`` and announce their URL in a ready file, so runs never collide on ports; each stack
gets its own Meltano system database, so runs never share state.

Nothing is left running: services and pipelines stop on ``with`` exit, at interpreter exit
(``atexit``), and the sandboxes also die with their parent process (``PR_SET_PDEATHSIG``).

The Lytics sandbox starts with an empty account (``lytics_preset``) and target-lytics runs with
``schema_mode: apply``, so every stack's account is set up through the schema step, as a new
Lytics account would be.

The expectation helpers at the end compute, from the Wistia account alone, the viewing sessions
a correct pipeline delivers and the Lytics records and profiles they make, with the same pure
functions the plugins and the Lytics sandbox use (``sessionize``, the default mapping and the
schema it compiles to, the sandbox's mapping evaluation and ``merge_fragments``): the pipeline
under test is the only thing not reused.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

import msgspec
import requests

from tap_wistia.events import EventProblems, normalize_event, view_event
from tap_wistia.sandbox import SANDBOX_TOKEN, Account, AccountSpec
from tap_wistia.sessions import Carry, ViewingSession, sessionize
from target_lytics.mapping import StreamPlan, plan_stream
from target_lytics.mapping_setting import mappings_from_setting
from target_lytics.sandbox import merge_fragments
from target_lytics.sandbox.mapper import ProfileMapper
from target_lytics.sandbox.profiles import parse_event_time
from target_lytics.sandbox.schema import FieldDef, MappingDef, Version
from target_lytics.schema import RequiredSchema, required_schema

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence
    from types import TracebackType

    from target_lytics.sandbox.presets import Preset

__all__ = [
    "ACTIVITY_STREAM",
    "PROJECT_ROOT",
    "SESSION_GAP",
    "STATE_ID",
    "WISTIA_TOKEN",
    "ActivityKey",
    "DeliveryReport",
    "LyticsSandboxProcess",
    "Meltano",
    "MeltanoResult",
    "PipelineRun",
    "ProcessInfo",
    "ProcessWatch",
    "RunningPipeline",
    "SandboxProcess",
    "Stack",
    "StackError",
    "WistiaSandboxProcess",
    "activity_key",
    "activity_plan",
    "all_processes",
    "check_delivery",
    "claimed_sessions",
    "expected_profiles",
    "expected_sessions",
    "lytics_records",
    "media_durations",
    "process_tree",
    "profile_differences",
    "published_version",
    "read_process",
    "wait_until",
]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
"""The Meltano project (``meltano.yml``) and the repository root."""
ENVIRONMENT = "sandbox"
STATE_ID = f"{ENVIRONMENT}:tap-wistia-to-target-lytics"
"""Meltano's state id of ``meltano --environment=sandbox run tap-wistia target-lytics``."""
ACTIVITY_STREAM = "wistia_activity"
WISTIA_TOKEN = SANDBOX_TOKEN
SESSION_GAP = dt.timedelta(minutes=30)
"""tap-wistia's default ``session_gap_minutes``."""

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
RUN_TIMEOUT = 600.0
_PAGE = 10_000
_ADMIN_TIMEOUT = 30.0
_WISTIA_PER_PAGE = 100
_INHERITED_PREFIXES = ("MELTANO_", "TAP_WISTIA_", "TARGET_LYTICS_", "TARGET_JSONL_", "TAP_CSV_")
"""Variables of the caller's shell that would silently reconfigure a stack run (a prod token in
``TAP_WISTIA_API_TOKEN`` would reach the sandbox, a ``MELTANO_DATABASE_URI`` would share state):
they are dropped, and a stack sets what it needs explicitly."""
_PR_SET_PDEATHSIG = 1
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE_BYTES = os.sysconf("SC_PAGE_SIZE")
_LOG_TAIL_LINES = 25


class StackError(RuntimeError):
    """A step of the local stack failed; the message says which and shows the log's end."""


# --------------------------------------------------------------------------------------------
# Processes: /proc, the tree under a pid, sampling its memory and CPU
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One process as /proc shows it: who it is, its parent, its memory and CPU so far."""

    pid: int
    ppid: int
    pgid: int
    name: str
    state: str
    rss_bytes: int
    cpu_seconds: float
    argv: tuple[str, ...]

    @property
    def role(self) -> str:
        """``tap``, ``target``, ``meltano`` or ``other``: what a pipeline process is for."""
        program = Path(self.argv[1]).name if len(self.argv) > 1 else self.name
        for candidate in (self.name, program):
            if candidate.startswith("tap-") or candidate.endswith("tap_csv.py"):
                return "tap"
            if candidate.startswith("target-"):
                return "target"
            if candidate == "meltano":
                return "meltano"
        return "other"

    @property
    def alive(self) -> bool:
        """False for a zombie: it has exited and only waits to be reaped."""
        return self.state not in {"Z", "X"}


def read_process(pid: int) -> ProcessInfo | None:
    """The process ``pid`` from /proc, or None when it is gone (Linux only)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        raw_argv = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The name is in parentheses and may itself hold spaces or parentheses.
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()
    return ProcessInfo(
        pid=pid,
        ppid=int(fields[1]),
        pgid=int(fields[2]),
        name=name,
        state=fields[0],
        rss_bytes=int(fields[21]) * _PAGE_BYTES,
        cpu_seconds=(int(fields[11]) + int(fields[12])) / _CLOCK_TICKS,
        argv=tuple(part.decode(errors="replace") for part in raw_argv.split(b"\0") if part),
    )


def all_processes() -> dict[int, ProcessInfo]:
    """Every process /proc shows now, by pid."""
    processes: dict[int, ProcessInfo] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (info := read_process(int(entry.name))) is not None:
            processes[info.pid] = info
    return processes


def process_tree(root: int) -> list[ProcessInfo]:
    """``root`` and every live descendant, parents before children (empty when it is gone).

    Follows the kernel's per-thread ``children`` lists, so a sample reads a handful of files
    instead of every process on the machine (a run is sampled ten times a second).
    """
    tree: list[ProcessInfo] = []
    pending = [root]
    while pending:
        pid = pending.pop(0)
        info = read_process(pid)
        if info is None:
            continue
        tree.append(info)
        pending += _children(pid)
    return [info for info in tree if info.alive]


def _children(pid: int) -> list[int]:
    """The pids of a process's children, from every one of its threads."""
    found: set[int] = set()
    try:
        tasks = list(Path(f"/proc/{pid}/task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return []
    for task in tasks:
        with contextlib.suppress(FileNotFoundError, ProcessLookupError, PermissionError):
            found.update(int(child) for child in (task / "children").read_text().split())
    return sorted(found)


class ProcessWatch:
    """Samples a process tree every ``interval`` seconds: peak memory and CPU per role.

    Peak RSS per role is the largest resident set one process of that role reached (read from
    ``VmHWM``, the kernel's own high-water mark, so short peaks between samples count); the
    tree's peak is the largest sum of resident sets seen at one sample. CPU seconds are the last
    sampled values, so they miss at most one interval of each process's life.
    """

    def __init__(self, root: int, interval: float = 0.1) -> None:
        """Start sampling the tree under ``root`` in a daemon thread."""
        self.root = root
        self.interval = interval
        self.peak_rss_bytes: dict[str, int] = {}
        self.cpu_seconds: dict[str, float] = {}
        self.peak_tree_rss_bytes = 0
        self.seen: dict[int, ProcessInfo] = {}
        self._cpu_by_pid: dict[int, tuple[str, float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"watch-{root}", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(self.interval)

    def sample(self) -> list[ProcessInfo]:
        """Take one sample now; returns the live tree."""
        tree = process_tree(self.root)
        with self._lock:
            self.peak_tree_rss_bytes = max(
                self.peak_tree_rss_bytes, sum(info.rss_bytes for info in tree)
            )
            for info in tree:
                self.seen[info.pid] = info
                peak = max(info.rss_bytes, _high_water_mark(info.pid))
                role = info.role
                self.peak_rss_bytes[role] = max(self.peak_rss_bytes.get(role, 0), peak)
                self._cpu_by_pid[info.pid] = (role, info.cpu_seconds)
            totals: dict[str, float] = defaultdict(float)
            for role, seconds in self._cpu_by_pid.values():
                totals[role] += seconds
            self.cpu_seconds = dict(totals)
        return tree

    def stop(self) -> None:
        """Stop sampling (the figures stay readable)."""
        self._stop.set()
        self._thread.join(timeout=5)


def _high_water_mark(pid: int) -> int:
    """A process's peak resident set (``VmHWM``) in bytes; 0 when it is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    match = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
    return int(match.group(1)) * 1024 if match else 0


def _find_prctl() -> Callable[..., int] | None:
    """The C library's ``prctl``, looked up once in the parent (Linux; None elsewhere)."""
    try:
        prctl: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return prctl


_PRCTL = _find_prctl()


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the parent dies, so nothing is orphaned.

    Only a C call here: the lookup happened before the fork, so no lock can be held.
    """
    if _PRCTL is not None:
        _PRCTL(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _log_tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


_LIVE: set[SandboxProcess | RunningPipeline] = set()
"""Everything started and not yet stopped, for the interpreter-exit safety net."""


@atexit.register
def _stop_everything() -> None:
    for item in list(_LIVE):
        with contextlib.suppress(Exception):
            item.stop()


# --------------------------------------------------------------------------------------------
# The sandboxes as processes
# --------------------------------------------------------------------------------------------


class SandboxProcess:
    """A sandbox server process: started on a free port, ready once it wrote its ready file.

    Use as a context manager, or ``start()``/``stop()``. ``url`` is what the sandbox announced;
    ``admin_get``/``admin_post`` call its ``/_sandbox/`` admin API.
    """

    name = "sandbox"
    admin_base_suffix = ""

    def __init__(self, argv: Sequence[str], workdir: Path) -> None:
        """Prepare the command; logs and the ready file go under ``workdir``."""
        self.argv = list(argv)
        self.workdir = workdir
        self.log_path = workdir / f"{self.name}.log"
        self.ready_file = workdir / f"{self.name}.ready.json"
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        self._http = requests.Session()

    def start(self, timeout: float = READY_TIMEOUT) -> Self:
        """Start the process and wait until it listens.

        Raises:
            StackError: it exited or did not get ready in time (with its log's end).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file.unlink(missing_ok=True)
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads are forked here
            )
        _LIVE.add(self)
        deadline = time.monotonic() + timeout
        while not self.ready_file.exists():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                msg = (
                    f"the {self.name} did not start (exit status {self.process.returncode}); "
                    f"its log {self.log_path} ends with:\n{_log_tail(self.log_path)}"
                )
                raise StackError(msg)
            time.sleep(0.02)
        self.url = str(json.loads(self.ready_file.read_text())["url"])
        return self

    @property
    def pid(self) -> int:
        """The server's process id."""
        if self.process is None:
            msg = f"the {self.name} is not started"
            raise StackError(msg)
        return self.process.pid

    def stop(self) -> int | None:
        """Stop with SIGTERM (SIGKILL after ``STOP_TIMEOUT``); returns the exit status."""
        _LIVE.discard(self)
        self._http.close()
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def __enter__(self) -> Self:
        """Start the sandbox."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the sandbox."""
        self.stop()

    @property
    def admin_url(self) -> str:
        """Where the admin API lives (``/_sandbox/``)."""
        return self.url.removesuffix(self.admin_base_suffix) + "/_sandbox"

    def admin_get(self, path: str, **params: Any) -> Any:
        """GET an admin path (e.g. ``stats``) and return its JSON."""
        response = self._http.get(f"{self.admin_url}/{path}", params=params, timeout=_ADMIN_TIMEOUT)
        return self._json(response)

    def admin_post(self, path: str, body: Any = None) -> Any:
        """POST JSON to an admin path and return the answer's JSON."""
        response = self._http.post(
            f"{self.admin_url}/{path}",
            data=msgspec.json.encode(body if body is not None else {}),
            headers={"Content-Type": "application/json"},
            timeout=_ADMIN_TIMEOUT,
        )
        return self._json(response)

    def _json(self, response: requests.Response) -> Any:
        if response.status_code != requests.codes.ok:
            msg = (
                f"the {self.name} answered {response.status_code} on "
                f"{response.request.method} {response.request.path_url}: {response.text[:300]}"
            )
            raise StackError(msg)
        return response.json()


class WistiaSandboxProcess(SandboxProcess):
    """``python -m tap_wistia.sandbox`` serving the account of ``spec``.

    ``account`` is a local copy of the same account (the generator is deterministic); every
    change made through this object (new events, updates) is applied to both, so the copy stays
    what the sandbox serves and the expected sessions can be computed without asking the API
    that is under test. Changes the sandbox makes by itself (the ``page_drift`` fault) are not
    mirrored: read those through ``served_events``.
    """

    name = "wistia-sandbox"
    admin_base_suffix = "/v1"

    def __init__(
        self,
        spec: AccountSpec,
        workdir: Path,
        *,
        rate_limit: int = 0,
        latency_ms: int = 0,
    ) -> None:
        """Describe the sandbox: its account, request limit per minute (0: off), latency."""
        self.spec = spec
        argv = [
            sys.executable,
            "-m",
            "tap_wistia.sandbox",
            "--port=0",
            "--quiet",
            f"--seed={spec.seed}",
            f"--events={spec.events}",
            f"--days={spec.days}",
            f"--medias={spec.medias}",
            f"--visitors={spec.visitors}",
            f"--end={spec.end_at.isoformat()}",
            f"--conversion-rate={spec.conversion_rate}",
            f"--tz-offset-hours={spec.tz_offset_hours}",
            f"--rate-limit={rate_limit}",
            f"--latency-ms={latency_ms}",
            *(["--odd-events"] if spec.odd_events else []),
        ]
        super().__init__(argv, workdir)
        self.argv.append(f"--ready-file={self.ready_file}")
        self.account = Account(spec, prefetch=False)

    def stats(self) -> dict[str, Any]:
        """Traffic counters: requests, by_path, by_status, rate_limited, events_served..."""
        return dict(self.admin_get("stats"))

    def reset_stats(self) -> None:
        """Zero the traffic counters."""
        self.admin_post("reset-stats")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (see ``tap_wistia.sandbox.Faults``); none: clear them."""
        return dict(self.admin_post("faults", faults))

    def set_rate_limit(self, per_minute: int | None) -> None:
        """Change the request limit (None or 0: off)."""
        self.admin_post("rate-limit", {"per_minute": per_minute})

    def generate(self, count: int, at: dt.datetime | None = None) -> list[dict[str, Any]]:
        """Add ``count`` realistic events (at ``at``, default: the live edge); returns them."""
        body: dict[str, Any] = {"generate": count}
        if at is not None:
            body["at"] = at.isoformat()
        added = list(self.admin_post("events", body)["added"])
        self.account.add_events(added)
        return added

    def new_event(
        self, at: dt.datetime, visitor_key: str | None = None, media_id: str | None = None
    ) -> dict[str, Any]:
        """A realistic event at ``at`` (by a given visitor on a given media), not yet added."""
        return self.account.new_event(at, visitor_key, media_id)

    def add_events(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Add these events to the account (each needs a new event_key and a received_at)."""
        self.admin_post("events", list(events))
        self.account.add_events(events)

    def update_event(self, event_key: str, **fields: Any) -> dict[str, Any]:
        """Change an event (e.g. a late ``percent_viewed``); returns the updated event."""
        updated = dict(self.admin_post(f"events/{event_key}", fields))
        self.account.update_event(event_key, **fields)
        return updated

    def events(self) -> list[dict[str, Any]]:
        """Every event of the account as the local copy holds it, oldest first."""
        return list(self.account.all_events())

    def late_update_candidate(
        self, now: dt.datetime, *, percent_below: float, besides_visitor: str | None = None
    ) -> dict[str, Any] | None:
        """The newest event 5 to 50 minutes before ``now`` whose percent_viewed can still grow.

        That is an event a run that just ended has read and the next run re-reads within its
        60-minute lookback: updating it shows a late percent_viewed reaching Lytics. None when
        the account has no such event (``besides_visitor``: not of that visitor).
        """
        for event in reversed(self.events()):
            received = dt.datetime.fromisoformat(event["received_at"])
            if (
                now - dt.timedelta(minutes=50) <= received <= now - dt.timedelta(minutes=5)
                and (event.get("percent_viewed") or 0) < percent_below
                and event["visitor_key"] != besides_visitor
            ):
                return event
        return None

    def medias(self) -> list[dict[str, Any]]:
        """The account's medias (as ``/v1/medias.json`` serves them)."""
        return self.account.medias()

    def served_events(self) -> list[dict[str, Any]]:
        """Every event as the sandbox serves it now, read over its API day by day.

        For checks after faults that change the account inside the sandbox (page drift). Clear
        the faults first: with none in force the pages are stable, so this is every event once.
        """
        headers = {"Authorization": f"Bearer {WISTIA_TOKEN}"}
        found: dict[str, dict[str, Any]] = {}
        first = self.account.first_day
        last = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=1)
        day = first
        while day <= last:
            page = 1
            while True:
                params: dict[str, str | int] = {
                    "start_date": str(day),
                    "end_date": str(day),
                    "per_page": _WISTIA_PER_PAGE,
                    "page": page,
                }
                response = self._http.get(
                    f"{self.url}/stats/events.json",
                    params=params,
                    headers=headers,
                    timeout=_ADMIN_TIMEOUT,
                )
                batch = self._json(response)
                found.update((event["event_key"], event) for event in batch)
                if len(batch) < _WISTIA_PER_PAGE:
                    break
                page += 1
            day += dt.timedelta(days=1)
        return list(found.values())


class LyticsSandboxProcess(SandboxProcess):
    """``python -m target_lytics.sandbox`` keeping its data in ``workdir/lytics.sqlite3``."""

    name = "lytics-sandbox"

    def __init__(
        self,
        workdir: Path,
        *,
        db_path: Path | None = None,
        latency_ms: float = 0,
        preset: Preset = "empty",
    ) -> None:
        """Describe the sandbox: where it stores events, how slow it answers, its account.

        ``preset``: how the account starts, ``empty`` or ``wistia-import`` (as Lytics' own
        Wistia import leaves it).
        """
        self.db_path = db_path or workdir / "lytics.sqlite3"
        argv = [
            sys.executable,
            "-m",
            "target_lytics.sandbox",
            "--port=0",
            "--quiet",
            f"--db={self.db_path}",
            f"--latency-ms={latency_ms}",
            f"--preset={preset}",
        ]
        super().__init__(argv, workdir)
        self.argv.append(f"--ready-file={self.ready_file}")

    def stats(self) -> dict[str, Any]:
        """Counters: requests, collect_requests, records_received, records_stored, rejected..."""
        return dict(self.admin_get("stats"))

    def reset_stats(self) -> None:
        """Zero the counters."""
        self.admin_post("reset-stats")

    def set_faults(self, **faults: Any) -> dict[str, Any]:
        """Replace the fault settings (see ``target_lytics.sandbox.Faults``); none: clear them."""
        return dict(self.admin_post("faults", faults))

    def stored_events(self, stream: str = ACTIVITY_STREAM) -> list[dict[str, Any]]:
        """Every stored event of a stream, oldest first: ``id``, ``event_time``, ``record``..."""
        events: list[dict[str, Any]] = []
        while True:
            page = self.admin_get(f"streams/{stream}/events", limit=_PAGE, offset=len(events))
            events += page["events"]
            if len(page["events"]) < _PAGE:
                break
        events.sort(key=lambda event: event["id"])
        return events

    def schema(self, account: str = "acct-sandbox") -> dict[str, Any]:
        """An account's fields, mappings, published versions and patches (the admin view)."""
        return dict(self.admin_get(f"accounts/{account}/schema"))

    def profiles(self) -> list[dict[str, Any]]:
        """Every merged profile (oldest first), as ``/_sandbox/profiles`` shows them."""
        profiles: list[dict[str, Any]] = []
        while True:
            page = self.admin_get("profiles", limit=_PAGE, offset=len(profiles))
            profiles += page["profiles"]
            if len(page["profiles"]) < _PAGE:
                return profiles


# --------------------------------------------------------------------------------------------
# Meltano
# --------------------------------------------------------------------------------------------


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


class RunningPipeline:
    """A ``meltano run`` in progress, in its own process group, watched through /proc.

    ``kill(role)`` sends SIGKILL to the meltano process itself or to its tap or target, as a
    crash would; ``wait()`` then reaps everything the run started, including orphans.
    """

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log_path: Path) -> None:
        """Start ``meltano ARGS`` with its output going to ``log_path``."""
        self.args = tuple(args)
        self.log_path = log_path
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.started = time.monotonic()
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(  # noqa: S603 - the project's own meltano
                [str(_meltano_executable()), *self.args],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=PROJECT_ROOT,
                env=dict(env),
                start_new_session=True,
            )
        _LIVE.add(self)
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

    def wait(self, timeout: float = RUN_TIMEOUT) -> PipelineRun:
        """Wait for the run (and every process it started) to end, and collect the result.

        A run past ``timeout`` is stopped (SIGTERM, then SIGKILL) and reported as failed.
        """
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self._signal_group(signal.SIGKILL)
                self.process.wait()
        self._reap_orphans()
        seconds = time.monotonic() - self.started
        self.watch.stop()
        _LIVE.discard(self)
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
        while self._group_alive():
            if time.monotonic() > deadline:
                self._signal_group(signal.SIGKILL)
                time.sleep(0.1)
                break
            time.sleep(0.05)

    def _group_alive(self) -> bool:
        """Whether a process of the run's group still runs (orphans are no longer its children)."""
        group = self.process.pid
        return any(info.pgid == group and info.alive for info in all_processes().values())

    def _signal_group(self, signum: int) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signum)

    def stop(self) -> None:
        """End the run now (SIGKILL to its process group) and reap it."""
        self._signal_group(signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(STOP_TIMEOUT)
        self.watch.stop()
        _LIVE.discard(self)


def _meltano_executable() -> Path:
    """Meltano from the interpreter's own virtualenv (``make`` installs it there)."""
    candidate = Path(sys.executable).parent / "meltano"
    if not candidate.exists():
        msg = f"meltano is not installed next to {sys.executable}: run `make install`"
        raise StackError(msg)
    return candidate


class Meltano:
    """Meltano commands in this project, with state kept apart per stack.

    ``database`` is the system database (state and run history) of this stack only;
    ``sys_dir`` (optional) moves Meltano's ``.meltano`` directory, plugin virtualenvs included,
    so concurrent users of the repository (tests, benchmarks, a demo) cannot race on its run
    files. ``settings`` are extra environment variables, e.g. ``TAP_WISTIA_API_URL``.
    """

    def __init__(
        self,
        *,
        database: Path,
        logs: Path,
        settings: Mapping[str, str] | None = None,
        sys_dir: Path | None = None,
    ) -> None:
        """Configure the commands; nothing runs yet."""
        self.database = database
        self.logs = logs
        self.sys_dir = sys_dir
        self.settings = dict(settings or {})
        self._runs = 0

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
                [str(_meltano_executable()), *args],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                cwd=PROJECT_ROOT,
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

    def install(self, *plugins: str, timeout: float = RUN_TIMEOUT) -> MeltanoResult:
        """``meltano install`` (all plugins, or the named ones); quick when already installed.

        Raises:
            StackError: the installation failed (with the end of its output).
        """
        return self.command("install", *plugins, timeout=timeout).check()

    def start(
        self,
        *blocks: str,
        extra_env: Mapping[str, str] | None = None,
        environment: str = ENVIRONMENT,
        force: bool = False,
    ) -> RunningPipeline:
        """Start ``meltano --environment=ENV run BLOCKS...`` in the background.

        ``force`` adds ``--force``: after meltano itself was killed, its run stays marked as
        running and Meltano refuses the same pipeline until the mark is 5 minutes stale.
        Default blocks: ``tap-wistia target-lytics``.
        """
        blocks = blocks or ("tap-wistia", "target-lytics")
        self._runs += 1
        log_path = self.logs / f"run-{self._runs:02d}-{'-'.join(blocks)}.log"
        args = (f"--environment={environment}", "run", *(["--force"] if force else []), *blocks)
        return RunningPipeline(args, self.env(extra_env), log_path)

    def run(
        self,
        *blocks: str,
        timeout: float = RUN_TIMEOUT,
        extra_env: Mapping[str, str] | None = None,
        environment: str = ENVIRONMENT,
        force: bool = False,
    ) -> PipelineRun:
        """Run ``meltano --environment=ENV run BLOCKS...`` to the end (never raises on failure).

        Default blocks: ``tap-wistia target-lytics``; ``force`` as in ``start``.
        """
        running = self.start(*blocks, extra_env=extra_env, environment=environment, force=force)
        return running.wait(timeout)

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


# --------------------------------------------------------------------------------------------
# The stack
# --------------------------------------------------------------------------------------------


class Stack:
    """Both sandboxes and Meltano pointed at them: one isolated, disposable pipeline.

    ``workdir`` receives the sandboxes' logs and data, the Meltano system database and the run
    logs. ``settings`` are extra plugin settings as environment variables (e.g.
    ``{"TAP_WISTIA_MAX_PARALLEL_REQUESTS": "2"}``).
    """

    def __init__(  # noqa: PLR0913 - every knob of a local stack, all keyword-only
        self,
        workdir: Path,
        spec: AccountSpec,
        *,
        wistia_rate_limit: int = 0,
        wistia_latency_ms: int = 0,
        lytics_latency_ms: float = 0,
        lytics_preset: Preset = "empty",
        schema_mode: str = "apply",
        settings: Mapping[str, str] | None = None,
        sys_dir: Path | None = None,
    ) -> None:
        """Describe the stack; nothing starts before ``start()`` (or ``with``)."""
        self.workdir = workdir
        self.schema_mode = schema_mode
        self.wistia = WistiaSandboxProcess(
            spec, workdir, rate_limit=wistia_rate_limit, latency_ms=wistia_latency_ms
        )
        self.lytics = LyticsSandboxProcess(
            workdir, latency_ms=lytics_latency_ms, preset=lytics_preset
        )
        self.meltano = Meltano(
            database=workdir / "meltano.db",
            logs=workdir / "runs",
            sys_dir=sys_dir,
            settings=settings,
        )

    def start(self) -> Self:
        """Start both sandboxes and point Meltano at them.

        Raises:
            StackError: a sandbox did not start (both are stopped again).
        """
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self.wistia.start()
            self.lytics.start()
        except BaseException:
            self.stop()
            raise
        self.meltano.settings = {
            "TAP_WISTIA_API_URL": self.wistia.url,
            "TAP_WISTIA_START_DATE": self.wistia.account.first_day.isoformat(),
            "TARGET_LYTICS_API_URL": self.lytics.url,
            "TARGET_LYTICS_SCHEMA_MODE": self.schema_mode,
            **self.meltano.settings,
        }
        return self

    def stop(self) -> None:
        """Stop both sandboxes (the Lytics data stays in ``lytics.db_path``)."""
        self.wistia.stop()
        self.lytics.stop()

    def __enter__(self) -> Self:
        """Start the stack."""
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the stack."""
        self.stop()

    def schema_step(self, *, dryrun: bool) -> MeltanoResult:
        """Run target-lytics' schema step alone with ``schema_mode: apply`` (no input).

        ``meltano invoke target-lytics`` with an empty input: the account check and the schema
        step run, then the target finds nothing to send. With ``dryrun`` it only logs its plan.

        Raises:
            StackError: the command failed (with the end of its output).
        """
        env = {"TARGET_LYTICS_SCHEMA_MODE": "apply", "TARGET_LYTICS_DRYRUN": str(dryrun).lower()}
        return self.meltano.command(
            f"--environment={ENVIRONMENT}", "invoke", "target-lytics", extra_env=env
        ).check()

    def expected_sessions(self, *, served: bool = False) -> list[ViewingSession]:
        """The viewing sessions of the account as it stands (``served``: read over its API)."""
        events = self.wistia.served_events() if served else self.wistia.events()
        return expected_sessions(events, self.wistia.medias())

    def delivery(self, *, served: bool = False) -> DeliveryReport:
        """How what Lytics holds compares with the sessions the account should give."""
        return check_delivery(self.expected_sessions(served=served), self.lytics.stored_events())


# --------------------------------------------------------------------------------------------
# What a correct pipeline delivers (pure)
# --------------------------------------------------------------------------------------------


ActivityKey = tuple[str, str, str]
"""A viewing session as Lytics can tell it apart: (visitor key, media id, ended_at)."""


def media_durations(medias: Iterable[Mapping[str, Any]]) -> dict[str, float | None]:
    """Seconds per media hashed id, as tap-wistia reads them (no positive number: None).

    Only video and audio play: a document's duration counts pages, an image has none.
    """
    durations: dict[str, float | None] = {}
    for media in medias:
        value = media.get("duration") if media.get("type") in ("Video", "Audio") else None
        number = value if isinstance(value, int | float) and not isinstance(value, bool) else None
        durations[str(media.get("hashed_id"))] = (
            float(number) if number is not None and number > 0 else None
        )
    return durations


def expected_sessions(
    events: Iterable[Mapping[str, Any]],
    medias: Iterable[Mapping[str, Any]],
    *,
    gap: dt.timedelta = SESSION_GAP,
) -> list[ViewingSession]:
    """The viewing sessions of raw Wistia events: the definition, computed in one piece."""
    problems = EventProblems()
    views = []
    for raw in events:
        record = normalize_event(raw, problems)
        view = view_event(record, problems) if record is not None else None
        if view is not None:
            views.append(view)
    return sessionize(views, media_durations(medias), gap)


def activity_plan() -> StreamPlan:
    """target-lytics' default plan for ``wistia_activity`` (mapping, timestamp field)."""
    return plan_stream(ACTIVITY_STREAM, mappings_from_setting(None))


def lytics_records(sessions: Iterable[ViewingSession]) -> list[dict[str, Any]]:
    """The Lytics records of sessions with the default mapping, as JSON gives them back."""
    plan = activity_plan()
    encoded = msgspec.json.encode([plan.to_lytics(session.to_record()) for session in sessions])
    return list(msgspec.json.decode(encoded))


def activity_key(record: Mapping[str, Any]) -> ActivityKey:
    """Which session a Lytics ``wistia_activity`` record describes.

    The default mapping sends no session id; a session is told apart by its visitor, its media
    and when it ended (sessions of one visitor on one media never overlap).
    """
    return (
        str(record.get("visitor_key", "")),
        str(record.get("media_id", "")),
        str(record.get("ended_at", "")),
    )


@dataclass
class DeliveryReport:
    """What Lytics holds of the expected sessions.

    ``earlier_versions`` are records of a session sent before it was complete (it was still open
    when a run ended, or a late update changed it): each lies within an expected session of the
    same visitor and media, and Lytics' latest value is the complete one. ``unexplained``
    records fit no expected session at all.
    """

    expected: int
    stored: int
    delivered: int = 0
    missing: list[ActivityKey] = field(default_factory=list)
    wrong: dict[ActivityKey, tuple[dict[str, Any], dict[str, Any]]] = field(default_factory=dict)
    unexplained: list[ActivityKey] = field(default_factory=list)
    earlier_versions: int = 0

    @property
    def ok(self) -> bool:
        """Every expected session is there with the expected values, and nothing else."""
        return not (self.missing or self.wrong or self.unexplained)

    def describe(self, limit: int = 5) -> str:
        """A readable account of the differences (empty when ``ok``)."""
        if self.ok:
            return ""
        summary = (
            f"{self.expected} sessions expected, {self.delivered} delivered correctly, "
            f"{len(self.missing)} missing, {len(self.wrong)} with other values, "
            f"{len(self.unexplained)} unexplained records ({self.stored} stored)"
        )
        lines = [summary]
        lines += [f"  missing: {key}" for key in self.missing[:limit]]
        for key, (want, got) in list(self.wrong.items())[:limit]:
            fields = sorted(
                name for name in set(want) | set(got) if want.get(name) != got.get(name)
            )
            diff = ", ".join(f"{n}: {want.get(n)!r} != {got.get(n)!r}" for n in fields)
            lines.append(f"  wrong: {key}: expected != stored: {diff}")
        lines += [f"  unexplained: {key}" for key in self.unexplained[:limit]]
        return "\n".join(lines)


def check_delivery(
    sessions: Sequence[ViewingSession],
    stored: Iterable[Mapping[str, Any]],
    *,
    complete: bool = True,
) -> DeliveryReport:
    """Compare the stored ``wistia_activity`` events (oldest first) with the sessions.

    Each expected session must be stored, its latest version equal to the expected record. With
    ``complete`` (the sessions are all there should be), every other stored record must be an
    earlier version of an expected session; without it, other records are not judged.
    """
    records = lytics_records(sessions)
    expected = {activity_key(record): record for record in records}
    if len(expected) != len(records):
        msg = "two expected sessions share a (visitor, media, ended_at) key: cannot tell them apart"
        raise ValueError(msg)
    spans: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
    for session in sessions:
        record = session.to_record()
        spans[session.visitor_key, session.media_id].append(
            (record["started_at"], record["ended_at"])
        )
    latest: dict[ActivityKey, dict[str, Any]] = {}
    count = 0
    for event in stored:
        count += 1
        latest[activity_key(event["record"])] = event["record"]
    report = DeliveryReport(expected=len(expected), stored=count)
    for key, want in expected.items():
        got = latest.get(key)
        if got is None:
            report.missing.append(key)
        elif got != want:
            report.wrong[key] = (want, got)
        else:
            report.delivered += 1
    for key in latest.keys() - expected.keys() if complete else ():
        visitor, media, ended = key
        if any(start <= ended < end for start, end in spans.get((visitor, media), ())):
            report.earlier_versions += 1
        else:
            report.unexplained.append(key)
    report.unexplained.sort()
    report.missing.sort()
    return report


def claimed_sessions(
    state: Mapping[str, Any] | None,
    sessions: Iterable[ViewingSession],
    *,
    gap: dt.timedelta = SESSION_GAP,
) -> list[ViewingSession]:
    """The sessions a stored Singer state says were delivered.

    The activity carry promises that every session that ended before ``watermark - gap`` was
    emitted, and Meltano stores a STATE only after the target confirmed what came before it, so
    all of these must be in Lytics whenever this state is stored.
    """
    bookmarks = (state or {}).get("bookmarks") or {}
    carry = Carry.from_state((bookmarks.get(ACTIVITY_STREAM) or {}).get("carry"))
    if carry is None:
        return []
    limit = carry.watermark - gap
    return [session for session in sessions if session.ended_at < limit]


def published_version(required: RequiredSchema, marker: int = 0) -> Version:
    """The Lytics sandbox's published schema holding exactly ``required`` (what apply creates)."""
    fields = {
        spec.name: FieldDef(
            name=spec.name,
            type=spec.definition.type,
            merge_op=spec.definition.merge_op or "",
            identifier=spec.definition.identifier,
            pii=spec.definition.pii,
            shortdesc=spec.definition.description,
        )
        for spec in required.fields
    }
    mappings = {
        f"{n:032x}": MappingDef(f"{n:032x}", spec.field, spec.stream, spec.expr)
        for n, spec in enumerate(required.mappings, start=1)
    }
    return Version(1, "expected", "the schema the mapping needs", "", marker, fields, mappings)


def expected_profiles(sessions: Iterable[ViewingSession]) -> list[dict[str, Any]]:
    """The Lytics profiles the sessions' records make, on an account set up for the mapping.

    The account holds the schema the default mapping needs; Lytics' own mapping evaluation and
    merge, in session order.
    """
    mapper = ProfileMapper(published_version(required_schema(mappings_from_setting(None))))
    events = []
    for seq, record in enumerate(lytics_records(sessions)):
        moment = parse_event_time(record.get("ended_at"))
        values = mapper.user_values(ACTIVITY_STREAM, record)
        events.append((moment if moment is not None else 0, seq, values))
    return merge_fragments(events, mapper.profile_schema)


def _identity(profile: Mapping[str, Any]) -> tuple[tuple[str, str], ...]:
    return tuple(sorted((name, value) for name, vs in profile["_ids"].items() for value in vs))


def profile_differences(
    expected: Iterable[Mapping[str, Any]],
    actual: Iterable[Mapping[str, Any]],
    *,
    ignore: Sequence[str] = ("_created",),
) -> list[str]:
    """How two sets of profiles differ, matched by their identities; empty when equal.

    ``_created`` is ignored by default: a session still open when a run ended is also stored
    as its earlier version, which may be the oldest event of a profile. Every other field,
    including the merged ones, must match.
    """
    wanted = {_identity(profile): profile for profile in expected}
    found = {_identity(profile): profile for profile in actual}
    problems = [f"missing profile {ids}" for ids in sorted(wanted.keys() - found.keys())]
    problems += [f"unexpected profile {ids}" for ids in sorted(found.keys() - wanted.keys())]
    for ids in sorted(wanted.keys() & found.keys()):
        want, got = wanted[ids], found[ids]
        for name in sorted((set(want) | set(got)) - set(ignore)):
            if want.get(name) != got.get(name):
                problems.append(f"profile {ids}: {name}: {want.get(name)!r} != {got.get(name)!r}")
    return problems


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds passed; returns its last answer."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
