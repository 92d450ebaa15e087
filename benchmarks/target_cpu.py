"""Figure 3: how close does the target come to the least work any Lytics loader must do?

A prepared Singer file of `wistia_activity` records goes into a Lytics sandbox process, once
through `target-lytics` and twice through the reference poster (`benchmarks.reference poster`,
plain json + requests, serial, same request size); the faster poster counts. The sandbox is
emptied (`POST /_sandbox/reset`) before each run so each one stores into the same empty account.
Then the target alone against a sandbox answering after 100 ms: throughput and requests made.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from benchmarks.processes import BIN, LYTICS_TOKEN, PYTHON, Cost, lytics_sandbox, run_measured
from benchmarks.report import Figure, Row, goal_row
from benchmarks.workloads import target_config, write_json
from target_lytics.client import DEFAULT_ROWS_PER_REQUEST

if TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.processes import Sandbox
    from benchmarks.workloads import Bench

ROWS = DEFAULT_ROWS_PER_REQUEST  # the target's default batch_size_rows, for the poster too
LATENCY_MS = 100


def run_target(bench: Bench, sandbox: Sandbox, source: Path, name: str) -> Cost:
    config = write_json(bench.workdir / f"{name}.json", target_config(sandbox.url))
    argv = [str(BIN / "target-lytics"), "--config", str(config)]
    return run_measured(argv, stdin=source, log=bench.workdir / f"{name}.log")


def run_poster(bench: Bench, sandbox: Sandbox, source: Path, name: str) -> Cost:
    argv = [PYTHON, "-m", "benchmarks.reference", "poster", sandbox.url, LYTICS_TOKEN, str(ROWS)]
    return run_measured(argv, stdin=source, log=bench.workdir / f"{name}.log")


def measure(bench: Bench) -> Figure:
    records = bench.sizes.target_records
    source = bench.activity_file(records)
    with lytics_sandbox(bench.workdir) as sandbox:
        posters = [run_poster(bench, sandbox, source, "poster-1")]
        sandbox.post("/_sandbox/reset")
        before = sandbox.cpu_seconds()
        target = run_target(bench, sandbox, source, "target-cpu")
        sandbox_cpu = sandbox.cpu_seconds() - before
        stored = sandbox.get("/_sandbox/stats")["records_stored"]
        sandbox.post("/_sandbox/reset")
        posters.append(run_poster(bench, sandbox, source, "poster-2"))
    with lytics_sandbox(bench.workdir, latency_ms=LATENCY_MS) as slow:
        latent = run_target(bench, slow, source, "target-latency")
        stats = slow.get("/_sandbox/stats")
    poster = min(posters, key=lambda cost: cost.wall)
    rate, poster_rate, latent_rate = (
        records / target.wall,
        records / poster.wall,
        records / latent.wall,
    )
    per_k = 1000 / records
    rows = [
        goal_row("target records/s ÷ reference records/s", rate / poster_rate, 0.5, ".2f"),
        Row("target records/s (wall)", f"{rate:,.0f}"),
        Row("reference poster records/s (wall)", f"{poster_rate:,.0f}"),
        Row("target CPU seconds per 1,000 records", f"{target.cpu * per_k:.3f}"),
        Row("reference CPU seconds per 1,000 records", f"{poster.cpu * per_k:.3f}"),
        Row("sandbox CPU seconds per 1,000 records (target run)", f"{sandbox_cpu * per_k:.3f}"),
        Row("records stored by the sandbox (target run)", f"{stored:,}"),
        goal_row("records/s at 100 ms latency", latent_rate, 20_000, ",.0f"),
        goal_row(
            "requests per 500 records at 100 ms latency",
            stats["collect_requests"] / stats["records_stored"] * 500,
            1.0,
            ".2f",
            at_least=False,
        ),
        Row("target peak RSS", f"{target.max_rss_mb:.0f} MB"),
    ]
    return Figure(
        key="target_cpu",
        title="3. Target CPU efficiency (target-lytics vs a minimal poster)",
        rows=rows,
        how=(
            "A prepared Singer file of wistia_activity records (SCHEMA, RECORDs, a STATE every "
            "10,000) is fed as stdin to `target-lytics` (default settings: one request at a "
            "time of 10,000 records) and to `benchmarks/reference.py poster` (json + requests, "
            "serial, arrays of 10,000 records as they are, no mapping) against one Lytics sandbox "
            "process (SQLite file), reset before each run; poster, target, poster again; the "
            "faster poster counts. records/s = records ÷ process wall time (start-up and token "
            "check included). Then the target alone against a sandbox with `--latency-ms 100`; "
            "requests counted by the sandbox's `/_sandbox/stats`."
        ),
        sizes=f"{records:,} records",
        raw={
            "target": target.summary(),
            "posters": [p.summary() for p in posters],
            "latency": latent.summary() | {"stats": stats},
        },
    )
