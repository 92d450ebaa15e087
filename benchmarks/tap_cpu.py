"""Figure 2: how close does the tap come to the least work any Wistia reader must do?

Against one Wistia sandbox process (no latency, no rate limit), in the same run: the reference
reader (`benchmarks.reference reader`), then `tap-wistia` with both viewing streams, then the
reader again; the faster reader counts, so the ratio errs against the tap. Both print to
/dev/null; their CPU seconds come from `wait4`.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from benchmarks.processes import BIN, PYTHON, WISTIA_TOKEN, Cost, run_measured, wistia_sandbox
from benchmarks.report import Figure, Row, goal_row
from benchmarks.workloads import (
    ACCOUNT_END,
    ACCOUNT_END_TEXT,
    NO_LIMIT,
    catalog,
    tap_config,
    write_json,
)

if TYPE_CHECKING:
    from benchmarks.processes import Sandbox
    from benchmarks.workloads import Bench

BOTH = {"wistia_events", "wistia_activity"}


def run_reader(bench: Bench, sandbox: Sandbox, name: str) -> Cost:
    days = bench.sizes.days
    first = (ACCOUNT_END - dt.timedelta(days=days + 1)).date().isoformat()
    last = ACCOUNT_END.date().isoformat()
    argv = [PYTHON, "-m", "benchmarks.reference", "reader", sandbox.url, WISTIA_TOKEN, first, last]
    return run_measured(argv, log=bench.workdir / f"{name}.log")


def run_tap(
    bench: Bench,
    sandbox: Sandbox,
    name: str,
    streams: set[str] = BOTH,
    days: int | None = None,
) -> Cost:
    """Backfill every day of the sandbox's account (`days`, the bench's by default)."""
    work = bench.workdir
    config = tap_config(sandbox.url, days or bench.sizes.days, max_requests_per_minute=NO_LIMIT)
    argv = [
        str(BIN / "tap-wistia"),
        "--config", str(write_json(work / f"{name}-config.json", config)),
        "--catalog", str(write_json(work / f"{name}-catalog.json", catalog(work, streams))),
    ]  # fmt: skip
    return run_measured(argv, log=work / f"{name}.log")


def measure(bench: Bench) -> Figure:
    events = bench.sizes.tap_events
    with wistia_sandbox(
        bench.workdir, events=events, days=bench.sizes.days, end=ACCOUNT_END_TEXT
    ) as sandbox:
        readers = [run_reader(bench, sandbox, "reader-1")]
        before = sandbox.cpu_seconds()
        tap = run_tap(bench, sandbox, "tap-cpu")
        sandbox_cpu = sandbox.cpu_seconds() - before
        readers.append(run_reader(bench, sandbox, "reader-2"))
    reader = min(readers, key=lambda cost: cost.wall)
    tap_rate, reader_rate = events / tap.wall, events / reader.wall
    per_k = 1000 / events
    rows = [
        goal_row("tap events/s ÷ reference events/s", tap_rate / reader_rate, 0.5, ".2f"),
        Row("tap events/s (wall)", f"{tap_rate:,.0f}"),
        Row("reference reader events/s (wall)", f"{reader_rate:,.0f}"),
        Row("tap CPU seconds per 1,000 events", f"{tap.cpu * per_k:.3f}"),
        Row("reference CPU seconds per 1,000 events", f"{reader.cpu * per_k:.3f}"),
        Row("reference CPU ÷ tap CPU", f"{reader.cpu / tap.cpu:.2f}"),
        Row("tap peak RSS", f"{tap.max_rss_mb:.0f} MB"),
        Row("sandbox CPU seconds during the tap run", f"{sandbox_cpu:.1f}"),
    ]
    return Figure(
        key="tap_cpu",
        title="2. Tap CPU efficiency (both viewing streams vs a minimal reader)",
        rows=rows,
        how=(
            "One Wistia sandbox process (no latency, no rate limit). `tap-wistia` selects "
            "wistia_events and wistia_activity (stdout to /dev/null, request budget 100,000/min); "
            "the reference reader is `benchmarks/reference.py reader` (plain requests + json, "
            "serial, same day-by-day pages of 100, one JSON line per event). Reader, tap, reader "
            "again; the faster reader counts. events/s = events in the account ÷ process wall "
            "time (start-up included); CPU seconds from `os.wait4`."
        ),
        sizes=f"{events:,} events over {bench.sizes.days} days",
        raw={"tap": tap.summary(), "readers": [r.summary() for r in readers]},
    )
