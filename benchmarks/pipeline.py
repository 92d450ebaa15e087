"""Figure 6: the whole pipeline through Meltano, and the demo's pipeline run.

`playground.stack` starts both sandboxes as processes (Wistia without rate limit or latency)
and runs `meltano --environment=sandbox run tap-wistia target-lytics` with its own system
database; its process watch (`playground.processes`, psutil) samples the run's process tree for
the CPU seconds and peak RSS of Meltano, the tap and the target separately. Meltano's plugin
virtualenvs live in `benchmarks/out/meltano`, made once by `meltano install` (not timed).
"""

from __future__ import annotations

import datetime as dt
import shutil
from typing import TYPE_CHECKING, Any

from benchmarks.report import Figure, Row
from benchmarks.workloads import NO_LIMIT
from playground.stack import Stack
from tap_wistia.sandbox import AccountSpec

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.workloads import Bench
    from playground.meltano import PipelineRun

MB = 1024 * 1024
DEMO_EVENTS, DEMO_DAYS = 6000, 5  # the size `make demo` shows: thousands of events, days


def _spec(events: int, days: int, seed: int = 11) -> AccountSpec:
    end = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    return AccountSpec(
        seed=seed, events=events, days=days, visitors=max(300, events // 20), medias=40, end=end
    )


def _stack(
    bench: Bench, name: str, spec: AccountSpec, settings: dict[str, str] | None = None
) -> Stack:
    sys_dir: Path = bench.workdir.parent / "meltano"
    shutil.rmtree(bench.workdir / name, ignore_errors=True)  # no state left by an earlier run
    return Stack(bench.workdir / name, spec, sys_dir=sys_dir, settings=settings)


def _cpu(run: PipelineRun, role: str) -> float:
    return run.cpu_seconds.get(role, 0.0)


def _large(bench: Bench) -> tuple[PipelineRun, dict[str, Any], dict[str, Any]]:
    events = bench.sizes.pipeline_events
    unlimited = {"TAP_WISTIA_MAX_REQUESTS_PER_MINUTE": str(NO_LIMIT)}
    with _stack(bench, "pipeline", _spec(events, bench.sizes.days), unlimited) as stack:
        stack.meltano.install("tap-wistia", "target-lytics")
        run = stack.meltano.run(timeout=1800).check()
        return run, stack.wistia.stats(), stack.lytics.stats()


def _demo(bench: Bench) -> tuple[PipelineRun, PipelineRun]:
    spec = AccountSpec(seed=7, events=DEMO_EVENTS, days=DEMO_DAYS)
    with _stack(bench, "demo", spec) as stack:
        stack.meltano.install("tap-wistia", "target-lytics")
        backfill = stack.meltano.run().check()
        stack.wistia.generate(200)
        incremental = stack.meltano.run().check()
        return backfill, incremental


def measure(bench: Bench) -> Figure:
    run, wistia, lytics = _large(bench)
    backfill, incremental = _demo(bench)
    events = wistia["events_served"]
    records = lytics["records_stored"]
    tap, target, meltano = _cpu(run, "tap"), _cpu(run, "target"), _cpu(run, "meltano")
    total = tap + target + meltano
    summary = run.tap_summary()
    rows = [
        Row("events/s end to end", f"{events / run.seconds:,.0f}"),
        Row("wall time", f"{run.seconds:.0f} s"),
        Row("tap CPU seconds per 1,000 events", f"{tap / events * 1000:.3f}"),
        Row("target CPU seconds per 1,000 events", f"{target / events * 1000:.3f}"),
        Row("target CPU seconds per 1,000 records", f"{target / records * 1000:.3f}"),
        Row("Meltano's share of the pipeline's CPU", f"{meltano / total:.1%}"),
        Row("Meltano CPU seconds", f"{meltano:.1f}"),
        Row("events read / sessions delivered", f"{events:,} / {records:,}"),
        Row(
            "peak RSS: tap / target / Meltano",
            " / ".join(
                f"{run.peak_rss_bytes.get(role, 0) / MB:.0f} MB"
                for role in ("tap", "target", "meltano")
            ),
        ),
        Row(
            "demo backfill: wall time, peak RSS of all its processes",
            f"{backfill.seconds:.1f} s, {backfill.peak_tree_rss_bytes / MB:.0f} MB",
        ),
        Row(
            "demo incremental run: wall time, peak RSS",
            f"{incremental.seconds:.1f} s, {incremental.peak_tree_rss_bytes / MB:.0f} MB",
        ),
    ]
    return Figure(
        key="pipeline",
        title="6. End to end: `meltano run tap-wistia target-lytics`",
        rows=rows,
        how=(
            "`playground.stack.Stack`: a Wistia sandbox process (no rate limit, no latency) and a "
            "Lytics sandbox process (SQLite file), then `meltano --environment=sandbox run "
            "tap-wistia target-lytics` with the project's meltano.yml (wistia_activity selected, "
            "default settings but the tap's request budget raised to 100,000/min, keep_updated "
            "on, start_date = the account's first day; at the default 600/min the run takes "
            "Wistia's 1,000 events/s and no more). CPU "
            "seconds and peak RSS per process come from the stack's process watch (psutil every "
            "100 ms, peak RSS from the kernel's high-water mark `VmHWM`; a process's last 100 ms "
            "of CPU are not seen). events = what the sandbox served. The demo "
            f"run is the same stack on a {DEMO_EVENTS:,}-event account over "
            f"{DEMO_DAYS} days: a backfill, then 200 new events and an incremental run; "
            "peak RSS there is the largest sum over Meltano, tap and target at one sample."
        ),
        sizes=f"{bench.sizes.pipeline_events:,} events over {bench.sizes.days} days",
        raw={
            "cpu": run.cpu_seconds,
            "peak_rss_mb": {k: v / MB for k, v in run.peak_rss_bytes.items()},
            "tap_summary": summary,
            "target_summary": run.target_summary(),
            "wistia": {k: wistia[k] for k in ("requests", "events_served", "max_in_flight")},
            "lytics": lytics,
        },
    )
