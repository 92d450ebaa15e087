"""Processes for the benchmarks: the two sandboxes, measured plugin runs, the machine.

A plugin's cost is read from the kernel, not from inside the plugin: `os.wait4` gives the CPU
seconds and peak RSS of exactly the process that ran (and of any children it waited for), which
is what a user pays. Sandboxes run as their own processes and never count; psutil reads their
CPU time. The CPU model is read from /proc/cpuinfo by hand: psutil does not report it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
BIN = Path(PYTHON).parent
# The sandboxes' published demo tokens, not secrets.
WISTIA_TOKEN = "sandbox-wistia-token"  # noqa: S105
LYTICS_TOKEN = "sandbox-lytics-token"  # noqa: S105


@dataclass
class Cost:
    """What one successful process run cost: wall time, CPU seconds, peak RSS."""

    wall: float
    user: float
    system: float
    max_rss_mb: float
    stderr_tail: str = ""

    @property
    def cpu(self) -> float:
        return self.user + self.system

    def summary(self) -> dict[str, float]:
        return {"wall": self.wall, "cpu": self.cpu, "max_rss_mb": self.max_rss_mb}


@dataclass
class Sandbox:
    """A sandbox process and its URL."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def get(self, path: str) -> Any:
        """GET an admin path of the sandbox (`/_sandbox/stats`): JSON, no auth."""
        base = self.url.removesuffix("/v1")
        with urllib.request.urlopen(base + path, timeout=30) as answer:  # noqa: S310 - loopback
            return json.load(answer)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        base = self.url.removesuffix("/v1")
        request = urllib.request.Request(  # noqa: S310 - loopback
            base + path,
            data=json.dumps(body or {}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310
            return json.load(answer)

    def cpu_seconds(self) -> float:
        return process_cpu(self.process.pid) or 0.0


def _start(module: str, args: Sequence[str], workdir: Path, name: str) -> Sandbox:
    ready = workdir / f"{name}.ready.json"
    ready.unlink(missing_ok=True)
    log = workdir / f"{name}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [PYTHON, "-m", module, "--port", "0", "--ready-file", str(ready), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
    deadline = time.monotonic() + 120
    while not ready.exists():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            msg = f"{name} sandbox did not start: {log.read_text()[-2000:]}"
            raise RuntimeError(msg)
        time.sleep(0.05)
    return Sandbox(json.loads(ready.read_text())["url"], process, log)


def _stop(sandbox: Sandbox) -> None:
    if sandbox.process.poll() is None:
        sandbox.process.send_signal(signal.SIGTERM)
        try:
            sandbox.process.wait(30)
        except subprocess.TimeoutExpired:
            sandbox.process.kill()
            sandbox.process.wait()


@contextlib.contextmanager
def wistia_sandbox(
    workdir: Path,
    *,
    events: int,
    days: int,
    end: str,
    latency_ms: int = 0,
    rate_limit: int = 0,
    visitors: int | None = None,
) -> Iterator[Sandbox]:
    """A Wistia sandbox process with a generated account of `events` events over `days`."""
    args = [
        "--events", str(events), "--days", str(days), "--end", end, "--quiet",
        "--latency-ms", str(latency_ms), "--rate-limit", str(rate_limit),
        "--visitors", str(visitors or max(300, events // 20)), "--medias", "40",
    ]  # fmt: skip
    sandbox = _start("tap_wistia.sandbox", args, workdir, "wistia")
    try:
        yield sandbox
    finally:
        _stop(sandbox)


@contextlib.contextmanager
def lytics_sandbox(workdir: Path, *, latency_ms: int = 0) -> Iterator[Sandbox]:
    """A Lytics sandbox process storing into a temporary SQLite file."""
    db = workdir / "lytics.sqlite3"
    for leftover in workdir.glob("lytics.sqlite3*"):
        leftover.unlink()
    args = ["--db", str(db), "--latency-ms", str(latency_ms), "--quiet"]
    sandbox = _start("target_lytics.sandbox", args, workdir, "lytics")
    try:
        yield sandbox
    finally:
        _stop(sandbox)
        for leftover in workdir.glob("lytics.sqlite3*"):
            leftover.unlink()


def run_measured(
    argv: Sequence[str],
    *,
    stdin: Path | None = None,
    stdout: Path | None = None,
    env: dict[str, str] | None = None,
    log: Path | None = None,
) -> Cost:
    """Run a command to its end; its own CPU time and peak RSS come from `wait4`.

    The command is started by `benchmarks.measure`, a small process, because a child forked
    from this one would count this process's memory in its peak RSS. A figure is never taken
    from a failed run: a non-zero exit raises, naming the log (`<name>.log` gives `<name>`) and
    quoting its end.
    """
    log = log or Path(tempfile.mktemp(suffix=".log"))  # noqa: S306 - ours, in /tmp
    result = log.with_suffix(".cost.json")
    result.unlink(missing_ok=True)
    with contextlib.ExitStack() as files:
        source = files.enter_context(stdin.open("rb")) if stdin else subprocess.DEVNULL
        sink = files.enter_context(stdout.open("wb")) if stdout else subprocess.DEVNULL
        errors = files.enter_context(log.open("wb"))
        launcher = [PYTHON, "-m", "benchmarks.measure", str(result), "--", *argv]
        subprocess.run(
            launcher, stdin=source, stdout=sink, stderr=errors, env=env, cwd=ROOT, check=False
        )
    tail = log.read_text(errors="replace")[-3000:]
    if not result.exists():
        msg = f"{argv[0]} could not be measured: {tail}"
        raise RuntimeError(msg)
    measured = json.loads(result.read_text())
    if measured["returncode"]:
        msg = f"{log.stem} failed ({measured['returncode']}): {tail}"
        raise RuntimeError(msg)
    return Cost(
        wall=measured["wall"],
        user=measured["user"],
        system=measured["system"],
        max_rss_mb=measured["max_rss_mb"],
        stderr_tail=tail,
    )


def process_cpu(pid: int) -> float | None:
    """CPU seconds (user + system) a live process has used so far; None once it is gone."""
    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.NoSuchProcess:
        return None
    return times.user + times.system


def machine() -> dict[str, str]:
    """CPU model, cores, memory, Python: the facts a reader needs to compare figures."""
    model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    memory = f"{psutil.virtual_memory().total / 1024**3:.1f} GiB"
    return {
        "cpu": model,
        "cores": str(os.cpu_count()),
        "memory": memory,
        "python": sys.version.split()[0],
        "yardstick": f"{yardstick_ms():.1f} ms",
    }


def yardstick_ms() -> float:
    """CPU milliseconds of `sum(range(10**6))`, best of 5: one machine's speed against another's.

    Figures measured on different machines differ before any code change: commit 64cdbfc
    sessionized 324k events/s on the Intel Xeon of the runs until 2026-11-27 and 123k-162k on
    the AMD EPYC of 2026-12-02, where this takes about 18 ms.
    """
    best = math.inf
    for _ in range(5):
        started = time.process_time()
        sum(range(10**6))
        best = min(best, time.process_time() - started)
    return best * 1000
