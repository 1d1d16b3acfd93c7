"""Notifications the application sends itself.

Workers sleep on ``rhythm_wake`` (payload ``part:queue``: a row of that queue in that
partition became claimable) and waiting clients on ``rhythm_done`` (payload: the id of an
execution that ended). Statements return what to notify in their ``wake`` and ``done``
columns. On plain Postgres the hot ones (:data:`SELF_NOTIFYING`) also send it themselves
(``%(notify)s`` true), at no extra round trip; for every other statement, and for all of
them on Citus, the caller sends it with the ``notify`` statement. (Citus routes a
statement whole to the worker node holding its shard, and a ``pg_notify`` in it would be
sent there, where nobody listens; ``notify`` touches no table and runs on the
coordinator.)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import psycopg

from rhythm.runtime.sql import Q

WAKE = "rhythm_wake"
# The hot statements send their own notifications on plain Postgres (no extra statement);
# every other one only returns them, and its caller sends them.
SELF_NOTIFYING = frozenset({"insert_execution", "record_outcomes", "commit_activations",
                            "insert_executions"})
DONE = "rhythm_done"


def wake_payload(part: int, queue: str) -> str:
    return f"{part}:{queue}"


def parse_wake(payload: str) -> tuple[int | None, str]:
    """``part:queue`` back into its two halves; a bare queue name (a hand-made nudge:
    ``NOTIFY rhythm_wake, 'default'``) names no partition: look in all of them."""
    head, sep, queue = payload.partition(":")
    if sep and head.isdigit():
        return int(head), queue
    return None, payload


class Notices:
    """What to send, gathered from the rows of the statements that caused it."""

    def __init__(self) -> None:
        self._pending: dict[tuple[str, str], None] = {}

    def __bool__(self) -> bool:
        return bool(self._pending)

    def wake(self, payloads: Iterable[str | None]) -> None:
        for payload in payloads:
            if payload:
                self._pending[(WAKE, payload)] = None

    def done(self, ids: Iterable[str | None]) -> None:
        for execution_id in ids:
            if execution_id:
                self._pending[(DONE, execution_id)] = None

    def from_rows(self, rows: Iterable[Any]) -> None:
        """The ``wake`` and ``done`` columns of dict rows, where a statement has them."""
        for row in rows:
            self.wake([row.get("wake")])
            self.done([row.get("done")])

    def params(self) -> dict[str, Any]:
        pending, self._pending = list(self._pending), {}
        return {"channels": [c for c, _ in pending], "payloads": [p for _, p in pending]}

    def send(self, conn: psycopg.Connection[Any]) -> None:
        if self:
            conn.execute(Q["notify"], self.params())

    async def send_async(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if self:
            await conn.execute(Q["notify"], self.params())
