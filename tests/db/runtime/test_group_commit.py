"""Group commit (``rhythm.runtime.groupcommit``): activations that commit at the same
moment share one ``commit_activations`` statement, and each still gets exactly its own
answer. Driven by hand on real connections: several ``two_steps`` workflows, each
suspended on its first task (claimed for worker w1), are resumed concurrently with
their task's outcome through one :class:`GroupCommit` with one batch in flight, so that
the first commit goes alone and the others queue behind it and share the next
statement."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row
from test_resume_with_result import LEASE, TWO_STEPS, Scenario

from rhythm.runtime.activation import ActivationRunner, LocalStarts, Resumable
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect_keyed
from rhythm.runtime.groupcommit import GroupCommit
from rhythm.runtime.jobs import Claim, Outcome
from rhythm.runtime.versions import WorkflowVersions


class Batch:
    """``count`` workflows suspended on their first task; resumed through one group."""

    def __init__(self, url: str, folder: Path) -> None:
        (folder / "two_steps.flow").write_text(TWO_STEPS)
        self.url = url
        self.versions = WorkflowVersions()
        self.versions.add_folder(folder)
        self.group = GroupCommit(leaders=1)
        self.runner = ActivationRunner(self.versions, SystemClock(), group=self.group)
        self.handed: list[Resumable] = []
        self.conns: list[psycopg.AsyncConnection[Any]] = []

    def local(self) -> LocalStarts:
        def accept(claims: list[Claim], state: Resumable | None) -> None:
            assert state is not None
            self.handed.append(state)

        return LocalStarts("w1", ["default"], ["add"], datetime.now(UTC) + LEASE, accept)

    async def suspend(self, count: int) -> list[Resumable]:
        """Start ``count`` workflows and run each one's first activation (alone)."""
        self.conns = [await connect_keyed(self.url) for _ in range(count)]
        conn = self.conns[0]
        await self.versions.register(conn, datetime.now(UTC))
        with Client(self.url) as client:
            for _ in range(count):
                client.start("two_steps")
        for _ in range(count):
            assert await self.runner.run(conn, await Scenario.claim(conn), local=self.local)
        assert self.group.batches == count  # one at a time: each went alone
        states, self.handed = self.handed, []
        return states

    async def resume_all(self, states: list[Resumable]) -> list[Any]:
        """Resume each (its task completed with 3) on its own connection, at once."""
        self.group.batches = self.group.commits = 0
        return await asyncio.gather(*(
            self.runner.resume(conn, state, Outcome(state.task.id, state.task.token,
                                                    "completed", result="3"),
                               "w1", datetime.now(UTC) + LEASE, local=self.local)
            for conn, state in zip(self.conns, states, strict=True)),
            return_exceptions=True)

    async def close(self) -> None:
        for conn in self.conns:
            await conn.close()


def _run(url: str, tmp_path: Path, body: Any) -> Any:
    async def main() -> Any:
        batch = Batch(url, tmp_path)
        try:
            return await body(batch)
        finally:
            await batch.close()

    return asyncio.run(main())


def _progress(url: str, state: Resumable) -> dict[str, Any]:
    """Where one workflow stands: its status, activations and its tasks' statuses."""
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT e.status, s.activations FROM rhythm.executions e"
            " JOIN rhythm.snapshots s ON s.execution_id = e.id WHERE e.id = %s",
            (state.claim.id,)).fetchone()
        assert row is not None
        row["tasks"] = [r["status"] for r in conn.execute(
            "SELECT status FROM rhythm.executions WHERE parent_id = %s"
            " ORDER BY parent_promise", (state.claim.id,))]
        return row


NEXT_STEP = {"status": "suspended", "activations": 2, "tasks": ["completed", "running"]}
UNTOUCHED = {"status": "suspended", "activations": 1, "tasks": ["running"]}


def test_concurrent_commits_share_a_statement_and_each_gets_its_own_row(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Resumable], int]:
        states = await b.suspend(5)
        results = await b.resume_all(states)
        assert [s.task.inputs for s in b.handed] == [{"a": 3, "b": 10}] * 5
        return results, states, b.group.batches

    results, states, batches = _run(db_url, tmp_path, body)
    assert results == [True] * 5
    assert batches == 2  # the first alone, the four that queued behind it together
    assert [_progress(db_url, s) for s in states] == [NEXT_STEP] * 5


def test_a_stale_commit_in_a_batch_writes_nothing_and_the_others_commit(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Resumable], int]:
        states = await b.suspend(5)
        for stale in (states[2], states[4]):  # woken meanwhile: the guard must fail
            await b.conns[0].execute(
                "UPDATE rhythm.executions SET run_at = now() WHERE id = %s",
                (stale.claim.id,))
        return await b.resume_all(states), states, b.group.batches

    results, states, batches = _run(db_url, tmp_path, body)
    assert batches == 2
    assert results == [True, True, False, True, False]
    assert [_progress(db_url, s) for s in states] == [
        NEXT_STEP, NEXT_STEP, UNTOUCHED, NEXT_STEP, UNTOUCHED]


def test_an_error_fails_every_commit_of_its_batch_and_writes_none_of_them(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Resumable]]:
        states = await b.suspend(4)
        await b.conns[1].close()  # the second leads the second batch: it cannot send
        return await b.resume_all(states), states

    results, states = _run(db_url, tmp_path, body)
    assert results[0] is True
    assert all(isinstance(r, psycopg.OperationalError) for r in results[1:]), results
    assert [_progress(db_url, s) for s in states] == [NEXT_STEP] + [UNTOUCHED] * 3


def test_a_waiter_cancelled_in_the_queue_does_not_hold_up_the_others(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Resumable]]:
        states = await b.suspend(4)
        b.group.batches = b.group.commits = 0
        jobs = [asyncio.create_task(b.runner.resume(
            conn, state, Outcome(state.task.id, state.task.token, "completed", result="3"),
            "w1", datetime.now(UTC) + LEASE, local=b.local))
            for conn, state in zip(b.conns, states, strict=True)]
        await asyncio.sleep(0)  # all four reach the group: the first leads, three queue
        jobs[1].cancel()  # the oldest waiter: the one the lead would pass to
        return await asyncio.gather(*jobs, return_exceptions=True), states

    results, states = _run(db_url, tmp_path, body)
    assert results[0] is True and results[2:] == [True, True]
    assert isinstance(results[1], asyncio.CancelledError)
    assert [_progress(db_url, s) for s in states] == [
        NEXT_STEP, UNTOUCHED, NEXT_STEP, NEXT_STEP]


@pytest.mark.parametrize("leaders", [1, 3])
def test_at_most_leaders_batches_are_in_flight(
    db_url: str, tmp_path: Path, leaders: int
) -> None:
    async def body(b: Batch) -> tuple[list[Any], int]:
        states = await b.suspend(6)
        b.group.leaders = leaders
        return await b.resume_all(states), b.group.batches

    results, batches = _run(db_url, tmp_path, body)
    assert results == [True] * 6
    assert batches == leaders + 1  # the first `leaders` alone, then the rest together
