"""RESULTS.md shows each figure next to its baseline and its previous run."""

from __future__ import annotations

from benchmarks.report import Figure, Row, goal_row, render


def figure(commit: str, ratio: float, when: str = "2026-12-02 03:00 UTC") -> Figure:
    return Figure(
        key="tap_cpu",
        title="2. Tap CPU efficiency",
        rows=[goal_row("tap ÷ reference", ratio, 0.5, ".2f"), Row("tap RSS", f"{ratio * 100:.0f}")],
        how="how",
        sizes="sizes",
        measured_at=when,
        commit=commit,
    )


def table(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("|")]


def test_a_table_shows_before_previous_and_now_with_their_commits():
    text = render(
        [figure("new", 0.58)],
        order=["tap_cpu"],
        baseline={"tap_cpu": figure("base", 0.31, "2026-11-27 06:44 UTC")},
        previous={"tap_cpu": figure("prev", 0.51, "2026-11-27 15:08 UTC")},
        header="# Benchmark results",
    )
    assert table(text)[:3] == [
        "| figure | before | previous | value | goal | result |",
        "|---|---:|---:|---:|---|---|",
        "| tap ÷ reference | 0.31 | 0.51 | 0.58 | ≥ 0.50 | pass |",
    ]
    assert "Before: commit base, measured 2026-11-27 06:44 UTC." in text
    assert "Previous: commit prev, measured 2026-11-27 15:08 UTC." in text


def test_a_previous_run_at_the_same_commit_is_no_column():
    text = render(
        [figure("same", 0.49)],
        order=["tap_cpu"],
        baseline={},
        previous={"tap_cpu": figure("same", 0.52)},
        header="# Benchmark results",
    )
    assert table(text)[:3] == [
        "| figure | value | goal | result |",
        "|---|---:|---|---|",
        "| tap ÷ reference | 0.49 | ≥ 0.50 | **FAIL** |",
    ]
    assert "Previous:" not in text
