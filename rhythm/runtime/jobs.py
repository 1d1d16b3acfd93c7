"""Running one claimed task execution and turning what happened into an outcome.

:class:`TaskRunner` owns the per-attempt rules of guarantees 2–4: argument binding,
sync tasks in the worker's thread pool and async ones on its loop, the per-attempt
timeout (an async task is cancelled; a sync task's late result is discarded), retries
with backoff and jitter, non-retryable exception types, cancellation requests, and
``transactional=True`` tasks whose result is recorded in the same transaction as their
own writes (fencing-checked, so they commit exactly once). Everything else is recorded
in batches by the worker's flusher through :meth:`TaskRunner.record`.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool, ConnectionPool

from rhythm.errors import InputError
from rhythm.observe.telemetry import context_wanted, note_exception
from rhythm.runtime import failures
from rhythm.runtime.clock import Clock
from rhythm.runtime.context import Current, call_as_task, start_as_task
from rhythm.runtime.notices import Notices
from rhythm.runtime.partitions import PLAIN
from rhythm.runtime.payloads import encode
from rhythm.runtime.sql import Q
from rhythm.runtime.tasks import ArgumentMismatch, TaskDefinition, TaskRegistry, bind_arguments
from rhythm.runtime.threads import TaskThreads
from rhythm.runtime.waiters import is_keyed, settle_waiters, settle_waiters_async

TERMINAL = ("completed", "failed", "cancelled")
log = logging.getLogger("rhythm.jobs")


@dataclass(frozen=True)
class Claim:
    """One claimed row, with the fencing token that every write about it must show."""

    id: str
    kind: str
    name: str
    inputs: Any
    queue: str
    attempt: int
    max_retries: int | None
    lease_losses: int
    options: dict[str, Any]
    token: int
    cancel_requested: bool
    parent_id: str | None
    version: str | None = None  # workflows: the pinned version
    wake_seq: int = 0  # workflows: settlements seen when claimed
    started_at: datetime | None = None  # workflows: when the first claim took it
    fresh: bool = False  # workflows: nothing saved yet (the claim checked): no load needed
    part: int = 0  # its partition (rhythm.runtime.partitions)
    scheduled_at: datetime | None = None  # when it was due (rows of a plain claim only)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Claim:
        return cls(
            id=row["id"], kind=row["kind"], name=row["name"], inputs=row["inputs"],
            queue=row["queue"], attempt=row["attempt"], max_retries=row["max_retries"],
            lease_losses=row["lease_losses"], options=row["options"] or {},
            token=row["claim_token"], cancel_requested=row["cancel_requested"],
            parent_id=row["parent_id"], version=row.get("version"),
            wake_seq=row.get("wake_seq") or 0, started_at=row.get("started_at"),
            fresh=bool(row.get("fresh")), part=row.get("part") or 0,
            scheduled_at=row.get("scheduled_at"),
        )


@dataclass(frozen=True)
class Outcome:
    """What to record for a claim. ``result`` is JSON text, already validated."""

    id: str
    token: int
    status: str  # completed | failed | cancelled | pending (a retry, or handed back)
    result: str | None = None
    error: dict[str, Any] | None = None
    run_at: datetime | None = None
    handed_back: bool = False
    part: int = 0  # the claim's partition (a batch is written one partition at a time)
    keyed: bool = False  # a task with an idempotency key: its end settles its waiters

    def to_json(self) -> str:
        head = json.dumps({
            "id": self.id, "token": self.token, "status": self.status, "error": self.error,
            "run_at": self.run_at.isoformat() if self.run_at else None,
            "handed_back": self.handed_back,
        })
        return f'{head[:-1]},"result":{self.result or "null"}}}'

    @classmethod
    def of(cls, claim: Claim, status: str, **fields: Any) -> Outcome:
        """The outcome of ``claim`` (its id, token and partition)."""
        return cls(claim.id, claim.token, status, part=claim.part,
                   keyed=is_keyed(claim.options), **fields)

    @classmethod
    def handed_back_now(cls, claim: Claim, now: datetime) -> Outcome:
        return cls.of(claim, "pending", run_at=now, handed_back=True)


def batch_json(batch: list[Outcome]) -> str:
    return "[" + ",".join(o.to_json() for o in batch) + "]"


class _Stale(Exception):
    """The claim went stale before a transactional task could record its result."""


class _Flags:
    """Why an attempt was interrupted from outside (heartbeat or shutdown)."""

    def __init__(self) -> None:
        self.lost = False
        self.handed_back = False
        self.cancel = False
        self.timed_out = False
        # Its own transaction is writing the result: a row no longer 'running' when the
        # heartbeat renews is that write landing, not a lost lease.
        self.recording = False


class TaskRunner:
    def __init__(
        self, url: str, registry: TaskRegistry, clock: Clock, threads: TaskThreads,
        worker_id: str,
    ) -> None:
        self.url = url
        self.registry = registry
        self.clock = clock
        self.threads = threads
        self.worker_id = worker_id
        self.topology = PLAIN  # the worker sets the database's once it has read it
        # Takes an outcome's '!admit:KEY' wake-up (its key's slot is free) and says True:
        # the worker's Admissions.freed (rhythm.runtime.concurrency).
        self.admit: Callable[[str], bool] = _not_admitted
        self._attempts: dict[str, tuple[_Flags, asyncio.Future[Any]]] = {}
        self._sync_pool: ConnectionPool[Any] | None = None
        self._async_pool: AsyncConnectionPool[Any] | None = None
        self._pool_lock = threading.Lock()

    # ------------------------------------------------------------- interruptions

    def abandon(self, claim: Claim) -> None:
        """The lease is lost: stop caring; whatever it produces will be rejected."""
        self._interrupt(claim, "lost")

    def request_cancel(self, claim: Claim) -> None:
        self._interrupt(claim, "cancel")

    def hand_back(self, claim: Claim) -> bool:
        """Interrupt an unfinished attempt so its row can go back to the queue; False
        when it already finished (its own outcome is on the way)."""
        return self._interrupt(claim, "handed_back")

    def _interrupt(self, claim: Claim, why: str) -> bool:
        entry = self._attempts.get(claim.id)
        if entry is None or entry[1].done():
            return False
        flags, future = entry
        setattr(flags, why, True)
        future.cancel()  # an async task is cancelled; a thread runs on, its result unused
        return True

    # ------------------------------------------------------------- one attempt

    async def run(self, claim: Claim, max_lease_losses: int) -> Outcome | None:
        """Run one attempt; None when a transactional task already recorded its result."""
        definition = self.registry.get(claim.name)
        if definition is None:
            return self._final(claim, failures.task_error(
                claim.name, failures.UNKNOWN_TASK,
                f"no task named {claim.name!r} is registered on worker {self.worker_id} "
                f"(queue {claim.queue!r}); known: {', '.join(self.registry.names()) or 'none'}",
                claim.attempt,
            ))
        if claim.cancel_requested:
            return self._cancelled(claim)
        if claim.lease_losses >= max_lease_losses:
            return self._final(claim, failures.task_error(
                claim.name, failures.WORKER_LOST,
                f"the workers running it stopped {claim.lease_losses} times (crash or kill)",
                claim.attempt,
            ))
        try:
            kwargs = bind_arguments(definition, claim.inputs)
        except ArgumentMismatch as err:
            return self._final(claim, failures.task_error(
                claim.name, failures.ARGUMENT_MISMATCH, str(err), claim.attempt))
        return await self._attempt(claim, definition, kwargs)

    async def _attempt(
        self, claim: Claim, definition: TaskDefinition, kwargs: dict[str, Any]
    ) -> Outcome | None:
        flags = _Flags()
        timeout = _timeout_of(claim, definition)
        deadline = None if timeout is None else self.clock.now() + timedelta(seconds=timeout)
        future = self._launch((claim, deadline), definition, kwargs, flags)
        self._attempts[claim.id] = (flags, future)
        try:
            if timeout is None:  # wait_for would wrap every attempt in one more Task
                value = await future
            else:
                async with asyncio.timeout(timeout):
                    value = await future
        except TimeoutError:
            flags.timed_out = True
            return self._failure(claim, definition, failures.task_error(
                claim.name, failures.TIMEOUT,
                f"attempt {claim.attempt} did not finish within {timeout:g}s", claim.attempt,
            ), retryable=True)
        except asyncio.CancelledError:
            if flags.cancel and not (flags.lost or flags.handed_back):
                return self._cancelled(claim)
            raise
        except _Stale:
            return None
        except psycopg.OperationalError as err:
            if not definition.transactional:
                return self._failure(claim, definition, failures.from_exception(
                    claim.name, err, claim.attempt), retryable=definition.is_retryable(err))
            # The runtime's own connection for the task's transaction was lost: not the
            # task's fault, so the row goes back (attempt not counted) once it reconnects.
            log.warning("database lost while running %s (%s); handing it back", claim.id, err)
            return Outcome.of(claim, "pending", handed_back=True,
                           run_at=self.clock.now() + timedelta(seconds=1))
        except Exception as err:
            note_exception(err)  # (its span records it, when traced)
            return self._failure(
                claim, definition, failures.from_exception(claim.name, err, claim.attempt),
                retryable=definition.is_retryable(err),
            )
        finally:
            self._attempts.pop(claim.id, None)
        if value is _RECORDED:
            return None
        if flags.cancel:
            return self._cancelled(claim)
        try:
            text = encode(value, f"result of task {claim.name!r}")
        except InputError as err:
            return self._final(claim, failures.task_error(
                claim.name, failures.RESULT_NOT_JSON, str(err), claim.attempt))
        return Outcome.of(claim, "completed", result=text)

    def recording(self, execution_id: str) -> bool:
        """True while a transactional task's own transaction writes its result."""
        entry = self._attempts.get(execution_id)
        return entry is not None and entry[0].recording

    def _launch(
        self, current: Current, definition: TaskDefinition, kwargs: dict[str, Any],
        flags: _Flags,
    ) -> asyncio.Future[Any]:
        """Start the attempt with ``current`` as what ``rhythm.current_task()`` says."""
        claim = current[0]
        if definition.is_async:
            coro = (self._call_transactional_async(claim, definition, kwargs, flags)
                    if definition.transactional else definition.fn(**kwargs))
            return start_as_task(current, functools.partial(asyncio.ensure_future, coro))
        call = (functools.partial(call_as_task, current, self._call_transactional_sync, claim,
                                  definition, kwargs, flags)
                if definition.transactional
                else functools.partial(call_as_task, current, definition.fn, **kwargs))
        if context_wanted():  # (the thread sees the attempt's span and log fields)
            call = functools.partial(contextvars.copy_context().run, call)
        return self.threads.run(call)

    # ------------------------------------------------------------- transactional tasks

    def _call_transactional_sync(
        self, claim: Claim, definition: TaskDefinition, kwargs: dict[str, Any], flags: _Flags
    ) -> object:
        with self._sync_connections().connection() as conn, conn.transaction():
            value = definition.fn(conn, **kwargs)
            outcome = self._completed(claim, value)
            if flags.timed_out or flags.lost or flags.handed_back or flags.cancel:
                raise _Stale(claim.id)  # too late: roll its writes back with it
            flags.recording = True
            with conn.cursor() as cur:
                cur.execute(Q["record_outcomes"], self._outcome_params([outcome]))
                rows = cur.fetchall()
                if not rows:
                    raise _Stale(claim.id)
                notices = self._notices(rows)
                if outcome.keyed:
                    settle_waiters(conn, outcome.part, [outcome.id], self.clock.now(), notices)
                notices.send(conn)
        return _RECORDED

    async def _call_transactional_async(
        self, claim: Claim, definition: TaskDefinition, kwargs: dict[str, Any], flags: _Flags
    ) -> object:
        pool = await self._async_connections()
        async with pool.connection() as conn, conn.transaction():
            value = await definition.fn(conn, **kwargs)
            outcome = self._completed(claim, value)
            flags.recording = True
            async with conn.cursor() as cur:
                await cur.execute(Q["record_outcomes"], self._outcome_params([outcome]))
                rows = await cur.fetchall()
                if not rows:
                    raise _Stale(claim.id)
                notices = self._notices(rows)
                if outcome.keyed:
                    await settle_waiters_async(conn, outcome.part, [outcome.id],
                                               self.clock.now(), notices)
                await notices.send_async(conn)
        return _RECORDED

    def _completed(self, claim: Claim, value: Any) -> Outcome:
        text = encode(value, f"result of task {claim.name!r}")  # InputError rolls back
        return Outcome.of(claim, "completed", result=text)

    def _sync_connections(self) -> ConnectionPool[Any]:
        with self._pool_lock:
            if self._sync_pool is None:
                self._sync_pool = ConnectionPool(
                    self.url, min_size=1, max_size=max(self.threads.max_workers, 1),
                    kwargs={"autocommit": True}, open=True,
                    check=ConnectionPool.check_connection,  # none broken by a restart
                )
            return self._sync_pool

    async def _async_connections(self) -> AsyncConnectionPool[Any]:
        if self._async_pool is None:
            pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
                self.url, min_size=1, max_size=10, kwargs={"autocommit": True}, open=False,
                check=AsyncConnectionPool.check_connection,
            )
            await pool.open()
            self._async_pool = pool
        return self._async_pool

    async def close(self) -> None:
        if self._sync_pool is not None:
            self._sync_pool.close(timeout=1.0)
        if self._async_pool is not None:
            await self._async_pool.close(timeout=1.0)

    # ------------------------------------------------------------- outcomes

    def _final(self, claim: Claim, error: dict[str, Any]) -> Outcome:
        return Outcome.of(claim, "failed", error=error)

    def _cancelled(self, claim: Claim) -> Outcome:
        return Outcome.of(claim, "cancelled",
                       error=failures.cancelled_error())

    def _failure(
        self, claim: Claim, definition: TaskDefinition, error: dict[str, Any], retryable: bool
    ) -> Outcome:
        max_retries = claim.max_retries if claim.max_retries is not None else definition.retries
        if retryable and claim.attempt <= max_retries:
            delay = definition.backoff.delay(claim.attempt)
            run_at = self.clock.now() + timedelta(seconds=delay)
            return Outcome.of(claim, "pending", error=error, run_at=run_at)
        return self._final(claim, error)

    def _outcome_params(
        self, batch: list[Outcome], queues: Sequence[str] = (), lease_until: datetime | None = None
    ) -> dict[str, Any]:
        """Parameters of ``record_outcomes``: finish the batch (all of one partition),
        settle and wake parents, and claim the woken ones on ``queues`` for this worker
        (none when ``queues`` is empty)."""
        now = self.clock.now()
        return {"batch": batch_json(batch), "now": now, "queues": list(queues),
                "worker": self.worker_id, "lease_until": lease_until or now,
                "part": batch[0].part, "notify": self.topology.notify_in_sql}

    def _notices(self, rows: list[Any]) -> Notices:
        """What ``record_outcomes`` rows ask to notify, when the application sends it
        (columns: ... wake, done at 6 and 7; the parents' wake-ups on the first row). A
        key's slot freed by an outcome ('!admit:KEY') is handed to ``admit``, never sent."""
        notices = Notices()
        app_sends = not self.topology.notify_in_sql
        for row in rows:
            freed = row[6] is not None and self.admit(row[6])
            if app_sends:
                notices.wake([None if freed else row[6], *(row[10] or ())])
                notices.done([row[7]])
        return notices

    async def record(
        self, conn: psycopg.AsyncConnection[Any], batch: list[Outcome],
        queues: Sequence[str] = (), lease_until: datetime | None = None,
    ) -> tuple[set[str], list[Claim]]:
        """Write a batch of outcomes, one statement per partition (each its own
        transaction); returns the ids accepted and the woken parents claimed for this
        worker (suspended ones on ``queues``, leased until ``lease_until``). Rows whose
        claim is stale are left alone by the database (fencing)."""
        accepted: set[str] = set()
        claimed: list[Claim] = []
        for part in sorted({o.part for o in batch}):
            outcomes = [o for o in batch if o.part == part]
            params = self._outcome_params(outcomes, queues, lease_until)
            if any(o.keyed for o in outcomes):
                rows = await self._record_keyed(conn, outcomes, params)
            else:
                cur = await conn.execute(Q["record_outcomes"], params)
                rows = await cur.fetchall()
                await self._notices(rows).send_async(conn)
            accepted.update(row[0] for row in rows)
            woken = next((row[-1] for row in rows if row[-1]), None) or []
            claimed.extend(Claim.from_row(c) for c in woken)
        return accepted, claimed

    async def _record_keyed(
        self, conn: psycopg.AsyncConnection[Any], outcomes: list[Outcome],
        params: dict[str, Any],
    ) -> list[Any]:
        """``record_outcomes`` for a batch with keyed tasks: in one transaction with the
        settlement of the workflows that await those that ended (rhythm.runtime.waiters)."""
        async with conn.transaction():
            cur = await conn.execute(Q["record_outcomes"], params)
            rows = await cur.fetchall()
            notices = self._notices(rows)
            ended = [row[0] for row in rows if row[1] in TERMINAL]
            keyed = {o.id for o in outcomes if o.keyed}
            ids = [i for i in ended if i in keyed]
            if ids:
                await settle_waiters_async(conn, outcomes[0].part, ids, params["now"], notices)
            await notices.send_async(conn)
        return rows


_RECORDED = object()


def _not_admitted(payload: str) -> bool:
    return False


def _timeout_of(claim: Claim, definition: TaskDefinition) -> float | None:
    per_call = claim.options.get("timeout")
    if isinstance(per_call, int | float) and not isinstance(per_call, bool) and per_call > 0:
        return float(per_call)
    return definition.timeout
