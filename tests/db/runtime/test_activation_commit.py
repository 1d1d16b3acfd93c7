"""The one-statement commits: ``commit_activation`` keeps the fencing rule (a claim that
went stale writes nothing; the fresh claim's activation writes everything once), and
``record_outcomes`` claims a woken parent for the recording worker (unless it is
stopping), so its next activation needs no NOTIFY and no claim round trip."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
from psycopg.rows import dict_row

from rhythm.runtime.activation import ActivationRunner
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect_keyed
from rhythm.runtime.jobs import Claim, Outcome, TaskRunner
from rhythm.runtime.sql import Q
from rhythm.runtime.tasks import REGISTRY
from rhythm.runtime.versions import WorkflowVersions

FLOW = 'const a = await Task.run("add", { a: 1, b: 2 })\nreturn a\n'


async def _claim(conn: psycopg.AsyncConnection[object]) -> Claim:
    now = datetime.now(UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["claim"], {
            "queue": "default", "limit": 1, "now": now, "worker": "test",
            "lease_until": now + timedelta(seconds=30), "kinds": ["workflow"]})
        row = await cur.fetchone()
    assert row is not None
    return Claim.from_row(row)


def _counts(url: str, wf: str) -> tuple[int, int, int]:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM rhythm.executions WHERE parent_id = %(id)s),"
            " (SELECT count(*) FROM rhythm.promises WHERE execution_id = %(id)s),"
            " (SELECT count(*) FROM rhythm.snapshots WHERE execution_id = %(id)s)",
            {"id": wf}).fetchone()
    assert row is not None
    return row[0], row[1], row[2]


def test_a_stale_claim_commits_nothing_and_the_fresh_one_commits_once(
    db_url: str, tmp_path: Path
) -> None:
    (tmp_path / "one_step.flow").write_text(FLOW)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)

    async def scenario() -> tuple[bool, bool]:
        conn = await connect_keyed(db_url)
        try:
            await versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                wf = client.start("one_step").id
            runner = ActivationRunner(versions, SystemClock())
            stale = await _claim(conn)
            # The reaper put the row back and another worker claimed it (new token).
            await conn.execute("UPDATE rhythm.executions SET status = 'pending', "
                               "run_at = now() WHERE id = %s", (wf,))
            fresh = await _claim(conn)
            assert fresh.token == stale.token + 1
            first = await runner.run(conn, stale)
            assert _counts(db_url, wf) == (0, 0, 0)
            second = await runner.run(conn, fresh)
            return first, second
        finally:
            await conn.close()

    first, second = asyncio.run(scenario())
    assert (first, second) == (False, True)
    with psycopg.connect(db_url) as conn:
        wf = conn.execute("SELECT id, status FROM rhythm.executions "
                          "WHERE kind = 'workflow'").fetchone()
    assert wf is not None and wf[1] == "suspended"
    assert _counts(db_url, wf[0]) == (1, 1, 1)  # one task, its promise, the snapshot


def _run_first_activation(db_url: str, tmp_path: Path, take: list[str]) -> tuple[str, list[Claim]]:
    """Start one_step, run its first activation, claim its task and record the task's
    completion with ``take`` as the recording worker's queues."""
    (tmp_path / "one_step.flow").write_text(FLOW)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)

    async def scenario() -> tuple[str, list[Claim]]:
        conn = await connect_keyed(db_url)
        try:
            await versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                wf = client.start("one_step").id
            clock = SystemClock()
            assert await ActivationRunner(versions, clock).run(conn, await _claim(conn))
            now = datetime.now(UTC)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(Q["claim"], {
                    "queue": "default", "limit": 1, "now": now, "worker": "w1",
                    "lease_until": now + timedelta(seconds=30), "kinds": ["task"]})
                task = Claim.from_row(await cur.fetchone() or {})
            runner = TaskRunner(db_url, REGISTRY, clock, ThreadPoolExecutor(1), "w1")
            accepted, woken = await runner.record(
                conn, [Outcome(task.id, task.token, "completed", result="3")],
                take, now + timedelta(seconds=30))
            assert accepted == {task.id}
            return wf, woken
        finally:
            await conn.close()

    return asyncio.run(scenario())


def test_a_task_outcome_claims_its_woken_parent_for_the_recording_worker(
    db_url: str, tmp_path: Path
) -> None:
    wf, woken = _run_first_activation(db_url, tmp_path, ["default"])
    assert [c.id for c in woken] == [wf]
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT status, claimed_by, claim_token, run_at, wake_seq "
                           "FROM rhythm.executions WHERE id = %s", (wf,)).fetchone()
    assert row is not None
    assert (row[0], row[1], row[2], row[3]) == ("running", "w1", woken[0].token, None)
    assert woken[0].wake_seq == row[4]  # the activation will see the settlement


def test_a_stopping_worker_only_wakes_the_parent(db_url: str, tmp_path: Path) -> None:
    wf, woken = _run_first_activation(db_url, tmp_path, [])
    assert woken == []
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT status, claimed_by, run_at IS NOT NULL "
                           "FROM rhythm.executions WHERE id = %s", (wf,)).fetchone()
    assert row == ("suspended", None, True)
