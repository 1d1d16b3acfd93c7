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
from bisect import bisect_left
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
# prometheus_client's default bounds, for durations in seconds.
TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
BUCKETS = {"s": TIME_BUCKETS, "By": SIZE_BUCKETS}  # a histogram's bounds by its unit


class Tally:
    """One histogram series: a count per bucket (the last one beyond every bound) and the
    sum. Plain numbers a worker's loop thread bumps; a scrape copies them."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect_left(self.bounds, value)] += 1  # (le: a bound takes its equal)
        self.sum += value


def meter_provider_configured() -> bool:
    """Whether the application configured an OpenTelemetry MeterProvider (the SDK's, or
    any other): the API's own default is a proxy that records nothing until one is set,
    and its no-op provider records nothing at all."""
    from opentelemetry import metrics

    return not type(metrics.get_meter_provider()).__module__.startswith("opentelemetry.metrics")


class Metrics:
    """Records each metric in OpenTelemetry (``otel``) and/or for a Prometheus registry of
    its own (``prometheus``).

    For Prometheus the counts are plain dictionaries and :class:`Tally` lists, read by
    :class:`~rhythm.observe.prometheus.Exposition` when scraped: prometheus_client's own
    instruments take a lock per increment and walk the buckets in Python, several times
    the cost of the count itself, twice per workflow step. The hooks that count run on
    the worker's event-loop thread only; the poller's thread sets gauges only."""

    def __init__(self, *, otel: bool, prometheus: bool, meter_provider: Any = None) -> None:
        self._otel: dict[str, Any] = {}
        self._attributes: dict[tuple[str, tuple[str, ...]], dict[str, str]] = {}
        self.tally = prometheus
        self.counts: dict[str, dict[tuple[str, ...], float]] = {
            s.name: {} for s in SPECS if s.kind == "counter"}
        self.histograms: dict[str, dict[tuple[str, ...], Tally]] = {
            s.name: {} for s in SPECS if s.kind == "histogram"}
        self.gauges: dict[str, dict[tuple[str, ...], float]] = {
            s.name: {} for s in SPECS if s.kind == "gauge"}
        self.registry: Any = None
        if prometheus:
            from rhythm.observe.prometheus import registry_of

            self.registry = registry_of(self)
        if otel:  # (the global MeterProvider unless one is given)
            self._make_otel(meter_provider)

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
                    for key, value in list(self.gauges[spec.name].items())]

        return observe

    def _attributes_of(self, name: str, values: tuple[str, ...]) -> dict[str, str]:
        """The OTel attributes of ``name`` for label ``values``, made once."""
        key = (name, values)
        attributes = self._attributes.get(key)
        if attributes is None:
            attributes = self._attributes[key] = dict(
                zip(BY_NAME[name].labels, values, strict=True))
        return attributes

    def add(self, name: str, *values: str, value: float = 1.0) -> None:
        """Count ``value`` on counter ``name`` for the label ``values`` (in order)."""
        if self.tally:
            counts = self.counts[name]
            counts[values] = counts.get(values, 0.0) + value
        if self._otel:
            self._otel[name].add(value, self._attributes_of(name, values))

    def record(self, name: str, value: float, *values: str) -> None:
        """One observation of histogram ``name`` for the label ``values``."""
        if self.tally:
            series = self.histograms[name]
            tally = series.get(values)
            if tally is None:
                tally = series[values] = Tally(BUCKETS[BY_NAME[name].unit])
            tally.observe(value)
        if self._otel:
            self._otel[name].record(value, self._attributes_of(name, values))

    def set(self, name: str, labels: tuple[str, ...], value: float) -> None:
        """Gauge ``name`` is ``value`` now (for label values ``labels``, in order)."""
        self.gauges[name][labels] = value

    def serve(self, port: int, host: str = "0.0.0.0") -> Any:
        """The Prometheus endpoint (``GET /metrics``) on a daemon thread."""
        from prometheus_client import start_http_server

        return start_http_server(port, addr=host, registry=self.registry)

    def queues_read(self, rows: list[dict[str, Any]], now: datetime) -> None:
        """A poll's per-queue rows: every queue seen before and missing now is at 0."""
        seen = {row["queue"]: row for row in rows}
        for (queue,) in list(self.gauges["queue_depth"]):
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
