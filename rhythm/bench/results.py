"""Figures, and how they are shown: a text table or one JSON object."""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Figure:
    """One measured number. ``runs`` holds each run's value when ``value`` is a median."""

    bench: str
    name: str
    value: float | None
    unit: str
    runs: list[float] = field(default_factory=list)
    note: str = ""
    missing: bool = False  # the runtime cannot run this yet ("not built yet")

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def median_figure(
    bench: str, name: str, runs: Sequence[float], unit: str, note: str = ""
) -> Figure:
    return Figure(bench, name, statistics.median(runs), unit, list(runs), note)


def not_built(bench: str, name: str, why: str) -> Figure:
    return Figure(bench, name, None, "", note=f"not built yet: {why}", missing=True)


def percentiles(samples: Sequence[float]) -> dict[str, float]:
    """p50/p95/p99 (nearest rank) of a non-empty sample."""
    ordered = sorted(samples)
    def rank(p: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]
    return {"p50": rank(50), "p95": rank(95), "p99": rank(99)}


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.2f}" if abs(value) >= 1 else f"{value:.3f}"


def render_table(figures: Sequence[Figure]) -> str:
    rows = [("bench", "figure", "value", "unit", "runs / note")]
    for f in figures:
        runs = ", ".join(_fmt(r) for r in f.runs) if len(f.runs) > 1 else ""
        extra = "; ".join(part for part in (runs and f"runs: {runs}", f.note) if part)
        rows.append((f.bench, f.name, _fmt(f.value), f.unit, extra))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = []
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].rjust(widths[2]),
                 row[3].ljust(widths[3]), row[4]]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths) + "  " + "-" * 11)
    return "\n".join(lines)
