"""Group commit: activations of one worker that commit at the same moment share one
statement (one round trip, one executor start, one WAL flush) instead of one each.

The statement (``commit_activations``) takes its activations as one JSON array and
returns a row for each that committed. An activation hands its element to
:meth:`GroupCommit.run` with the connection it holds. If fewer than ``leaders`` batches
are in flight (the worker allows one: batches grow larger and Postgres spends less per
step, at no cost in throughput that the benchmark could see), it leads at once: it sends
its own element together with every one queued so far. Otherwise it queues and waits;
when a leader finishes, the oldest waiter leads the next batch on *its* connection. So
no commit waits for a timer, a lone commit costs what it did before, and under load the
batch grows by itself with the time a commit takes (as a database's own group commit
does).

Each element keeps its own guard (a claim token, a task's claim): one whose guard fails
writes nothing and gets no row, without touching the others. An error (lost
connection, deadlock) rolls the whole statement back and is raised to every activation
in it, exactly as if each had sent its commit alone and failed.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import psycopg

from rhythm.runtime.sql import Q

_LEAD = object()  # a waiter's future resolves to this: lead the next batch yourself


@dataclass
class _Entry:
    item: dict[str, Any]
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


async def commit_many(
    conn: psycopg.AsyncConnection[Any], items: list[dict[str, Any]]
) -> list[Any]:
    """Send ``commit_activations`` for these elements (each a dict of the fields of
    ``rhythm.activation_commit`` but ``n``); the row back of each, None for those whose
    guard failed. The statement locks in array order, so the array goes sorted by
    workflow id: two batches never wait for each other in a cycle."""
    order = sorted(range(len(items)), key=lambda i: items[i]["id"])
    batch = [{**items[i], "n": place} for place, i in enumerate(order)]
    cur = await conn.execute(Q["commit_activations"], {"batch": json.dumps(batch)})
    rows: list[Any] = [None] * len(items)
    for row in await cur.fetchall():
        rows[order[row[0]]] = row
    return rows


class GroupCommit:
    """Shares ``commit_activations`` statements between concurrent activations (see
    module)."""

    def __init__(self, leaders: int = 1, max_batch: int = 64) -> None:
        self.leaders = leaders
        self.max_batch = max_batch
        self._queue: list[_Entry] = []
        self._leading = 0
        self.batches = 0  # statements sent
        self.commits = 0  # activations in them

    async def run(self, conn: psycopg.AsyncConnection[Any], item: dict[str, Any]) -> Any:
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
        await self._lead(conn, entry)
        return entry.done.result()

    async def _lead(self, conn: psycopg.AsyncConnection[Any], own: _Entry) -> None:
        """Send our element and the oldest queued ones as one statement and hand each its
        row; then pass the lead on to the oldest waiter, if any."""
        size = self.max_batch - 1
        batch, self._queue = [own, *self._queue[:size]], self._queue[size:]
        try:
            self.batches += 1
            self.commits += len(batch)
            rows = await commit_many(conn, [entry.item for entry in batch])
        except BaseException as err:
            failed = err if isinstance(err, Exception) else psycopg.OperationalError(
                "the batch's commit was interrupted")
            for entry in batch:
                if not entry.done.done():
                    entry.done.set_exception(failed)
            raise
        else:
            for entry, row in zip(batch, rows, strict=True):
                if not entry.done.done():  # (a waiter cancelled meanwhile)
                    entry.done.set_result(row)
        finally:
            self._pass_lead()

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
