"""Telemetry that breaks never fails the work: a span exporter that raises, or a tracer
that raises, leaves workflows and tasks running as before; the failure is logged and
counted (``rhythm_telemetry_errors_total``)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from conftest import flows_worker

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
