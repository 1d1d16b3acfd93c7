"""Firing schedules: the :class:`Scheduler` every worker runs (docs/lifecycle.md).

A schedule's ``next_fire_at`` column is its durable timer. The scheduler sleeps until
the earliest one of an unpaused schedule (one indexed read), until a NOTIFY on
``rhythm_wake`` says ``'!schedules'`` (a schedule changed), or :data:`BACKSTOP`
seconds - whichever comes first - so a tick fires on time, not on a poll.

Each due schedule is fired in **one short transaction** (:func:`fire_op`): its advisory
lock, taken or given up at once (another worker fires it); a re-read that it is still
due at the tick read; the ticks that the catch-up policy starts, each through the
idempotent start operations with the id ``NAME@TICK`` (guarantee 8: an id that exists
keeps its execution); then a fenced UPDATE of ``next_fire_at``/``last_tick`` that names
the value read (no row: the transaction rolls back). Whatever the number of workers,
one row per tick.

The tick reaches the execution: a workflow's inputs get ``scheduledAt`` (ISO 8601 UTC,
unless the schedule's inputs have that key), a task sees it as
``rhythm.current_task().scheduled_at`` (task inputs bind to parameters); both carry
``schedule`` and ``scheduledAt`` in the execution's options.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg

from rhythm.errors import RhythmError
from rhythm.lifecycle.schedules import (
    LOCK_CLASS,
    SCHEDULES_PAYLOAD,
    Cron,
    Firing,
    iso_tick,
    plan_firing,
)
from rhythm.runtime import operations as ops
from rhythm.runtime.cancelling import raise_if_cancelled
from rhythm.runtime.clock import Clock
from rhythm.runtime.partitions import Topology
from rhythm.runtime.sql import Q

log = logging.getLogger("rhythm.schedules")

BACKSTOP = 60.0  # seconds between reads of the next fire when nothing wakes us
BUSY = 0.2  # seconds before looking again at a schedule another worker is firing
RETRY = 1.0  # seconds before the next round after the database failed us
FAILED_WAIT = 60.0  # seconds a schedule whose firing failed is left alone by this worker
DUE_BATCH = 100  # due schedules read per round


class Raced(RhythmError):
    """The fenced UPDATE found the schedule moved on: this firing rolls back."""


def start_tick(row: dict[str, Any], tick: datetime, now: datetime) -> ops.Op[dict[str, Any]]:
    """Start the schedule's target for ``tick`` (idempotent by its id)."""
    at = iso_tick(tick)
    inputs = row["inputs"] if not isinstance(row["inputs"], str) else json.loads(row["inputs"])
    kind = row["target_kind"]
    if kind == "workflow" and "scheduledAt" not in inputs:
        inputs = {**inputs, "scheduledAt": at}
    req = ops.prepare_enqueue(kind, row["target"], inputs, id=f"{row['name']}@{at}",
                              queue=row["queue"], priority=0,
                              options={"schedule": row["name"], "scheduledAt": at})
    if kind == "workflow":
        return (yield from ops.start_workflow(req, now))
    return (yield from ops.enqueue(req, now))


def fire_op(name: str, expected: datetime, now: datetime) -> ops.Op[Firing | None]:
    """Fire schedule ``name`` due at ``expected`` (one transaction); None when another
    worker has it or handled it already."""
    rows = yield "schedule_try_lock", {"lock_class": LOCK_CLASS, "name": name}
    if not rows[0]["locked"]:
        return None
    rows = yield "due_schedule", {"name": name, "expected": expected}
    if not rows:
        return None
    row = rows[0]
    firing = plan_firing(Cron(row["cron"], row["timezone"]), expected, now, row["catch_up"])
    for tick in firing.starts:
        yield from start_tick(row, tick, now)
    rows = yield "advance_schedule", {"name": name, "expected": expected, "now": now,
                                      "next_fire_at": firing.next_fire_at,
                                      "last_tick": firing.last_tick}
    if not rows:
        raise Raced(f"schedule {name!r} moved on while firing")
    return firing


class Scheduler:
    """A worker's scheduler (see the module). ``connection()``: an async context
    manager of an autocommit connection (the worker's pool)."""

    def __init__(self, connection: Callable[[], Any], clock: Clock) -> None:
        self._connection = connection
        self.clock = clock
        self.topology: Topology | None = None
        self._heard = asyncio.Event()
        self._failing: dict[str, float] = {}  # name -> loop time to try it again
        self.started = 0  # executions started by this scheduler (tests)

    def hear(self, payload: str) -> bool:
        """Take a wake-up payload if it is the schedules'; True when it was."""
        if payload != SCHEDULES_PAYLOAD:
            return False
        self.wake()
        return True

    def wake(self) -> None:
        """Read the next fire again now (a change, or notifications maybe missed)."""
        self._heard.set()

    async def run(self, topology: Topology) -> None:
        """Fire schedules until cancelled."""
        self.topology = topology
        while True:
            raise_if_cancelled()  # (rhythm.runtime.cancelling)
            delay = await self.round()
            with contextlib.suppress(TimeoutError):  # (not wait_for: see Admissions.run)
                async with asyncio.timeout(delay):
                    await self._heard.wait()
            self._heard.clear()

    async def round(self) -> float:
        """Fire what is due; the seconds until the next fire (at most :data:`BACKSTOP`)."""
        try:
            async with self._connection() as conn:
                await self.fire_due(conn)
                cur = await conn.execute(Q["next_schedule_fire"],
                                         {"failing": self._still_failing()})
                row = await cur.fetchone()
        except (psycopg.Error, OSError, RhythmError) as err:
            log.warning("schedules: cannot read or fire (%s); retrying", err)
            return RETRY
        if row is None or row[0] is None:
            return BACKSTOP
        wait = (row[0] - self.clock.now()).total_seconds()
        return min(BACKSTOP, wait if wait > 0 else BUSY)  # (due still: another has it)

    def _still_failing(self) -> list[str]:
        now = asyncio.get_running_loop().time()
        self._failing = {n: t for n, t in self._failing.items() if t > now}
        return sorted(self._failing)

    async def fire_due(self, conn: psycopg.AsyncConnection[Any]) -> None:
        """Fire every schedule due now, each in its own transaction, until none is."""
        now = self.clock.now()
        cur = await conn.execute(Q["due_schedules"], {
            "now": now, "failing": self._still_failing(), "limit": DUE_BATCH})
        for name, expected in await cur.fetchall():
            await self._fire(conn, name, expected)

    async def _fire(self, conn: psycopg.AsyncConnection[Any], name: str,
                    expected: datetime) -> None:
        """Fire one schedule until it is no longer due (catch-up "all" may need several
        firings); a failure is logged and the schedule left alone a while."""
        assert self.topology is not None
        at: datetime | None = expected
        while at is not None and at <= self.clock.now():
            try:
                firing = await ops.drive_async(conn, fire_op(name, at, self.clock.now()),
                                               self.topology)
            except Raced:
                return
            except psycopg.OperationalError:
                raise  # (the connection, not the schedule: the next round retries)
            except (RhythmError, psycopg.Error) as err:  # (e.g. its id is taken)
                log.error("schedule %r cannot fire: %s; trying again in %ss",
                          name, err, FAILED_WAIT)
                self._failing[name] = asyncio.get_running_loop().time() + FAILED_WAIT
                return
            if firing is None:
                return
            self.started += len(firing.starts)
            if firing.starts:
                log.info("schedule %r started %s", name,
                         ", ".join(iso_tick(t) for t in firing.starts[:3])
                         + (f" and {len(firing.starts) - 3} more"
                            if len(firing.starts) > 3 else ""))
            at = firing.next_fire_at
