"""Client operations written once, run by a sync or an async driver.

Each operation is a generator that yields ``(query_name, params)`` and receives the
rows (as dicts). :func:`drive` and :func:`drive_async` execute the queries on a psycopg
connection inside one transaction (a savepoint when the caller's own transaction is
open, so an enqueue commits or rolls back with the caller's data). This keeps the
logic of idempotent starts, cancellation and retries in one place for both clients.

On an autocommit connection with no transaction open (the client's own), the leading
statements named in :data:`STANDS_ALONE` run as transactions of their own: one round
trip each instead of BEGIN, the statement and COMMIT.

The drivers give every statement its partition (computed from the id it is about:
:mod:`rhythm.runtime.partitions`) and, on Citus, send the notifications the statements
returned (:mod:`rhythm.runtime.notices`) before the transaction commits, and the
statements Citus cannot route whole in forms it can (:mod:`rhythm.runtime.routed`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Generator
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

import psycopg
from psycopg.pq import TransactionStatus
from psycopg.rows import dict_row

from rhythm.engine.promises import PromiseTable
from rhythm.errors import InputError, RhythmError, UnknownName
from rhythm.observe.telemetry import client_traceparent
from rhythm.runtime import bulk, concurrency, failures
from rhythm.runtime.activation import epoch_ms, record_from_row
from rhythm.runtime.notices import SELF_NOTIFYING, Notices
from rhythm.runtime.partitions import PLAIN, Topology, keyed_id
from rhythm.runtime.payloads import encode, encode_object
from rhythm.runtime.routed import routed
from rhythm.runtime.sql import Q
from rhythm.runtime.waiters import settle_waiters_op
from rhythm.runtime.wfhost import member_ids, settle_due

T = TypeVar("T")
Row = dict[str, Any]
Op = Generator[tuple[str, dict[str, Any]], list[Row], T]

TERMINAL = ("completed", "failed", "cancelled")

# Statements an operation may run outside its transaction while they lead it: each one
# either ends the operation or changed nothing (a read; an insert that found its id
# taken returns no row and wrote none), so what follows in a transaction commits or
# rolls back everything the operation wrote. Reads at READ COMMITTED see the same in a
# transaction as outside one (each statement takes its own snapshot), and none of
# these lock rows. An enqueue is then one round trip where it was three.
STANDS_ALONE = frozenset({"current_versions", "insert_execution", "get_execution",
                          "enqueue_route",  # (on Citus: rhythm.runtime.routed)
                          "list_executions", "workflow_names", "insert_executions",
                          # (history, inspect and upgrade reads: rhythm.observe, upgrade)
                          "history_execution", "read_history", "history_snapshot",
                          "inspect_promises", "get_version_source", "upgrade_candidates"})

# Reads whose filters are all optional (``%(x)s IS NULL OR ...``): planned for their
# values every time, never prepared, so that the tests of the filters not given fold
# away and the plan is the index scan those values call for. A generic plan (psycopg
# prepares a statement on its 5th run on a connection) could not use an index for any
# of them, and guesses its LIMIT. Admin reads: planning each costs well under a ms.
PLANNED_EACH_TIME = frozenset({"list_executions", "select_for_bulk"})


def _prepare(query: str) -> bool | None:
    """psycopg's ``prepare``: never for :data:`PLANNED_EACH_TIME`, else its default."""
    return False if query in PLANNED_EACH_TIME else None


# What a new request of an idempotency key whose execution has ended does (runs_again).
ID_REUSE = ("allow_duplicate_failed_only", "reject", "allow")
DEFAULT_REUSE = ID_REUSE[0]


@dataclass(frozen=True)
class Enqueue:
    """Everything needed to create (or idempotently find) one execution."""

    kind: str
    name: str
    inputs: str  # JSON text, already validated
    id: str | None = None
    version: str | None = None
    queue: str | None = None
    priority: int = 0
    max_retries: int | None = None
    options: str = "{}"
    parent_id: str | None = None
    parent_promise: int | None = None
    idempotency_key: str | None = None  # tasks: one execution per (name, key)
    id_reuse: str = DEFAULT_REUSE  # when a key's execution ended: run again or not
    concurrency_key: str | None = None  # workflows: at most concurrency_limit per key
    concurrency_limit: int | None = None


def prepare_enqueue(
    kind: str,
    name: str,
    inputs: Any,
    *,
    id: str | None,
    queue: str | None,
    priority: int,
    max_retries: int | None = None,
    options: dict[str, Any] | None = None,
    idempotency_key: str | None = None,
    id_reuse: str = DEFAULT_REUSE,
    concurrency_key: str | None = None,
    concurrency_limit: int | None = None,
) -> Enqueue:
    """Validate user arguments (InputError with one clear line) before any I/O."""
    if not isinstance(name, str) or not name:
        raise InputError(f"{kind} name must be a non-empty string, got {name!r}")
    bulk.check_fields(id, queue, priority, max_retries)
    _check_key(idempotency_key, id_reuse, id)
    concurrency.check_request(concurrency_key, concurrency_limit)
    if idempotency_key is not None:  # (the task sees it: rhythm.current_task())
        options = {**(options or {}), "idempotencyKey": idempotency_key}
    traceparent = client_traceparent()  # (None unless the caller uses OpenTelemetry)
    if traceparent is not None:
        options = {**(options or {}), "traceparent": traceparent}
    return Enqueue(
        kind=kind, name=name, inputs=encode_object(inputs, f"inputs of {kind} {name!r}"),
        id=id, queue=queue, priority=priority, max_retries=max_retries,
        options=encode(options or {}, "options"), idempotency_key=idempotency_key,
        id_reuse=id_reuse, concurrency_key=concurrency_key,
        concurrency_limit=concurrency_limit if concurrency_key is not None else None,
    )


def _check_key(key: str | None, id_reuse: str, execution_id: str | None) -> None:
    if id_reuse not in ID_REUSE:
        choices = ", ".join(repr(c) for c in ID_REUSE)
        raise InputError(f"id_reuse must be one of {choices}, got {id_reuse!r}")
    if key is None:
        return
    if not isinstance(key, str) or not key or len(key) > 500:
        raise InputError(f"idempotency_key must be a string of 1 to 500 characters, got {key!r}")
    if execution_id is not None:  # (a keyed execution's id places it in its key's partition)
        raise InputError("give either id or idempotency_key, not both")


KEY_TRIES = 5  # rounds of insert-or-lock while an id or key changes hands (retention)


def new_execution_id(kind: str) -> str:
    import uuid

    return f"{'t' if kind == 'task' else 'w'}-{uuid.uuid4().hex}"


def enqueue(req: Enqueue, now: datetime) -> Op[Row]:
    """Insert the execution, or return the existing one with that id (guarantee 8):
    a failed or cancelled one is archived and started again as a new run. A task with an
    idempotency key: :func:`enqueue_keyed`."""
    if req.idempotency_key is not None:
        return (yield from enqueue_keyed(req, now))
    params = {
        "id": req.id or new_execution_id(req.kind), "kind": req.kind, "name": req.name,
        "version": req.version, "inputs": req.inputs, "queue": req.queue,
        "priority": req.priority, "max_retries": req.max_retries, "options": req.options,
        "parent_id": req.parent_id, "parent_promise": req.parent_promise, "now": now,
        "concurrency_key": req.concurrency_key, "concurrency_limit": req.concurrency_limit,
    }
    for _ in range(KEY_TRIES):
        rows = yield "insert_execution", params
        if rows:
            return {**rows[0], "created": True}
        # (the holder of the id may be deleted by retention before this lock: try again)
        rows = yield "lock_execution", {"id": params["id"]}
        if rows:
            break
    else:
        raise InputError(f"id {params['id']!r} changed hands while starting; try again")
    existing = rows[0]
    if (existing["kind"], existing["name"]) != (req.kind, req.name):
        raise InputError(
            f"id {params['id']!r} is already used by {existing['kind']} {existing['name']!r}"
        )
    if existing["status"] not in ("failed", "cancelled"):
        return {**existing, "created": False}
    yield "archive_run", {"ids": [params["id"]]}
    yield "clear_run_state", {"ids": [params["id"]]}
    rows = yield "restart_execution", params
    if req.kind == "workflow":  # (its history goes on: a new run starts)
        yield "record_entries", history_entry([str(params["id"])], "started", now, {
            "name": req.name, "version": rows[0]["version"]})
    return {**rows[0], "created": True}


def history_entry(
    ids: list[str], kind: str, now: datetime, detail: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The parameters of ``record_entries``: an entry of ``kind`` for each workflow of
    ``ids`` (locked by the caller's transaction; docs/observability.md "History")."""
    return {"ids": ids, "kind": kind, "at": now, "detail": json.dumps(detail or {})}


def runs_again(status: str, id_reuse: str) -> bool:
    """Whether a new request of a key whose execution is ``status`` runs it again: never
    while it is pending or running; after a failure or cancellation unless ``reject``;
    after a success only under ``allow``."""
    if status in ("failed", "cancelled"):
        return id_reuse != "reject"
    return status == "completed" and id_reuse == "allow"


def enqueue_keyed(
    req: Enqueue, now: datetime, waiter: tuple[str, int, int] | None = None
) -> Op[Row]:
    """Queue task ``req`` under its idempotency key: create the key's execution, or find
    the one that holds it (the unique index decides between concurrent requests) and
    run it again in place if ``req.id_reuse`` says so (its earlier run archived, as for a
    reused id). ``waiter`` (workflow id, its partition, promise id): the workflow's
    promise to settle with the execution's outcome - at once when it has ended and is
    not run again (the row says ``settled``), else when it ends (execution_waiters)."""
    assert req.kind == "task" and req.idempotency_key is not None
    params = {
        "id": keyed_id(req.name, req.idempotency_key), "name": req.name,
        "inputs": req.inputs, "queue": req.queue, "priority": req.priority,
        "max_retries": req.max_retries, "options": req.options, "version": None,
        "idempotency_key": req.idempotency_key, "now": now,
    }
    row = yield from _insert_or_lock_keyed(req, params)
    if not row["created"] and runs_again(row["status"], req.id_reuse):
        yield "archive_keyed_run", {"id": row["id"]}
        rows = yield "restart_keyed_execution", {**params, "id": row["id"]}
        row = {**rows[0], "created": True, "result": None, "error": None}
    if waiter is not None:
        if row["status"] in TERMINAL:
            return {**row, "settled": True}
        waiter_id, waiter_part, promise_id = waiter
        yield "add_waiter", {"id": row["id"], "waiter_id": waiter_id,
                             "waiter_part": waiter_part, "promise_id": promise_id, "now": now}
    return {**row, "settled": False}


def _insert_or_lock_keyed(req: Enqueue, params: dict[str, Any]) -> Op[Row]:
    """The key's execution: created now, or the one that holds the key, locked. The
    holder may be deleted (retention) between the insert that found it and the lock,
    and another request may create the next one in between: each insert waits for a
    concurrent one of the key to commit, so a few rounds settle it."""
    for _ in range(KEY_TRIES):
        rows = yield "insert_keyed_execution", params
        if rows:
            return {**rows[0], "created": True}
        rows = yield "lock_keyed", params
        if rows:
            return {**rows[0], "created": False}
    raise InputError(f"idempotency key {req.idempotency_key!r} of task {req.name!r}"
                     " changed hands while queuing; try again")


def start_workflow(req: Enqueue, now: datetime) -> Op[Row]:
    """Start (or idempotently find) a workflow execution on the current version of its
    name (guarantee 5: the newest registration; the execution keeps it until it ends).

    A name with no version registered yet is accepted: the execution waits, pending and
    unclaimable, until a version is registered (``rhythm register`` or a worker that has
    it), and its first claim pins the version current then. The row says
    ``awaiting_version``."""
    rows = yield "current_versions", {"names": [req.name]}
    if not rows:  # (the lock orders this start with a registration running now)
        yield "lock_workflow_names", {"names": [req.name]}
        rows = yield "current_versions", {"names": [req.name]}
    row = yield from enqueue(replace(req, version=rows[0]["version"] if rows else None), now)
    return {**row, "awaiting_version": not rows and waiting_reason(row) is not None}


def waiting_reason(row: Row) -> str | None:
    """Why a pending execution does not run yet: it waits for a slot of its concurrency
    key, or (a workflow) for a version of its name."""
    if row.get("status") == "pending" and row.get("admitted") is False:
        return (f"waiting for a slot of concurrency key {row['concurrency_key']!r}"
                f" (limit {row['concurrency_limit']})")
    if (row.get("kind"), row.get("status"), row.get("version")) != ("workflow", "pending", None):
        return None
    if row.get("run_at") is not None:  # released, not claimed yet
        return None
    return (f"waiting for a version of workflow {row['name']!r}: none is registered yet "
            "(run `rhythm register`, or start a worker that has it)")


UNREGISTERED = "unregistered"  # no worker ever registered the task name
NO_LIVE_WORKER = "no live worker"  # every worker that registered it has stopped


def unserved_tasks(names: list[str], now: datetime) -> Op[dict[str, str]]:
    """Those of task ``names`` that no live worker has, each with why: UNREGISTERED (no
    worker ever registered it) or NO_LIVE_WORKER (those that did have stopped, or their
    heartbeat is older than their lease). Workers claim only the task names they have
    (routing), so such a task waits until one that has it starts."""
    if not names:
        return {}
    rows = yield "routed_task_names", {"names": names}
    routed = {row["name"] for row in rows}
    unserved = {name: UNREGISTERED for name in names if name not in routed}
    if routed:  # (a name no worker registered is missing whatever lives)
        rows = yield "live_task_names", {"names": sorted(routed), "now": now}
        live = {row["name"] for row in rows}
        unserved.update((name, NO_LIVE_WORKER) for name in routed if name not in live)
    return unserved


def workflow_names() -> Op[list[str]]:
    """Every workflow name with a registered version (for "did you mean")."""
    rows = yield "workflow_names", {}
    return [row["name"] for row in rows]


def signal(execution_id: str, channel: str, payload: str, now: datetime) -> Op[Row]:
    """Deliver a signal (guarantee 6): to the oldest live wait on its channel, else
    buffered for the next one. A wait that a decided race abandoned is skipped (and
    marked), so it never consumes the signal. Signals to ended executions are refused."""
    if not isinstance(channel, str) or not channel:
        raise InputError(f"signal name must be a non-empty string, got {channel!r}")
    rows = yield "lock_for_signal", {"id": execution_id}
    if not rows:
        raise UnknownName(f"no execution with id {execution_id!r}")
    target = rows[0]
    if target["kind"] != "workflow":
        raise InputError(f"execution {execution_id!r} is a task; only workflows take signals")
    if target["status"] in TERMINAL:
        raise InputError(
            f"execution {execution_id!r} has ended ({target['status']}); "
            f"signal {channel!r} refused"
        )
    waits = yield "open_signal_waits", {"id": execution_id, "channel": channel}
    receiver = None
    if waits:
        abandoned = yield from _abandoned_waits(execution_id, epoch_ms(now))
        if abandoned:
            yield "abandon_promises", {"id": execution_id, "ids": sorted(abandoned)}
        receiver = next((w["promise_id"] for w in waits if w["promise_id"] not in abandoned), None)
    rows = yield "insert_signal", {
        "id": execution_id, "channel": channel, "payload": payload, "now": now,
        "consumed_by": receiver,
    }
    if receiver is not None:
        yield "settle_signal_wait", {
            "id": execution_id, "promise_id": receiver, "payload": payload, "now": now,
            "now_ms": epoch_ms(now),
        }
    return {"signal_id": rows[0]["id"], "delivered_to": receiver}


def _abandoned_waits(execution_id: str, now_ms: int) -> Op[set[int]]:
    """Signal waits that open races/anys have abandoned by now (the engine decides)."""
    rows = yield "load_open_combinators", {"id": execution_id}
    records = {r["promise_id"]: record_from_row(r) for r in rows}
    missing = member_ids(records.values()) - records.keys()
    while missing:
        rows = yield "load_promises", {"id": execution_id, "ids": sorted(missing)}
        more = {r["promise_id"]: record_from_row(r) for r in rows}
        records.update(more)
        missing = member_ids(more.values()) - records.keys() - set(more)
        if not more:
            break
    if not records:
        return set()
    table = PromiseTable(list(records.values()), next_id=max(records) + 1)
    settle_due(table, now_ms)
    return set(table.propagate().abandoned)


def get(execution_id: str) -> Op[Row]:
    rows = yield "get_execution", {"id": execution_id}
    if not rows:
        raise UnknownName(f"no execution with id {execution_id!r}")
    return rows[0]


# Who a cancel or a retry changes: the status each statement expects (cancel_executions;
# lock_retryable and retry_executions) - here for a dry run, which counts without them.
CANCELLABLE = ("pending", "running", "suspended")
RETRYABLE = ("failed", "cancelled")


def cancel(execution_id: str, now: datetime) -> Op[Row]:
    """Cancel: a pending execution ends now; a running or suspended one is asked to stop."""
    rows = yield from cancel_ids([execution_id], now)
    if not rows:
        current = yield from get(execution_id)
        raise InputError(f"execution {execution_id!r} has already ended ({current['status']})")
    return rows[0]


def cancel_ids(ids: list[str], now: datetime) -> Op[list[Row]]:
    """Cancel each of ``ids`` (one partition) as :func:`cancel` does - one id, or a page
    of a bulk cancel: the rules are written once. The rows it changed (each ``status``
    ``cancelled``, or still ``running``/``suspended``: asked to stop)."""
    rows = yield "cancel_executions", {
        "ids": ids, "now": now, "error": encode(failures.cancelled_error(), "error"),
    }
    asked = sorted(r["id"] for r in rows if r["kind"] == "workflow")
    if asked:
        yield "record_entries", history_entry(asked, "cancel_requested", now)
    ended = [r for r in rows if r["status"] == "cancelled"]
    children = [r["id"] for r in ended if r["parent_id"] is not None]
    if children:
        yield "settle_parents", {"ids": children, "now": now}
    tasks = [r["id"] for r in ended if r["kind"] == "task"]
    if tasks:  # (a keyed one's waiters)
        yield from settle_waiters_op(tasks, now)
    return list(rows)


def retry(execution_id: str, now: datetime) -> Op[Row]:
    """Run a failed or cancelled execution again from the start, with the same inputs."""
    found, changed = yield from retry_ids([execution_id], now)
    if changed:
        return changed[0]
    if not found:
        raise UnknownName(f"no execution with id {execution_id!r}")
    status = found[0]["status"]
    if status in RETRYABLE:  # (it was retried by someone else meanwhile)
        raise InputError(f"execution {execution_id!r} changed state while retrying; try again")
    raise InputError(f"execution {execution_id!r} is {status}; only failed or cancelled "
                     "executions can be retried")


def retry_ids(ids: list[str], now: datetime) -> Op[tuple[list[Row], list[Row]]]:
    """Retry each failed or cancelled one of ``ids`` (one partition) as :func:`retry`
    does - one id, or a page of a bulk retry. The rows found (as they were before) and
    those run again."""
    found = yield "read_executions", {"ids": ids}
    # A workflow that never had a version waits for one again (see start_workflow): its
    # name is locked before its row, in the order a registration takes them.
    names = sorted({r["name"] for r in found if r["kind"] == "workflow"
                    and r["version"] is None and r["status"] in RETRYABLE})
    if names:
        yield "lock_workflow_names", {"names": names}
    locked = yield "lock_retryable", {"ids": ids}
    if not locked:
        return list(found), []
    keep = [r["id"] for r in locked]
    yield "archive_run", {"ids": keep}
    yield "clear_run_state", {"ids": keep}
    changed = yield "retry_executions", {"ids": keep, "now": now}
    retried = sorted(r["id"] for r in changed if r["kind"] == "workflow")
    if retried:
        yield "record_entries", history_entry(retried, "retry", now)
    return list(found), list(changed)


def run_each(steps: Generator[Op[Any], Any, T], run: Callable[[Op[Any]], Any]) -> T:
    """Run each operation ``steps`` yields with ``run`` (a client's: one transaction
    each), sending back its result; what ``steps`` returns. For work that commits in
    parts (``rhythm upgrade``: one transaction per execution moved)."""
    result: Any = None
    while True:
        try:  # (only the steps' own end: never one escaping from ``run``)
            op = steps.send(result)
        except StopIteration as stop:
            return stop.value
        result = run(op)


async def run_each_async(
    steps: Generator[Op[Any], Any, T], run: Callable[[Op[Any]], Awaitable[Any]]
) -> T:
    """Like :func:`run_each` with an async ``run``."""
    result: Any = None
    while True:
        try:
            op = steps.send(result)
        except StopIteration as stop:
            return stop.value
        result = await run(op)


def _must_join(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """A caller's non-autocommit connection with no transaction open yet: without a
    first statement, ``conn.transaction()`` would commit on its own."""
    return not conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE


def _standalone(conn: psycopg.Connection[Any] | psycopg.AsyncConnection[Any]) -> bool:
    """An autocommit connection outside a transaction: a statement commits on its own."""
    return conn.autocommit and conn.info.transaction_status == TransactionStatus.IDLE


def bind(params: dict[str, Any], topology: Topology) -> dict[str, Any]:
    """A statement's parameters with its partition - that of the execution it is about
    (``id``, or the first of ``ids``: one operation stays in one tree) - and whether it
    sends its own notifications."""
    bound = {**params, "notify": topology.notify_in_sql}
    about = params.get("id") or next(iter(params.get("ids") or ()), None)
    if about is not None:
        bound["part"] = topology.part_of(about)
    if "batch" in params:  # a bulk enqueue: each row with its own partition, as JSON
        kind, items = params["batch"]
        bound["batch"] = bulk.batch_json(kind, items, topology)
    return bound


def drive(conn: psycopg.Connection[Any], op: Op[T], topology: Topology = PLAIN) -> T:
    """Run ``op`` on a sync connection, in one transaction (or a savepoint of the
    caller's open transaction); leading :data:`STANDS_ALONE` statements on their own."""
    notices = Notices()
    if topology.citus:
        op = routed(op)
    if _must_join(conn):
        conn.execute(Q["join_transaction"])
    with conn.cursor(row_factory=dict_row) as cur:
        query, params = next(op)
        if _standalone(conn):
            while query in STANDS_ALONE:
                cur.execute(Q[query], bind(params, topology), prepare=_prepare(query))
                rows = cur.fetchall()
                try:
                    query, params = op.send(_noted(query, rows, notices, topology))
                except StopIteration as stop:
                    notices.send(conn)
                    return stop.value
        with conn.transaction():
            try:
                while True:
                    cur.execute(Q[query], bind(params, topology), prepare=_prepare(query))
                    rows = cur.fetchall() if cur.description is not None else []
                    query, params = op.send(_noted(query, rows, notices, topology))
            except StopIteration as stop:  # inside the block: the transaction commits
                notices.send(conn)
                return stop.value


async def drive_async(
    conn: psycopg.AsyncConnection[Any], op: Op[T], topology: Topology = PLAIN
) -> T:
    """Run ``op`` on an async connection, like :func:`drive`."""
    notices = Notices()
    if topology.citus:
        op = routed(op)
    if _must_join(conn):
        await conn.execute(Q["join_transaction"])
    async with conn.cursor(row_factory=dict_row) as cur:
        query, params = next(op)
        if _standalone(conn):
            while query in STANDS_ALONE:
                await cur.execute(Q[query], bind(params, topology), prepare=_prepare(query))
                rows = await cur.fetchall()
                try:
                    query, params = op.send(_noted(query, rows, notices, topology))
                except StopIteration as stop:
                    await notices.send_async(conn)
                    return stop.value
        async with conn.transaction():
            try:
                while True:
                    await cur.execute(Q[query], bind(params, topology), prepare=_prepare(query))
                    rows = await cur.fetchall() if cur.description is not None else []
                    query, params = op.send(_noted(query, rows, notices, topology))
            except StopIteration as stop:  # inside the block: the transaction commits
                await notices.send_async(conn)
                return stop.value


def _noted(query: str, rows: list[Row], notices: Notices, topology: Topology) -> list[Row]:
    """The rows; the notifications they name are kept for the end, unless the statement
    sent them itself."""
    if not (topology.notify_in_sql and query in SELF_NOTIFYING):
        notices.from_rows(rows)
    return rows


__all__ = ["TERMINAL", "Enqueue", "RhythmError", "drive", "drive_async", "enqueue", "get"]
