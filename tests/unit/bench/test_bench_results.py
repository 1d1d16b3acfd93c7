"""The harness's arithmetic and table: percentiles by nearest rank, medians, rendering."""

from __future__ import annotations

from rhythm.bench.noop import FLOWS
from rhythm.bench.results import Figure, median_figure, not_built, percentiles, render_table


def test_percentiles_nearest_rank() -> None:
    stats = percentiles([float(v) for v in range(1, 101)])
    assert stats == {"p50": 50.0, "p95": 95.0, "p99": 99.0}
    assert percentiles([7.0]) == {"p50": 7.0, "p95": 7.0, "p99": 7.0}


def test_median_figure_keeps_every_run() -> None:
    figure = median_figure("tasks", "drain", [3.0, 1.0, 2.0], "tasks/s")
    assert figure.value == 2.0 and figure.runs == [3.0, 1.0, 2.0]


def test_table_lists_figures_and_missing_ones() -> None:
    text = render_table([
        Figure("tasks", "drain", 1234.5, "tasks/s", [1000.0, 1234.5, 1300.0], "N=10"),
        not_built("workflows", "steps", "no activations"),
    ])
    lines = text.splitlines()
    assert lines[0].split()[:4] == ["bench", "figure", "value", "unit"]
    assert "1,234" in lines[2] and "runs: 1,000, 1,234, 1,300; N=10" in lines[2]
    assert lines[3].split()[:3] == ["workflows", "steps", "-"]
    assert "not built yet: no activations" in lines[3]


def test_flows_compile() -> None:
    from rhythm.codegen.compile import compile_flow

    for name, source in FLOWS.items():
        assert compile_flow(source, f"{name}.flow", name).INFO.version
