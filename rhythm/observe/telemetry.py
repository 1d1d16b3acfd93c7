"""The worker's telemetry interface: the few calls worker.py, activation.py and jobs.py
make, and the context that travels with an activation or a task attempt.

:data:`NO_TELEMETRY` does nothing and says so (``enabled`` is False): the worker checks
that one attribute and skips every call, so a worker without tracing, metrics or JSON
logs pays nothing more. :class:`Observing` (rhythm.observe.observing) is the real one.
This module imports nothing outside the standard library: a plain worker loads it, and
never opentelemetry or prometheus_client.

Two context variables carry what the hooks need: the W3C ``traceparent`` of the running
activation (its tasks and children are started with it, see ``effect_rows``) and the
fields a JSON log line adds (execution, workflow or task, attempt).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractContextManager, nullcontext
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rhythm.runtime.jobs import Claim, Outcome

# The running activation's span as a W3C traceparent: what its effects are started with.
TRACEPARENT: ContextVar[str | None] = ContextVar("rhythm_traceparent", default=None)
# What a JSON log line says about the activation or task attempt it was written in.
LOG_FIELDS: ContextVar[dict[str, Any] | None] = ContextVar("rhythm_log_fields", default=None)
# The activation or attempt being observed (rhythm.observe.observing), if any.
OBSERVATION: ContextVar[Any] = ContextVar("rhythm_observation", default=None)

_NOTHING: AbstractContextManager[None] = nullcontext()


def current_traceparent() -> str | None:
    """The traceparent to start the running activation's tasks and children with."""
    return TRACEPARENT.get()


def client_traceparent() -> str | None:
    """The caller's current trace context (W3C traceparent) to store with a start or an
    enqueue, when the application uses OpenTelemetry: only if it has imported it
    already (a dictionary look-up otherwise; Rhythm never imports it for the caller)."""
    if "opentelemetry.trace" not in sys.modules:
        return None
    from rhythm.observe.tracing import injected

    return injected()


def context_wanted() -> bool:
    """Whether a sync task's thread needs the running attempt's context: its span or its
    JSON log fields (a context lookup)."""
    observation = OBSERVATION.get()
    return observation is not None and bool(observation.owner.carry_context)


def log_fields(claim: Claim) -> dict[str, Any]:
    """What a log line written during ``claim``'s activation or attempt names."""
    fields: dict[str, Any] = {"execution_id": claim.id, claim.kind: claim.name}
    if claim.kind == "task":
        fields["attempt"] = claim.attempt
    return fields


def note_exception(err: BaseException) -> None:
    """A task attempt raised ``err``: the attempt's span records it (if traced)."""
    observation = OBSERVATION.get()
    if observation is not None:
        observation.exception(err)


class Telemetry:
    """No telemetry: every hook does nothing. Subclassed by the real one."""

    enabled = False

    def observed(self, run: Callable[[Claim], Coroutine[Any, Any, None]], claim: Claim
                 ) -> Coroutine[Any, Any, None]:
        """``run(claim)`` (an activation or a task attempt), observed."""
        return run(claim)

    def activation(self, claim: Claim) -> AbstractContextManager[Any]:
        """Around an activation run outside :meth:`observed` (a task's outcome resuming
        its workflow in place)."""
        return _NOTHING

    def task_done(self, claim: Claim, outcome: Outcome | None) -> None:
        """The attempt's outcome (None: a transactional task recorded its own)."""

    def workflow_done(self, claim: Claim, status: str, error: Any,
                      snapshot_bytes: int | None) -> None:
        """An activation committed: the workflow is now ``status``, its snapshot (if it
        saved one) ``snapshot_bytes`` of JSON."""

    def start(self, worker: Any) -> None:
        """The worker (rhythm.runtime.worker.Worker) starts: poll queue depths (if
        metrics are on)."""

    def stop(self) -> None:
        """The worker stopped."""


NO_TELEMETRY = Telemetry()
