"""Telemetry in an in-process worker. What breaks never fails the work: a span exporter
that raises, or a tracer that raises, leaves workflows and tasks running as before; the
failure is logged and counted (``rhythm_telemetry_errors_total``). And the OpenTelemetry
metrics count what the Prometheus ones do."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import flows_worker, wait_for

from rhythm.runtime.client import Client

pytest.importorskip("opentelemetry.sdk", reason="the telemetry tests need rhythm[dev]")

from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import (
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)

from rhythm.observe.metrics import Metrics
from rhythm.observe.observing import Observing
from rhythm.observe.tracing import Tracing

FLOWS = {"sturdy": 'return await Task.run("add", { a: Inputs.x, b: 1 })\n'}


class BrokenExporter(SpanExporter):
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        raise ConnectionError("collector down")


class BrokenTracing(Tracing):
    def begin(self, claim: Any) -> Any:
        raise RuntimeError("tracer bug")


def test_a_broken_exporter_never_fails_a_workflow(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(BrokenExporter()))
    telemetry = Observing(Tracing(provider), Metrics(otel=False, prometheus=True))
    with flows_worker(db_url, tmp_path, FLOWS, telemetry=telemetry):
        assert client.start("sturdy", {"x": 1}).result(timeout=20) == 2


def test_a_raising_tracer_is_logged_counted_and_the_work_goes_on(
    client: Client, db_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    metrics = Metrics(otel=False, prometheus=True)
    telemetry = Observing(BrokenTracing(), metrics)
    with flows_worker(db_url, tmp_path, FLOWS, telemetry=telemetry):
        assert client.start("sturdy", {"x": 2}).result(timeout=20) == 3
        assert client.queue_task("add", {"a": 1, "b": 1}).result(timeout=20) == 2
    errors = metrics.registry.get_sample_value("rhythm_telemetry_errors_total",
                                               {"where": "begin"})
    assert errors is not None and errors >= 3  # two activations and two tasks at least
    assert any("telemetry failed (begin)" in m for m in caplog.messages)
    assert metrics.registry.get_sample_value(
        "rhythm_executions_completed_total",
        {"kind": "workflow", "queue": "default", "status": "completed"}) == 1


def test_opentelemetry_metrics_count_the_same_work(
    client: Client, db_url: str, tmp_path: Path
) -> None:
    """With ``--otel`` the metrics go through the OpenTelemetry API too (here to an SDK
    reader of the test's own): names with dots, the same labels as attributes."""
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    metrics = Metrics(otel=True, prometheus=False,
                      meter_provider=MeterProvider(metric_readers=[reader]))
    telemetry = Observing(None, metrics, poll_interval=0.2)
    with flows_worker(db_url, tmp_path, FLOWS, telemetry=telemetry):
        assert client.start("sturdy", {"x": 3}).result(timeout=20) == 4
        client.queue_task("add", {"a": 1}, queue="unserved")

        def points() -> dict[str, list[Any]]:
            data = reader.get_metrics_data()
            found: dict[str, list[Any]] = {}
            for resource in data.resource_metrics if data else []:
                for scope in resource.scope_metrics:
                    for metric in scope.metrics:
                        found[metric.name] = list(metric.data.data_points)
            return found

        def unserved(found: dict[str, list[Any]]) -> float | None:
            return next((p.value for p in found.get("rhythm.queue.depth", [])
                         if p.attributes == {"queue": "unserved"}), None)

        found = wait_for(lambda: (lambda f: f if unserved(f) == 1 else None)(points()),
                         what="the unserved queue's depth")
    [completed] = [p for p in found["rhythm.executions.completed"]
                   if p.attributes["kind"] == "workflow"]
    assert completed.value == 1
    assert completed.attributes == {"kind": "workflow", "queue": "default",
                                    "status": "completed"}
    [durations] = found["rhythm.activation.duration"]
    assert durations.count == 2 and durations.attributes == {"queue": "default",
                                                             "workflow": "sturdy"}
    assert {p.attributes["task"] for p in found["rhythm.task.duration"]} == {"add"}
