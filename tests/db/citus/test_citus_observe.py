"""Metrics and tracing on Citus: the runtime tests' own, on the coordinator of a cluster
distributed over 4 partitions (the queue-depth poll reads every shard; the trace context
travels in rows of whichever partition)."""

from __future__ import annotations

from test_metrics import test_the_prometheus_endpoint_counts_the_work_done
from test_telemetry_errors import test_opentelemetry_metrics_count_the_same_work
from test_tracing import test_one_trace_from_client_start_through_tasks_and_a_child

__all__ = [
    "test_one_trace_from_client_start_through_tasks_and_a_child",
    "test_opentelemetry_metrics_count_the_same_work",
    "test_the_prometheus_endpoint_counts_the_work_done",
]
