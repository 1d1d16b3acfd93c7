"""The real :class:`~rhythm.observe.telemetry.Telemetry`: spans, metrics and log fields
around each activation and task attempt.

What is on is chosen when it is built: tracing (``rhythm.observe.tracing``, needs
``rhythm[otel]``), metrics (``rhythm.observe.metrics``, OpenTelemetry and/or Prometheus)
and the log fields of JSON logs (always, they cost two context-variable writes). A
telemetry call that raises is logged and counted, never the workflow's or task's
failure: the work goes on unobserved.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
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
    """One activation or task attempt being observed."""

    __slots__ = ("began", "claim", "error", "recorded", "retry", "span", "status", "token",
                 "traceparent", "tracing")

    def __init__(self, claim: Claim, tracing: Tracing | None) -> None:
        self.claim = claim
        self.tracing = tracing
        self.began = time.perf_counter()
        self.span: Any = None
        self.token: object = None
        self.traceparent: str | None = None
        self.status: str | None = None  # how it ended (see task_done, workflow_done)
        self.error: tuple[str, str] | None = None  # (type, message) when it failed
        self.recorded = False  # an exception was recorded on the span
        self.retry = False

    def exception(self, err: BaseException) -> None:
        if self.span is not None and self.tracing is not None:
            self.tracing.exception(self.span, err)
            self.recorded = True


class Observing(Telemetry):
    """Telemetry on: ``tracing`` and ``metrics`` each optional; log fields always."""

    enabled = True

    def __init__(self, tracing: Tracing | None = None, metrics: Metrics | None = None,
                 *, metrics_port: int | None = None, metrics_host: str = "0.0.0.0",
                 poll_interval: float = 15.0) -> None:
        self.tracing = tracing
        self.metrics = metrics
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

    @contextmanager
    def activation(self, claim: Claim) -> Iterator[Observation]:
        """Observe one activation or task attempt (named so for the worker's resume path,
        which is always an activation)."""
        obs = Observation(claim, self.tracing)
        self._safely("begin", self._begin, obs)
        tokens = (LOG_FIELDS.set(log_fields(claim)), OBSERVATION.set(obs),
                  TRACEPARENT.set(obs.traceparent))
        try:
            yield obs
        except Exception as err:  # (not CancelledError: handed back, not failed)
            obs.exception(err)
            obs.error = obs.error or (type(err).__name__, str(err))
            raise
        finally:
            TRACEPARENT.reset(tokens[2])
            OBSERVATION.reset(tokens[1])
            LOG_FIELDS.reset(tokens[0])
            self._safely("end", self._end, obs)

    def task_done(self, claim: Claim, outcome: Outcome | None) -> None:
        obs = OBSERVATION.get()
        if obs is None:
            return
        obs.status = "completed" if outcome is None else outcome.status
        if outcome is not None and outcome.error and outcome.status != "completed":
            obs.error = _error_of(outcome.error)
            obs.retry = outcome.status == "pending" and not outcome.handed_back

    def workflow_done(self, claim: Claim, status: str, error: Any, snapshot: Any) -> None:
        obs = OBSERVATION.get()
        if obs is None:
            return
        obs.status = status
        if status == "failed":
            obs.error = _error_of(error)
        if snapshot is not None and self.metrics is not None:
            self._safely("snapshot", self.metrics.record, "snapshot",
                         float(len(json.dumps(snapshot))), claim.name)

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

    def _begin(self, obs: Observation) -> None:
        claim = obs.claim
        if self.tracing is not None:
            obs.span, obs.token, obs.traceparent = self.tracing.begin(claim)
        if self.metrics is not None:
            self.metrics.add("executions_claimed", claim.kind, claim.queue)
            due = claim.scheduled_at  # (claimed by a claim: rows an activation's commit
            if due is not None and self.clock is not None:  # took for us have none)
                self.metrics.record("schedule_to_start",
                                    max((self.clock.now() - due).total_seconds(), 0.0),
                                    claim.kind, claim.queue)

    def _end(self, obs: Observation) -> None:
        if obs.span is not None and self.tracing is not None:
            self.tracing.end(obs.span, obs.token, obs.error, obs.recorded)
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

    def _safely(self, where: str, call: Callable[..., None], *args: Any) -> None:
        try:
            call(*args)
        except Exception:
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
