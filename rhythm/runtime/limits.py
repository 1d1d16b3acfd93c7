"""Queue controls and rate limits: what workers obey, and how it is changed.

* **Controls** (:class:`Controls`): paused queues, queue rate limits
  (``rhythm.queues``) and rate-limited task names with the queue each is routed to
  (``rhythm.task_routes.rate_limit``). A worker reads them at start, whenever a NOTIFY on
  ``rhythm_wake`` says :data:`LIMITS_PAYLOAD`, and after its listener reconnects.
* **Buckets**: one token bucket per limit and partition (``rhythm.rate_limits``), kept
  in step with the limits by :func:`sync_buckets` (run where a limit changes: ``rhythm
  queue set`` and a worker's registration). Tokens are taken by the claim statement
  itself (``claim_limited``), used only for queues that :meth:`Controls.limited` names.
* **Changes** (:func:`set_queue`): one transaction writes the queue's row, syncs the
  buckets and sends ``'!limits'``.

Documented in docs/flow-control.md ("Queues", "Rate limits").
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.runtime.notices import WAKE
from rhythm.runtime.ratespec import RateLimit, parse_rate_limit
from rhythm.runtime.sql import Q

LIMITS_PAYLOAD = "!limits"
"""The ``rhythm_wake`` payload that tells workers to read the controls again."""


@dataclass(frozen=True)
class Controls:
    """What a worker obeys, as read from the database."""

    paused: frozenset[str] = frozenset()
    queue_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    task_limits: Mapping[str, RateLimit] = field(default_factory=dict)
    routed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)  # queue -> names

    def limited(self, queue: str) -> bool:
        """Does a claim of ``queue`` take tokens (``claim_limited``)?"""
        return queue in self.queue_limits or bool(self.routed.get(queue))

    def task_names(self, queue: str) -> list[str]:
        """The rate-limited task names routed to ``queue``."""
        return list(self.routed.get(queue, ()))

    def claimable(self, queues: Iterable[str]) -> list[str]:
        """``queues`` without the paused ones."""
        return [q for q in queues if q not in self.paused]

    def takeable(self, queues: Iterable[str]) -> list[str]:
        """Queues from which a worker may take executions without a claim statement
        (local starts, woken parents, a workflow resumed in place): not paused and
        without a queue limit (that would take no token)."""
        return [q for q in queues if q not in self.paused and q not in self.queue_limits]

    def local_tasks(self, names: Iterable[str]) -> frozenset[str]:
        """Task names that may start so: those without a rate limit."""
        return frozenset(n for n in names if n not in self.task_limits)

    def buckets(self, partitions: int) -> list[dict[str, Any]]:
        """Each limit's bucket in each of ``partitions`` partitions (see
        :meth:`RateLimit.bucket`)."""
        rows = []
        for scope, limits in (("queue", self.queue_limits), ("task", self.task_limits)):
            for name, limit in sorted(limits.items()):
                capacity, rate = limit.bucket(partitions)
                rows.append({"scope": scope, "name": name, "capacity": capacity, "rate": rate})
        return rows


def controls_from_rows(
    queue_rows: Iterable[Mapping[str, Any]], task_rows: Iterable[Mapping[str, Any]]
) -> Controls:
    paused: set[str] = set()
    queue_limits: dict[str, RateLimit] = {}
    for row in queue_rows:
        if row["paused"]:
            paused.add(row["name"])
        if row["rate_limit"] is not None:
            queue_limits[row["name"]] = parse_rate_limit(row["rate_limit"])
    task_limits: dict[str, RateLimit] = {}
    routed: dict[str, list[str]] = {}
    for row in task_rows:
        task_limits[row["name"]] = parse_rate_limit(row["rate_limit"])
        routed.setdefault(row["queue"], []).append(row["name"])
    return Controls(frozenset(paused), queue_limits, task_limits,
                    {q: tuple(names) for q, names in routed.items()})


async def read_controls(conn: psycopg.AsyncConnection[Any]) -> Controls:
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["read_queue_controls"])
        queues = await cur.fetchall()
        await cur.execute(Q["read_task_limits"])
        tasks = await cur.fetchall()
    return controls_from_rows(queues, tasks)


def read_controls_sync(conn: psycopg.Connection[Any]) -> Controls:
    with conn.cursor(row_factory=dict_row) as cur:
        queues = cur.execute(Q["read_queue_controls"]).fetchall()
        tasks = cur.execute(Q["read_task_limits"]).fetchall()
    return controls_from_rows(queues, tasks)


def _sync_params(controls: Controls, partitions: int, now: datetime) -> dict[str, Any]:
    return {"buckets": json.dumps(controls.buckets(partitions)), "partitions": partitions,
            "now": now}


def _announce_params() -> dict[str, Any]:
    return {"channels": [WAKE], "payloads": [LIMITS_PAYLOAD]}


async def sync_buckets(
    conn: psycopg.AsyncConnection[Any], partitions: int, now: datetime, announce: bool
) -> Controls:
    """Make the buckets match the limits in the database (inside the caller's
    transaction), and with ``announce`` tell every worker to read them again."""
    controls = await read_controls(conn)
    await conn.execute(Q["sync_rate_limits"], _sync_params(controls, partitions, now))
    if announce:
        await conn.execute(Q["notify"], _announce_params())
    return controls


UNSET: Any = object()


def set_queue(
    conn: psycopg.Connection[Any], name: str, now: datetime, *, partitions: int,
    paused: bool | None = None, rate_limit: RateLimit | None = UNSET,
    task_retention_s: int | None = UNSET, workflow_retention_s: int | None = UNSET,
) -> dict[str, Any]:
    """Change one queue's settings (``paused`` None keeps the flag; ``rate_limit`` left
    out keeps the limit, None clears it; a retention left out is kept, None makes it the
    default: rhythm.lifecycle.retention), sync the buckets and announce it, in one
    transaction; returns the queue's row."""
    set_rate = rate_limit is not UNSET
    limit = rate_limit if set_rate else None
    retention = {
        f"{kind}_retention_s": None if value is UNSET else value
        for kind, value in (("task", task_retention_s), ("workflow", workflow_retention_s))}
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cur:
        cur.execute(Q["set_queue"], {
            "name": name, "paused": paused, "set_rate": set_rate,
            "rate_limit": limit.spec if limit else None,
            "rate_per_s": limit.per_second if limit else None,
            "burst": limit.burst if limit else None, "now": now, **retention,
            "set_task_retention": task_retention_s is not UNSET,
            "set_workflow_retention": workflow_retention_s is not UNSET,
        })
        row = cur.fetchone()
        assert row is not None
        controls = read_controls_sync(conn)
        cur.execute(Q["sync_rate_limits"], _sync_params(controls, partitions, now))
        cur.execute(Q["notify"], _announce_params())
    return dict(row)


def queue_overview(conn: psycopg.Connection[Any], now: datetime) -> list[dict[str, Any]]:
    with conn.cursor(row_factory=dict_row) as cur:
        return list(cur.execute(Q["queue_overview"], {"now": now}).fetchall())
