"""Telemetry pieces without a database: JSON log lines, the options' checks, the metric
names (docs/observability.md)."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

import pytest

from rhythm.cli import _observe
from rhythm.errors import ConfigError
from rhythm.observe.logs import JsonFormatter
from rhythm.observe.metrics import SPECS, Metrics
from rhythm.observe.observing import Observing
from rhythm.observe.telemetry import LOG_FIELDS, NO_TELEMETRY, current_traceparent


def _line(logger: logging.Logger, stream: io.StringIO) -> dict[str, object]:
    line = stream.getvalue().splitlines()[-1]
    return dict(json.loads(line))


def test_a_json_line_names_the_execution_it_was_written_in() -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("test_observe")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        logger.info("outside %d", 1)
        assert _line(logger, stream).keys() == {"time", "level", "message", "logger"}
        token = LOG_FIELDS.set({"execution_id": "t-1", "task": "add", "attempt": 2})
        try:
            try:
                raise ValueError("bad")
            except ValueError:
                logger.exception("inside")
        finally:
            LOG_FIELDS.reset(token)
        line = _line(logger, stream)
    finally:
        logger.removeHandler(handler)
    assert line["message"] == "inside" and line["level"] == "error"
    assert (line["execution_id"], line["task"], line["attempt"]) == ("t-1", "add", 2)
    assert "ValueError: bad" in str(line["exception"])
    assert line["logger"] == "test_observe" and str(line["time"]).endswith("+00:00")


def test_all_off_is_no_telemetry_and_json_logs_alone_trace_nothing() -> None:
    assert _observe.build_telemetry(False, None, "", 1, "text") is NO_TELEMETRY
    logs_only = _observe.build_telemetry(False, None, "", 1, "json")
    assert isinstance(logs_only, Observing)
    assert logs_only.tracing is None and logs_only.metrics is None
    assert current_traceparent() is None


OTEL_METRICS_PROBE = """
from opentelemetry import metrics
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from rhythm.cli._observe import build_telemetry

bare = build_telemetry(True, None, "", 1, "text")
print(bare.tracing is not None, bare.metrics is None)
reader = InMemoryMetricReader()
metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
both = build_telemetry(True, None, "", 1, "text")
both.metrics.add("executions_claimed", "task", "default")
data = reader.get_metrics_data().resource_metrics[0].scope_metrics[0].metrics
print([(m.name, m.data.data_points[0].value) for m in data])
"""


def test_otel_records_metrics_only_for_a_configured_meter_provider() -> None:
    """--otel without a MeterProvider traces and records no OpenTelemetry metrics (the
    API's proxy would drop them, at a cost per call); with one set before the worker
    starts (as a -m module does) they reach it. (A process of its own: the global
    provider can be set once.)"""
    out = subprocess.run([sys.executable, "-c", OTEL_METRICS_PROBE], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out == ["True True", "[('rhythm.executions.claimed', 1.0)]"]


@pytest.mark.parametrize(("flags", "line"), [
    ({"otel": True}, "--otel needs the opentelemetry package: pip install 'rhythm[otel]'"),
    ({"metrics_port": 9000},
     "--metrics-port needs the prometheus_client package: pip install 'rhythm[metrics]'"),
])
def test_a_missing_extra_is_one_line(monkeypatch: pytest.MonkeyPatch, flags: dict[str, object],
                                     line: str) -> None:
    monkeypatch.setattr(_observe.importlib.util, "find_spec", lambda name: None)
    options: dict[str, object] = {"otel": False, "metrics_port": None, "metrics_host": "",
                                  "metrics_interval": 1.0, "log_format": "text", **flags}
    with pytest.raises(ConfigError) as caught:
        _observe.build_telemetry(**options)  # type: ignore[arg-type]
    assert str(caught.value) == line and caught.value.exit_code == 3


def test_metric_names() -> None:
    names = {spec.prometheus for spec in SPECS}
    assert {"rhythm_executions_claimed", "rhythm_executions_completed",
            "rhythm_task_retries", "rhythm_task_duration_seconds",
            "rhythm_schedule_to_start_seconds", "rhythm_activation_duration_seconds",
            "rhythm_snapshot_bytes", "rhythm_queue_depth",
            "rhythm_queue_oldest_pending_seconds", "rhythm_workers_alive"} <= names
    assert {spec.otel for spec in SPECS} >= {"rhythm.task.duration", "rhythm.queue.depth"}


def test_a_queue_missing_from_a_poll_is_back_at_zero() -> None:
    from datetime import UTC, datetime, timedelta

    metrics = Metrics(otel=False, prometheus=True)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    metrics.queues_read([{"queue": "q", "depth": 3, "oldest": now - timedelta(seconds=4)}],
                        now)
    assert metrics.registry.get_sample_value("rhythm_queue_depth", {"queue": "q"}) == 3
    assert metrics.registry.get_sample_value(
        "rhythm_queue_oldest_pending_seconds", {"queue": "q"}) == 4
    metrics.queues_read([], now)
    assert metrics.registry.get_sample_value("rhythm_queue_depth", {"queue": "q"}) == 0
    assert metrics.registry.get_sample_value(
        "rhythm_queue_oldest_pending_seconds", {"queue": "q"}) == 0


def test_the_prometheus_view_matches_prometheus_clients_own_instruments() -> None:
    """Metrics counts plain numbers and builds the families at scrape time; a scrape
    must read what prometheus_client's Counter and Histogram would for the same work
    (bucket edges included: a value equal to a bound is in that bound's bucket)."""
    from prometheus_client import CollectorRegistry, Counter, Histogram

    from rhythm.observe.metrics import BY_NAME, SIZE_BUCKETS

    ours = Metrics(otel=False, prometheus=True)
    theirs = CollectorRegistry()
    spec = BY_NAME["task_duration"]
    histogram = Histogram(spec.prometheus, spec.help, spec.labels, registry=theirs)
    sizes = Histogram("rhythm_snapshot_bytes", "s", ["workflow"], registry=theirs,
                      buckets=SIZE_BUCKETS)
    counter = Counter("rhythm_executions_claimed", "c", ["kind", "queue"], registry=theirs)
    for value in (0.0, 0.005, 0.0051, 0.3, 10.0, 11.0, 0.005):
        ours.record("task_duration", value, "q", "add", "completed")
        histogram.labels("q", "add", "completed").observe(value)
    for size in (10.0, 256.0, 257.0, 5_000_000.0):
        ours.record("snapshot", size, "wf")
        sizes.labels("wf").observe(size)
    for kind in ("task", "task", "workflow"):
        ours.add("executions_claimed", kind, "q")
        counter.labels(kind, "q").inc()

    def samples(registry: object) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in registry.collect()  # type: ignore[attr-defined]
                for s in family.samples if not s.name.endswith("_created")}

    mine = samples(ours.registry)
    reference = samples(theirs)
    assert reference and all(mine[key] == value for key, value in reference.items())


def test_only_what_is_on_travels_to_a_sync_tasks_thread() -> None:
    """Metrics alone need no context in the task's thread; JSON log fields and spans do."""
    from rhythm.observe.telemetry import context_wanted
    from rhythm.runtime.jobs import Claim

    claim = Claim(id="t-1", kind="task", name="add", inputs={}, queue="q", attempt=1,
                  max_retries=0, lease_losses=0, token=1, cancel_requested=False, options={},
                  parent_id=None)
    assert not context_wanted()
    metrics_only = Observing(metrics=Metrics(otel=False, prometheus=True), log_fields=False)
    with metrics_only.activation(claim):
        assert not context_wanted() and LOG_FIELDS.get() is None
    with Observing().activation(claim):
        assert context_wanted() and LOG_FIELDS.get() == {
            "execution_id": "t-1", "task": "add", "attempt": 1}
    assert not context_wanted() and LOG_FIELDS.get() is None
