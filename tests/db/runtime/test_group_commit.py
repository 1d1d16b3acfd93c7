"""Group commit (``rhythm.runtime.groupcommit``): activations that commit at the same
moment share one ``commit_activations`` statement, and each still gets exactly its own
answer. Driven by hand on real connections: several ``two_steps`` workflows, each
suspended on its first task (claimed for worker w1), are resumed concurrently with
their task's outcome through one :class:`GroupCommit` with one batch in flight, so that
the first commit goes alone and the others queue behind it and share the next
statement. The batches go on the group's own connections: a resumed step asks for no
connection of its own."""

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
from rhythm.runtime.database import connect_keyed, using
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
        self.group = GroupCommit(self.connect, leaders=1)
        self.runner = ActivationRunner(self.versions, SystemClock(), group=self.group)
        self.handed: list[Resumable] = []
        self.tasks: dict[str, Claim] = {}  # the tasks handed with them, by id
        self.opened: list[psycopg.AsyncConnection[Any]] = []  # by the group, in order

    async def connect(self) -> psycopg.AsyncConnection[Any]:
        self.opened.append(await connect_keyed(self.url))
        return self.opened[-1]

    def local(self) -> LocalStarts:
        def accept(claims: list[Claim], state: Resumable | None) -> None:
            assert state is not None
            self.handed.append(state)
            self.tasks.update((claim.id, claim) for claim in claims)

        return LocalStarts("w1", ["default"], ["add"], datetime.now(UTC) + LEASE, accept)

    async def suspend(self, count: int) -> list[Resumable]:
        """Start ``count`` workflows and run each one's first activation (alone)."""
        async with await connect_keyed(self.url) as conn:
            await self.versions.register(conn, datetime.now(UTC))
            with Client(self.url) as client:
                for _ in range(count):
                    client.start("two_steps")
            for _ in range(count):
                assert await self.runner.run(using(conn), await Scenario.claim(conn),
                                             local=self.local)
        assert self.group.batches == count  # one at a time: each went alone
        assert len(self.opened) == 1  # ... all on the group's one connection
        states, self.handed = self.handed, []
        return states

    def resume(self, state: Resumable, result: str = "3") -> Any:
        """Resume one (its task completed with ``result``, JSON text); it must not ask
        for a connection."""
        return self.runner.resume(
            _no_connection, state,
            Outcome(state.task_id, self.tasks[state.task_id].token, "completed", result=result),
            "w1", datetime.now(UTC) + LEASE, local=self.local)

    async def resume_all(
        self, states: list[Resumable], results: dict[int, str] | None = None
    ) -> list[Any]:
        """Resume them all at once (the one at index i with ``results[i]``, if given)."""
        self.group.batches = self.group.commits = 0
        return await asyncio.gather(
            *(self.resume(state, (results or {}).get(i, "3")) for i, state in enumerate(states)),
            return_exceptions=True)

    async def close(self) -> None:
        await self.group.close()
        for conn in self.opened:
            await conn.close()


async def _no_connection() -> psycopg.AsyncConnection[Any]:
    raise AssertionError("a resumed step asked for a connection of its own")


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
        assert [b.tasks[s.task_id].inputs for s in b.handed] == [{"a": 3, "b": 10}] * 5
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
        async with await connect_keyed(db_url) as conn:
            for stale in (states[2], states[4]):  # woken meanwhile: the guard must fail
                await conn.execute(
                    "UPDATE rhythm.executions SET run_at = now() WHERE id = %s",
                    (stale.claim.id,))
        return await b.resume_all(states), states, b.group.batches

    results, states, batches = _run(db_url, tmp_path, body)
    assert batches == 2
    assert results == [True, True, False, True, False]
    assert [_progress(db_url, s) for s in states] == [
        NEXT_STEP, NEXT_STEP, UNTOUCHED, NEXT_STEP, UNTOUCHED]


def test_one_element_postgres_cannot_store_fails_alone_and_the_batch_commits(
    db_url: str, tmp_path: Path
) -> None:
    """A NUL in one element (its task's result, then the next task's inputs) makes
    Postgres refuse the whole statement: the batch is sent again one by one, so only
    that one fails (its activation writes nothing) and the others take their step."""
    async def body(b: Batch) -> tuple[list[Any], list[Resumable], int]:
        states = await b.suspend(5)
        results = await b.resume_all(states, {3: '"a\\u0000b"'})
        return results, states, b.group.batches

    results, states, batches = _run(db_url, tmp_path, body)
    assert results == [True, True, True, False, True]
    assert batches == 2 + 4  # alone, the failed batch of four, then each of them alone
    assert [_progress(db_url, s) for s in states] == [
        NEXT_STEP, NEXT_STEP, NEXT_STEP, UNTOUCHED, NEXT_STEP]


def test_a_connection_lost_mid_batch_fails_all_its_commits_and_the_next_batch_reconnects(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Any], list[Resumable], int]:
        states = await b.suspend(4)
        async with await connect_keyed(db_url) as admin, admin.transaction():
            await admin.execute("SELECT FROM rhythm.executions WHERE id = %s FOR UPDATE",
                                (states[1].claim.id,))
            # The first commit goes alone; the other three share the second batch, which
            # waits for the lock held here - and its connection dies meanwhile.
            jobs = asyncio.gather(*(b.resume(s) for s in states), return_exceptions=True)
            await _until_waiting_on_a_lock(admin, b.opened[0].info.backend_pid)
            await admin.execute("SELECT pg_terminate_backend(%s)",
                                (b.opened[0].info.backend_pid,))
            first = await jobs
        again = await b.resume_all(states[1:])
        return first, again, states, len(b.opened)

    first, again, states, opened = _run(db_url, tmp_path, body)
    assert first[0] is True
    assert all(isinstance(r, psycopg.OperationalError) for r in first[1:]), first
    assert again == [True] * 3  # nothing of the failed batch was written: they resume
    assert opened == 2  # the dead connection was dropped, the next batch opened one
    assert [_progress(db_url, s) for s in states] == [NEXT_STEP] * 4


async def _until_waiting_on_a_lock(conn: psycopg.AsyncConnection[Any], pid: int) -> None:
    for _ in range(500):
        cur = await conn.execute(
            "SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = %s", (pid,))
        row = await cur.fetchone()
        if row and row[0]:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the second batch never waited for the row lock")


def test_a_waiter_cancelled_in_the_queue_does_not_hold_up_the_others(
    db_url: str, tmp_path: Path
) -> None:
    async def body(b: Batch) -> tuple[list[Any], list[Resumable]]:
        states = await b.suspend(4)
        b.group.batches = b.group.commits = 0
        jobs = [asyncio.create_task(b.resume(state)) for state in states]
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


def test_after_a_server_restart_the_next_batch_goes_on_a_fresh_connection(
    private_server: Any,
) -> None:
    """A restart of Postgres breaks the group's idle connection. A connection idle longer
    than ``check_idle`` is checked before a batch goes on it, so the first batch after the
    restart opens a new one instead of failing (here every idle connection is checked,
    and a live one is kept)."""
    # An element whose guard fails (no such workflow): the statement runs, writes nothing.
    nobody = {"id": "w-nobody", "part": 0, "token": 1, "now": datetime.now(UTC).isoformat(),
              "status": "suspended"}

    async def main() -> tuple[list[Any], int]:
        opened: list[psycopg.AsyncConnection[Any]] = []

        async def connect() -> psycopg.AsyncConnection[Any]:
            opened.append(await connect_keyed(private_server.url))
            return opened[-1]

        group = GroupCommit(connect, check_idle=0.0)
        try:
            rows = [await group.run(nobody), await group.run(nobody)]
            assert len(opened) == 1  # checked and kept
            private_server.restart()
            rows.append(await group.run(nobody))
        finally:
            await group.close()
        return rows, len(opened)

    assert asyncio.run(main()) == ([None, None, None], 2)


def test_prepare_opens_the_connection_and_plans_the_statement_before_the_first_batch(
    db_url: str, tmp_path: Path
) -> None:
    """A starting worker prepares its group (an empty batch: it writes nothing), so that
    its first commits find the connection open and the statement prepared."""
    async def body(b: Batch) -> tuple[int, int, list[Resumable]]:
        await b.group.prepare()
        cur = await b.opened[0].execute(
            # (commit_activations, its comments stripped; not this query, also prepared)
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'WITH claimed%%'")
        row = await cur.fetchone()
        assert row is not None
        states = await b.suspend(2)  # (it checks: the two commits went on that connection)
        return row[0], b.group.batches, states

    prepared, batches, states = _run(db_url, tmp_path, body)
    assert prepared == 1
    assert batches == 2  # the empty one is not a batch
    assert [_progress(db_url, s)["status"] for s in states] == ["suspended"] * 2
