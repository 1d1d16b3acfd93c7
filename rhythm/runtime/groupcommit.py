"""Group commit: activations of one worker that commit at the same moment share one
statement (one round trip, one executor start, one WAL flush) instead of one each.

The statement (``commit_activations``) takes its activations as one JSON array and
returns a row for each that committed. An activation hands its element to
:meth:`GroupCommit.run`. If fewer than ``leaders`` batches are in flight (the worker
allows one: batches grow larger and Postgres spends less per step), it leads at once: it
sends its own element together with every one queued so far. Otherwise it queues and
waits; when a leader finishes, the oldest waiter leads the next batch. So no commit
waits for a timer, a lone commit costs what it did before, and under load the batch
grows by itself with the time a commit takes (as a database's own group commit does).

Batches go on the group's own connections (one per leader, opened on first use and
replaced once broken; one that sat idle longer than ``check_idle`` is checked first, as
the worker's pool checks its connections, since a restart of the server breaks idle
connections and the next batch would fail on it), not on the activations': an
activation that needs nothing else from the database - a workflow resumed by its
task's outcome - then holds no pooled connection while it waits for its batch, so how
many commits can queue is not bounded by the size of a pool, and the statement stays
prepared on one session.

Each element keeps its own guard (a claim token, a task's claim): one whose guard fails
writes nothing and gets no row, without touching the others. An error of the database
(lost connection, deadlock) rolls the whole statement back and is raised to every
activation in it, exactly as if each had sent its commit alone and failed. An error of
one element's data (:data:`UNSTORABLE`) also rolls the statement back; then each element
is sent alone, so that only the bad one fails, with its own error.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any

import psycopg

from rhythm.runtime.database import Connect, check_if_idle
from rhythm.runtime.notices import Notices
from rhythm.runtime.partitions import PLAIN, Topology
from rhythm.runtime.sql import RAW

_LEAD = object()  # a waiter's future resolves to this: lead the next batch yourself

UNSTORABLE = (psycopg.DataError, psycopg.errors.ProgramLimitExceeded, ValueError,
              OverflowError, RecursionError)
"""Errors of one activation's data, not of the database or the connection: a value
Postgres refuses (a NUL in JSON text, a date past its range, a value too large) or one
that cannot even be encoded (nested too deep)."""


@dataclass
class _Entry:
    item: dict[str, Any]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


async def commit_many(
    conn: psycopg.AsyncConnection[Any], items: list[dict[str, Any]],
    topology: Topology = PLAIN,
) -> list[Any]:
    """Send ``commit_activations`` for these elements (each a dict of the fields of
    ``rhythm.activation_commit`` but ``n``, and its ``part``: all the same); the row back
    of each, None for those whose guard failed. The statement locks in array order, so
    the array goes sorted by workflow id: two batches never wait for each other in a
    cycle. Rows: n, run_at, wake, done, started (the tasks claimed for this worker),
    effects_wake."""
    order = sorted(range(len(items)), key=lambda i: items[i]["id"])
    batch = [{**items[i], "n": place} for place, i in enumerate(order)]
    statement = RAW["commit_activations"]
    cur = psycopg.AsyncRawCursor(conn)
    await cur.execute(statement.text, statement.args({
        "batch": json.dumps(batch, separators=(",", ":")),
        "part": items[0]["part"] if items else 0, "notify": topology.notify_in_sql}))
    rows: list[Any] = [None] * len(items)
    for row in await cur.fetchall():
        rows[order[row[0]]] = row
    if not topology.notify_in_sql:
        notices = Notices()
        for item, row in zip(items, rows, strict=True):
            if row is not None:
                notices.wake([row[2], *(row[5] or ())])
                notices.done([row[3], item.get("task_id")])
        await notices.send_async(conn)
    return rows


class GroupCommit:
    """Shares ``commit_activations`` statements between concurrent activations (see
    module)."""

    def __init__(
        self, connect: Connect, leaders: int = 1, max_batch: int = 64,
        check_idle: float | None = None,
    ) -> None:
        self.connect = connect  # opens a connection for batches (autocommit, keyed)
        self.topology = PLAIN  # the worker sets the database's once it has read it
        self.leaders = leaders
        self.max_batch = max_batch
        self.check_idle = check_idle  # seconds idle before a check; None: never check
        self._queue: list[_Entry] = []
        self._leading = 0
        # open connections with no batch on them, and since when (time.monotonic)
        self._idle: list[tuple[psycopg.AsyncConnection[Any], float]] = []
        self.batches = 0  # statements sent
        self.commits = 0  # activations in them

    async def prepare(self) -> None:
        """Open the first connection and prepare the statement on it, with an empty batch
        (it writes nothing): the first batch of a starting worker then pays for neither a
        connection nor a plan (~15 ms here, while every activation of the start waits)."""
        conn = await self._take()
        try:
            await commit_many(conn, [], self.topology)
        finally:
            await self._put_back(conn)

    async def close(self) -> None:
        """Close the group's connections (call once no batch is in flight)."""
        idle, self._idle = self._idle, []
        for conn, _ in idle:
            await conn.close()

    async def run(self, item: dict[str, Any]) -> Any:
        """Commit one activation (alone, or in a batch); its row, or None when its guard
        failed (nothing of it was written)."""
        entry = _Entry(item)
        if self._leading < self.leaders:
            self._leading += 1
        else:
            self._queue.append(entry)
            try:
                outcome = await entry.done
            except asyncio.CancelledError:
                self._withdraw(entry)
                raise
            if outcome is not _LEAD:
                return outcome
            entry.done = asyncio.get_running_loop().create_future()
        await self._lead(entry)
        return entry.done.result()

    async def _lead(self, own: _Entry) -> None:
        """Send our element and the oldest queued ones of its partition as one statement,
        pass the lead on to the oldest waiter, if any, and hand each element its row (or
        its error)."""
        batch = [own, *self._same_part(own.item["part"], self.max_batch - 1)]
        conn: psycopg.AsyncConnection[Any] | None = None
        rows: list[Any] | None = None
        try:
            conn = await self._take()
            self.batches += 1
            self.commits += len(batch)
            try:
                rows = await commit_many(conn, [entry.item for entry in batch], self.topology)
            except UNSTORABLE:
                if len(batch) == 1:
                    raise
                await self._one_by_one(conn, batch)
        except BaseException as err:
            failed = err if isinstance(err, Exception) else psycopg.OperationalError(
                "the batch's commit was interrupted")
            for entry in batch:
                if not entry.done.done():
                    entry.done.set_exception(failed)
            if not isinstance(err, Exception):
                raise
            return  # each element, ours too, holds its row or error
        finally:
            if conn is not None:
                await self._put_back(conn)
            self._pass_lead()
        # Woken after the next leader: it sends the next batch before the event loop
        # turns to the activations this one answers, so Postgres is not left idle while
        # they run their tasks and machines.
        for entry, row in zip(batch, rows or [None] * len(batch), strict=True):
            if not entry.done.done():  # (a waiter cancelled meanwhile, or answered alone)
                entry.done.set_result(row)

    async def _one_by_one(self, conn: psycopg.AsyncConnection[Any], batch: list[_Entry]) -> None:
        """A batch that failed on the data of one of its elements (nothing of it was
        written): send each element alone, so that only the bad one fails, with its own
        error, and the others commit as if they had never met it. Rare: each costs a
        round trip. A lost connection still fails the rest (raised)."""
        for entry in batch:
            self.batches += 1
            try:
                row = (await commit_many(conn, [entry.item], self.topology))[0]
            except UNSTORABLE as err:
                if not entry.done.done():
                    entry.done.set_exception(err)
                continue
            if not entry.done.done():
                entry.done.set_result(row)

    def _same_part(self, part: int, size: int) -> list[_Entry]:
        """Out of the queue: up to ``size`` of the oldest elements of partition ``part``
        (one statement stays on one shard; with one partition, simply the oldest)."""
        taken: list[_Entry] = []
        kept: list[_Entry] = []
        if self.topology.partitions == 1:
            taken, self._queue = self._queue[:size], self._queue[size:]
            return taken
        for entry in self._queue:
            (taken if len(taken) < size and entry.item["part"] == part else kept).append(entry)
        self._queue = kept
        return taken

    async def _take(self) -> psycopg.AsyncConnection[Any]:
        """An idle connection for the next batch (checked first if it sat idle longer
        than ``check_idle``), or a new one."""
        while self._idle:
            conn, since = self._idle.pop()
            try:
                if self.check_idle is not None:
                    await check_if_idle(conn, since, self.check_idle)
                return conn
            except psycopg.Error:
                await conn.close()
        return await self.connect()

    async def _put_back(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Keep a connection that is ready for the next batch; close one that broke or was
        left mid-statement (an interrupted batch)."""
        if conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE:
            self._idle.append((conn, time.monotonic()))
        else:
            await conn.close()

    def _pass_lead(self) -> None:
        """The oldest waiter leads the next batch (leaving the queue, so that no other
        batch takes its element); with nobody waiting, one batch fewer is in flight."""
        if self._queue:
            self._queue.pop(0).done.set_result(_LEAD)
        else:
            self._leading -= 1

    def _withdraw(self, entry: _Entry) -> None:
        """A waiter was cancelled: drop its element if it was never sent, and pass the
        lead on if it had just been handed to it."""
        if entry in self._queue:
            self._queue.remove(entry)
        elif entry.done.done() and not entry.done.cancelled() and entry.done.result() is _LEAD:
            self._pass_lead()
