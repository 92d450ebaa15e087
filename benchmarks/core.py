"""Figure 5: the pure sessionizing core, without HTTP or Singer.

`benchmarks.bench_sessions` runs as its own process: once holding every event and sessionizing
them in one call, once feeding an `ActivityBuilder` a day at a time and settling at each
midnight (as the tap does), whose peak RSS is then the builder's plus one day of events; and
twice on one very busy day read page by page, walked newest first and held whole, which is
what walking and packing are worth.
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


def _one_day(bench: Bench, events: int) -> dict[str, Any]:
    """One day of `events` read page by page: walked, then held whole (peak RSS of each)."""
    pages = bench.workdir / f"core-day-{events}.jsonl"
    made = bench.workdir / "core-day-pages.json"
    base = [PYTHON, "-m", "benchmarks.bench_sessions", "--pages", str(pages), "--json"]
    run_measured([*base, "day-pages", str(events)], stdout=made, log=made.with_suffix(".log"))
    found: dict[str, Any] = {}
    for mode in ("day-walked", "day-whole"):
        out = bench.workdir / f"core-{mode}.json"
        cost = run_measured([*base, mode], stdout=out, log=out.with_suffix(".log"))
        found[mode] = {**json.loads(out.read_text()), "rss_mb": cost.max_rss_mb}
    pages.unlink()
    return found


def measure(bench: Bench) -> Figure:
    events = bench.sizes.core_events
    held = min(events, SESSIONIZE_EVENTS)
    whole, _ = _run(bench, "sessionize", held)
    daily, daily_cost = _run(bench, "daily", events)
    day = _one_day(bench, events)
    walked, whole_day = day["day-walked"], day["day-whole"]
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
        Row(
            f"one day of {walked['events']:,} events: peak RSS walked / held whole",
            f"{walked['rss_mb']:.0f} MB / {whole_day['rss_mb']:.0f} MB",
        ),
        Row(
            "one busy day: builder CPU seconds walked / held whole",
            f"{walked['cpu_seconds']:.1f} / {whole_day['cpu_seconds']:.1f}",
        ),
        Row(
            "one busy day: events held at most walked / held whole",
            f"{walked['held_events_peak']:,} / {whole_day['held_events_peak']:,}",
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
            "interpreter and one day of generated pages. The busy day: all the events in one "
            "day, written as pages to a file first, then read a page at a time by a process "
            "that walks it (a sweep per page, as the tap) or holds it whole (as the tap does "
            "once Wistia broke its order); peak RSS of each process."
        ),
        sizes=f"{held:,} events held, {events:,} streamed over {bench.sizes.days} days",
        raw={
            "sessionize": whole,
            "daily": daily,
            "daily_rss_mb": daily_cost.max_rss_mb,
            "one_day": day,
        },
    )
