"""Figures as data, kept per figure in `benchmarks/figures/`, and rendered into RESULTS.md.

Each figure is saved on its own as JSON in `benchmarks/figures/`, kept in git, so `--only NAME`
re-measures one figure and the Markdown still shows the others from their last run, on any
machine (each table says when and at which commit it was measured). The baseline
(`--save-baseline`) gives every table a "before" column; the figure a run replaces, when it
was measured at another commit, a "previous" one.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path


@dataclass
class Row:
    """One measured value, its goal and whether it meets it (None: no goal)."""

    name: str
    value: str
    goal: str = ""
    passed: bool | None = None


@dataclass
class Figure:
    """One table of RESULTS.md."""

    key: str
    title: str
    rows: list[Row]
    how: str
    sizes: str
    seconds: float = 0.0
    measured_at: str = ""
    machine: dict[str, str] = field(default_factory=dict)
    commit: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{self.key}.json").write_text(json.dumps(asdict(self), indent=1))

    @classmethod
    def load(cls, path: Path) -> Figure:
        data = json.loads(path.read_text())
        data["rows"] = [Row(**row) for row in data["rows"]]
        return cls(**data)


def goal_row(name: str, value: float, goal: float, fmt: str, *, at_least: bool = True) -> Row:
    """A row whose value must be at least (or at most) `goal`."""
    passed = value >= goal if at_least else value <= goal
    sign = "≥" if at_least else "≤"
    return Row(name, format(value, fmt), f"{sign} {format(goal, fmt)}", passed)


def now_text() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _mark(passed: bool | None) -> str:  # noqa: FBT001
    return {True: "pass", False: "**FAIL**", None: ""}[passed]


def _column(figures: dict[str, Figure], key: str) -> dict[str, str]:
    return {row.name: row.value for row in figures[key].rows} if key in figures else {}


def render(
    figures: list[Figure],
    *,
    order: list[str],
    baseline: dict[str, Figure],
    previous: dict[str, Figure] | None = None,
    header: str,
) -> str:
    """RESULTS.md: one table per figure, in `order`, each with how it was measured.

    `previous` (what the replaced RESULTS.md showed) is a column where it was measured at
    another commit than the figure now.
    """
    lines = [header, ""]
    earlier = previous or {}
    ranked = sorted(figures, key=lambda f: order.index(f.key) if f.key in order else 99)
    for figure in ranked:
        before = _column(baseline, figure.key)
        shown = earlier.get(figure.key)
        last = _column(earlier, figure.key) if shown and shown.commit != figure.commit else {}
        lines += [f"## {figure.title}", ""]
        names = ["figure", *(["before"] if before else []), *(["previous"] if last else [])]
        names += ["value", "goal", "result"]
        align = ["---", *["---:"] * (len(names) - 3), "---", "---"]
        lines += ["| " + " | ".join(names) + " |", "|" + "|".join(align) + "|"]
        for row in figure.rows:
            cells = [row.name]
            if before:
                cells.append(before.get(row.name, ""))
            if last:
                cells.append(last.get(row.name, ""))
            cells += [row.value, row.goal, _mark(row.passed)]
            lines.append("| " + " | ".join(cells) + " |")
        machine = figure.machine
        lines += [
            "",
            (
                f"Sizes: {figure.sizes}. Measured {figure.measured_at} at commit {figure.commit} "
                f"in {figure.seconds:.0f} s on {machine.get('cpu', '?')} "
                f"({machine.get('cores', '?')} cores, {machine.get('memory', '?')}"
                + (f", yardstick {machine['yardstick']}" if "yardstick" in machine else "")
                + f"), Python {machine.get('python', '?')}."
            ),
        ]
        if before:
            base = baseline[figure.key]
            lines.append(f"Before: commit {base.commit}, measured {base.measured_at}.")
        if last and shown:
            lines.append(f"Previous: commit {shown.commit}, measured {shown.measured_at}.")
        lines += ["", f"How measured: {figure.how}", ""]
    return "\n".join(lines)
