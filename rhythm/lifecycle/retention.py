"""Retention and cleanup of ended executions (issue 19; docs/lifecycle.md, "Retention
and cleanup").

An execution that ended (completed, failed, cancelled) is kept for a retention period
after its ``finished_at``, then deleted with everything of it (its snapshot, promises,
signals, waiters, earlier runs; its idempotency key is freed with the row). The period is
per queue and kind (``rhythm.queues.task_retention_s`` / ``workflow_retention_s``, set
with ``rhythm queue set``), else the default of its kind (:class:`Retention`: 7 days for
tasks, 30 for workflows, ``[retention]`` in rhythm.toml). ``0`` deletes at the next pass,
``never`` (stored as -1) keeps forever.

Deletion runs in batches of :data:`BATCH` executions, one short transaction each and one
partition at a time (SQL: rhythm/store/sql/cleanup.sql). Each batch's transaction first
tries a transaction-scoped advisory lock (:data:`LOCK_KEY`), so at most one cleaner works
at any moment across all workers and ``rhythm cleanup``; a worker's :class:`Cleaner` that
finds it taken leaves the pass to the other one. The logic of a pass is written once
(:func:`plan_pass`, generators of the :mod:`rhythm.runtime.operations` kind) and run by a
sync driver (:func:`sweep`, the CLI) and an async one (:func:`sweep_async`, workers).
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections import Counter
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

from rhythm.flowrt.durations import parse_duration_ms
from rhythm.runtime.cancelling import raise_if_cancelled
from rhythm.runtime.clock import Clock
from rhythm.runtime.operations import Op, drive, drive_async
from rhythm.runtime.partitions import Topology

log = logging.getLogger("rhythm.cleanup")

NEVER = -1
"""Retention of executions that are never deleted (``never``; a column's -1)."""
DAY = 86_400
DEFAULT_TASKS_S = 7 * DAY
DEFAULT_WORKFLOWS_S = 30 * DAY
DEFAULT_INTERVAL_S = 300.0  # a worker's cleaner runs this often (jittered by 10%)
BATCH = 500  # executions per batch: one short transaction each
LOCK_KEY = 0x524859_0013  # pg_try_advisory_xact_lock: one cleaner at a time
ENDED = ("completed", "failed", "cancelled")
KINDS = ("task", "workflow")
_EARLIEST = datetime(1, 1, 1, tzinfo=UTC)


def parse_retention(value: Any, what: str) -> int:
    """Seconds of a retention (``"7d"``, ``"12h"``, ``"30m"``, ``"90s"``, a number of
    seconds, ``0``), or :data:`NEVER` for ``"never"``; ValueError naming ``what``."""
    if isinstance(value, str) and value.strip().lower() == "never":
        return NEVER
    return round(_duration_s(value, what))


def parse_interval(value: Any, what: str) -> float:
    """Seconds of a positive duration (the cleaner's interval); ValueError naming ``what``."""
    seconds = _duration_s(value, what)
    if seconds <= 0:
        raise ValueError(f"{what} must be longer than 0, got {value!r}")
    return seconds


def _duration_s(value: Any, what: str) -> float:
    if isinstance(value, bool):
        raise ValueError(f'{what} must be a duration like "7d", "12h", "30m" or "90s", '
                         f"got {value!r}")
    text = value.strip() if isinstance(value, str) else value
    if (isinstance(text, str) and text.startswith("-")) or (
            isinstance(text, int | float) and text < 0):
        raise ValueError(f"{what} cannot be negative, got {value!r}")
    if isinstance(text, str) and re.fullmatch(r"\d+(\.\d+)?", text, re.ASCII):
        text = float(text)  # plain seconds, as in toml: "0", "90"
    return parse_duration_ms(text, what) / 1000


def describe_retention(seconds: int | None) -> str:
    """A retention as people write it (``7d``, ``90s``, ``never``; None: ``default``)."""
    if seconds is None:
        return "default"
    if seconds == NEVER:
        return "never"
    for unit, size in (("d", DAY), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@dataclass(frozen=True)
class Retention:
    """The default retention of each kind, in seconds (:data:`NEVER`: kept forever)."""

    tasks_s: int = DEFAULT_TASKS_S
    workflows_s: int = DEFAULT_WORKFLOWS_S


@dataclass(frozen=True)
class Filters:
    """What a pass may delete. ``older_than_s`` replaces every retention (``rhythm
    cleanup --older-than``); None elsewhere means "any"."""

    older_than_s: int | None = None
    kind: str | None = None
    statuses: tuple[str, ...] | None = None
    queue: str | None = None
    name: str | None = None


@dataclass
class Summary:
    """What a pass deleted (or, dry, would delete): counts by (kind, status)."""

    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    busy: bool = False  # another cleaner held the lock: the pass stopped there

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def by_kind_status(self) -> list[dict[str, Any]]:
        return [{"kind": k, "status": s, "count": n} for (k, s), n in sorted(self.counts.items())]


@dataclass(frozen=True)
class _Batch:
    counts: Counter[tuple[str, str]]
    read: int  # candidates read: fewer than the limit ends the partition
    after: tuple[datetime, str] | None  # the last candidate (where the next batch starts)
    busy: bool = False


def created_before(
    now: datetime, defaults: Retention, overrides: Sequence[dict[str, Any]], filters: Filters
) -> datetime | None:
    """The upper bound of created_at for a pass: now minus the shortest retention that
    may apply (created_at <= finished_at, so nothing newer can be due). None: every
    retention that applies is :data:`NEVER`, there is nothing to do."""
    if filters.older_than_s is not None:
        shortest = [filters.older_than_s]
    else:
        kinds = [filters.kind] if filters.kind else list(KINDS)
        column = {"task": "task_retention_s", "workflow": "workflow_retention_s"}
        default = {"task": defaults.tasks_s, "workflow": defaults.workflows_s}
        shortest = [default[k] for k in kinds]
        shortest += [row[column[k]] for row in overrides for k in kinds
                     if row[column[k]] is not None
                     and (filters.queue is None or row["name"] == filters.queue)]
    kept = [s for s in shortest if s != NEVER]
    return now - timedelta(seconds=min(kept)) if kept else None


def read_overrides() -> Op[list[dict[str, Any]]]:
    """The queues with a retention of their own."""
    rows = yield "read_retention", {}
    return rows


def batch_op(
    part: int, now: datetime, defaults: Retention, filters: Filters, before: datetime,
    after: tuple[datetime, str] | None, limit: int, dry_run: bool,
) -> Op[_Batch]:
    """One batch of one partition, in one transaction: take the lock (unless dry), read
    up to ``limit`` candidates after ``after``, delete them (unless dry)."""
    if not dry_run:
        rows = yield "cleanup_lock", {"key": LOCK_KEY}
        if not rows[0]["locked"]:
            return _Batch(Counter(), 0, after, busy=True)
    after_at, after_id = after or (_EARLIEST, "")
    rows = yield "cleanup_candidates", {
        "part": part, "now": now, "created_before": before, "after": after_at,
        "after_id": after_id, "limit": limit, "older_than_s": filters.older_than_s,
        "task_s": defaults.tasks_s, "workflow_s": defaults.workflows_s,
        "kind": filters.kind, "statuses": list(filters.statuses) if filters.statuses else None,
        "queue": filters.queue, "name": filters.name,
    }
    if not rows:
        return _Batch(Counter(), 0, after)
    last = (rows[-1]["created_at"], rows[-1]["id"])
    if dry_run:
        return _Batch(Counter((r["kind"], r["status"]) for r in rows), len(rows), last)
    gone = yield "cleanup_delete", {
        "part": part, "ids": [r["id"] for r in rows], "run_nos": [r["run_no"] for r in rows],
        "finished": [r["finished_at"] for r in rows],
    }
    return _Batch(Counter({(g["kind"], g["status"]): g["n"] for g in gone}), len(rows), last)


Plan = Generator[Op[_Batch], _Batch, Summary]


def plan_pass(
    partitions: int, now: datetime, defaults: Retention, overrides: Sequence[dict[str, Any]],
    filters: Filters, limit: int = BATCH, dry_run: bool = False,
    again: Callable[[], bool] | None = None,
) -> Plan:
    """A whole pass: every partition, batch after batch until one comes back short.
    Yields each batch's operation and receives its outcome. A batch that finds another
    cleaner working is tried again while ``again()`` says so (it may sleep first), else
    the pass ends there, ``busy``."""
    summary = Summary()
    before = created_before(now, defaults, overrides, filters)
    if before is None:
        return summary
    for part in range(partitions):
        after: tuple[datetime, str] | None = None
        while True:
            batch = yield batch_op(part, now, defaults, filters, before, after, limit, dry_run)
            while batch.busy and again is not None and again():
                batch = yield batch_op(part, now, defaults, filters, before, after, limit,
                                       dry_run)
            if batch.busy:
                summary.busy = True
                return summary
            summary.counts.update(batch.counts)
            if batch.read < limit:
                break
            after = batch.after
    return summary


def sweep(
    conn: psycopg.Connection[Any], topology: Topology, now: datetime, defaults: Retention,
    filters: Filters, *, dry_run: bool = False, limit: int = BATCH, wait_s: float = 30.0,
    sleep: Callable[[float], None] | None = None,
) -> Summary:
    """A pass on a sync connection (``rhythm cleanup``). A batch that finds another
    cleaner working is tried again every half second for up to ``wait_s`` seconds;
    after that the summary says ``busy``."""
    import time

    deadline = time.monotonic() + wait_s

    def again() -> bool:
        if time.monotonic() >= deadline:
            return False
        (sleep or time.sleep)(0.5)
        return True

    overrides = drive(conn, read_overrides(), topology)
    plan = plan_pass(topology.partitions, now, defaults, overrides, filters, limit, dry_run,
                     again)
    try:
        op = next(plan)
        while True:
            op = plan.send(drive(conn, op, topology))
    except StopIteration as stop:
        result: Summary = stop.value
        return result


async def sweep_async(
    conn: psycopg.AsyncConnection[Any], topology: Topology, now: datetime,
    defaults: Retention, filters: Filters = Filters(), *, limit: int = BATCH,
) -> Summary:
    """A pass on an async connection (a worker's cleaner); a busy lock ends it."""
    overrides = await drive_async(conn, read_overrides(), topology)
    plan = plan_pass(topology.partitions, now, defaults, overrides, filters, limit)
    try:
        op = next(plan)
        while True:
            op = plan.send(await drive_async(conn, op, topology))
    except StopIteration as stop:
        result: Summary = stop.value
        return result


TRANSIENT = (psycopg.OperationalError, psycopg.errors.LockNotAvailable,
             psycopg.errors.QueryCanceled, psycopg.errors.DeadlockDetected)


class Cleaner:
    """A worker's cleaner: every ``interval`` seconds (jittered by 10%, so that workers
    started together do not all try at once; the first pass after a random part of
    it), one pass over every partition on a pooled connection. Times come from the
    worker's clock. An error is logged and the next pass tries again."""

    def __init__(
        self, connection: Callable[[], Any], clock: Clock, topology: Callable[[], Topology],
        defaults: Retention, interval: float, *, limit: int = BATCH,
    ) -> None:
        self._connection = connection  # () -> async context manager of a connection
        self._clock = clock
        self._topology = topology
        self.defaults = defaults
        self.interval = interval
        self.limit = limit
        self.passes = 0
        self.deleted = 0

    async def run(self) -> None:
        delay = self.interval * random.uniform(0.1, 1.0)
        while True:
            raise_if_cancelled()  # (rhythm.runtime.cancelling)
            await asyncio.sleep(delay)
            try:
                await self.run_once()
            except TRANSIENT as err:
                log.warning("cleanup pass interrupted (%s); next one in %.0f s",
                            err, self.interval)
            except Exception:
                log.exception("cleanup pass failed; next one in %.0f s", self.interval)
            delay = self.interval * random.uniform(0.9, 1.1)

    async def run_once(self, filters: Filters = Filters()) -> Summary:
        async with self._connection() as conn:
            summary = await sweep_async(conn, self._topology(), self._clock.now(),
                                        self.defaults, filters, limit=self.limit)
        self.passes += 1
        self.deleted += summary.total
        if summary.total:
            log.info("cleanup deleted %d ended executions", summary.total)
        return summary


def with_defaults(defaults: Retention, tasks: Any = None, workflows: Any = None,
                  where: str = "retention") -> Retention:
    """``defaults`` with the project file's ``[retention]`` values (ValueError naming
    ``where.tasks`` or ``where.workflows``)."""
    if tasks is not None:
        defaults = replace(defaults, tasks_s=parse_retention(tasks, f"{where}.tasks"))
    if workflows is not None:
        defaults = replace(defaults, workflows_s=parse_retention(workflows,
                                                                 f"{where}.workflows"))
    return defaults
