"""Imported by a worker process under test (``-m otel_spans``): the OpenTelemetry SDK with
one span processor that writes each ended span as a JSON line to the file named by
RHYTHM_TEST_SPANS, at once (a killed worker keeps what it ended). The test process reads
them back: an in-memory exporter cannot be read across processes."""

from __future__ import annotations

import json
import os
import threading
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor, TracerProvider

_lock = threading.Lock()


def as_dict(span: ReadableSpan) -> dict[str, Any]:
    """What the tests assert on, for a span of either process."""
    context = span.get_span_context()
    assert context is not None
    return {
        "name": span.name, "trace_id": context.trace_id, "span_id": context.span_id,
        "parent_id": span.parent.span_id if span.parent is not None else None,
        "attributes": dict(span.attributes or {}),
        "status": span.status.status_code.name,
        "events": [{"name": e.name, "attributes": dict(e.attributes or {})}
                   for e in span.events],
    }


class SpanFile(SpanProcessor):
    def __init__(self, path: str) -> None:
        self.path = path

    def on_end(self, span: ReadableSpan) -> None:
        line = json.dumps(as_dict(span), default=str)
        with _lock, open(self.path, "a") as out:
            out.write(line + "\n")


if os.environ.get("RHYTHM_TEST_SPANS"):
    provider = TracerProvider()
    provider.add_span_processor(SpanFile(os.environ["RHYTHM_TEST_SPANS"]))
    trace.set_tracer_provider(provider)
