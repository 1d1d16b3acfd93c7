"""Worker metrics: OpenTelemetry instruments (extra ``rhythm[otel]``) and a Prometheus
endpoint (extra ``rhythm[metrics]``, ``rhythm worker --metrics-port``), fed by the same
calls. docs/observability.md lists them (the table is :data:`SPECS`).

Counters and histograms are recorded by the worker's hooks (rhythm.observe.observing)
as work happens. Queue depth, oldest pending age and workers alive come from
:class:`Poller`: one cheap query on an interval (rhythm/store/sql/observe_metrics.sql),
never one per claim.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

log = logging.getLogger("rhythm.metrics")


@dataclass(frozen=True)
class Spec:
    """One metric: ``rhythm_<name>`` in Prometheus, ``rhythm.<name with dots>`` in OTel."""

    name: str
    kind: str  # counter | histogram | gauge
    help: str
    labels: tuple[str, ...]
    unit: str = ""  # s (seconds), By (bytes), or none

    @property
    def prometheus(self) -> str:
        suffix = {"s": "_seconds", "By": "_bytes"}.get(self.unit, "")
        return f"rhythm_{self.name}{suffix}"

    @property
    def otel(self) -> str:
        return "rhythm." + self.name.replace("_", ".")


SPECS = [
    Spec("executions_claimed", "counter",
         "Executions this worker started: claimed, or taken from an activation's commit.",
         ("kind", "queue")),
    Spec("executions_completed", "counter",
         "Executions this worker ended, by final status (completed, failed, cancelled).",
         ("kind", "queue", "status")),
    Spec("task_retries", "counter", "Task attempts that failed and will be tried again.",
         ("queue", "task")),
    Spec("task_duration", "histogram", "Time of one task attempt.",
         ("queue", "task", "status"), "s"),
    Spec("schedule_to_start", "histogram",
         "From when an execution was due to when a worker's claim took it.",
         ("kind", "queue"), "s"),
    Spec("activation_duration", "histogram",
         "Time of one workflow activation: load, run, commit.", ("queue", "workflow"), "s"),
    Spec("snapshot", "histogram",
         "Size of the snapshot an activation committed (JSON).",
         ("workflow",), "By"),
    Spec("queue_depth", "gauge", "Executions ready to run now (due and unclaimed).",
         ("queue",)),
    Spec("queue_oldest_pending", "gauge",
         "Age of the oldest execution ready to run (0 when none).", ("queue",), "s"),
    Spec("workers_alive", "gauge", "Workers whose heartbeat is recent.", ()),
    Spec("telemetry_errors", "counter",
         "Telemetry calls that raised (logged; never a workflow's failure).", ("where",)),
]
BY_NAME = {spec.name: spec for spec in SPECS}
SIZE_BUCKETS = (256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)


class Metrics:
    """Records each metric in OpenTelemetry (``otel``) and/or a Prometheus registry of
    its own (``prometheus``)."""

    def __init__(self, *, otel: bool, prometheus: bool, meter_provider: Any = None) -> None:
        self._otel: dict[str, Any] = {}
        self._prom: dict[str, Any] = {}
        self._gauges: dict[str, dict[tuple[str, ...], float]] = {
            s.name: {} for s in SPECS if s.kind == "gauge"}
        self.registry: Any = None
        self._children: dict[tuple[str, tuple[str, ...]], tuple[Any, Any]] = {}
        if prometheus:
            self._make_prometheus()
        if otel:  # (the global MeterProvider unless one is given)
            self._make_otel(meter_provider)

    def _make_prometheus(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry(auto_describe=True)
        for spec in SPECS:
            if spec.kind == "counter":
                metric: Any = Counter(spec.prometheus, spec.help, spec.labels,
                                      registry=self.registry)
            elif spec.kind == "gauge":
                metric = Gauge(spec.prometheus, spec.help, spec.labels, registry=self.registry)
            elif spec.unit == "By":
                metric = Histogram(spec.prometheus, spec.help, spec.labels,
                                   registry=self.registry, buckets=SIZE_BUCKETS)
            else:
                metric = Histogram(spec.prometheus, spec.help, spec.labels,
                                   registry=self.registry)
            self._prom[spec.name] = metric

    def _make_otel(self, provider: Any) -> None:
        from opentelemetry import metrics

        from rhythm import __version__

        meter = metrics.get_meter("rhythm", __version__, meter_provider=provider)
        for spec in SPECS:
            if spec.kind == "counter":
                self._otel[spec.name] = meter.create_counter(spec.otel, spec.unit, spec.help)
            elif spec.kind == "histogram":
                self._otel[spec.name] = meter.create_histogram(spec.otel, spec.unit, spec.help)
            else:
                meter.create_observable_gauge(spec.otel, [self._observer(spec)], spec.unit,
                                              spec.help)

    def _observer(self, spec: Spec) -> Any:
        from opentelemetry.metrics import Observation

        def observe(_options: Any) -> list[Any]:
            # (list(): one copy in C, so the poller's thread cannot resize it mid-way)
            return [Observation(value, dict(zip(spec.labels, key, strict=True)))
                    for key, value in list(self._gauges[spec.name].items())]

        return observe

    def _child(self, name: str, values: tuple[str, ...]) -> tuple[Any, Any]:
        """The Prometheus child and OTel attributes of ``name`` for label ``values``,
        made once: prometheus_client's ``labels()`` costs more than the count itself."""
        key = (name, values)
        child = self._children.get(key)
        if child is None:
            spec = BY_NAME[name]
            prom = self._prom.get(name)
            child = self._children[key] = (
                prom.labels(*values) if prom is not None and values else prom,
                dict(zip(spec.labels, values, strict=True)))
        return child

    def add(self, name: str, *values: str, value: float = 1.0) -> None:
        """Count ``value`` on counter ``name`` for the label ``values`` (in order)."""
        prom, attributes = self._child(name, values)
        if prom is not None:
            prom.inc(value)
        if name in self._otel:
            self._otel[name].add(value, attributes)

    def record(self, name: str, value: float, *values: str) -> None:
        """One observation of histogram ``name`` for the label ``values``."""
        prom, attributes = self._child(name, values)
        if prom is not None:
            prom.observe(value)
        if name in self._otel:
            self._otel[name].record(value, attributes)

    def set(self, name: str, labels: tuple[str, ...], value: float) -> None:
        """Gauge ``name`` is ``value`` now (for label values ``labels``, in order)."""
        self._gauges[name][labels] = value
        prom, _ = self._child(name, labels)
        if prom is not None:
            prom.set(value)

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """The Prometheus endpoint (``GET /metrics``) on a daemon thread."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=host, registry=self.registry)

    def queues_read(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """A poll's per-queue rows: every queue seen before and missing now is at 0."""
        seen = {row["queue"]: row for row in rows}
        for (queue,) in list(self._gauges["queue_depth"]):
            seen.setdefault(queue, {"queue": queue, "depth": 0, "oldest": None})
        for queue, row in seen.items():
            oldest = row["oldest"]
            self.set("queue_depth", (queue,), float(row["depth"]))
            self.set("queue_oldest_pending", (queue,),
                     max((now - oldest).total_seconds(), 0.0) if oldest else 0.0)


class Poller:
    """Reads queue depths and live workers every ``interval`` seconds on a thread of its
    own, with a connection of its own (never the claim path's)."""

    def __init__(self, metrics: Metrics, url: str, clock: Any, interval: float,
                 lease_seconds: float) -> None:
        self.metrics, self.url, self.clock = metrics, url, clock
        self.interval, self.lease_seconds = interval, lease_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="rhythm-metrics", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def poll(self, conn: Any) -> None:
        """One reading (public for tests)."""
        from psycopg.rows import dict_row

        from rhythm.runtime.sql import Q

        now = self.clock.now()
        with conn.cursor(row_factory=dict_row) as cur:
            rows = cur.execute(Q["queues_runnable"], {"now": now}).fetchall()
            since = now - timedelta(seconds=self.lease_seconds)
            alive = cur.execute(Q["observe_workers"], {"since": since}).fetchone()
        self.metrics.queues_read(rows, now)
        self.metrics.set("workers_alive", (), float(alive["alive"] if alive else 0))

    def _loop(self) -> None:
        import psycopg

        conn: Any = None
        while not self._stop.is_set():
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self.url, autocommit=True)
                self.poll(conn)
            except Exception as err:  # (the database may be away: try at the next tick)
                log.warning("cannot read queue metrics (%s); again in %gs", err, self.interval)
                if conn is not None:
                    conn.close()
                conn = None
            self._stop.wait(self.interval)
        if conn is not None:
            conn.close()
