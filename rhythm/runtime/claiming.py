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
* **Partitions.** Every claim, probe and timer statement names one partition (on Citus a
  ``FOR UPDATE`` may not span shards). With P = 1 that is one statement as before. With
  more, a refill claims from the partitions known to have work - named by a NOTIFY
  (``part:queue``), or found due by the idle probe (``next_due`` of each partition) - and
  sweeps them all when it knows of none (the backstop); each refill starts at the next
  partition, so that none is starved.
* **Routing.** Claims and probes take only the task names the worker has
  (``names``; workflows always), so a task of a name only another worker (another
  language) has waits for that worker instead of failing here as unknown.
* **Queue controls** (:mod:`rhythm.runtime.limits`): paused queues are neither claimed
  nor probed. A queue with a rate limit, or carrying rate-limited task names, is claimed
  with ``claim_limited`` (tokens taken in the claim itself); when such a claim comes back
  short with an empty bucket, the claimer sleeps until the next token (the statement
  says when) instead of probing that queue, and while the queue's own bucket is empty
  it does not claim it on a NOTIFY either.
"""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.runtime.clock import Clock
from rhythm.runtime.database import connect_async
from rhythm.runtime.jobs import Claim
from rhythm.runtime.limits import Controls
from rhythm.runtime.notices import Notices
from rhythm.runtime.partitions import PLAIN, Topology
from rhythm.runtime.sql import Q

# (jit off: a plan's cost counts each node a setting disables as 10^10, far above
# jit_above_cost, and compiling the claim then took ~0.4 s on every call.)
CLAIM_SESSION = ("SET enable_sort = off", "SET enable_bitmapscan = off", "SET jit = off")
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
        lease_seconds: float, prefetch: int, topology: Topology = PLAIN,
        names: Sequence[str] | None = None,
    ) -> None:
        self.url = url
        # Routing: the task names this worker has; claims and probes take no other task
        # (None: any, as before routing), so workers of several languages share a queue.
        self.names = None if names is None else sorted(names)
        self.topology = topology
        self.worker_id = worker_id
        self.queues = list(queues)
        self.clock = clock
        self.lease_seconds = lease_seconds
        self.prefetch = prefetch
        self.conn: psycopg.AsyncConnection[Any] | None = None
        self.buffer: dict[str, Claim] = {}  # claimed, not started yet; oldest first
        self.claimed = 0
        self._timer_due: dict[int, datetime | None] = {}  # per partition
        self._timers_read_at = float("-inf")
        self._hinted: set[int] = set(topology.all_parts())  # partitions said to have work
        self._due: dict[int, datetime] = {}  # partitions' next due rows (the idle probe)
        self._unprobed: set[int] = set(topology.all_parts())  # ... not known since short
        self._turn = 0  # the partition a refill starts at
        self.controls = Controls()
        # (part, queue) -> when its next token is due, after a claim limited by tokens;
        # hard: the queue's own bucket was empty (no task can be claimed before then).
        self._token_due: dict[tuple[int, str], tuple[datetime, bool]] = {}

    async def open(self) -> None:
        """Connect, and read how the database is partitioned (once: it never changes)."""
        self.conn = await open_claim_connection(self.url)
        cur = await self.conn.execute(Q["read_layout"])
        self.topology = Topology.from_row(await cur.fetchone())
        self._hinted = set(self.topology.all_parts())
        self._unprobed = set(self.topology.all_parts())

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

    def hint(self, part: int | None) -> None:
        """A NOTIFY said a row of one of our queues became ready in ``part`` (None: in
        some partition)."""
        if part is None:
            self.hint_all()
        elif 0 <= part < self.topology.partitions:
            self._hinted.add(part)

    def hint_all(self) -> None:
        """Notifications may have been missed (a reconnect): look everywhere."""
        self._hinted.update(self.topology.all_parts())

    def _parts_to_claim(self) -> list[int]:
        """The partitions a refill claims from, starting at this refill's turn."""
        count = self.topology.partitions
        start, self._turn = self._turn, (self._turn + 1) % count
        order = [(start + i) % count for i in range(count)]
        now = self.clock.now()
        tokens = {part for (part, _), (due, _) in self._token_due.items() if due <= now}
        known = [p for p in order
                 if p in self._hinted or p in tokens or self._due.get(p, now) < now]
        return known or order

    async def refill(self, free: int) -> bool:
        """Claim up to ``free + prefetch`` rows; True when a queue came back short
        (nothing more is ready there now)."""
        short = False
        queues = self.controls.claimable(self.queues)
        now = self.clock.now()
        for part in self._parts_to_claim():
            part_short = False
            waiting = False  # a queue skipped until its next token
            for queue in queues:
                want = free + self.prefetch - len(self.buffer)
                if want <= 0:
                    return short
                due = self._token_due.get((part, queue))
                if due is not None and due[1] and due[0] > now:
                    waiting = True
                    continue
                claims = await self._claim(part, queue, want)
                part_short = part_short or len(claims) < want
                for claim in claims:
                    self.buffer[claim.id] = claim
            if part_short:
                self._hinted.discard(part)
                self._due.pop(part, None)
                self._unprobed.add(part)
            short = short or part_short or waiting or not queues
        return short

    async def _claim(self, part: int, queue: str, limit: int) -> list[Claim]:
        conn = self.conn
        assert conn is not None
        now = self.clock.now()
        params = {
            "queue": queue, "limit": limit, "now": now, "worker": self.worker_id,
            "lease_until": now + timedelta(seconds=self.lease_seconds), "kinds": KINDS,
            "part": part, "names": self.names,
        }
        limited = self.controls.limited(queue)
        if limited:
            params["task_names"] = self.controls.task_names(queue)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(Q["claim_limited" if limited else "claim"], params)
            rows = await cur.fetchall()
        if limited:
            rows = self._note_tokens(part, queue, rows, limit)
        self.claimed += len(rows)
        return [Claim.from_row(row) for row in rows]

    def _note_tokens(
        self, part: int, queue: str, rows: list[dict[str, Any]], limit: int
    ) -> list[dict[str, Any]]:
        """The claimed rows of a ``claim_limited`` (without its row of NULLs when it
        claimed nothing); a short claim with an empty bucket notes when the next token
        is due."""
        first = rows[0] if rows else {}
        claimed = [row for row in rows if row.get("id") is not None]
        queue_due, task_due = first.get("queue_due"), first.get("task_due")
        due = _earliest([queue_due, task_due])
        if len(claimed) < limit and due is not None:
            self._token_due[(part, queue)] = (due, queue_due is not None)
        else:
            self._token_due.pop((part, queue), None)
        return claimed

    async def release(self, conn: psycopg.AsyncConnection[Any]) -> int:
        """Hand every buffered row back to its queue (shutdown); returns how many."""
        held = list(self.buffer.values())
        self.buffer.clear()
        released = 0
        notices = Notices()
        for part in sorted({c.part for c in held}):
            claims = [{"id": c.id, "token": c.token} for c in held if c.part == part]
            cur = await conn.execute(Q["release_claims"], {
                "claims": json.dumps(claims), "now": self.clock.now(), "part": part})
            rows = await cur.fetchall()
            notices.wake(row[1] for row in rows)
            released += len(rows)
        await notices.send_async(conn)
        return released

    # ------------------------------------------------------------- timers

    def timer_added(self, part: int, due: datetime) -> None:
        """One of this worker's activations committed a timer due at ``due``."""
        known = self._timer_due.get(part)
        if known is None or due < known:
            self._timer_due[part] = due

    async def fire_timers(self) -> None:
        """Settle due timers and signal-wait timeouts (their workflows become
        claimable), in each partition whose earliest known one is due."""
        if time.monotonic() - self._timers_read_at >= TIMER_RECHECK:
            await self.next_timer_due()
        now = self.clock.now()
        due = [p for p, at in self._timer_due.items() if at is not None and at <= now]
        if not due:
            return
        conn = self.conn
        assert conn is not None
        notices = Notices()
        for part in due:
            cur = await conn.execute(Q["fire_due_timers"], {"now": now, "part": part})
            notices.wake(row[0] for row in await cur.fetchall())
        await notices.send_async(conn)
        await self.next_timer_due()

    def seconds_to_timer(self) -> float:
        """How long the claim loop may sleep before the earliest known timer is due."""
        timer = _earliest(self._timer_due.values())
        if timer is None:
            return float("inf")
        # A floor: a due timer that another worker holds locked is retried, not spun on.
        return max((timer - self.clock.now()).total_seconds(), 0.02)

    async def next_timer_due(self, parts: Iterable[int] | None = None) -> datetime | None:
        """Re-read the earliest pending timer of ``parts`` (default: every partition, and
        then the re-read is timed); the earliest known of all."""
        conn = self.conn
        assert conn is not None
        if parts is None:
            parts = self.topology.all_parts()
            self._timers_read_at = time.monotonic()
        for part in parts:
            cur = await conn.execute(Q["next_timer_due"], {"part": part})
            row = await cur.fetchone()
            self._timer_due[part] = row[0] if row else None
        return _earliest(self._timer_due.values())

    async def next_due(self) -> datetime | None:
        """The earliest future row or timer of these queues (how long to sleep). Only the
        partitions whose claims came back short since their last probe are read again
        (one each, however many partitions there are: an idle worker on Citus would
        otherwise send 2 P statements after every short claim); the probe also tells the
        next refill where rows are due."""
        conn = self.conn
        assert conn is not None
        probed, self._unprobed = sorted(self._unprobed), set()
        now = self.clock.now()
        claimable = self.controls.claimable(self.queues)
        # A token wait ends with the next claim of its queue in its partition (which
        # notes the next one), not when its time passes: until then that time, past, is
        # what wakes us and what names the partition to claim (_parts_to_claim).
        self._token_due = {k: v for k, v in self._token_due.items()
                           if k[1] in claimable and self.controls.limited(k[1])}
        waiting = {k for k, (due, _) in self._token_due.items() if due > now}
        for part in probed:
            # Queues waiting for a token are not probed: their ready rows are due now,
            # yet cannot be claimed before the token (the token's time counts instead).
            queues = [q for q in claimable if (part, q) not in waiting]
            row = None
            if queues:
                cur = await conn.execute(Q["next_due"], {
                    "queues": queues, "kinds": KINDS, "part": part, "names": self.names})
                row = await cur.fetchone()
            if row and row[0] is not None:
                self._due[part] = row[0]
            else:
                self._due.pop(part, None)
        timer = await self.next_timer_due(probed)
        tokens = [due for due, _ in self._token_due.values()]
        return _earliest([*self._due.values(), timer, *tokens])


def _earliest(times: Iterable[datetime | None]) -> datetime | None:
    return min((t for t in times if t is not None), default=None)
