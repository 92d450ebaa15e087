"""Figure 1: does a backfill use Wistia's whole request budget, and never exceed it?

The Wistia sandbox answers every request after 300 ms and enforces 600 requests/minute with
429s. The tap reads `wistia_events` only, output to /dev/null. The sandbox's own counters
(`/_sandbox/stats`, sampled every second) give requests over time and when each 429 happened.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Any

from benchmarks.processes import BIN, run_measured, wistia_sandbox
from benchmarks.report import Figure, Row, goal_row
from benchmarks.workloads import ACCOUNT_END_TEXT, catalog, tap_config, write_json

if TYPE_CHECKING:
    from benchmarks.processes import Sandbox
    from benchmarks.workloads import Bench

LIMIT = 600
LATENCY_MS = 300
WARM_UP = 60.0


def _sample(sandbox: Sandbox, samples: list[tuple[float, int]], stop: threading.Event) -> None:
    while not stop.wait(1.0):
        stats = sandbox.get("/_sandbox/stats")
        samples.append((time.time(), stats["requests"]))


def _requests_at(samples: list[tuple[float, int]], moment: float) -> float:
    """Requests counted by `moment`, interpolated between the two nearest samples."""
    before = [s for s in samples if s[0] <= moment]
    after = [s for s in samples if s[0] > moment]
    if not before:
        return 0.0
    if not after:
        return float(before[-1][1])
    (t0, r0), (t1, r1) = before[-1], after[0]
    return r0 + (r1 - r0) * (moment - t0) / (t1 - t0)


def measure(bench: Bench) -> Figure:
    events, days = bench.sizes.saturation_events, bench.sizes.days
    work = bench.workdir
    with wistia_sandbox(
        work,
        events=events,
        days=days,
        end=ACCOUNT_END_TEXT,
        latency_ms=LATENCY_MS,
        rate_limit=LIMIT,
    ) as sandbox:
        config = write_json(work / "saturation-tap.json", tap_config(sandbox.url, days))
        chosen = write_json(work / "events-only.json", catalog(work, {"wistia_events"}))
        samples: list[tuple[float, int]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(sandbox, samples, stop), daemon=True)
        sampler.start()
        try:
            cost = run_measured(
                [str(BIN / "tap-wistia"), "--config", str(config), "--catalog", str(chosen)],
                log=work / "saturation-tap.log",
            )
        finally:
            stop.set()
            sampler.join()
        stats = sandbox.get("/_sandbox/stats")
    return _figure(bench, stats, samples, cost.cpu)


def _figure(
    bench: Bench, stats: dict[str, Any], samples: list[tuple[float, int]], tap_cpu: float
) -> Figure:
    first, last = stats["first_request_at"], stats["last_request_at"]
    span = last - first
    overall = stats["requests"] / span * 60
    late_429 = sum(1 for moment in stats["rate_limited_at"] if moment > first + WARM_UP)
    events_per_s = stats["events_served"] / span
    rows = [goal_row("requests/min ÷ 600, overall", overall / LIMIT, 0.95, ".3f")]
    if span > WARM_UP + 30:
        after = stats["requests"] - _requests_at(samples, first + WARM_UP)
        steady = after / (span - WARM_UP) * 60
        rows += [
            goal_row("requests/min ÷ 600, after the first minute", steady / LIMIT, 0.95, ".3f"),
            Row("requests/min after the first minute", f"{steady:.0f}"),
        ]
    else:
        rows.append(Row("requests/min ÷ 600, after the first minute", "run too short", "≥ 0.95"))
    rows += [
        Row("requests/min overall", f"{overall:.0f}"),
        goal_row("429s after the first minute", late_429, 0, "d", at_least=False),
        Row("429s in all", str(stats["rate_limited"])),
        goal_row("events/s", events_per_s, 900, ",.0f"),
        Row("run length (first to last request)", f"{span:.0f} s"),
        Row("requests in flight at most", str(stats["max_in_flight"])),
        Row("tap CPU seconds per 1,000 events", f"{tap_cpu / stats['events_served'] * 1000:.3f}"),
    ]
    return Figure(
        key="saturation",
        title="1. Rate-limit saturation (tap backfill, 300 ms latency, 600 requests/min)",
        rows=rows,
        how=(
            "`tap-wistia` (wistia_events only, default settings: budget 600/min, 8 parallel "
            "requests, stdout to /dev/null) backfills a Wistia sandbox process started with "
            f"`--latency-ms {LATENCY_MS} --rate-limit {LIMIT}`. Requests, events served and the "
            "time of every 429 come from the sandbox's `/_sandbox/stats`, sampled every second; "
            "'after the first minute' counts from the first request + 60 s to the last request."
        ),
        sizes=f"{bench.sizes.saturation_events:,} events over {bench.sizes.days} days",
        raw={"stats": stats, "samples": samples[-5:]},
    )
