"""The worker's claim side: its claim connection, the local ready buffer and timers.

* **Plan-proof claims.** The claim connection runs with ``enable_sort`` and
  ``enable_bitmapscan`` off (:data:`CLAIM_SESSION`). Right after a burst of enqueues the
  table's statistics are stale and the planner would otherwise pick a bitmap scan plus
  a sort of the *whole* ready set (milliseconds per claim, growing with the backlog);
  with them off, the only sensible plan left is walking ``executions_ready`` in order
  and stopping after ``limit`` rows, whatever the statistics say. Only the claim,
  ``next_due``, ``next_timer_due`` and ``fire_due_timers`` run on this connection.
* **Local buffer.** A claim takes up to ``free slots + prefetch`` rows and keeps those
  it cannot start yet in memory, so claims stay large (tens of rows per round trip)
  however few slots free up at a time. Buffered rows are held under the same lease as
  running ones (the heartbeat renews both); on shutdown they are released at once
  (``release_claims``: back to pending/suspended, attempt not counted).
* **Timers on demand.** ``fire_due_timers`` runs only when the earliest known timer is
  due, instead of before every claim; the earliest due time is re-read at most every
  :data:`TIMER_RECHECK` seconds, when the worker goes idle, and is lowered at once
  when one of this worker's activations writes a timer.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.runtime.clock import Clock
from rhythm.runtime.database import connect_async
from rhythm.runtime.jobs import Claim
from rhythm.runtime.sql import Q

CLAIM_SESSION = ("SET enable_sort = off", "SET enable_bitmapscan = off")
TIMER_RECHECK = 1.0  # seconds between re-reads of the earliest pending timer
KINDS = ["task", "workflow"]


async def open_claim_connection(url: str) -> psycopg.AsyncConnection[Any]:
    """A connection whose planner cannot choose the sort-the-backlog claim plan."""
    conn = await connect_async(url)
    for statement in CLAIM_SESSION:
        await conn.execute(statement)
    return conn


class Claimer:
    """Claims rows of the worker's queues into a local buffer, and fires due timers."""

    def __init__(
        self, url: str, worker_id: str, queues: Sequence[str], clock: Clock,
        lease_seconds: float, prefetch: int,
    ) -> None:
        self.url = url
        self.worker_id = worker_id
        self.queues = list(queues)
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.prefetch = prefetch
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.buffer: dict[str, Claim] = {}  # claimed, not started yet; oldest first
        self.claimed = 0
        self._timer_due: datetime | None = None
        self._timers_read_at = float("-inf")

    async def open(self) -> None:
        self.conn = await open_claim_connection(self.url)

    async def close(self) -> None:
        if self.conn is not None:
            await self.conn.close()

    # ------------------------------------------------------------- the buffer

    def wants(self, free: int) -> bool:
        """Is the buffer below its low-water mark for ``free`` open slots?"""
        return len(self.buffer) < free + self.prefetch // 2

    def take(self, count: int) -> list[Claim]:
        """The ``count`` oldest buffered rows, out of the buffer (called as each slot
        frees: it must not copy the whole buffer to take one row)."""
        ids = list(itertools.islice(self.buffer, max(count, 0)))
        return [self.buffer.pop(i) for i in ids]

    def add(self, claims: list[Claim]) -> None:
        """Rows claimed for this worker elsewhere (woken parents, by the outcome flush)."""
        for claim in claims:
            self.buffer[claim.id] = claim
        self.claimed += len(claims)

    def drop(self, execution_id: str) -> None:
        """A buffered row's lease was lost: it is someone else's now."""
        self.buffer.pop(execution_id, None)

    def mark_cancel(self, execution_id: str) -> None:
        """Cancellation was requested for a buffered row: it starts as cancelled."""
        claim = self.buffer.get(execution_id)
        if claim is not None:
            self.buffer[execution_id] = replace(claim, cancel_requested=True)

    async def refill(self, free: int) -> bool:
        """Claim up to ``free + prefetch`` rows; True when a queue came back short
        (nothing more is ready there now)."""
        short = False
        for queue in self.queues:
            want = free + self.prefetch - len(self.buffer)
            if want <= 0:
                break
            claims = await self._claim(queue, want)
            short = short or len(claims) < want
            for claim in claims:
                self.buffer[claim.id] = claim
        return short

    async def _claim(self, queue: str, limit: int) -> list[Claim]:
        conn = self.conn
        assert conn is not None
        now = self.clock.now()
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(Q["claim"], {
                "queue": queue, "limit": limit, "now": now, "worker": self.worker_id,
                "lease_until": now + timedelta(seconds=self.lease_seconds), "kinds": KINDS,
            })
            rows = await cur.fetchall()
        self.claimed += len(rows)
        return [Claim.from_row(row) for row in rows]

    async def release(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Hand every buffered row back to its queue (shutdown); returns how many."""
        held = [{"id": c.id, "token": c.token} for c in self.buffer.values()]
        self.buffer.clear()
        if not held:
            return 0
        cur = await conn.execute(Q["release_claims"], {
            "claims": json.dumps(held), "now": self.clock.now()})
        return len(await cur.fetchall())

    # ------------------------------------------------------------- timers

    def timer_added(self, due: datetime) -> None:
        """One of this worker's activations committed a timer due at ``due``."""
        if self._timer_due is None or due < self._timer_due:
            self._timer_due = due

    async def fire_timers(self) -> None:
        """Settle due timers and signal-wait timeouts (their workflows become
        claimable), if the earliest known one is due."""
        if time.monotonic() - self._timers_read_at >= TIMER_RECHECK:
            await self.next_timer_due()
        if self._timer_due is None or self._timer_due > self.clock.now():
            return
        conn = self.conn
        assert conn is not None
        await conn.execute(Q["fire_due_timers"], {"now": self.clock.now()})
        await self.next_timer_due()

    def seconds_to_timer(self) -> float:
        """How long the claim loop may sleep before the earliest known timer is due."""
        if self._timer_due is None:
            return float("inf")
        # A floor: a due timer that another worker holds locked is retried, not spun on.
        return max((self._timer_due - self.clock.now()).total_seconds(), 0.02)

    async def next_timer_due(self) -> datetime | None:
        conn = self.conn
        assert conn is not None
        cur = await conn.execute(Q["next_timer_due"])
        row = await cur.fetchone()
        self._timer_due = row[0] if row else None
        self._timers_read_at = time.monotonic()
        return self._timer_due

    async def next_due(self) -> datetime | None:
        """The earliest future row or timer of these queues (how long to sleep)."""
        conn = self.conn
        assert conn is not None
        cur = await conn.execute(Q["next_due"], {"queues": self.queues, "kinds": KINDS})
        row = await cur.fetchone()
        due: datetime | None = row[0] if row else None
        timer = await self.next_timer_due()
        if timer is not None and (due is None or timer < due):
            due = timer
        return due
