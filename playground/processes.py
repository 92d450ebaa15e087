"""A run's processes as the kernel sees them: the tree, each one's role, memory and CPU.

The tree under a pid is sampled while a run goes on.

psutil reads the tree (``children(recursive=True)``), each process's status, command line,
resident set and CPU times, and lists the machine's processes for a process-group question.
One figure psutil does not offer is read by hand: the kernel's high-water mark of a process's
resident set (``VmHWM`` in ``/proc/<pid>/status``, Linux), which keeps a peak that falls between
two samples. The process group comes from ``os.getpgid``.

A zombie (a process that has exited and only waits to be reaped) counts as gone everywhere
here: it holds no memory and runs nothing.
"""

from __future__ import annotations

import os
import re
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import psutil

__all__ = ["ProcessInfo", "ProcessWatch", "group_alive", "process_tree"]

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, ProcessLookupError, PermissionError)
"""A process that exited (``ZombieProcess`` is a ``NoSuchProcess``) or is not ours to read."""
_ENDED = frozenset({psutil.STATUS_ZOMBIE, psutil.STATUS_DEAD})
_HIGH_WATER_MARK = re.compile(r"^VmHWM:\s+(\d+) kB", re.MULTILINE)


@dataclass(frozen=True, slots=True)
class ProcessInfo:
    """One live process: who it is, its parent and group, its memory and CPU so far."""

    pid: int
    ppid: int
    pgid: int
    name: str
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


def _read(process: psutil.Process) -> ProcessInfo | None:
    """One consistent reading of a process, None when it is gone (or a zombie).

    psutil's ``oneshot`` reads each /proc file of the process once for all the figures.
    """
    try:
        with process.oneshot():
            if process.status() in _ENDED:
                return None
            times = process.cpu_times()
            return ProcessInfo(
                pid=process.pid,
                ppid=process.ppid(),
                pgid=os.getpgid(process.pid),
                name=process.name(),
                rss_bytes=process.memory_info().rss,
                cpu_seconds=times.user + times.system,
                argv=tuple(process.cmdline()),
            )
    except _GONE:
        return None


def process_tree(root: int) -> list[ProcessInfo]:
    """``root`` and every live descendant, parents before children (empty when it is gone)."""
    try:
        top = psutil.Process(root)
        family = [top, *top.children(recursive=True)]
    except _GONE:
        return []
    return [info for process in family if (info := _read(process)) is not None]


def group_alive(pgid: int) -> bool:
    """Whether a live process of the process group ``pgid`` still runs.

    Asks every process of the machine: a process orphaned by a kill is no longer a descendant
    of the run, but it stays in the run's group.
    """
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] not in _ENDED and os.getpgid(process.pid) == pgid:
                return True
        except _GONE:
            continue
    return False


def _high_water_mark(pid: int) -> int:
    """A process's peak resident set in bytes, as the kernel keeps it; 0 when it is gone.

    Read by hand from ``/proc/<pid>/status`` (``VmHWM``): psutil reads the current resident
    set only.
    """
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    match = _HIGH_WATER_MARK.search(status)
    return int(match.group(1)) * 1024 if match else 0


class ProcessWatch:
    """Samples a process tree every ``interval`` seconds: peak memory and CPU per role.

    Peak RSS per role is the largest resident set one process of that role reached (the
    kernel's high-water mark, so short peaks between samples count); the tree's peak is the
    largest sum of resident sets seen at one sample. CPU seconds are the last sampled values,
    so they miss at most one interval of each process's life.
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
