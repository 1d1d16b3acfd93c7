"""OpenTelemetry tracing (extra ``rhythm[otel]``): a span per activation and per task
attempt, parented by the trace context stored with the execution.

The context travels as a W3C ``traceparent`` in the execution's ``options``: the client
stores its caller's (:func:`injected`), an activation starts its tasks and children with
its own span's (``effect_rows``). Nothing new is read or written on the claim or commit
paths: ``options`` already comes back with every claim. Spans go to whatever
TracerProvider the application configured (the SDK and its exporters are the user's
choice); without one the API's no-op tracer costs next to nothing.

Only rhythm.observe.observing imports this module, once a worker runs with ``--otel``.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.trace import (
    NonRecordingSpan,
    Span,
    SpanContext,
    SpanKind,
    Status,
    StatusCode,
    TraceFlags,
)
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from rhythm import __version__

if TYPE_CHECKING:
    from rhythm.runtime.jobs import Claim

_PROPAGATOR = TraceContextTextMapPropagator()


def injected(span: Span | None = None) -> str | None:
    """The W3C traceparent of ``span`` (default: the current span), or None when there is
    no valid span."""
    context = (span or trace.get_current_span()).get_span_context()
    if not context.is_valid:
        return None
    return f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"


_NO_PARENT = otel_context.Context()


def _parent(claim: Claim) -> Any:
    """The context stored with ``claim``; without one an empty context, never the current
    one: a span's parent is what its execution stored, not whatever the worker was doing
    (an activation resumed in place runs inside its task's attempt). The form
    :func:`injected` writes is read directly (the propagator's regular expression costs
    more than the rest of a span's start); any other goes through the propagator."""
    traceparent = claim.options.get("traceparent")
    if not isinstance(traceparent, str):
        return _NO_PARENT
    if len(traceparent) == 55 and traceparent.startswith("00-"):
        with contextlib.suppress(ValueError):
            parent = SpanContext(int(traceparent[3:35], 16), int(traceparent[36:52], 16),
                                 is_remote=True, trace_flags=TraceFlags(
                                     int(traceparent[53:55], 16)))
            if parent.is_valid:
                return trace.set_span_in_context(NonRecordingSpan(parent))
    return _PROPAGATOR.extract({"traceparent": traceparent}, context=_NO_PARENT)


class Tracing:
    """Starts and ends the spans of activations and task attempts."""

    def __init__(self, provider: Any = None) -> None:
        # (the global provider, through the API's proxy: one configured later still counts)
        self.tracer = trace.get_tracer("rhythm", __version__, tracer_provider=provider)

    def begin(self, claim: Claim) -> tuple[Span, object, str | None]:
        """Start ``claim``'s span; returns it, for a task attempt the token that makes it
        current until :meth:`end` detaches it, and for an activation its traceparent (for
        the tasks and children it starts)."""
        is_workflow = claim.kind == "workflow"
        attributes: dict[str, Any] = {
            "rhythm.execution_id": claim.id, f"rhythm.{claim.kind}": claim.name,
            "rhythm.attempt": claim.attempt, "rhythm.queue": claim.queue,
        }
        if claim.version is not None:
            attributes["rhythm.version"] = claim.version
        span = self.tracer.start_span(
            f"{'activation' if is_workflow else 'task'} {claim.name}", context=_parent(claim),
            kind=SpanKind.CONSUMER, attributes=attributes)
        if is_workflow:  # (no user code runs in it: its span need not be current)
            return span, None, injected(span)
        return span, otel_context.attach(trace.set_span_in_context(span)), None

    @staticmethod
    def end(span: Span, token: object, error: tuple[str, str] | None, recorded: bool) -> None:
        """End the span; ``error`` (type, message): it failed, and unless an exception
        was ``recorded`` already, an exception event says how (the same attributes as
        ``record_exception``: a workflow's error or a timeout is no Python exception)."""
        if error is not None:
            kind, message = error
            if not recorded:
                span.add_event("exception", {"exception.type": kind,
                                             "exception.message": message})
            span.set_status(Status(StatusCode.ERROR, f"{kind}: {message}"))
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        span.end()

    @staticmethod
    def exception(span: Span, err: BaseException) -> None:
        span.record_exception(err)
        span.set_status(Status(StatusCode.ERROR, f"{type(err).__name__}: {err}"))
