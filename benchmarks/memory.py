"""Figure 4: does memory stay flat when the volume grows tenfold?

Each plugin runs as its own process at two sizes and its peak RSS (`ru_maxrss` from `wait4`)
is compared: the tap backfilling 30 days of events (both viewing streams) from a Wistia
sandbox, the target loading activity records from a prepared file into a Lytics sandbox.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.processes import lytics_sandbox, wistia_sandbox
from benchmarks.report import Figure, Row, goal_row
from benchmarks.tap_cpu import run_tap
from benchmarks.target_cpu import run_target
from benchmarks.workloads import ACCOUNT_END_TEXT

if TYPE_CHECKING:
    from benchmarks.processes import Cost
    from benchmarks.workloads import Bench


def _tap(bench: Bench, events: int, days: int) -> Cost:
    with wistia_sandbox(bench.workdir, events=events, days=days, end=ACCOUNT_END_TEXT) as sandbox:
        return run_tap(bench, sandbox, f"memory-tap-{events}-{days}d", days=days)


def _target(bench: Bench, records: int) -> Cost:
    source = bench.activity_file(records)
    with lytics_sandbox(bench.workdir) as sandbox:
        return run_target(bench, sandbox, source, f"memory-target-{records}")


def measure(bench: Bench) -> Figure:
    small, large = bench.sizes.memory_small, bench.sizes.memory_large
    days = bench.sizes.days
    longer_days = days * large // small
    taps = [_tap(bench, small, days), _tap(bench, large, days)]
    # Ten times the history at the same daily volume: what the tap holds follows the busiest day.
    longer = _tap(bench, large, longer_days)
    targets = [_target(bench, small), _target(bench, large)]
    tap_ratio = taps[1].max_rss_mb / taps[0].max_rss_mb
    longer_ratio = longer.max_rss_mb / taps[0].max_rss_mb
    target_ratio = targets[1].max_rss_mb / targets[0].max_rss_mb
    rows = [
        goal_row(f"tap peak RSS {large:,} ÷ {small:,} events", tap_ratio, 1.2, ".2f", at_least=False),  # noqa: E501
        Row(f"tap peak RSS at {small:,} events", f"{taps[0].max_rss_mb:.0f} MB"),
        Row(f"tap peak RSS at {large:,} events", f"{taps[1].max_rss_mb:.0f} MB"),
        goal_row(
            f"tap peak RSS {large:,} events over {longer_days} days ÷ {small:,} over {days} "
            "(same events per day)",
            longer_ratio, 1.2, ".2f", at_least=False,
        ),
        Row(
            f"tap peak RSS at {large:,} events over {longer_days} days",
            f"{longer.max_rss_mb:.0f} MB",
        ),
        goal_row(
            f"target peak RSS {large:,} ÷ {small:,} records", target_ratio, 1.2, ".2f",
            at_least=False,
        ),
        Row(f"target peak RSS at {small:,} records", f"{targets[0].max_rss_mb:.0f} MB"),
        Row(f"target peak RSS at {large:,} records", f"{targets[1].max_rss_mb:.0f} MB"),
        Row(f"tap wall time at {large:,} events", f"{taps[1].wall:.0f} s"),
        Row(f"tap events/s at {large:,} events", f"{large / taps[1].wall:,.0f}"),
        Row(f"tap CPU seconds per 1,000 events at {large:,}", f"{taps[1].cpu / large * 1000:.3f}"),
        Row(f"target wall time at {large:,} records", f"{targets[1].wall:.0f} s"),
    ]  # fmt: skip
    return Figure(
        key="memory",
        title="4. Memory: peak RSS at ten times the volume",
        rows=rows,
        how=(
            "Each plugin is its own process; peak RSS is its `ru_maxrss` from `os.wait4` (the "
            "sandboxes are other processes and do not count). Tap: a Wistia sandbox (no latency, "
            f"no rate limit) with the events spread over {bench.sizes.days} days, both viewing "
            "streams, stdout to /dev/null. Target: prepared wistia_activity Singer files into a "
            "Lytics sandbox (no latency). Goal ≤ 1.2 (issue 6; issue 2 asks ≤ 1.5). Wistia "
            "filters by whole days, so part of the tap's memory follows the busiest day: it walks "
            "each day newest first and frees the events of complete sessions after every page, "
            "but keeps the day's complete sessions (packed) until the day is done. The "
            "first ratio makes every day ten times busier, the longer-history one keeps the days "
            "as they were."
        ),
        sizes=f"{small:,} and {large:,} events (tap) / records (target)",
        raw={
            "taps": [t.summary() for t in taps],
            "tap_longer_history": longer.summary(),
            "targets": [t.summary() for t in targets],
        },
    )
