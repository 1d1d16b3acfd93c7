"""What a paired benchmark of a feature's cost switches in the drain worker: variables of
its environment, set on one side of ``benchmarks/paired_drains.py`` (``--head-env``,
``--base-env``) with the same revision on both.

``RHYTHM_BENCH_HISTORY=off``: activations record no history entry (no option of
``rhythm worker`` does this: it is the "history off" side of what history costs).

``RHYTHM_BENCH_TELEMETRY``: unset or ``off``, the worker runs without telemetry, as
``rhythm worker`` does by default;

* ``metrics``: ``rhythm worker --metrics-port`` (Prometheus counters and histograms, the
  queue-depth poll every 15 s), its endpoint on an ephemeral loopback port;
* ``otel``: ``rhythm worker --otel`` with the OpenTelemetry SDK installed and an exporter
  that drops every span behind the SDK's ``BatchSpanProcessor`` (what a deployment
  pointing at a collector runs, minus the network);
* ``otel-api``: ``rhythm worker --otel`` with no tracer provider set, so the API's no-op
  tracer: what Rhythm's own side of tracing costs (context parsed and passed on, spans
  begun and ended through the API), without the SDK's recording;
* ``json``: ``rhythm worker --log-format json`` (the log fields only).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

ENV = "RHYTHM_BENCH_TELEMETRY"
MODES = ("off", "metrics", "otel", "otel-api", "json")
HISTORY_ENV = "RHYTHM_BENCH_HISTORY"


def apply_toggles(worker: Any) -> None:
    """Switch off what the environment says (the worker is not running yet)."""
    history = os.environ.get(HISTORY_ENV, "on") or "on"
    if history not in ("on", "off"):
        raise SystemExit(f"{HISTORY_ENV}={history!r}: expected on or off")
    worker._activations.record_history = history == "on"


def bench_telemetry() -> Any:
    """The telemetry ``RHYTHM_BENCH_TELEMETRY`` asks for (None: the worker's default)."""
    mode = os.environ.get(ENV, "off") or "off"
    if mode not in MODES:
        raise SystemExit(f"{ENV}={mode!r}: expected one of {', '.join(MODES)}")
    if mode == "off":
        return None
    from rhythm.cli._observe import build_telemetry

    if mode == "otel":
        from opentelemetry import trace

        trace.set_tracer_provider(dropping_tracer_provider())
    otel = mode in ("otel", "otel-api")
    return build_telemetry(otel=otel, metrics_port=0 if mode == "metrics" else None,
                           metrics_host="127.0.0.1", metrics_interval=15.0,
                           log_format="json" if mode == "json" else "text")


def dropping_tracer_provider(*, batch: bool = True) -> Any:
    """The OpenTelemetry SDK's tracer provider, its spans going to an exporter that drops
    them: through the SDK's ``BatchSpanProcessor`` (what a deployment runs), or with
    ``batch=False`` its ``SimpleSpanProcessor`` (the export inline: the dearest case)."""
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import (
        BatchSpanProcessor,
        SimpleSpanProcessor,
        SpanExporter,
        SpanExportResult,
    )

    class Dropped(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    processor = BatchSpanProcessor if batch else SimpleSpanProcessor
    provider.add_span_processor(processor(Dropped()))
    return provider
