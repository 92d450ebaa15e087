"""Figure 5: the pure sessionizing core, without HTTP or Singer.

`benchmarks.bench_sessions` runs as its own process twice: once holding every event and
sessionizing them in one call, once feeding an `ActivityBuilder` a day at a time and settling at
each midnight (as the tap does), whose peak RSS is then the builder's plus one day of events.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from benchmarks.processes import PYTHON, run_measured
from benchmarks.report import Figure, Row, goal_row

SESSIONIZE_EVENTS = 200_000  # held in memory at once; 1,000,000 only adds generation time

if TYPE_CHECKING:
    from benchmarks.processes import Cost
    from benchmarks.workloads import Bench


def _run(bench: Bench, mode: str, events: int) -> tuple[dict[str, Any], Cost]:
    out = bench.workdir / f"core-{mode}.json"
    argv = [
        PYTHON,
        "-m",
        "benchmarks.bench_sessions",
        "--json",
        mode,
        "--days",
        str(bench.sizes.days),
        str(events),
    ]
    cost = run_measured(argv, stdout=out, log=bench.workdir / f"core-{mode}.log")
    return json.loads(out.read_text()), cost


def measure(bench: Bench) -> Figure:
    events = bench.sizes.core_events
    held = min(events, SESSIONIZE_EVENTS)
    whole, _ = _run(bench, "sessionize", held)
    daily, daily_cost = _run(bench, "daily", events)
    rows = [
        goal_row(
            "sessionize events/s, Wistia's order (newest first, as the tap feeds it)",
            whole["sessionize_newest_first_eps"],
            200_000,
            ",.0f",
        ),
        Row("sessionize events/s, shuffled input", f"{whole['sessionize_shuffled_eps']:,.0f}"),
        Row("normalize_event + view_event per event", f"{whole['normalize_us_per_event']:.2f} µs"),
        Row("ActivityBuilder events/s, walked, settled daily", f"{daily['builder_eps']:,.0f}"),
        Row("ActivityBuilder process peak RSS", f"{daily_cost.max_rss_mb:.0f} MB"),
        Row("events held by the builder at most", f"{daily['held_events_peak']:,}"),
        Row(
            f"sessions of the {held:,} events / of the {events:,}",
            (f"{whole['sessions']:,} / {daily['sessions_emitted']:,}"),
        ),
    ]
    return Figure(
        key="core",
        title="5. Sessionizing core (pure functions, one core)",
        rows=rows,
        how=(
            "`python -m benchmarks.bench_sessions` as a separate process: Wistia-like events ("
            f"over {bench.sizes.days} days, bursts of 1-6 events per visitor and media) are "
            "generated as API pages and compacted as the tap does; `sessionize` is timed in CPU "
            f"seconds (best of 2) on {held:,} events held at once, in Wistia's order and "
            f"shuffled. The ActivityBuilder process streams {events:,} events a day at a time, "
            "each day walked newest first with a sweep every 100 events as the tap does, and "
            "times only `add`/`sweep`/`settle`/`finish`; its peak RSS (`wait4`) includes the "
            "interpreter and one day of generated pages."
        ),
        sizes=f"{held:,} events held, {events:,} streamed over {bench.sizes.days} days",
        raw={"sessionize": whole, "daily": daily, "daily_rss_mb": daily_cost.max_rss_mb},
    )
