"""The real :class:`~rhythm.observe.telemetry.Telemetry`: spans, metrics and log fields
around each activation and task attempt.

What is on is chosen when it is built: tracing (``rhythm.observe.tracing``, needs
``rhythm[otel]``), metrics (``rhythm.observe.metrics``, OpenTelemetry and/or Prometheus)
and the log fields of JSON logs (two context-variable writes). A
telemetry call that raises is logged and counted, never the workflow's or task's
failure: the work goes on unobserved.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from rhythm.observe.telemetry import (
    LOG_FIELDS,
    OBSERVATION,
    TRACEPARENT,
    Telemetry,
    log_fields,
)

if TYPE_CHECKING:
    from rhythm.observe.metrics import Metrics, Poller
    from rhythm.observe.tracing import Tracing
    from rhythm.runtime.jobs import Claim, Outcome

log = logging.getLogger("rhythm.telemetry")
ENDED = ("completed", "failed", "cancelled")


class Observation:
    """One activation or task attempt being observed; a context manager around it (a
    class rather than a generator: it runs twice per workflow step)."""

    __slots__ = ("began", "claim", "error", "owner", "recorded", "retry", "span", "span_token",
                 "status", "token", "tokens", "traceparent")

    def __init__(self, owner: Observing, claim: Claim) -> None:
        self.owner = owner
        self.claim = claim
        self.began = 0.0
        self.span: Any = None
        self.span_token: object = None  # makes a task attempt's span current
        self.token: object = None  # makes this the running observation
        self.tokens: tuple[Any, ...] = ()  # the other context variables set
        self.traceparent: str | None = None
        self.status: str | None = None  # how it ended (see task_done, workflow_done)
        self.error: tuple[str, str] | None = None  # (type, message) when it failed
        self.recorded = False  # an exception was recorded on the span
        self.retry = False

    def __enter__(self) -> Observation:
        self.began = time.perf_counter()
        owner = self.owner
        try:  # (owner.safely, inline: this runs twice per workflow step)
            owner.begin(self)
        except Exception:
            owner.failed("begin")
        # Only what is on is set: each costs a set and a reset, twice per workflow step.
        self.token = OBSERVATION.set(self)
        if owner.tracing is not None:
            self.tokens = (TRACEPARENT.set(self.traceparent),)
        if owner.log_fields:
            self.tokens += (LOG_FIELDS.set(log_fields(self.claim)),)
        return self

    def __exit__(self, kind: Any, err: BaseException | None, tb: Any) -> None:
        if isinstance(err, Exception):  # (not CancelledError: handed back, not failed)
            self.exception(err)
            self.error = self.error or (type(err).__name__, str(err))
        for token in reversed(self.tokens):
            token.var.reset(token)
        OBSERVATION.reset(self.token)  # type: ignore[arg-type]
        try:
            self.owner.end(self)
        except Exception:
            self.owner.failed("end")

    def exception(self, err: BaseException) -> None:
        tracing = self.owner.tracing
        if self.span is not None and tracing is not None:
            tracing.exception(self.span, err)
            self.recorded = True


class Observing(Telemetry):
    """Telemetry on: ``tracing``, ``metrics`` and the ``log_fields`` of JSON logs, each
    optional."""

    enabled = True

    def __init__(self, tracing: Tracing | None = None, metrics: Metrics | None = None,
                 *, log_fields: bool = True, metrics_port: int | None = None,
                 metrics_host: str = "0.0.0.0", poll_interval: float = 15.0) -> None:
        self.tracing = tracing
        self.metrics = metrics
        self.log_fields = log_fields  # what JSON logs add (rhythm.observe.logs)
        # A sync task's thread needs the attempt's context for its span or log fields.
        self.carry_context = tracing is not None or log_fields
        self.metrics_port = metrics_port
        self.metrics_host = metrics_host
        self.poll_interval = poll_interval
        self.poller: Poller | None = None
        self.server: Any = None
        self.clock: Any = None  # the worker's (start)

    # ------------------------------------------------------------------ hooks

    async def _observed(self, run: Callable[[Claim], Coroutine[Any, Any, None]],
                        claim: Claim) -> None:
        with self.activation(claim):
            await run(claim)

    def observed(self, run: Callable[[Claim], Coroutine[Any, Any, None]], claim: Claim
                 ) -> Coroutine[Any, Any, None]:
        return self._observed(run, claim)

    def activation(self, claim: Claim) -> Observation:
        """Observe one activation or task attempt (named so for the worker's resume path,
        which is always an activation)."""
        return Observation(self, claim)

    def task_done(self, claim: Claim, outcome: Outcome | None) -> None:
        obs = OBSERVATION.get()
        if obs is None:
            return
        obs.status = "completed" if outcome is None else outcome.status
        # Failed, or failed to be tried again (a cancellation or a hand-back is no error).
        if outcome is not None and outcome.error and outcome.status in ("failed", "pending"):
            obs.error = _error_of(outcome.error)
            obs.retry = outcome.status == "pending" and not outcome.handed_back

    def workflow_done(self, claim: Claim, status: str, error: Any,
                      snapshot_bytes: int | None) -> None:
        obs = OBSERVATION.get()
        if obs is None:
            return
        obs.status = status
        if status == "failed":
            obs.error = _error_of(error)
        if snapshot_bytes is not None and self.metrics is not None:
            self.safely("snapshot", self.metrics.record, "snapshot", float(snapshot_bytes),
                        claim.name)

    # --------------------------------------------------------------- lifecycle

    def serve(self) -> None:
        """Open the Prometheus endpoint (before the worker starts: a port in use is then
        one line of error, not a worker that runs without it)."""
        if self.metrics is not None and self.metrics_port is not None:
            self.server = self.metrics.serve(self.metrics_port, self.metrics_host)
            log.info("metrics on http://%s:%d/metrics", self.metrics_host, self.metrics_port)

    def start(self, worker: Any) -> None:
        """Poll queue depths and live workers, if metrics are on."""
        self.clock = worker.clock
        if self.metrics is None:
            return
        from rhythm.observe.metrics import Poller

        self.poller = Poller(self.metrics, worker.url, worker.clock, self.poll_interval,
                             worker.options.lease_seconds)
        self.poller.start()

    def stop(self) -> None:
        if self.poller is not None:
            self.poller.stop()
        if self.server is not None:
            server = self.server[0] if isinstance(self.server, tuple) else self.server
            server.shutdown()

    # --------------------------------------------------------------- internals

    def begin(self, obs: Observation) -> None:
        """Start the span, count the claim (Observation.__enter__)."""
        claim = obs.claim
        if self.tracing is not None:
            obs.span, obs.span_token, obs.traceparent = self.tracing.begin(claim)
        if self.metrics is not None:
            self.metrics.add("executions_claimed", claim.kind, claim.queue)
            due = claim.scheduled_at  # (claimed by a claim: rows an activation's commit
            if due is not None and self.clock is not None:  # took for us have none)
                self.metrics.record("schedule_to_start",
                                    max((self.clock.now() - due).total_seconds(), 0.0),
                                    claim.kind, claim.queue)

    def end(self, obs: Observation) -> None:
        """End the span, record durations and outcomes (Observation.__exit__)."""
        if obs.span is not None and self.tracing is not None:
            self.tracing.end(obs.span, obs.span_token, obs.error, obs.recorded)
        if self.metrics is not None:
            self._count(obs, time.perf_counter() - obs.began)

    def _count(self, obs: Observation, seconds: float) -> None:
        assert self.metrics is not None
        claim, status = obs.claim, obs.status
        if claim.kind == "task":
            self.metrics.record("task_duration", seconds, claim.queue, claim.name,
                                status or "interrupted")
            if obs.retry:
                self.metrics.add("task_retries", claim.queue, claim.name)
        else:
            self.metrics.record("activation_duration", seconds, claim.queue, claim.name)
        if status in ENDED:
            self.metrics.add("executions_completed", claim.kind, claim.queue, status)

    def safely(self, where: str, call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception:
            self.failed(where)

    def failed(self, where: str) -> None:
        """A telemetry call raised (in an ``except`` block): log it, count it."""
        log.exception("telemetry failed (%s); the work goes on unobserved", where)
        if self.metrics is not None:
            with contextlib.suppress(Exception):  # (the metrics may be what broke)
                self.metrics.add("telemetry_errors", where)


def _error_of(error: Any) -> tuple[str, str]:
    """(type, message) of a stored task or workflow error."""
    if isinstance(error, dict):
        kind = error.get("type") or error.get("name") or "Error"
        return str(kind), str(error.get("message", ""))[:1000]
    return "Error", str(error)[:1000]
