"""The one-statement commits: ``commit_activations`` keeps the fencing rule (a claim that
went stale writes nothing; the fresh claim's activation writes everything once), and
``record_outcomes`` claims a woken parent for the recording worker (unless it is
stopping), so its next activation needs no NOTIFY and no claim round trip. An
activation's commit likewise claims the tasks its worker has for that worker, and such
a claim is an ordinary leased one: a dead worker's task is re-run after the lease."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from conftest import one_row
from psycopg.rows import dict_row

from rhythm.runtime.activation import ActivationRunner, LocalStarts
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect_keyed, using
from rhythm.runtime.jobs import Claim, Outcome, TaskRunner
from rhythm.runtime.sql import Q
from rhythm.runtime.tasks import REGISTRY
from rhythm.runtime.threads import TaskThreads
from rhythm.runtime.versions import WorkflowVersions

FLOW = 'const a = await Task.run("add", { a: 1, b: 2 })\nreturn a\n'


async def _claim(conn: psycopg.AsyncConnection[object]) -> Claim:
    now = datetime.now(UTC)
    async with conn.cursor(row_factory=dict_row) as cur:
        await cur.execute(Q["claim"], {"part": 0,
            "queue": "default", "limit": 1, "now": now, "worker": "test",
            "lease_until": now + timedelta(seconds=30), "kinds": ["workflow"], "names": None})
        row = await cur.fetchone()
    assert row is not None
    return Claim.from_row(row)


def _counts(url: str, wf: str) -> tuple[Any, ...]:
    return one_row(
        url, "SELECT (SELECT count(*) FROM rhythm.executions WHERE parent_id = %(id)s),"
        " (SELECT count(*) FROM rhythm.promises WHERE execution_id = %(id)s),"
        " (SELECT count(*) FROM rhythm.snapshots WHERE execution_id = %(id)s)",
        {"id": wf})


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
            first = await runner.run(using(conn), stale)
            assert _counts(db_url, wf) == (0, 0, 0)
            second = await runner.run(using(conn), fresh)
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
            assert await ActivationRunner(versions, clock).run(using(conn), await _claim(conn))
            now = datetime.now(UTC)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(Q["claim"], {"part": 0,
                    "queue": "default", "limit": 1, "now": now, "worker": "w1",
                    "lease_until": now + timedelta(seconds=30), "kinds": ["task"], "names": None})
                task = Claim.from_row(await cur.fetchone() or {})
            runner = TaskRunner(db_url, REGISTRY, clock, TaskThreads(1), "w1")
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


def _first_activation_with_local_starts(
    db_url: str, tmp_path: Path, tasks: list[str], queued_priority: int | None = None,
) -> tuple[str, Claim, list[Claim]]:
    """Start one_step and run its first activation as worker w1 serving ``default`` with
    ``tasks`` registered; returns the workflow id, its claim and the tasks handed back."""
    (tmp_path / "one_step.flow").write_text(FLOW)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)
    started: list[Claim] = []

    async def scenario() -> tuple[str, Claim]:
        conn = await connect_keyed(db_url)
        try:
            await versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                wf = client.start("one_step").id
            claim = await _claim(conn)
            if queued_priority is not None:  # another task, ready in the same queue
                with Client(db_url) as client:
                    client.queue_task("nap", {"seconds": 0}, priority=queued_priority)
            lease = datetime.now(UTC) + timedelta(seconds=30)
            assert await ActivationRunner(versions, SystemClock()).run(
                using(conn), claim,
                local=lambda: LocalStarts("w1", ["default"], tasks, lease,
                                          lambda claims, _: started.extend(claims)))
            return wf, claim
        finally:
            await conn.close()

    wf, claim = asyncio.run(scenario())
    return wf, claim, started


def test_an_activation_claims_its_own_task_for_its_worker(
    db_url: str, tmp_path: Path
) -> None:
    wf, _, started = _first_activation_with_local_starts(db_url, tmp_path, ["add"])
    assert [(c.kind, c.name, c.inputs, c.attempt, c.token) for c in started] == [
        ("task", "add", {"a": 1, "b": 2}, 1, 1)]
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, claimed_by, claim_token, run_at, attempt, parent_id,"
            " lease_expires_at IS NOT NULL, started_at IS NOT NULL"
            " FROM rhythm.executions WHERE id = %s", (started[0].id,)).fetchone()
    assert row == ("running", "w1", 1, None, 1, wf, True, True)


def test_a_task_the_worker_does_not_have_goes_to_the_queue(
    db_url: str, tmp_path: Path
) -> None:
    wf, _, started = _first_activation_with_local_starts(db_url, tmp_path, ["other"])
    assert started == []
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, claimed_by, claim_token, run_at IS NOT NULL, attempt"
            " FROM rhythm.executions WHERE parent_id = %s", (wf,)).fetchone()
    assert row == ("pending", None, 0, True, 0)


def test_no_local_start_while_the_queue_has_a_ready_row_of_higher_priority(
    db_url: str, tmp_path: Path
) -> None:
    """Priorities hold for local starts (issue 18): the workflow's task (priority 0)
    goes to the queue, behind the ready priority-5 task, instead of skipping ahead."""
    wf, _, started = _first_activation_with_local_starts(db_url, tmp_path, ["add"],
                                                         queued_priority=5)
    assert started == []
    with psycopg.connect(db_url) as conn:
        row = conn.execute(
            "SELECT status, claimed_by, claim_token, run_at IS NOT NULL"
            " FROM rhythm.executions WHERE parent_id = %s", (wf,)).fetchone()
        assert row == ("pending", None, 0, True)
        now = datetime.now(UTC)
        picked = conn.execute(Q["claim"], {
            "part": 0, "queue": "default", "limit": 1, "now": now, "worker": "w2",
            "lease_until": now + timedelta(seconds=30), "kinds": ["task"],
            "names": None}).fetchone()
    assert picked is not None and picked[2] == "nap"  # the higher priority first


def test_a_ready_row_of_lower_priority_does_not_stop_a_local_start(
    db_url: str, tmp_path: Path
) -> None:
    _, _, started = _first_activation_with_local_starts(db_url, tmp_path, ["add"],
                                                        queued_priority=-1)
    assert [(c.name, c.token) for c in started] == [("add", 1)]


def test_a_locally_claimed_task_of_a_dead_worker_is_rerun_after_its_lease(
    db_url: str, tmp_path: Path
) -> None:
    """w1 dies (no outcome, no renewal) holding the task its activation claimed: after
    the lease the reaper puts it back, another worker claims it with a new token, and
    the dead worker's late outcome is rejected while the new one settles the parent."""
    wf, _, started = _first_activation_with_local_starts(db_url, tmp_path, ["add"])
    dead = started[0]

    async def scenario() -> tuple[Claim, set[str], set[str], list[Claim]]:
        conn = await connect_keyed(db_url)
        try:
            later = datetime.now(UTC) + timedelta(seconds=31)
            await conn.execute(Q["reap_expired_leases"], {"part": 0, "now": later})
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(Q["claim"], {"part": 0,
                    "queue": "default", "limit": 1, "now": later, "worker": "w2",
                    "lease_until": later + timedelta(seconds=30), "kinds": ["task"], "names": None})
                again = Claim.from_row(await cur.fetchone() or {})
            runner = TaskRunner(db_url, REGISTRY, SystemClock(), TaskThreads(1), "w2")
            lease = later + timedelta(seconds=30)
            stale, _ = await runner.record(
                conn, [Outcome(dead.id, dead.token, "completed", result="3")], [], lease)
            fresh, woken = await runner.record(
                conn, [Outcome(again.id, again.token, "completed", result="3")],
                ["default"], lease)
            return again, stale, fresh, woken
        finally:
            await conn.close()

    again, stale, fresh, woken = asyncio.run(scenario())
    assert (again.id, again.token, again.attempt) == (dead.id, 2, 2)
    assert stale == set() and fresh == {dead.id}
    assert [c.id for c in woken] == [wf]
    with psycopg.connect(db_url) as conn:
        row = conn.execute("SELECT status, lease_losses FROM rhythm.executions "
                           "WHERE id = %s", (dead.id,)).fetchone()
    assert row == ("completed", 1)


def test_local_starts_take_at_most_their_limit(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "fan_out.flow").write_text(
        'const all = await Promise.all([Task.run("add", { a: 1, b: 1 }),'
        ' Task.run("add", { a: 2, b: 2 }), Task.run("add", { a: 3, b: 3 })])\n'
        'return all\n')
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)
    started: list[Claim] = []

    async def scenario() -> str:
        conn = await connect_keyed(db_url)
        try:
            await versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                wf = client.start("fan_out").id
            lease = datetime.now(UTC) + timedelta(seconds=30)
            assert await ActivationRunner(versions, SystemClock()).run(
                using(conn), await _claim(conn),
                local=lambda: LocalStarts("w1", ["default"], ["add"], lease,
                                          lambda claims, _: started.extend(claims),
                                          limit=2))
            return wf
        finally:
            await conn.close()

    wf = asyncio.run(scenario())
    assert [c.inputs for c in started] == [{"a": 1, "b": 1}, {"a": 2, "b": 2}]
    with psycopg.connect(db_url) as conn:
        rows = conn.execute("SELECT status, claimed_by FROM rhythm.executions"
                            " WHERE parent_id = %s ORDER BY parent_promise", (wf,)).fetchall()
    assert rows == [("running", "w1"), ("running", "w1"), ("pending", None)]


def test_a_batch_of_outcomes_returns_the_claimed_parents_once(
    db_url: str, tmp_path: Path
) -> None:
    """Three tasks of three workflows recorded in one batch claim all three parents; the
    list of claimed parents comes back on one row, not on each of the batch's rows (a
    flush of N outcomes decoded N copies of N claims)."""
    (tmp_path / "one_step.flow").write_text(FLOW)
    versions = WorkflowVersions()
    versions.add_folder(tmp_path)

    async def scenario() -> tuple[list[str], list[list[str] | None]]:
        conn = await connect_keyed(db_url)
        try:
            await versions.register(conn, datetime.now(UTC))
            with Client(db_url) as client:
                workflows = [client.start("one_step").id for _ in range(3)]
            runner = ActivationRunner(versions, SystemClock())
            for _ in workflows:
                assert await runner.run(using(conn), await _claim(conn))
            now = datetime.now(UTC)
            lease = now + timedelta(seconds=30)
            async with conn.cursor(row_factory=dict_row) as cur:
                await cur.execute(Q["claim"], {"part": 0,
                    "queue": "default", "limit": 3, "now": now, "worker": "w1",
                    "lease_until": lease, "kinds": ["task"], "names": None})
                tasks = [Claim.from_row(row) for row in await cur.fetchall()]
            outcomes = [Outcome(t.id, t.token, "completed", result="3") for t in tasks]
            jobs = TaskRunner(db_url, REGISTRY, SystemClock(), TaskThreads(1), "w1")
            rows = await (await conn.execute(
                Q["record_outcomes"], jobs._outcome_params(outcomes, ["default"], lease))
            ).fetchall()
            claimed = [row[-1] and [c["id"] for c in row[-1]] for row in rows]
            return workflows, claimed
        finally:
            await conn.close()

    workflows, claimed = asyncio.run(scenario())
    assert len(claimed) == 3
    lists = [ids for ids in claimed if ids]
    assert len(lists) == 1 and sorted(lists[0]) == sorted(workflows)
