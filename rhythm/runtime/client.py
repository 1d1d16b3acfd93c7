"""``rhythm.Client`` and ``rhythm.AsyncClient``: start, queue, inspect and operate on executions.

Both clients run the same operations (``rhythm.runtime.operations``); they differ only in
the driver. Pass ``connection=`` (a psycopg connection of yours) to enqueue inside your
own transaction: the execution then exists exactly when your transaction commits.
Waiting for a result listens on ``rhythm_done`` (a hint) and re-reads the row, with a
slow poll as backstop. The listening connection is kept for the next wait (opening one
costs a server process), and listens only while someone waits.
"""

from __future__ import annotations

import asyncio
import builtins
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

import psycopg

from rhythm.errors import WorkflowFailed, closest
from rhythm.lifecycle import bulk as bulk_ops
from rhythm.lifecycle.filters import Page, list_page, make_filters
from rhythm.runtime import bulk, concurrency
from rhythm.runtime import operations as ops
from rhythm.runtime.clock import Clock, SystemClock
from rhythm.runtime.database import (
    again_after_deadlock,
    again_after_deadlock_async,
    connect,
    connect_async,
    resolve_url,
    still_usable,
    still_usable_async,
    translated,
)
from rhythm.runtime.partitions import Topology
from rhythm.runtime.payloads import encode
from rhythm.runtime.sql import Q
from rhythm.runtime.versions import WorkflowVersions, register_op

if TYPE_CHECKING:
    from rhythm.lifecycle.schedules import AsyncSchedules, Schedules
    from rhythm.observe.history import HistoryEntry
    from rhythm.observe.inspect import Inspection
    from rhythm.upgrade.move import Report

log = logging.getLogger("rhythm.client")
BACKSTOP_POLL = 5.0  # seconds between re-reads while waiting, should a NOTIFY be missed
CHECK_IDLE = 1.0
"""Seconds idle after which a kept connection is checked (one round trip) before use: a
restart of Postgres breaks it silently, and the next call would fail on it. A client in
steady use pays nothing; one idle a while pays a round trip and reconnects if needed."""


def _outcome(row: dict[str, Any]) -> Any:
    if row["status"] == "completed":
        return row["result"]
    raise WorkflowFailed(row["id"], row["error"])


def _awaiting_warning(name: str, known: list[str]) -> str:
    """Logged (``rhythm.client``) when a start waits for a version of its name."""
    match = closest(name, known)
    guess = f" (did you mean {match!r}?)" if match else ""
    return (f"no workflow named {name!r} is registered yet{guess}; it waits (pending) "
            "until `rhythm register` or a worker that has it registers a version")


class Run:
    """Handle of one execution (``client.start`` / ``client.queue_task``).

    ``awaiting_version``: the workflow was started under a name with no registered
    version; it waits, pending, until one is registered."""

    def __init__(self, client: Client, execution_id: str, awaiting_version: bool = False
                 ) -> None:
        self.client = client
        self.id = execution_id
        self.awaiting_version = awaiting_version

    def status(self) -> str:
        return str(self.client.get(self.id)["status"])

    def result(self, timeout: float | None = None) -> Any:
        """The result once it ended; raises WorkflowFailed if it failed or was cancelled."""
        return _outcome(self.client.wait(self.id, timeout=timeout))

    def __repr__(self) -> str:
        return f"Run({self.id!r})"


class Client:
    """Synchronous client. ``url`` defaults to RHYTHM_DATABASE_URL, else the embedded server."""

    def __init__(self, url: str | None = None, *, clock: Clock | None = None) -> None:
        self.url = resolve_url(url)
        self.clock = clock or SystemClock()
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._listener: psycopg.Connection[Any] | None = None
        self._listener_lock = threading.Lock()
        self._idle_since = {"conn": 0.0, "listener": 0.0}  # time.monotonic() of last use
        self._topology: Topology | None = None

    def _connection(self) -> psycopg.Connection[Any]:
        """The kept connection, or a new one if it is gone (see :data:`CHECK_IDLE`)."""
        conn = still_usable(self._conn, self._idle_since["conn"], CHECK_IDLE)
        self._conn = conn = conn or connect(self.url)
        self._idle_since["conn"] = time.monotonic()
        return conn

    @contextmanager
    def _listening(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection listening on ``rhythm_done``: the client's kept one or, while
        another thread waits on that, a new one for this wait."""
        if not self._listener_lock.acquire(blocking=False):
            with connect(self.url) as conn:
                conn.execute(Q["listen_done"])
                yield conn
            return
        try:
            listener = still_usable(self._listener, self._idle_since["listener"], CHECK_IDLE)
            self._listener = listener = listener or connect(self.url)
            listener.execute(Q["listen_done"])
            try:
                yield listener
            finally:
                if not listener.broken:
                    listener.execute(Q["unlisten_done"])
        finally:
            self._idle_since["listener"] = time.monotonic()
            self._listener_lock.release()

    def _run(self, op: ops.Op[Any], action: str, connection: Any = None) -> Any:
        with translated(action):
            with self._lock:
                topology = self._topology or self._read_topology()
                if connection is None:
                    return ops.drive(self._connection(), op, topology)
            return ops.drive(connection, op, topology)

    def _run_anew(self, make: Callable[[], ops.Op[Any]], action: str,
                  connection: Any = None) -> Any:
        """:meth:`_run` for an operation that locks a workflow's row workers commit to (a
        signal, a cancel): one that lost a deadlock changed nothing and runs again
        (:func:`again_after_deadlock`), unless it ran in the caller's transaction, which
        the deadlock aborted."""
        if connection is not None:
            return self._run(make(), action, connection)
        return again_after_deadlock(lambda: self._run(make(), action))

    def _read_topology(self) -> Topology:
        """P and Citus or not, read once (on the client's own connection: never in a
        caller's transaction)."""
        row = self._connection().execute(Q["read_layout"]).fetchone()
        self._topology = Topology.from_row(row)
        return self._topology

    def queue_task(
        self, name: str, inputs: dict[str, Any] | None = None, *, id: str | None = None,
        queue: str | None = None, priority: int = 0, retries: int | None = None,
        idempotency_key: str | None = None, id_reuse: str = ops.DEFAULT_REUSE,
        connection: psycopg.Connection[Any] | None = None,
    ) -> Run:
        """Queue a standalone task; with ``id``, idempotently (guarantee 8). With
        ``idempotency_key``: one execution per (task name, key) - a later request gets
        the first one's handle - run again after it ended only as ``id_reuse`` says
        (``"allow_duplicate_failed_only"``, ``"reject"`` or ``"allow"``;
        docs/flow-control.md)."""
        req = ops.prepare_enqueue(
            "task", name, inputs, id=id, queue=queue, priority=priority, max_retries=retries,
            idempotency_key=idempotency_key, id_reuse=id_reuse,
        )
        row = self._run(ops.enqueue(req, self.clock.now()), f"queue task {name!r}", connection)
        return Run(self, row["id"])

    def start(
        self, name: str, inputs: dict[str, Any] | None = None, *, id: str | None = None,
        queue: str | None = None, priority: int = 0, concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> Run:
        """Start workflow ``name`` on its current version; with ``id``, idempotently
        (guarantee 8). ``connection``: inside your own transaction. With
        ``concurrency_key``: at most ``concurrency_limit`` workflows of that key run at a
        time, the others wait in order (docs/flow-control.md)."""
        req = ops.prepare_enqueue("workflow", name, inputs, id=id, queue=queue, priority=priority,
                                  concurrency_key=concurrency_key,
                                  concurrency_limit=concurrency_limit)
        if concurrency_key is not None:
            concurrency.refuse_request_on_citus(self._topology or self._read_topology())
        row = self._run(ops.start_workflow(req, self.clock.now()), f"start workflow {name!r}",
                        connection)
        if row["awaiting_version"]:
            log.warning("%s", _awaiting_warning(name, self.workflow_names()))
        return Run(self, row["id"], row["awaiting_version"])

    def queue_tasks(
        self, items: Iterable[tuple[Any, ...]],
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[Run]:
        """Bulk enqueue: ``[(name, inputs, options), ...]`` (options: ``id``, ``queue``,
        ``priority``, ``retries``) in one statement, one round trip; inside your
        transaction with ``connection``. The handles, in order. An ``id`` that exists
        already keeps its execution as it is."""
        reqs = bulk.prepare("task", items)
        if not reqs:
            return []
        row = self._run(bulk.enqueue("task", reqs, self.clock.now()),
                        f"queue {len(reqs)} tasks", connection)
        return [Run(self, execution_id) for execution_id in row["ids"]]

    def start_many(
        self, items: Iterable[tuple[Any, ...]],
        connection: psycopg.Connection[Any] | None = None,
    ) -> list[Run]:
        """Bulk start: ``[(name, inputs, options), ...]`` (options: ``id``, ``queue``,
        ``priority``) in one statement, as :meth:`queue_tasks`. A name with no registered
        version waits for one, as with :meth:`start`."""
        reqs = bulk.prepare("workflow", items)
        if not reqs:
            return []
        row = self._run(bulk.enqueue("workflow", reqs, self.clock.now()),
                        f"start {len(reqs)} workflows", connection)
        if row["waiting"]:
            log.warning("%d of the workflows started wait for a version of their name",
                        row["waiting"])
        return [Run(self, execution_id) for execution_id in row["ids"]]

    def workflow_names(self) -> list[str]:
        """Every workflow name with a registered version."""
        names: list[str] = self._run(ops.workflow_names(), "list workflow names")
        return names

    def unserved_tasks(self, names: Iterable[str]) -> dict[str, str]:
        """Those of task ``names`` that no live worker has (none claims them), each with
        why: ``"unregistered"`` (no worker ever registered it) or ``"no live worker"``
        (every worker that did has stopped, or stopped beating for longer than its
        lease)."""
        unserved: dict[str, str] = self._run(
            ops.unserved_tasks(sorted(set(names)), self.clock.now()), "read task routes")
        return unserved

    @property
    def schedules(self) -> Schedules:
        """Create, list, pause, resume and delete schedules (docs/lifecycle.md)."""
        from rhythm.lifecycle.schedules import Schedules

        return Schedules(self)

    def register(self, versions: WorkflowVersions) -> int:
        """Register built versions without a worker (``rhythm register``): each becomes
        the current version of its name, and starts that waited for one can run.
        Returns how many waiting starts it released."""
        rows = versions.registrations()
        if not rows:
            return 0
        released: int = self._run(register_op(rows, self.clock.now()), "register versions")
        return released

    def signal(
        self, execution_id: str, channel: str, payload: Any = None,
        connection: psycopg.Connection[Any] | None = None,
    ) -> dict[str, Any]:
        """Send signal ``channel`` to a workflow (refused once it has ended)."""
        text = encode(payload, f"payload of signal {channel!r}")
        row: dict[str, Any] = self._run_anew(
            lambda: ops.signal(execution_id, channel, text, self.clock.now()),
            f"signal {execution_id!r}", connection)
        return row

    def run(self, execution_id: str) -> Run:
        """A handle on an existing execution (raises UnknownName if there is none)."""
        self.get(execution_id)
        return Run(self, execution_id)

    def get(self, execution_id: str) -> dict[str, Any]:
        row: dict[str, Any] = self._run(ops.get(execution_id), f"read {execution_id!r}")
        return row

    def cancel(self, execution_id: str) -> str:
        """Cancel; returns the status right after (``cancelled``, or still ``running``)."""
        row = self._run_anew(lambda: ops.cancel(execution_id, self.clock.now()),
                             f"cancel {execution_id!r}")
        return str(row["status"])

    def retry(self, execution_id: str) -> Run:
        self._run(ops.retry(execution_id, self.clock.now()), f"retry {execution_id!r}")
        return Run(self, execution_id)

    def upgrade(self, name: str, *, from_version: str | None = None,
                to_version: str | None = None, dry_run: bool = False,
                values: dict[str, Any] | None = None, generated: str | None = "generated"
                ) -> Report:
        """Move the suspended executions of workflow ``name`` onto ``to_version`` (default:
        the current one) where they can, each in a transaction of its own; a
        :class:`rhythm.upgrade.move.Report` says what happened to each. docs/upgrades.md."""
        from rhythm.upgrade.machines import Machines
        from rhythm.upgrade.move import upgrade_steps

        with self._lock:
            topology = self._topology or self._read_topology()
        steps = upgrade_steps(topology, self.clock, name, from_version=from_version,
                              to_version=to_version, dry_run=dry_run, values=values,
                              machines=Machines(generated))
        report: Report = ops.run_each(steps, lambda op: self._run(op, f"upgrade {name!r}"))
        return report

    def fork(self, execution_id: str, *, to_version: str | None = None,
             id: str | None = None, from_step: int | None = None,
             values: dict[str, Any] | None = None, generated: str | None = "generated"
             ) -> Run:
        """A new execution from the snapshot of step ``from_step`` of ``execution_id``
        (default: its current one, when it is suspended). docs/upgrades.md."""
        from rhythm.upgrade.fork import fork_op
        from rhythm.upgrade.machines import Machines

        with self._lock:
            topology = self._topology or self._read_topology()
        op = fork_op(topology, self.clock.now(), execution_id, to_version=to_version,
                     new_id=id, from_step=from_step, values=values,
                     machines=Machines(generated))
        made = self._run(op, f"fork {execution_id!r}")
        return Run(self, made.id)

    def list(self, *, limit: int = 50, after: str | None = None, **filters: Any
             ) -> list[dict[str, Any]]:
        """Executions, newest first: the rows of :meth:`list_page`."""
        return self.list_page(limit=limit, after=after, **filters).rows

    def list_page(
        self, *, status: str | None = None, name: str | None = None, kind: str | None = None,
        queue: str | None = None, parent_id: str | None = None, since: str | datetime | None = None,
        until: str | datetime | None = None, id_prefix: str | None = None, limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Up to ``limit`` executions matching every filter given, newest first, and the
        cursor of the next page (pass it as ``after``; None: no more rows). ``since`` /
        ``until``: created at or after / before, a datetime, ISO 8601 text or a duration
        back from now ("2h", "7d"). docs/lifecycle.md."""
        found = make_filters(self.clock.now(), status=status, name=name, kind=kind,
                             queue=queue, parent_id=parent_id, since=since, until=until,
                             id_prefix=id_prefix)
        page: Page = self._run(list_page(found, limit, after), "list executions")
        return page

    def cancel_many(
        self, ids: str | Iterable[str] | None = None, *, status: str | None = None,
        name: str | None = None, kind: str | None = None, queue: str | None = None,
        since: str | datetime | None = None, until: str | datetime | None = None,
        dry_run: bool = False,
    ) -> bulk_ops.BulkResult:
        """Cancel the executions named by ``ids``, or those the filters select (not both;
        at least one filter), as :meth:`cancel` does each, a page per transaction.
        ``dry_run``: count only. docs/lifecycle.md."""
        return self._bulk("cancel", ids, dry_run, status=status, name=name, kind=kind,
                          queue=queue, since=since, until=until)

    def retry_many(
        self, ids: str | Iterable[str] | None = None, *, status: str | None = None,
        name: str | None = None, kind: str | None = None, queue: str | None = None,
        since: str | datetime | None = None, until: str | datetime | None = None,
        dry_run: bool = False,
    ) -> bulk_ops.BulkResult:
        """Retry the failed or cancelled ones among the executions named by ``ids`` or
        selected by the filters, as :meth:`retry` does each (see :meth:`cancel_many`)."""
        return self._bulk("retry", ids, dry_run, status=status, name=name, kind=kind,
                          queue=queue, since=since, until=until)

    def _bulk(self, action: str, ids: Any, dry_run: bool, **filters: Any
              ) -> bulk_ops.BulkResult:
        now = self.clock.now()
        goal = bulk_ops.target(ids, now, **filters)
        with self._lock:
            topology = self._topology or self._read_topology()
        steps = bulk_ops.plan(action, goal, now, topology, dry_run)
        return bulk_ops.run_steps(steps, lambda op: self._run(op, f"{action} executions"))

    def wait(self, execution_id: str, timeout: float | None = None) -> dict[str, Any]:
        """The execution's row once it has ended (TimeoutError after ``timeout`` seconds)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with translated(f"wait for {execution_id!r}"), self._listening() as listener:
            while True:
                row = self.get(execution_id)  # read after LISTEN: no completion is missed
                if row["status"] in ops.TERMINAL:
                    return row
                remaining = BACKSTOP_POLL if deadline is None else deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"execution {execution_id!r} is still {row['status']} after {timeout}s"
                    )
                wait = min(remaining, BACKSTOP_POLL)
                for note in listener.notifies(timeout=wait):
                    if note.payload == execution_id:
                        break

    def history(self, execution_id: str) -> builtins.list[HistoryEntry]:
        """The execution's history, in order (docs/observability.md "History")."""
        from rhythm.observe.history import history_op

        entries: builtins.list[HistoryEntry] = self._run(
            history_op(execution_id), f"read the history of {execution_id!r}")
        return entries

    def inspect(self, execution_id: str, at: int | None = None) -> Inspection:
        """Where the execution waits, on what, with which variables: now, or after
        activation ``at`` (docs/observability.md "Inspect")."""
        from rhythm.observe.inspect import inspect_op

        found: Inspection = self._run(inspect_op(execution_id, at), f"inspect {execution_id!r}")
        return found

    def close(self) -> None:
        for conn in (self._conn, self._listener):
            if conn is not None:
                conn.close()
        self._conn = self._listener = None

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncRun:
    """Async handle of one execution (``awaiting_version``: see :class:`Run`)."""

    def __init__(self, client: AsyncClient, execution_id: str, awaiting_version: bool = False
                 ) -> None:
        self.client = client
        self.id = execution_id
        self.awaiting_version = awaiting_version

    async def status(self) -> str:
        return str((await self.client.get(self.id))["status"])

    async def result(self, timeout: float | None = None) -> Any:
        return _outcome(await self.client.wait(self.id, timeout=timeout))

    def __repr__(self) -> str:
        return f"AsyncRun({self.id!r})"


class AsyncClient:
    """The asyncio twin of :class:`Client`: the same methods, as coroutines."""

    def __init__(self, url: str | None = None, *, clock: Clock | None = None) -> None:
        self.url = resolve_url(url)
        self.clock = clock or SystemClock()
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._listener: psycopg.AsyncConnection[Any] | None = None
        self._listener_lock = asyncio.Lock()
        self._idle_since = {"conn": 0.0, "listener": 0.0}  # time.monotonic() of last use
        self._topology: Topology | None = None

    async def _connection(self) -> psycopg.AsyncConnection[Any]:
        conn = await still_usable_async(self._conn, self._idle_since["conn"], CHECK_IDLE)
        self._conn = conn = conn or await connect_async(self.url)
        self._idle_since["conn"] = time.monotonic()
        return conn

    @asynccontextmanager
    async def _listening(self) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """Like :meth:`Client._listening`, for tasks of one event loop."""
        if self._listener_lock.locked():
            async with await connect_async(self.url) as conn:
                await conn.execute(Q["listen_done"])
                yield conn
            return
        async with self._listener_lock:
            listener = await still_usable_async(
                self._listener, self._idle_since["listener"], CHECK_IDLE)
            self._listener = listener = listener or await connect_async(self.url)
            await listener.execute(Q["listen_done"])
            try:
                yield listener
            finally:
                self._idle_since["listener"] = time.monotonic()
                if not listener.broken:
                    await listener.execute(Q["unlisten_done"])

    async def _run(self, op: ops.Op[Any], action: str, connection: Any = None) -> Any:
        with translated(action):
            async with self._lock:
                topology = self._topology or await self._read_topology()
                if connection is None:
                    return await ops.drive_async(await self._connection(), op, topology)
            return await ops.drive_async(connection, op, topology)

    async def _run_anew(self, make: Callable[[], ops.Op[Any]], action: str,
                        connection: Any = None) -> Any:
        """Like :meth:`Client._run_anew`."""
        if connection is not None:
            return await self._run(make(), action, connection)
        return await again_after_deadlock_async(lambda: self._run(make(), action))

    async def _read_topology(self) -> Topology:
        """Like :meth:`Client._read_topology`."""
        cur = await (await self._connection()).execute(Q["read_layout"])
        self._topology = Topology.from_row(await cur.fetchone())
        return self._topology

    async def queue_task(
        self, name: str, inputs: dict[str, Any] | None = None, *, id: str | None = None,
        queue: str | None = None, priority: int = 0, retries: int | None = None,
        idempotency_key: str | None = None, id_reuse: str = ops.DEFAULT_REUSE,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncRun:
        req = ops.prepare_enqueue(
            "task", name, inputs, id=id, queue=queue, priority=priority, max_retries=retries,
            idempotency_key=idempotency_key, id_reuse=id_reuse,
        )
        row = await self._run(
            ops.enqueue(req, self.clock.now()), f"queue task {name!r}", connection
        )
        return AsyncRun(self, row["id"])

    async def start(
        self, name: str, inputs: dict[str, Any] | None = None, *, id: str | None = None,
        queue: str | None = None, priority: int = 0, concurrency_key: str | None = None,
        concurrency_limit: int | None = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> AsyncRun:
        req = ops.prepare_enqueue("workflow", name, inputs, id=id, queue=queue, priority=priority,
                                  concurrency_key=concurrency_key,
                                  concurrency_limit=concurrency_limit)
        if concurrency_key is not None:
            concurrency.refuse_request_on_citus(self._topology or await self._read_topology())
        row = await self._run(
            ops.start_workflow(req, self.clock.now()), f"start workflow {name!r}", connection
        )
        if row["awaiting_version"]:
            log.warning("%s", _awaiting_warning(name, await self.workflow_names()))
        return AsyncRun(self, row["id"], row["awaiting_version"])

    async def queue_tasks(
        self, items: Iterable[tuple[Any, ...]],
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[AsyncRun]:
        """Like :meth:`Client.queue_tasks`."""
        reqs = bulk.prepare("task", items)
        if not reqs:
            return []
        row = await self._run(bulk.enqueue("task", reqs, self.clock.now()),
                              f"queue {len(reqs)} tasks", connection)
        return [AsyncRun(self, execution_id) for execution_id in row["ids"]]

    async def start_many(
        self, items: Iterable[tuple[Any, ...]],
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> list[AsyncRun]:
        """Like :meth:`Client.start_many`."""
        reqs = bulk.prepare("workflow", items)
        if not reqs:
            return []
        row = await self._run(bulk.enqueue("workflow", reqs, self.clock.now()),
                              f"start {len(reqs)} workflows", connection)
        if row["waiting"]:
            log.warning("%d of the workflows started wait for a version of their name",
                        row["waiting"])
        return [AsyncRun(self, execution_id) for execution_id in row["ids"]]

    async def workflow_names(self) -> list[str]:
        """Every workflow name with a registered version."""
        names: list[str] = await self._run(ops.workflow_names(), "list workflow names")
        return names

    @property
    def schedules(self) -> AsyncSchedules:
        """Like :attr:`Client.schedules`, as coroutines."""
        from rhythm.lifecycle.schedules import AsyncSchedules

        return AsyncSchedules(self)

    async def signal(
        self, execution_id: str, channel: str, payload: Any = None,
        connection: psycopg.AsyncConnection[Any] | None = None,
    ) -> dict[str, Any]:
        text = encode(payload, f"payload of signal {channel!r}")
        row: dict[str, Any] = await self._run_anew(
            lambda: ops.signal(execution_id, channel, text, self.clock.now()),
            f"signal {execution_id!r}", connection)
        return row

    async def run(self, execution_id: str) -> AsyncRun:
        await self.get(execution_id)
        return AsyncRun(self, execution_id)

    async def get(self, execution_id: str) -> dict[str, Any]:
        row: dict[str, Any] = await self._run(ops.get(execution_id), f"read {execution_id!r}")
        return row

    async def cancel(self, execution_id: str) -> str:
        row = await self._run_anew(lambda: ops.cancel(execution_id, self.clock.now()),
                                   f"cancel {execution_id!r}")
        return str(row["status"])

    async def retry(self, execution_id: str) -> AsyncRun:
        await self._run(ops.retry(execution_id, self.clock.now()), f"retry {execution_id!r}")
        return AsyncRun(self, execution_id)

    async def upgrade(self, name: str, *, from_version: str | None = None,
                      to_version: str | None = None, dry_run: bool = False,
                      values: dict[str, Any] | None = None,
                      generated: str | None = "generated") -> Report:
        """Like :meth:`Client.upgrade`."""
        from rhythm.upgrade.machines import Machines
        from rhythm.upgrade.move import upgrade_steps

        async with self._lock:
            topology = self._topology or await self._read_topology()
        steps = upgrade_steps(topology, self.clock, name, from_version=from_version,
                              to_version=to_version, dry_run=dry_run, values=values,
                              machines=Machines(generated))
        report: Report = await ops.run_each_async(
            steps, lambda op: self._run(op, f"upgrade {name!r}"))
        return report

    async def fork(self, execution_id: str, *, to_version: str | None = None,
                   id: str | None = None, from_step: int | None = None,
                   values: dict[str, Any] | None = None,
                   generated: str | None = "generated") -> AsyncRun:
        """Like :meth:`Client.fork`."""
        from rhythm.upgrade.fork import fork_op
        from rhythm.upgrade.machines import Machines

        async with self._lock:
            topology = self._topology or await self._read_topology()
        op = fork_op(topology, self.clock.now(), execution_id, to_version=to_version,
                     new_id=id, from_step=from_step, values=values,
                     machines=Machines(generated))
        made = await self._run(op, f"fork {execution_id!r}")
        return AsyncRun(self, made.id)

    async def history(self, execution_id: str) -> builtins.list[HistoryEntry]:
        """Like :meth:`Client.history`."""
        from rhythm.observe.history import history_op

        entries: builtins.list[HistoryEntry] = await self._run(
            history_op(execution_id), f"read the history of {execution_id!r}")
        return entries

    async def inspect(self, execution_id: str, at: int | None = None) -> Inspection:
        """Like :meth:`Client.inspect`."""
        from rhythm.observe.inspect import inspect_op

        found: Inspection = await self._run(inspect_op(execution_id, at),
                                            f"inspect {execution_id!r}")
        return found

    async def list(self, *, limit: int = 50, after: str | None = None, **filters: Any
                   ) -> list[dict[str, Any]]:
        return (await self.list_page(limit=limit, after=after, **filters)).rows

    async def list_page(
        self, *, status: str | None = None, name: str | None = None, kind: str | None = None,
        queue: str | None = None, parent_id: str | None = None, since: str | datetime | None = None,
        until: str | datetime | None = None, id_prefix: str | None = None, limit: int = 50,
        after: str | None = None,
    ) -> Page:
        """Like :meth:`Client.list_page`."""
        found = make_filters(self.clock.now(), status=status, name=name, kind=kind,
                             queue=queue, parent_id=parent_id, since=since, until=until,
                             id_prefix=id_prefix)
        page: Page = await self._run(list_page(found, limit, after), "list executions")
        return page

    async def cancel_many(
        self, ids: str | Iterable[str] | None = None, *, status: str | None = None,
        name: str | None = None, kind: str | None = None, queue: str | None = None,
        since: str | datetime | None = None, until: str | datetime | None = None,
        dry_run: bool = False,
    ) -> bulk_ops.BulkResult:
        """Like :meth:`Client.cancel_many`."""
        return await self._bulk("cancel", ids, dry_run, status=status, name=name, kind=kind,
                                queue=queue, since=since, until=until)

    async def retry_many(
        self, ids: str | Iterable[str] | None = None, *, status: str | None = None,
        name: str | None = None, kind: str | None = None, queue: str | None = None,
        since: str | datetime | None = None, until: str | datetime | None = None,
        dry_run: bool = False,
    ) -> bulk_ops.BulkResult:
        """Like :meth:`Client.retry_many`."""
        return await self._bulk("retry", ids, dry_run, status=status, name=name, kind=kind,
                                queue=queue, since=since, until=until)

    async def _bulk(self, action: str, ids: Any, dry_run: bool, **filters: Any
                    ) -> bulk_ops.BulkResult:
        now = self.clock.now()
        goal = bulk_ops.target(ids, now, **filters)
        async with self._lock:
            topology = self._topology or await self._read_topology()
        steps = bulk_ops.plan(action, goal, now, topology, dry_run)
        return await bulk_ops.run_steps_async(
            steps, lambda op: self._run(op, f"{action} executions"))

    async def wait(self, execution_id: str, timeout: float | None = None) -> dict[str, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        with translated(f"wait for {execution_id!r}"):
            async with self._listening() as listener:
                while True:
                    row = await self.get(execution_id)
                    if row["status"] in ops.TERMINAL:
                        return row
                    remaining = BACKSTOP_POLL if deadline is None else deadline - time.monotonic()
                    if remaining <= 0:
                        raise TimeoutError(
                            f"execution {execution_id!r} is still {row['status']} after {timeout}s"
                        )
                    async for note in listener.notifies(timeout=min(remaining, BACKSTOP_POLL)):
                        if note.payload == execution_id:
                            break

    async def close(self) -> None:
        for conn in (self._conn, self._listener):
            if conn is not None:
                await conn.close()
        self._conn = self._listener = None

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
