"""Settling the workflows that await a keyed task (idempotency keys, issue 18).

A task with an idempotency key has no parent: every workflow that asked for it - the
first one too - is a row of ``rhythm.execution_waiters`` in the task's partition. The
transaction that ends the task takes those rows (``take_waiters``) and settles each
promise in its workflow's partition (``settle_waiter_promises``, one statement per
partition), so a waiter is settled exactly when the task's end commits. Only keyed
tasks pay for this: their claims carry the key in their options (:func:`is_keyed`), and
the other outcomes skip it.
"""

from __future__ import annotations

import json
from collections.abc import Generator, Iterable
from datetime import datetime
from itertools import groupby
from typing import Any

import psycopg
from psycopg.rows import dict_row

from rhythm.runtime.notices import Notices
from rhythm.runtime.sql import Q

Row = dict[str, Any]


def is_keyed(options: dict[str, Any] | None) -> bool:
    """Whether a claim's options say it is a task with an idempotency key (usually they
    are empty: one truth test)."""
    return isinstance(options.get("idempotencyKey"), str) if options else False


def by_partition(taken: Iterable[Row]) -> list[tuple[int, str]]:
    """The rows of ``take_waiters`` as (waiter partition, JSON rows to settle there)."""
    out = []
    for part, rows in groupby(taken, key=lambda r: int(r["waiter_part"])):
        out.append((part, json.dumps([
            {"waiter_id": r["waiter_id"], "promise_id": r["promise_id"],
             "status": r["status"], "result": r["result"], "error": r["error"]}
            for r in rows])))
    return out


def settle_waiters_op(ids: list[str], now: datetime) -> Generator[
        tuple[str, dict[str, Any]], list[Row], None]:
    """As an operation (rhythm.runtime.operations): the waiters of ``ids`` (ended
    executions of one partition) settled."""
    taken = yield "take_waiters", {"ids": ids, "now": now}
    for part, rows in by_partition(taken):
        yield "settle_waiter_promises", {"part": part, "rows": rows, "now": now}


async def settle_waiters_async(
    conn: psycopg.AsyncConnection[Any], part: int, ids: list[str], now: datetime,
    notices: Notices,
) -> None:
    """The same on a worker's connection, inside the transaction that ended ``ids``;
    the wake-ups are added to ``notices`` (the caller sends them)."""
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["take_waiters"], {"part": part, "ids": ids})
        for wpart, rows in by_partition(await cur.fetchall()):
            await cur.execute(Q["settle_waiter_promises"],
                              {"part": wpart, "rows": rows, "now": now})
            notices.from_rows(await cur.fetchall())


def settle_waiters(
    conn: psycopg.Connection[Any], part: int, ids: list[str], now: datetime,
    notices: Notices,
) -> None:
    """:func:`settle_waiters_async` on a sync connection."""
    with conn.cursor(row_factory=dict_row) as cur:
        cur.execute(Q["take_waiters"], {"part": part, "ids": ids})
        for wpart, rows in by_partition(cur.fetchall()):
            cur.execute(Q["settle_waiter_promises"], {"part": wpart, "rows": rows, "now": now})
            notices.from_rows(cur.fetchall())
