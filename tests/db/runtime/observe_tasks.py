"""Tasks for the observability tests (imported by worker processes: ``-m observe_tasks``)."""

from __future__ import annotations

import logging

import rhythm

log = logging.getLogger("observe_tasks")


@rhythm.task
def chatty(word: str) -> str:
    log.info("said %s", word)
    return word


@rhythm.task
def spanned(x: int) -> int:
    """A sync task with a span of its own (when the worker traces): a child of the
    attempt's span, though it runs on a worker thread."""
    from opentelemetry import trace

    with trace.get_tracer("observe_tasks").start_as_current_span("inner work"):
        return x + 1


@rhythm.task
def observations_alive() -> int:
    """How many observed executions this worker process still holds in memory."""
    import gc

    return sum(type(o).__name__ == "Observation" for o in gc.get_objects())
