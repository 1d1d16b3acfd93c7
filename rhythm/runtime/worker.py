"""The worker: claims executions from Postgres, runs them, records their outcomes.

One asyncio loop per worker process drives everything:

* the **claim loop** starts buffered rows as slots free up and, when the local buffer
  runs low, claims up to ``free slots + prefetch`` rows per queue in one statement
  (``FOR UPDATE SKIP LOCKED``, fresh fencing token per claim; plan-proof, see
  :mod:`rhythm.runtime.claiming`). When a queue comes back short it sleeps until a
  NOTIFY on ``rhythm_wake`` names one of its queues, the next known due time arrives,
  or the backstop poll interval passes — whichever comes first;
* **jobs** run async tasks on the loop and sync tasks in a thread pool, each under its
  per-attempt timeout;
* the **flusher** writes finished outcomes in batches (one statement per batch) and the
  rows whose claim went stale are rejected by the database, not recorded;
* the **heartbeat** renews the leases of everything in flight, notices lost leases and
  cancellation requests, and puts back rows whose worker died (expired leases). It runs
  on a thread of its own (:mod:`rhythm.runtime.heartbeat`), so that an activation or
  async task that keeps the loop busy cannot stop the renewals of the others.

Workflow activations (:mod:`rhythm.runtime.activation`) are claimed from the same
queues as tasks and run on the loop, each committing in its own transaction. The worker
fires timers when the earliest known one is due; an idle worker sleeps until the next
due row *or timer*, so timers fire on time, not on the next poll.

Shutdown (SIGTERM/SIGINT, or :meth:`Worker.stop`): stop claiming, let in-flight jobs
finish for ``shutdown_grace`` seconds, then hand back what is still running; buffered
rows that never started are released at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import gc
import json
import logging
import os
import signal
import socket
import threading
import time
import traceback
import uuid
import weakref
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

import psycopg
from psycopg_pool import AsyncConnectionPool

from rhythm.errors import DatabaseError, RhythmError
from rhythm.flowrt.protocol import Limits
from rhythm.lifecycle.retention import DEFAULT_INTERVAL_S, Cleaner, Retention
from rhythm.lifecycle.scheduler import Scheduler
from rhythm.observe.entries import DEFAULT_SNAPSHOT_CAP
from rhythm.observe.telemetry import NO_TELEMETRY, Telemetry
from rhythm.runtime import failures
from rhythm.runtime.activation import (
    ActivationRunner,
    LocalStarts,
    Resumable,
    workflow_error,
)
from rhythm.runtime.cancelling import raise_if_cancelled
from rhythm.runtime.claiming import Claimer, open_claim_connection
from rhythm.runtime.clock import Clock, SystemClock
from rhythm.runtime.concurrency import Admissions, refuse_keys_on_citus
from rhythm.runtime.database import (
    check_if_idle,
    configure_keyed,
    connect_async,
    connect_keyed,
    resolve_url,
    translated,
)
from rhythm.runtime.groupcommit import UNSTORABLE, GroupCommit
from rhythm.runtime.heartbeat import HeartbeatThread
from rhythm.runtime.jobs import Claim, Outcome, TaskRunner
from rhythm.runtime.limits import LIMITS_PAYLOAD, Controls, read_controls, sync_buckets
from rhythm.runtime.notices import Notices, parse_wake
from rhythm.runtime.partitions import PLAIN, Topology
from rhythm.runtime.sql import Q
from rhythm.runtime.tasks import REGISTRY, TaskRegistry
from rhythm.runtime.threads import TaskThreads
from rhythm.runtime.versions import WorkflowVersions
from rhythm.store.connect import first_line

log = logging.getLogger("rhythm.worker")

RECONNECT_DELAY_MAX = 5.0
# psycopg's notifies() can swallow a cancellation that lands while it waits (seen: a
# stopping worker's listener stayed in it until _stop_helpers gave up after 5 s), so the
# listener waits in slices of this many seconds and asks whether it was told to stop.
NOTIFIES_WAIT = 0.5
START_RETRY_FIRST = 0.5  # seconds before the second attempt to connect at start-up
START_RETRY_MAX = 30.0  # cap of the start-up backoff
HELPER_STOP_WAIT = 5.0  # seconds a cancelled helper may take to end before we go on
OUTCOMES_WAIT = 5.0  # seconds a stopping worker waits for its last outcomes to be recorded
HAND_BACK_WAIT = 1.0  # seconds handed-back jobs get to notice it before the worker closes
POOL_CHECK_IDLE = 1.0  # seconds idle after which a pooled or group connection is checked
COMMITS_PER_SLOT = 4  # commits under way that may free a slot each, per unit of concurrency
KEPT_WORKFLOWS = 1000  # suspended workflows kept in memory to resume without a load


TRANSIENT = (
    psycopg.OperationalError,  # a lost connection, a restart, a pool timeout
    DatabaseError,  # a connection that cannot be opened (translated at the store)
    psycopg.errors.DeadlockDetected,
    psycopg.errors.SerializationFailure,
    psycopg.errors.LockNotAvailable,
    psycopg.errors.QueryCanceled,
)
"""Errors of the moment, not of the execution: it runs again (its lease expires) instead
of failing as an internal error."""

# Citus reports a worker node it cannot reach as an internal error (XX000), not as a
# connection failure: "failure on connection marked as essential: HOST:PORT", or
# "connection to the remote node ... failed"; and a node shutting down mid-statement
# (a restart) as the node's own notice, relayed as XX000 too (not 57P01), or as libpq's
# "server closed the connection unexpectedly" from the coordinator's connection to it.
_NODE_LOST = ("failure on connection marked as essential", "connection to the remote node",
              "terminating connection due to administrator command",
              "server closed the connection unexpectedly")


def transient(err: BaseException) -> bool:
    """Is ``err`` one of :data:`TRANSIENT`, or a Citus node out of reach?"""
    if isinstance(err, TRANSIENT):
        return True
    return isinstance(err, psycopg.errors.InternalError_) \
        and any(marker in str(err) for marker in _NODE_LOST)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class WorkerOptions:
    queues: Sequence[str] = ("default",)
    concurrency: int = 10
    lease_seconds: float = 30.0  # a dead worker's rows are re-run after this long
    poll_interval: float = 5.0  # backstop when no NOTIFY arrives (never the only path)
    shutdown_grace: float = 30.0  # in-flight jobs may finish for this long on shutdown
    max_lease_losses: int = 5  # a row whose workers keep dying fails after this many
    batch_size: int = 500  # largest completion batch written in one statement
    prefetch: int | None = None  # rows claimed beyond free slots; None: max(100, 2 x concurrency)
    worker_id: str = field(default_factory=lambda: default_worker_id())
    limits: Limits = field(default_factory=Limits)  # of every activation (spec section 9)
    retention: Retention = field(default_factory=Retention)  # defaults (docs/lifecycle.md)
    cleanup_interval: float | None = DEFAULT_INTERVAL_S  # seconds; None: no cleaner here
    history_snapshot_cap: int = DEFAULT_SNAPSHOT_CAP  # bytes of snapshot JSON a history entry keeps


@dataclass
class _InFlight:
    claim: Claim
    job: asyncio.Task[None]
    lost: bool = False
    # Its own final write (activation commit, hand-back) is sent: the row may leave
    # 'running' under this claim before the job leaves the in-flight table, so a renewal
    # that misses it is that write landing, not a lost lease. (A real loss still shows:
    # the write is fenced, rejected and logged as a stale claim.)
    finishing: bool = False


class _SlotRelease:
    """One in-flight execution's slot, given up while its commit is under way (see
    ``Worker._free``) and taken back if it runs user code again or leaves."""

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._given = False

    def give_up(self) -> None:
        if not self._given:
            self._given = True
            self._worker._committing += 1
            self._worker._fill_slots()

    def take_back(self) -> None:
        if self._given:
            self._given = False
            self._worker._committing -= 1


class _PoolLease:
    """A pooled connection taken only if asked for (``await lease()``) and given back on
    exit, or sooner (:meth:`release`): a resumed activation usually needs none (its
    commit goes through the group), a claimed one only for its load (none when the
    claim found nothing saved to load)."""

    def __init__(self, pool: AsyncConnectionPool[Any]) -> None:
        self._pool = pool
        self._conn: psycopg.AsyncConnection[Any] | None = None

    async def __call__(self) -> psycopg.AsyncConnection[Any]:
        if self._conn is None:
            self._conn = await self._pool.getconn()
        return self._conn

    async def release(self) -> None:
        """Give the connection back now; a later ``await lease()`` takes one again."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            await self._pool.putconn(conn)

    async def __aenter__(self) -> _PoolLease:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.release()  # the pool resets or discards it as it finds it


def freeze_startup_heap() -> None:
    """Leave the objects of start-up out of the cyclic garbage collector's work.

    What is alive once a worker process has imported its task modules and compiled its
    workflows (modules, classes, machines, the build toolchain's caches) lives as long
    as the process, yet every full collection scans every tracked object: here ~25-30 ms
    for ~57,000 objects, in the middle of a drain, and proportionally more in a large
    application. ``gc.freeze()`` moves them to the permanent generation, so that later
    collections scan only what was created since (the recipe of the ``gc`` docs, for
    forking servers). Garbage cycles that start-up already left stay (a fixed amount,
    once). It is process-wide, so it belongs to the worker's own process: ``rhythm
    worker`` calls it (and the benchmarks' drain, which stands for it); an application
    that runs a Worker inside its own process may call it too.
    """
    gc.freeze()


def _key(claim: Claim) -> tuple[str, int]:
    """A claim's identity: the row and its fencing token."""
    return (claim.id, claim.token)


class Worker:
    """A worker process's engine. ``await worker.run()`` until :meth:`stop`."""

    def __init__(
        self,
        url: str | None = None,
        *,
        registry: TaskRegistry | None = None,
        clock: Clock | None = None,
        versions: WorkflowVersions | None = None,
        telemetry: Telemetry | None = None,
        **options: Any,
    ) -> None:
        self.url = resolve_url(url)
        self.options = WorkerOptions(**options)
        if not self.options.queues:
            raise ValueError("a worker needs at least one queue")
        self.registry = registry or REGISTRY
        self.clock = clock or SystemClock()
        self.id = self.options.worker_id
        # Keyed by claim, not id: a workflow's next activation (its parent woken and claimed
        # by our own flush) may start before the previous one's job has left the table.
        self._inflight: dict[tuple[str, int], _InFlight] = {}
        # In-flight executions whose user code is done and whose commit is under way (a
        # task's outcome with its workflow's next step, an activation's commit): their
        # slots are free meanwhile (see _free and _SlotRelease).
        self._committing = 0
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._urgent = False
        self._outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self._threads = TaskThreads(self.options.concurrency, "rhythm-task")
        self._runner = TaskRunner(self.url, self.registry, self.clock, self._threads, self.id)
        self.versions = versions or WorkflowVersions()
        prefetch = self.options.prefetch
        if prefetch is None:
            prefetch = max(100, 2 * self.options.concurrency)
        self._claimer = Claimer(self.url, self.id, self.options.queues, self.clock,
                                self.options.lease_seconds, max(prefetch, 0),
                                names=self.registry.names())
        self._hinted = True  # a NOTIFY (or start-up): claim even if a queue came back short
        # Queue controls (rhythm.runtime.limits), as of the last read: the queues whose
        # executions may be taken without a claim (local starts, woken parents, resumes
        # in place); which task names may start locally is _local_tasks (below).
        self._takeable = list(self.options.queues)
        self.group = GroupCommit(functools.partial(connect_keyed, self.url),
                                 check_idle=POOL_CHECK_IDLE)
        self._activations = ActivationRunner(self.versions, self.clock, self.options.limits,
                                             on_timer=self._claimer.timer_added,
                                             group=self.group)
        self._activations.worker = self.id  # (its history entries say who wrote them)
        self._activations.history_cap = self.options.history_snapshot_cap
        # Spans, metrics, log fields (rhythm.observe); off: one attribute check per job.
        self.telemetry = self._activations.telemetry = telemetry or NO_TELEMETRY
        self._pool: AsyncConnectionPool[Any] | None = None
        self._queue_set = frozenset(self.options.queues)
        self._admissions = Admissions(self._pooled, self._admission_taking, self._admitted)
        self._runner.admit = self._admissions.freed
        self.cleaner = Cleaner(self._pooled, self.clock, lambda: self.topology,
                               self.options.retention, self.options.cleanup_interval or 0.0)
        self._scheduler = Scheduler(self._pooled, self.clock)  # (rhythm.lifecycle)
        self._local_tasks: frozenset[str] = frozenset()  # may start from a commit (_register)
        self._unkeyed: frozenset[str] = frozenset()  # task names without a concurrency key
        self._idle_since: weakref.WeakKeyDictionary[Any, float] = weakref.WeakKeyDictionary()
        self.activations = 0
        self.resumed = 0  # activations driven straight by a local task's outcome
        # Workflows suspended on one task that we may run, by task id (see _resume);
        # oldest first, at most KEPT_WORKFLOWS (a task another worker ran never asks).
        self._resumable: dict[str, Resumable] = {}
        self.registered = threading.Event()  # set once tasks and versions are registered
        self._flush_conn: psycopg.AsyncConnection[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._context = contextvars.Context()  # what each execution starts in (run)
        self._heartbeat = HeartbeatThread(self.url, self.options.lease_seconds / 3, self._beat)
        self.recorded = 0
        self.rejected = 0
        self.topology = PLAIN

    @property
    def claimed(self) -> int:
        """Rows claimed so far (counter, for tests and the benchmark)."""
        return self._claimer.claimed

    @property
    def _claim_conn(self) -> psycopg.AsyncConnection[Any] | None:
        return self._claimer.conn

    # ----------------------------------------------------------------- lifecycle

    def stop(self, urgent: bool = False) -> None:
        """Stop claiming; ``urgent`` hands back in-flight work without waiting."""
        self._urgent = self._urgent or urgent or self._stopping.is_set()
        self._stopping.set()
        self._wake.set()

    def run_forever(self) -> None:
        """Run until SIGTERM or SIGINT (a second one hands back in-flight work at once)."""
        asyncio.run(self._run_with_signals())

    async def _run_with_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, self.stop)
        await self.run()

    async def run(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._context = contextvars.copy_context()
        if not await self._connect_at_start():
            log.info("worker %s stopped before it could connect", self.id)
            return
        self._use_topology(self._claimer.topology)
        self._pool = AsyncConnectionPool(
            self.url, min_size=1, max_size=max(2, min(self.options.concurrency, 20)),
            kwargs={"autocommit": True}, open=False,
            configure=functools.partial(configure_keyed, citus=self.topology.citus),
            check=self._idle_check, reset=self._returned,
        )
        helpers: list[asyncio.Task[None]] = []
        try:
            # Side by side, not one after the other: each connection costs a few ms, and
            # the first claims wait for all of them. The group commit serves workflow
            # activations only: a worker without workflows of its own opens it if ever
            # needed.
            while not await self._start_up():  # (the database went away meanwhile)
                if not await self._connect_at_start():
                    log.info("worker %s stopped before it could connect", self.id)
                    return
            self.registered.set()
            self._heartbeat.start()
            self.telemetry.start(self)
            helpers = [
                asyncio.create_task(self._listen(), name="rhythm-listen"),
                asyncio.create_task(self._flusher(), name="rhythm-flush"),
            ]
            if not self.topology.citus:  # (per-key concurrency is refused there)
                helpers.append(asyncio.create_task(self._admissions.run(),
                                                   name="rhythm-admit"))
            if self.options.cleanup_interval is not None:
                helpers.append(asyncio.create_task(self.cleaner.run(), name="rhythm-cleanup"))
            helpers.append(asyncio.create_task(self._scheduler.run(self.topology),
                                               name="rhythm-schedules"))
            await self._claim_loop()
            await self._release_buffered()
            await self._drain()
        finally:
            await self._settle_outcomes()
            self.telemetry.stop()
            await _stop_helpers(helpers)
            await self._stop_heartbeat()
            await self._unregister()
            await self._runner.close()
            if self._pool is not None:
                await self._pool.close(timeout=1.0)
            await self.group.close()
            await self._claimer.close()
            if self._flush_conn is not None:
                await self._flush_conn.close()
            self._threads.shutdown()
            log.info("worker %s stopped", self.id)

    def _use_topology(self, topology: Topology) -> None:
        """The database's partitions (read by the claimer as it connected): every part of
        the worker that writes names them."""
        self.topology = topology
        self._runner.topology = self._activations.topology = self.group.topology = topology
        self.group.connect = functools.partial(connect_keyed, self.url, topology.citus)
        if topology.partitions > 1 or topology.citus:
            log.info("database: %d partitions%s", topology.partitions,
                     " on Citus" if topology.citus else "")

    async def _settle_outcomes(self) -> None:
        """Let the flusher record the outcomes still queued, but not for ever: with the
        database down it would retry until it came back, and the worker must stop on a
        signal whatever the database does. Those not recorded within
        :data:`OUTCOMES_WAIT` seconds are left: their leases expire, they run again."""
        joining = asyncio.ensure_future(self._outcomes.join())
        done, _ = await asyncio.wait([joining], timeout=OUTCOMES_WAIT)
        if not done:
            joining.cancel()
            self._urgent = True  # reconnects give up at once from now on
            log.warning("%d outcomes could not be recorded in %ss; their leases will "
                        "expire", self._outcomes.qsize() or "some", OUTCOMES_WAIT)

    async def _stop_heartbeat(self) -> None:
        self._heartbeat.stop()
        if not await asyncio.to_thread(self._heartbeat.join, HELPER_STOP_WAIT):
            log.error("the heartbeat thread did not stop within %ss; stopping without it",
                      HELPER_STOP_WAIT)

    async def _connect_at_start(self) -> bool:
        """Open the claim connection, retrying with capped exponential backoff (one log
        line per attempt) while the database cannot be reached, and giving up at once
        when the worker is told to stop (a signal is honoured during a connection
        attempt too, not only between them). True once connected; False when stopped
        first. A missing, older or newer schema is not retried: MigrationError, which
        the CLI reports as "run `rhythm migrate`" (exit 3)."""
        delay = START_RETRY_FIRST
        attempt = 0
        while not self._stopping.is_set():
            attempt += 1
            try:
                return await self._unless_stopped(self._claimer.open())
            except DatabaseError as err:
                if not isinstance(err.__cause__, psycopg.OperationalError):
                    raise  # a schema to migrate, a bad URL: waiting will not mend it
                log.warning("worker %s cannot connect (attempt %d): %s; retrying in %.1fs",
                            self.id, attempt, err, delay)
            except (psycopg.OperationalError, OSError) as err:
                log.warning("worker %s cannot connect (attempt %d): %s; retrying in %.1fs",
                            self.id, attempt, err, delay)
            if not await self._unless_stopped(asyncio.sleep(delay)):
                return False
            delay = min(delay * 2, START_RETRY_MAX)
        return False

    async def _start_up(self) -> bool:
        """Register, and open the flusher's connection, the pool and the group commit's
        first connection. False when the database could not be reached meanwhile (a
        restart just after the claim connection opened): the claim connection and the
        flusher's are closed, to be opened again from the top; other errors are raised
        as one line."""
        assert self._pool is not None
        starting = [self._register(), self._open_flusher(), self._pool.open()]
        if self.versions.local:
            starting.append(self.group.prepare())
        # (every step to its end, so that none is still running when they start again)
        outcomes = await asyncio.gather(*starting, return_exceptions=True)
        failed = [err for err in outcomes if isinstance(err, BaseException)]
        if not failed:
            return True
        if not all(isinstance(err, psycopg.OperationalError) for err in failed):
            with translated("worker start-up"):  # (one line, not a traceback)
                raise failed[0]
        log.warning("worker %s lost the database during start-up (%s); starting again",
                    self.id, first_line(failed[0]))
        await self._claimer.close()
        if self._flush_conn is not None:
            await self._flush_conn.close()
            self._flush_conn = None
        await asyncio.sleep(START_RETRY_FIRST)
        return False

    async def _unless_stopped(self, step: Awaitable[None]) -> bool:
        """Run ``step`` unless the worker is told to stop first (then cancel it, close
        the claim connection if it opened meanwhile, and say False)."""
        running = asyncio.ensure_future(step)
        stopping = asyncio.create_task(self._stopping.wait())
        await asyncio.wait([running, stopping], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if running.done():
            running.result()  # its error, if any
            return True
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await running
        await self._claimer.close()
        return False

    async def _open_flusher(self) -> None:
        self._flush_conn = await connect_keyed(self.url, self.topology.citus)

    def _pooled(self) -> Any:
        """A pooled connection (an async context manager)."""
        assert self._pool is not None
        return self._pool.connection()

    async def _returned(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._idle_since[conn] = time.monotonic()

    async def _idle_check(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Check a pooled connection on checkout only if it sat idle for a while."""
        await check_if_idle(conn, self._idle_since.get(conn, 0.0), POOL_CHECK_IDLE)

    async def _register(self) -> None:
        assert self._claim_conn is not None
        now = self.clock.now()
        definitions = self.registry.definitions()
        refuse_keys_on_citus(definitions, self.topology)
        routes = [{"name": d.name, "queue": d.queue,
                   "concurrency": d.concurrency and d.concurrency.route(),
                   "rate_limit": d.rate_limit.spec if d.rate_limit else None}
                  for d in definitions]
        # (a task with a concurrency key waits for its slot: never started by a commit;
        # nor is a rate-limited one, see _apply_controls)
        self._unkeyed = frozenset(d.name for d in definitions if d.concurrency is None)
        async with self._claim_conn.transaction():
            if self.topology.citus:
                await self._claim_conn.execute(Q["one_connection_per_node"])
            await self._claim_conn.execute(Q["register_worker"], {
                "id": self.id, "host": socket.gethostname(), "pid": os.getpid(),
                "queues": list(self.options.queues), "now": now,
                # (the names it claims, and how long until it counts as gone: status)
                "tasks": self.registry.names(),
                "lease_seconds": self.options.lease_seconds,
            })
            before = await read_controls(self._claim_conn)
            await self._claim_conn.execute(
                Q["register_task_routes"], {"routes": json.dumps(routes), "now": now}
            )
            keyed = [d.name for d in definitions if d.concurrency is not None]
            if keyed:  # (tasks queued before their route said they have a key)
                await self._claim_conn.execute(Q["key_queued_tasks"],
                                               {"names": keyed, "now": now})
            # Our task names' limits as registered now: if that changed any, the buckets
            # follow and every worker is told (in this transaction).
            changed = any(before.task_limits.get(d.name) != d.rate_limit
                          for d in definitions)
            controls = await sync_buckets(self._claim_conn, self.topology.partitions, now,
                                          announce=changed)
            released = await self.versions.register(self._claim_conn, now)
        self._apply_controls(controls)
        if released:
            log.info("%d workflow(s) started before their version was registered can run now",
                     released)
        log.info("worker %s on queues %s, tasks %s, workflows %s", self.id,
                 list(self.options.queues), self.registry.names(),
                 sorted({name for name, _ in self.versions.local}))

    def _apply_controls(self, controls: Controls) -> None:
        """Obey ``controls`` from now on: the claimer skips paused queues and takes
        tokens for limited ones; what is taken without a claim (local starts, woken
        parents, a workflow resumed in place) leaves out paused and rate-limited queues,
        and local starts rate-limited tasks (they would take no token)."""
        self._claimer.controls = controls
        self._takeable = controls.takeable(self.options.queues)
        self._local_tasks = controls.local_tasks(self._unkeyed)
        if controls.paused or controls.queue_limits or controls.task_limits:
            log.info("queue controls: paused %s, queue limits %s, task limits %s",
                     sorted(controls.paused & set(self.options.queues)),
                     {q: r.spec for q, r in controls.queue_limits.items()},
                     {n: r.spec for n, r in controls.task_limits.items()})

    async def _refresh_controls(self) -> None:
        """Read the queue controls again (a '!limits' NOTIFY, or the listener came
        back and may have missed one), on a pooled connection."""
        if self._pool is None:
            return
        try:
            async with self._pool.connection() as conn:
                controls = await read_controls(conn)
        except (psycopg.Error, RhythmError) as err:
            log.warning("cannot read the queue controls (%s); keeping the last ones", err)
            return
        self._apply_controls(controls)

    async def _unregister(self) -> None:
        with contextlib.suppress(psycopg.Error, RhythmError):
            conn = await self._fresh(self._claim_conn)
            await conn.execute(Q["unregister_worker"], {"id": self.id})

    # ----------------------------------------------------------------- claiming

    def _free(self) -> int:
        """Slots for more executions: ``concurrency`` minus those running user code (a
        task's function, a workflow's machine). One whose code is done gives its slot up
        while its commit is under way, so that the next one starts instead of waiting for
        that round trip - and commits queue up into larger batches. At most
        ``COMMITS_PER_SLOT x concurrency`` of them count as free slots at once: the
        worker's back-pressure against a slow database (docs/runtime.md, *Slots*)."""
        committing = min(self._committing, COMMITS_PER_SLOT * self.options.concurrency)
        return self.options.concurrency - len(self._inflight) + committing

    async def _claim_loop(self) -> None:
        loop = asyncio.get_running_loop()
        retry_at = 0.0  # loop time when a queue that came back short is worth a new claim
        while not self._stopping.is_set():
            self._wake.clear()
            wait = self.options.poll_interval
            try:
                await self._claimer.fire_timers()
                self._start_buffered()
                if self._claimer.wants(self._free()):
                    if self._hinted or loop.time() >= retry_at:
                        self._hinted = False
                        short = await self._claimer.refill(self._free())
                        self._start_buffered()
                        if not short:
                            continue  # claimed all it asked for: more may be ready
                        retry_at = loop.time() + await self._idle_delay()
                    wait = retry_at - loop.time()
                wait = min(wait, self._claimer.seconds_to_timer())
            except psycopg.OperationalError as err:
                log.warning("claim failed (%s); reconnecting", err)
                wait = await self._reconnect_claim()
            if wait > 0 and not self._stopping.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()

    def _start_buffered(self) -> None:
        if self._stopping.is_set():
            return
        for claim in self._claimer.take(self._free()):
            self._start(claim)

    def _fill_slots(self) -> None:
        """A slot came free or rows joined the buffer: start buffered rows now, and wake
        the claim loop (it may claim more). Not left to the claim loop alone: while its
        claim is under way (milliseconds under load) it starts nothing, and slots would
        sit empty beside a buffer of claimed rows."""
        self._start_buffered()
        self._wake.set()

    async def _idle_delay(self) -> float:
        """Seconds until the earliest known due row or timer, capped by the backstop."""
        due = await self._claimer.next_due()
        if due is None:
            return self.options.poll_interval
        seconds = (due - self.clock.now()).total_seconds()
        # A due row we could not claim is locked by another claimer right now.
        return min(max(seconds, 0.05), self.options.poll_interval)

    async def _reconnect_claim(self) -> float:
        """Reopen the claim connection, with backoff, until it opens or the worker is
        told to stop (then at once: a stopping worker claims nothing anyway, and a
        database that stays down must not keep it from stopping)."""
        delay = 0.1
        while not self._stopping.is_set():
            with contextlib.suppress(Exception):
                await self._claimer.close()
                if await self._unless_stopped(self._open_claim_connection()):
                    self._hinted = True
                return 0.0
            if not await self._unless_stopped(asyncio.sleep(delay)):
                break
            delay = min(delay * 2, RECONNECT_DELAY_MAX)
        return 0.0

    async def _open_claim_connection(self) -> None:
        self._claimer.conn = await open_claim_connection(self.url)

    async def _release_buffered(self) -> None:
        """Shutdown: rows claimed but never started go straight back to their queues."""
        if not self._claimer.buffer:
            return
        count = len(self._claimer.buffer)
        try:
            conn = await self._fresh(self._flush_conn)
            released = await self._claimer.release(conn)
            log.info("released %d of %d buffered executions", released, count)
        except (psycopg.Error, RhythmError) as err:
            log.warning("cannot release %d buffered executions (%s); their leases will "
                        "expire", count, err)

    def _start(self, claim: Claim) -> None:
        # In the worker's own context, not the one of the execution whose end freed the
        # slot (asyncio would copy it): else the new one inherits its span as parent and
        # its observation, and each observation's context token keeps the one before it
        # alive, an ever longer chain for the garbage collector to walk.
        run = self._activate if claim.kind == "workflow" else self._execute
        job = asyncio.create_task(
            self.telemetry.observed(run, claim) if self.telemetry.enabled else run(claim),
            name=f"rhythm-{claim.kind}-{claim.id}", context=self._context.copy())
        self._inflight[_key(claim)] = _InFlight(claim, job)

    async def _activate(self, claim: Claim) -> None:
        """One workflow activation; it commits itself (claim-token checked). A lost
        connection gets one more try on a fresh connection at once (harmless if the
        first commit did land: the claim is no longer 'running', so nothing is written);
        after that, the row's lease expires and the activation runs again elsewhere."""
        slot = _SlotRelease(self)

        def committing() -> None:
            self._finishing(claim)
            slot.give_up()

        try:
            assert self._pool is not None
            for tries_left in (1, 0):
                try:
                    async with _PoolLease(self._pool) as lease:
                        await self._activations.run(
                            lease, claim, self.options.max_lease_losses,
                            on_commit=committing, local=self._local_starts,
                            release=lease.release)
                    break
                except psycopg.OperationalError as err:
                    slot.take_back()  # it runs the machine again
                    if not tries_left:
                        raise
                    log.info("activation of %s lost its connection (%s); again", claim.id, err)
            self.activations += 1
        except asyncio.CancelledError:
            pass
        except Exception as err:
            if transient(err):
                log.warning("activation of %s interrupted (%s); it will run again",
                            claim.id, err)
            else:
                log.exception("internal error activating %s; failing it", claim.id)
                await self._fail_activation(claim, err)
        finally:
            slot.take_back()
            self._inflight.pop(_key(claim), None)
            self._fill_slots()
        if self._stopping.is_set():  # tasks its commit claimed for us as we began stopping
            await self._release_buffered()

    async def _fail_activation(self, claim: Claim, err: Exception) -> None:
        """An activation that raised (a bug, never the workflow's own doing) fails its
        execution at once with that error, named as itself: run again it would most
        likely raise again, until its lost leases read as ``WorkerLost``."""
        self._finishing(claim)
        error = workflow_error(claim, "InternalError", f"{type(err).__name__}: {err}"[:2000])
        if self.telemetry.enabled:
            self.telemetry.workflow_done(claim, "failed", error, None)
        assert self._pool is not None
        try:
            async with _PoolLease(self._pool) as lease:
                await self._activations.fail(lease, claim, error)
        except Exception:  # the database too: the lease expires, it runs again
            log.exception("cannot record the failure of %s; its lease will expire", claim.id)

    def _local_starts(self) -> LocalStarts | None:
        """Which tasks an activation committing now may claim for this worker: those of
        its queues it has registered, as many as a claim would take now (free slots +
        prefetch - buffered: a fan-out is left to other workers too; maybe none); no
        LocalStarts at all once it is stopping."""
        if self._stopping.is_set():
            return None
        room = self._free() + self._claimer.prefetch - len(self._claimer.buffer)
        return LocalStarts(
            self.id, self._takeable, self._local_tasks,
            self.clock.now() + timedelta(seconds=self.options.lease_seconds),
            self._take_started, max(room, 0))

    def _take_started(self, claims: list[Claim], resumable: Resumable | None) -> None:
        """Tasks an activation's commit claimed for this worker join the local buffer
        (held under lease like any claim) and start as soon as a slot is free. The
        workflow waiting on one task is kept to resume with its outcome, whether the
        commit claimed that task or queued it (the buffer was full): the claim loop
        usually takes it later, and then its outcome needs no load either."""
        if claims:
            self._claimer.add(claims)
            self._fill_slots()
        if resumable is not None:
            self._resumable[resumable.task_id] = resumable
            if len(self._resumable) > KEPT_WORKFLOWS:
                del self._resumable[next(iter(self._resumable))]

    def _finishing(self, claim: Claim) -> None:
        flight = self._inflight.get(_key(claim))
        if flight is not None:
            flight.finishing = True

    async def _execute(self, claim: Claim) -> None:
        slot = _SlotRelease(self)
        again = False  # a retry or a hand-back: the workflow's kept state waits for it
        try:
            outcome = await self._runner.run(claim, self.options.max_lease_losses)
            if self.telemetry.enabled:
                self.telemetry.task_done(claim, outcome)
            if outcome is None:
                self.recorded += 1  # recorded inside the task's own transaction
            else:
                again = outcome.status == "pending"
                if not await self._resume(claim, outcome, slot):
                    await self._outcomes.put(outcome)
        except asyncio.CancelledError:
            pass  # handed back or lease lost: the outcome is someone else's now
        except Exception as err:
            if transient(err):
                log.warning("running %s was interrupted (%s); its lease will expire",
                            claim.id, err)
            else:  # a bug: fail it as itself (see _fail_activation)
                log.exception("internal error running %s; failing it", claim.id)
                await self._outcomes.put(Outcome.of(claim, "failed", error=(
                    failures.task_error(claim.name, "InternalError",
                                        f"{type(err).__name__}: {err}"[:2000],
                                        claim.attempt))))
        finally:
            slot.take_back()
            if not again:
                self._resumable.pop(claim.id, None)
            self._inflight.pop(_key(claim), None)
            self._fill_slots()

    async def _resume(self, claim: Claim, outcome: Outcome, slot: _SlotRelease) -> bool:
        """A task's final outcome resumes the workflow that waits on it, if we kept that
        workflow's state (:class:`Resumable`): one transaction records the outcome and
        commits the workflow's next activation, with no flush, wake-up, claim or load in
        between. False (nothing written) when there is no such workflow, the outcome is
        a retry, the worker is stopping, or the database's guard says something else
        happened to the workflow meanwhile: then the flusher records it as usual. A
        retry keeps the state: the next attempt's outcome may resume the workflow (the
        guard holds, as a retry changes nothing of the workflow's row). The task's
        ``slot`` is free while that commit is under way."""
        if outcome.status not in ("completed", "failed") or self._stopping.is_set():
            return False
        state = self._resumable.pop(claim.id, None)
        if state is None or state.claim.queue not in self._takeable:
            return False  # (paused or limited queue: its workflow waits for a claim)
        assert self._pool is not None
        slot.give_up()
        lease_until = self.clock.now() + timedelta(seconds=self.options.lease_seconds)
        try:
            with self.telemetry.activation(state.claim):
                async with _PoolLease(self._pool) as connect:
                    done = await self._activations.resume(
                        connect, state, outcome, self.id, lease_until,
                        on_commit=lambda: self._finishing(claim), local=self._local_starts)
        except (psycopg.Error, DatabaseError) as err:  # (DatabaseError: a reconnect failed)
            # The flusher's fenced write settles it either way.
            log.info("resuming %s after %s failed (%s); recording as usual",
                     state.claim.id, claim.id, err)
            return False
        except Exception:
            log.exception("internal error resuming %s after %s; recording as usual",
                          state.claim.id, claim.id)
            return False
        if done:
            self.recorded += 1
            self.resumed += 1
            self.activations += 1
        return done

    # ----------------------------------------------------------------- outcomes

    async def _flusher(self) -> None:
        while True:
            batch = [await self._outcomes.get()]
            while len(batch) < self.options.batch_size and not self._outcomes.empty():
                batch.append(self._outcomes.get_nowait())
            try:
                await self._write(batch)
            finally:
                for _ in batch:
                    self._outcomes.task_done()

    async def _write(self, batch: list[Outcome]) -> None:
        """Record a batch, retrying through connection losses (outcomes are never dropped
        here; the fencing token makes a retried write harmless)."""
        delay = 0.1
        while True:
            try:
                conn = self._flush_conn
                assert conn is not None
                queues = [] if self._stopping.is_set() else self._takeable
                lease_until = self.clock.now() + timedelta(seconds=self.options.lease_seconds)
                accepted, woken = await self._runner.record(conn, batch, queues, lease_until)
                await self._admissions.admit_freed(conn)  # (keys whose slot they freed)
                self.recorded += len(accepted)
                self.rejected += len(batch) - len(accepted)
                for outcome in batch:
                    if outcome.id not in accepted:
                        log.info("stale claim of %s: outcome rejected", outcome.id)
                await self._take_woken(conn, woken)
                return
            except psycopg.OperationalError as err:
                log.warning("recording outcomes failed (%s); retrying", err)
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAY_MAX)
                self._flush_conn = await self._fresh(self._flush_conn, retry=True, keyed=True)
            except psycopg.errors.DeadlockDetected:
                await asyncio.sleep(delay)
            except UNSTORABLE as err:  # one outcome's data: the others must not pay for it
                if len(batch) > 1:
                    for outcome in batch:
                        await self._write([outcome])
                else:
                    await self._write_unstorable(batch[0], err)
                return
            except Exception:  # a bug: drop the batch (its leases expire, rows re-run)
                log.exception("cannot record %d outcomes; their leases will expire", len(batch))
                return

    async def _write_unstorable(self, outcome: Outcome, err: Exception) -> None:
        """An outcome Postgres refused: record its execution as failed with an error
        that says so (at once, not after its lease was lost five times)."""
        log.warning("outcome of %s cannot be stored (%s); failing it", outcome.id,
                    first_line(err))
        if outcome.status == "failed" and outcome.error is not None \
                and outcome.error.get("type") == failures.UNSTORABLE_OUTCOME:
            return  # (that failure itself was refused: its lease expires)
        await self._write([replace(outcome, status="failed", result=None, run_at=None,
                                   error=failures.unstorable_outcome(outcome.error, err))])

    async def _take_woken(
        self, conn: psycopg.AsyncConnection[Any], woken: list[Claim]
    ) -> None:
        """Parents that the batch woke and claimed for this worker join the local buffer
        (held under lease like any claim) and start as soon as a slot is free. If the
        worker began stopping meanwhile, they go straight back to their queues."""
        if not woken:
            return
        self._claimer.add(woken)
        self._fill_slots()
        if self._stopping.is_set():
            await self._claimer.release(conn)

    # ----------------------------------------------------------------- heartbeat

    def _beat(self, conn: psycopg.Connection[Any]) -> None:
        """One heartbeat, on the heartbeat thread (:mod:`rhythm.runtime.heartbeat`):
        renew the leases held, say the worker is alive, put back dead workers' rows. What
        the renewal found is judged on the loop, whenever it is free."""
        claims = self._held()
        renewed = self._renew_leases(conn, claims)
        if claims:
            self._on_loop(self._judge, claims, renewed)
        now = self.clock.now()
        conn.execute(Q["worker_heartbeat"], {"id": self.id, "now": now})
        notices = Notices()
        for part in self.topology.all_parts():
            reaped = conn.execute(Q["reap_expired_leases"], {"now": now, "part": part}).fetchall()
            notices.wake(row[1] for row in reaped)
            if reaped:
                log.info("put back %d executions whose worker stopped renewing", len(reaped))
        notices.send(conn)

    def _held(self) -> list[Claim]:
        """Every claim in flight or buffered. Read from the heartbeat thread while the
        loop may change these dicts: ``list(d.values())`` copies a dict in one step that
        holds the GIL throughout (no Python code runs during it), so the copy is
        consistent."""
        claims = [f.claim for f in list(self._inflight.values())]
        return claims + list(self._claimer.buffer.values())

    def _renew_leases(
        self, conn: psycopg.Connection[Any], claims: list[Claim]
    ) -> dict[str, bool]:
        """Extend the leases of ``claims``: those renewed, each with its cancellation
        request flag (any other was lost)."""
        renewed: dict[str, bool] = {}
        lease_until = self.clock.now() + timedelta(seconds=self.options.lease_seconds)
        for part in sorted({c.part for c in claims}):
            # (in id order, as a group commit locks its rows: the two seldom deadlock)
            held = [{"id": c.id, "token": c.token}
                    for c in sorted(claims, key=lambda c: c.id) if c.part == part]
            cur = conn.execute(Q["renew_leases"], {
                "claims": json.dumps(held), "lease_until": lease_until, "part": part})
            renewed.update((row[0], row[1]) for row in cur.fetchall())
        return renewed

    def _on_loop(self, judge: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: nothing to judge
                loop.call_soon_threadsafe(judge, *args)

    def _judge(self, claims: list[Claim], renewed: dict[str, bool]) -> None:
        """On the loop: act on a renewal. Judge only the claims that were asked about: an
        id finished and claimed again (new token) meanwhile is not a lost lease."""
        asked = {(c.id, c.token) for c in claims}
        for flight in list(self._inflight.values()):
            if (flight.claim.id, flight.claim.token) in asked:
                self._apply_renewal(flight, renewed)
        for claim in list(self._claimer.buffer.values()):
            if (claim.id, claim.token) not in asked:
                continue
            if claim.id not in renewed:
                self._claimer.drop(claim.id)
                self._resumable.pop(claim.id, None)
            elif renewed[claim.id]:
                self._claimer.mark_cancel(claim.id)

    def _apply_renewal(self, flight: _InFlight, renewed: dict[str, bool]) -> None:
        finishing = flight.finishing or self._runner.recording(flight.claim.id)
        if flight.claim.id not in renewed and finishing:
            return  # its own final write landed while the renew ran: not lost
        if flight.claim.id not in renewed:
            if not flight.lost:
                log.warning("lease of %s lost; its outcome will be rejected", flight.claim.id)
            flight.lost = True
            self._runner.abandon(flight.claim)
        elif renewed[flight.claim.id]:
            self._runner.request_cancel(flight.claim)

    # ----------------------------------------------------------------- wake-ups

    async def _listen(self) -> None:
        """LISTEN rhythm_wake; a notification naming one of our queues wakes the claimer.
        After a reconnect we wake it anyway: notifications may have been missed."""
        delay = 0.1
        while True:
            try:
                conn = await connect_async(self.url)
                async with conn:
                    await conn.execute(Q["listen_wake"])
                    await self._refresh_controls()  # (any '!limits' missed meanwhile)
                    self._scheduler.wake()  # (and any '!schedules')
                    self._claimer.hint_all()
                    self._hinted = True
                    self._wake.set()
                    delay = 0.1
                    while True:
                        async for note in conn.notifies(timeout=NOTIFIES_WAIT):
                            await self._heard(note.payload)
                        raise_if_cancelled()
            except (psycopg.Error, OSError) as err:
                log.warning("listener lost its connection (%s); reconnecting", err)
            except Exception as err:  # DatabaseError from connect_async
                log.warning("listener cannot connect (%s); retrying", err)
            await asyncio.sleep(delay)
            delay = min(delay * 2, RECONNECT_DELAY_MAX)

    async def _heard(self, payload: str) -> None:
        """One notification: limits changed, a schedule, a concurrency key, or work."""
        if payload == LIMITS_PAYLOAD:
            # Read before the next notification is looked at: a row queued right after
            # a pause must not be claimed.
            await self._refresh_controls()
            self._claimer.hint_all()
            self._hinted = True
            self._wake.set()
        elif not self._scheduler.hear(payload) and not self._admissions.hear(payload):
            self._woken(payload)

    def _woken(self, payload: str) -> None:
        """A ``part:queue`` wake-up: when the queue is ours, the claimer looks there."""
        part, queue = parse_wake(payload)
        if queue in self._queue_set:
            self._claimer.hint(part)
            self._hinted = True
            self._wake.set()

    def _admission_taking(self) -> dict[str, Any]:
        """What our admitter may claim of what it admits: tasks of the queues we may take
        from (none once stopping), as many as a claim would take now."""
        now = self.clock.now()
        room = self._free() + self._claimer.prefetch - len(self._claimer.buffer)
        return {"worker": self.id, "now": now, "room": max(room, 0),
                "queues": [] if self._stopping.is_set() else self._takeable,
                "lease_until": now + timedelta(seconds=self.options.lease_seconds)}

    def _admitted(self, wakes: list[str], claims: list[dict[str, Any]]) -> None:
        """What our admitter just admitted: the tasks it claimed for us join the buffer;
        for the rest the claimer is told at once (not through the NOTIFY that tells the
        other workers)."""
        if claims:
            self._claimer.add([Claim.from_row(row) for row in claims])
            self._wake.set()
        for payload in wakes:
            self._woken(payload)

    # ----------------------------------------------------------------- shutdown

    async def _drain(self) -> None:
        if self._inflight and not self._urgent:
            log.info("waiting up to %ss for %d in-flight jobs", self.options.shutdown_grace,
                     len(self._inflight))
            jobs = [f.job for f in self._inflight.values()]
            stop_waiting = asyncio.create_task(self._wait_urgent())
            await _wait_jobs_or(jobs, stop_waiting, self.options.shutdown_grace)
            stop_waiting.cancel()
        left = list(self._inflight.values())
        if left:
            log.info("handing back %d in-flight executions", len(left))
        for flight in left:
            flight.finishing = True
            if self._runner.hand_back(flight.claim):
                await self._outcomes.put(Outcome.handed_back_now(flight.claim, self.clock.now()))
        if left:
            # asyncio.wait, not wait_for(shield(job)): it cannot swallow a cancellation
            # of run() itself, and the jobs see the hand-back within a second.
            await asyncio.wait([flight.job for flight in left], timeout=HAND_BACK_WAIT)

    async def _wait_urgent(self) -> None:
        while not self._urgent:
            self._wake.clear()
            await self._wake.wait()

    async def _fresh(
        self, conn: psycopg.AsyncConnection[Any] | None, retry: bool = False,
        keyed: bool = False,
    ) -> psycopg.AsyncConnection[Any]:
        """``conn`` if usable, else a new connection (with ``retry``, wait until one opens;
        ``keyed``: a :data:`~rhythm.runtime.database.KEYED_SESSION`)."""
        if conn is not None and not conn.closed and not conn.broken:
            return conn
        delay = 0.1
        while True:
            try:
                if keyed:
                    return await connect_keyed(self.url, self.topology.citus)
                return await connect_async(self.url)
            except Exception:
                if not retry or (self._stopping.is_set() and self._urgent):
                    raise
                await asyncio.sleep(delay)
                delay = min(delay * 2, RECONNECT_DELAY_MAX)


async def _stop_helpers(helpers: list[asyncio.Task[None]]) -> None:
    """Cancel the listener, heartbeat and flusher and wait for them, but not forever: a
    helper that ignores its cancellation is a bug, logged as such, and must not keep a
    stopping worker (SIGTERM) from closing its connections and exiting."""
    if not helpers:  # (the start-up failed before they started)
        return
    for helper in helpers:
        helper.cancel()
    done, stuck = await asyncio.wait(helpers, timeout=HELPER_STOP_WAIT)
    for helper in done:
        if not helper.cancelled() and helper.exception() is not None:
            log.error("worker helper %s failed", helper.get_name(),
                      exc_info=helper.exception())
    for helper in stuck:
        where = "".join(traceback.format_list(
            [(f.f_code.co_filename, f.f_lineno, f.f_code.co_name, None)
             for f in helper.get_stack()]))  # (where it waits: the bug to find)
        log.error("worker helper %s ignored its cancellation for %ss; stopping without it;"
                  " it waits at:\n%s", helper.get_name(), HELPER_STOP_WAIT, where)


async def _wait_jobs_or(
    jobs: list[asyncio.Task[None]], interrupt: asyncio.Task[None], timeout: float
) -> None:
    """Wait until every job ended, the interrupt fired, or the timeout passed."""
    pending: set[asyncio.Future[Any]] = set(jobs)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while pending and not interrupt.done():
        remaining = deadline - loop.time()
        if remaining <= 0:
            return
        done, _ = await asyncio.wait(
            [*pending, interrupt], timeout=remaining, return_when=asyncio.FIRST_COMPLETED
        )
        pending -= done


__all__ = ["Worker", "WorkerOptions"]
