"""The bulk plan's steps and their runner without a database: a page whose transaction
lost a deadlock runs again (a fresh operation), other errors end the walk; selections
are validated before any step."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from rhythm.errors import BadFilter, DatabaseError
from rhythm.lifecycle import bulk
from rhythm.runtime.database import ATTEMPTS
from rhythm.runtime.partitions import Topology

NOW = datetime(2026, 6, 1, tzinfo=UTC)


class FakeDatabase:
    """Answers read_executions with the ids asked for (all pending) and cancel_executions
    with them cancelled (record_entries with nothing); the first ``deadlocks`` cancels
    fail as a deadlock would."""

    def __init__(self, deadlocks: int = 0, error: type[psycopg.Error] | None = None) -> None:
        self.deadlocks = deadlocks
        self.error = error or psycopg.errors.DeadlockDetected
        self.cancels = 0

    def run(self, op: Any) -> Any:
        answer: Any = None
        try:
            while True:
                query, params = op.send(answer)
                answer = self.answer(query, params)
        except StopIteration as stop:
            return stop.value

    def answer(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        if query == "read_executions":
            return [{"id": i, "status": "pending", "kind": "task", "name": "t",
                     "version": None} for i in params["ids"]]
        if query == "record_entries":  # (the cancelled workflows' history entries)
            return []
        assert query == "cancel_executions"
        self.cancels += 1
        if self.deadlocks:
            self.deadlocks -= 1
            try:
                raise self.error("deadlock detected")
            except psycopg.Error as err:
                raise DatabaseError("cancel executions: deadlock detected") from err
        return [{"id": i, "status": "cancelled", "kind": "workflow", "parent_id": None}
                for i in params["ids"]]


def _cancel(db: FakeDatabase, ids: list[str]) -> bulk.BulkResult:
    steps = bulk.plan("cancel", bulk.target(ids, NOW), NOW, Topology(partitions=4), page=2)
    return bulk.run_steps(steps, db.run)


def test_a_page_that_lost_a_deadlock_runs_again() -> None:
    db = FakeDatabase(deadlocks=2)
    result = _cancel(db, ["a", "b", "c"])
    assert (result.matched, result.changed, result.ended) == (3, 3, 3)
    assert db.cancels == 2 + len(bulk._chunks_by_partition(["a", "b", "c"],
                                                           Topology(partitions=4), 2))


def test_three_deadlocks_in_a_row_end_the_walk() -> None:
    with pytest.raises(DatabaseError, match="deadlock"):
        _cancel(FakeDatabase(deadlocks=ATTEMPTS), ["a"])


def test_other_errors_are_not_retried() -> None:
    db = FakeDatabase(deadlocks=1, error=psycopg.errors.UniqueViolation)
    with pytest.raises(DatabaseError):
        _cancel(db, ["a"])
    assert db.cancels == 1


def test_the_async_runner_retries_too() -> None:
    db = FakeDatabase(deadlocks=1)

    async def run(op: Any) -> Any:
        return db.run(op)

    steps = bulk.plan("cancel", bulk.target("a", NOW), NOW, Topology())
    result = asyncio.run(bulk.run_steps_async(steps, run))
    assert (result.changed, db.cancels) == (1, 2)


def test_selections_are_checked_first() -> None:
    with pytest.raises(BadFilter, match="give ids or at least one filter"):
        bulk.target(None, NOW, status=None)
    with pytest.raises(BadFilter, match="not both"):
        bulk.target(["a"], NOW, status="failed")
    with pytest.raises(BadFilter, match="non-empty string"):
        bulk.target(["a", ""], NOW)
    assert bulk.target(["a", "b", "a"], NOW).ids == ("a", "b")
    assert bulk.target(None, NOW, since="2h").filters.since == datetime(  # type: ignore[union-attr]
        2026, 5, 31, 22, tzinfo=UTC)
