"""Resuming a workflow straight from its task's outcome (``ActivationRunner.resume``).

An activation that suspends on one task its worker claimed for itself hands back a
:class:`Resumable`; the task's final outcome then records itself, settles the promise and
commits the workflow's next activation in one transaction (one statement when the
workflow suspends again). The database guards it: if anything else happened to the
workflow meanwhile (a cancellation, another settlement, a timer) or the task's claim went
stale, nothing at all is written and the outcome is recorded the usual way. A buffered
signal does not stop it: a wait the resumed activation adds takes it under the row lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from rhythm.runtime.activation import ActivationRunner, LocalStarts, Resumable
from rhythm.runtime.client import Client
from rhythm.runtime.clock import SystemClock
from rhythm.runtime.database import connect_keyed, using
from rhythm.runtime.jobs import Claim, Outcome
from rhythm.runtime.sql import Q
from rhythm.runtime.versions import WorkflowVersions

TWO_STEPS = (
    'const a = await Task.run("add", { a: 1, b: 2 })\n'
    'const b = await Task.run("add", { a: a, b: 10 })\n'
    "return b\n"
)
LEASE = timedelta(seconds=30)


SIGNAL_NEXT = (
    'const a = await Task.run("add", { a: 1, b: 2 })\n'
    'const s = await Signal.next("go")\n'
    "return a + s.x\n"
)


class Scenario:
    """One ``two_steps`` (or ``flow``) workflow driven by hand as worker w1 on one
    connection."""

    def __init__(self, url: str, folder: Path, flow: str = TWO_STEPS) -> None:
        (folder / "two_steps.flow").write_text(flow)
        self.url = url
        self.versions = WorkflowVersions()
        self.versions.add_folder(folder)
        self.runner = ActivationRunner(self.versions, SystemClock())
        self.handed: list[tuple[list[Claim], Resumable | None]] = []
        self.room = 1000  # tasks a commit may claim for w1

    def local(self) -> LocalStarts:
        return LocalStarts("w1", ["default"], ["add"], datetime.now(UTC) + LEASE,
                           lambda claims, state: self.handed.append((claims, state)),
                           self.room)

    async def first_activation(self, conn: psycopg.AsyncConnection[Any]) -> Resumable:
        await self.versions.register(conn, datetime.now(UTC))
        with Client(self.url) as client:
            client.start("two_steps")
        assert await self.runner.run(using(conn), await self.claim(conn), local=self.local)
        return self.last_resumable()

    @staticmethod
    async def claim(conn: psycopg.AsyncConnection[Any]) -> Claim:
        now = datetime.now(UTC)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(Q["claim"], {"part": 0,
                "queue": "default", "limit": 1, "now": now, "worker": "w1",
                "lease_until": now + LEASE, "kinds": ["workflow"], "names": None})
            return Claim.from_row(await cur.fetchone() or {})

    def last_resumable(self) -> Resumable:
        claims, state = self.handed[-1]
        assert state is not None and [c.id for c in claims] == [state.task_id]
        return state

    def task(self, state: Resumable) -> Claim:
        """The claim of the task ``state`` waits on (its commit claimed it for w1)."""
        return next(c for claims, _ in self.handed for c in claims if c.id == state.task_id)

    def outcome(self, state: Resumable, status: str, **fields: Any) -> Outcome:
        """An outcome of that task under its current claim."""
        task = self.task(state)
        return Outcome(task.id, task.token, status, **fields)

    async def resume(
        self, conn: psycopg.AsyncConnection[Any], state: Resumable, outcome: Outcome
    ) -> bool:
        return await self.runner.resume(using(conn), state, outcome, "w1",
                                        datetime.now(UTC) + LEASE, local=self.local)


def _run(url: str, tmp_path: Path,
         body: Callable[[Scenario, psycopg.AsyncConnection[Any]], Any],
         flow: str = TWO_STEPS) -> Any:
    async def main() -> Any:
        conn = await connect_keyed(url)
        try:
            return await body(Scenario(url, tmp_path, flow), conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def _workflow(url: str) -> dict[str, Any]:
    with psycopg.connect(url, row_factory=dict_row) as conn:
        row = conn.execute(
            "SELECT e.id, e.status, e.result, e.error, e.claim_token, e.claimed_by, e.run_at,"
            " s.activations FROM rhythm.executions e"
            " LEFT JOIN rhythm.snapshots s ON s.execution_id = e.id"
            " WHERE e.kind = 'workflow'").fetchone()
        assert row is not None
        row["tasks"] = conn.execute(
            "SELECT t.status, t.result, t.claimed_by, p.state, p.value"
            " FROM rhythm.executions t LEFT JOIN rhythm.promises p"
            " ON p.execution_id = t.parent_id AND p.promise_id = t.parent_promise"
            " WHERE t.parent_id = %s ORDER BY t.parent_promise", (row["id"],)).fetchall()
        return row


def test_each_outcome_commits_the_next_activation_with_it(db_url: str, tmp_path: Path) -> None:
    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> list[dict[str, Any]]:
        first = await s.first_activation(conn)
        assert s.task(first).inputs == {"a": 1, "b": 2}
        assert await s.resume(conn, first, s.outcome(first, "completed", result="3"))
        middle = _workflow(s.url)
        second = s.last_resumable()
        assert s.task(second).inputs == {"a": 3, "b": 10}
        assert second.claim.token == first.claim.token  # never claimed: one statement
        assert await s.resume(conn, second, s.outcome(second, "completed", result="13"))
        return [middle, _workflow(s.url)]

    middle, end = _run(db_url, tmp_path, body)
    assert {k: middle[k] for k in ("status", "claimed_by", "run_at", "activations")} == {
        "status": "suspended", "claimed_by": None, "run_at": None, "activations": 2}
    # (the first task's promise is gone: the new snapshot no longer reaches it)
    assert middle["tasks"] == [
        {"status": "completed", "result": 3, "claimed_by": None, "state": None,
         "value": None},
        {"status": "running", "result": None, "claimed_by": "w1", "state": "pending",
         "value": None},
    ]
    assert (end["status"], end["result"], end["activations"]) == ("completed", 13, None)
    assert [(t["status"], t["result"], t["value"]) for t in end["tasks"]] == [
        ("completed", 3, None), ("completed", 13, 13)]


def test_a_failed_task_fails_the_workflow_in_the_same_transaction(
    db_url: str, tmp_path: Path
) -> None:
    error = {"name": "TaskError", "message": "boom", "task": "add"}

    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
        first = await s.first_activation(conn)
        assert await s.resume(conn, first, s.outcome(first, "failed", error=error))
        return _workflow(s.url)

    end = _run(db_url, tmp_path, body)
    assert end["status"] == "failed" and end["error"]["message"] == "boom"
    assert [(t["status"], t["state"]) for t in end["tasks"]] == [("failed", "rejected")]


def _request_cancel(url: str, wf: str) -> None:
    with Client(url) as client:
        client.cancel(wf)


def _settled_elsewhere(url: str, wf: str) -> None:
    with psycopg.connect(url) as conn:  # as a timer firing or another child settling does
        conn.execute("UPDATE rhythm.executions SET wake_seq = wake_seq + 1, run_at = now()"
                     " WHERE id = %s", (wf,))


def _task_reclaimed(url: str, wf: str) -> None:
    with psycopg.connect(url) as conn:  # lease lost: reaped and claimed by someone else
        conn.execute("UPDATE rhythm.executions SET claim_token = claim_token + 1,"
                     " claimed_by = 'w2' WHERE parent_id = %s", (wf,))


def _resume_after(
    url: str, folder: Path, meanwhile: Callable[[str, str], None], flow: str = TWO_STEPS
) -> tuple[bool, dict[str, Any], dict[str, Any], int]:
    """First activation, then ``meanwhile``, then the task's outcome resumes it: whether
    it committed, the workflow before and after, and how many commits handed back."""
    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
        first = await s.first_activation(conn)
        meanwhile(s.url, first.claim.id)
        before = _workflow(s.url)
        done = await s.resume(conn, first, s.outcome(first, "completed", result="3"))
        return done, before, _workflow(s.url), len(s.handed)

    result: tuple[bool, dict[str, Any], dict[str, Any], int] = _run(url, folder, body, flow)
    return result


@pytest.mark.parametrize("meanwhile", [_request_cancel, _settled_elsewhere, _task_reclaimed])
def test_anything_else_meanwhile_makes_it_write_nothing(
    db_url: str, tmp_path: Path, meanwhile: Callable[[str, str], None]
) -> None:
    done, before, after, handed = _resume_after(db_url, tmp_path, meanwhile)
    assert done is False and handed == 1
    assert after == before
    assert after["tasks"][0]["state"] == "pending" and after["activations"] == 1


def test_a_buffered_signal_is_taken_by_the_wait_the_resumed_activation_adds(
    db_url: str, tmp_path: Path
) -> None:
    """A signal sent before the workflow waits for it is buffered and does not stop the
    resume; the new wait takes it under the row lock (the rarer, pipelined commit) and
    the workflow is woken to go on."""
    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
        first = await s.first_activation(conn)
        with Client(s.url) as client:
            client.signal(first.claim.id, "go", {"x": 5})
            client.signal(first.claim.id, "nobody-waits", {"x": 1})
        done = await s.resume(conn, first, s.outcome(first, "completed", result="3"))
        middle = _workflow(s.url)
        assert await s.runner.run(using(conn), await s.claim(conn))
        return done, middle, _workflow(s.url)

    done, middle, end = _run(db_url, tmp_path, body, SIGNAL_NEXT)
    assert done is True
    assert (middle["status"], middle["run_at"] is not None) == ("suspended", True)
    # (the task's promise is gone: the snapshot waiting for the signal no longer reaches it)
    assert [(t["status"], t["state"]) for t in middle["tasks"]] == [("completed", None)]
    assert (end["status"], end["result"]) == ("completed", 8)
    with psycopg.connect(db_url) as c:
        left = c.execute("SELECT channel FROM rhythm.signals WHERE consumed_by IS NULL"
                         ).fetchall()
    assert left == [("nobody-waits",)]


def _claimed_by_a_wake_up(url: str, wf: str) -> None:
    with psycopg.connect(url) as conn:  # as record_outcomes does for a woken parent
        conn.execute("UPDATE rhythm.executions SET status = 'running', claimed_by = 'w1',"
                     " claim_token = claim_token + 1, wake_seq = wake_seq + 1"
                     " WHERE id = %s", (wf,))


@pytest.mark.parametrize("meanwhile", [_claimed_by_a_wake_up, _request_cancel])
def test_a_resumed_activation_that_ends_never_commits_under_anothers_claim(
    db_url: str, tmp_path: Path, meanwhile: Callable[[str, str], None]
) -> None:
    """The ending commit is the pipelined one, under the next token: if the guard failed
    because another activation holds that very token now, nothing may be written."""
    one_step = 'const a = await Task.run("add", { a: 1, b: 2 })\nreturn a\n'
    done, before, after, _ = _resume_after(db_url, tmp_path, meanwhile, one_step)
    assert done is False
    assert after == before


OPEN_TIMER = (
    'const late = Timer.delay(3600)\n'
    'const a = await Task.run("add", { a: 1, b: 2 })\n'
    "return a\n"
)


def test_an_ending_resumed_activation_abandons_the_timer_left_open(
    db_url: str, tmp_path: Path
) -> None:
    """The one-statement ending drops the snapshot and abandons the timer nobody will
    await any more: it never fires. (A new signal wait makes the first commit take the
    pipelined path, so such a workflow is never resumed this way.)"""
    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> dict[str, Any]:
        first = await s.first_activation(conn)
        assert await s.resume(conn, first, s.outcome(first, "completed", result="3"))
        return _workflow(s.url)

    end = _run(db_url, tmp_path, body, OPEN_TIMER)
    assert (end["status"], end["result"], end["activations"]) == ("completed", 3, None)
    with psycopg.connect(db_url) as conn:
        waits = conn.execute("SELECT kind, state FROM rhythm.promises WHERE execution_id = %s"
                             " AND kind IN ('timer', 'signal') ORDER BY promise_id",
                             (end["id"],)).fetchall()
    assert waits == [("timer", "abandoned")]


def test_a_task_queued_for_want_of_room_still_resumes_its_workflow(
    db_url: str, tmp_path: Path
) -> None:
    """With no room in the worker's buffer the commit leaves the task to its queue, but
    the workflow's state is kept all the same: when this worker claims the task from the
    queue, its outcome resumes the workflow in one statement (no wake-up, no load)."""
    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> tuple[Any, ...]:
        await s.versions.register(conn, datetime.now(UTC))
        with Client(s.url) as client:
            client.start("two_steps")
        s.room = 0
        assert await s.runner.run(using(conn), await s.claim(conn), local=s.local)
        claims, state = s.handed[-1]
        queued = _workflow(s.url)["tasks"]
        now = datetime.now(UTC)
        async with conn.cursor(row_factory=dict_row) as cur:
            await cur.execute(Q["claim"], {"part": 0,
                "queue": "default", "limit": 1, "now": now, "worker": "w1",
                "lease_until": now + LEASE, "kinds": ["task"], "names": None})
            task = Claim.from_row(await cur.fetchone() or {})
        assert state is not None
        s.room = 1000
        done = await s.resume(conn, state, Outcome(task.id, task.token, "completed",
                                                   result="3"))
        return claims, state.task_id, queued, task.id, done, _workflow(s.url)

    claims, waits_on, queued, claimed, done, after = _run(db_url, tmp_path, body)
    assert claims == [] and waits_on == claimed
    assert [(t["status"], t["claimed_by"]) for t in queued] == [("pending", None)]
    assert done is True
    assert (after["status"], after["activations"]) == ("suspended", 2)
    assert [(t["status"], t["result"], t["state"]) for t in after["tasks"]] == [
        ("completed", 3, None), ("running", None, "pending")]


def test_no_state_is_kept_for_a_task_the_worker_does_not_have(
    db_url: str, tmp_path: Path
) -> None:
    flow = 'const a = await Task.run("other", { a: 1 })\nreturn a\n'

    async def body(s: Scenario, conn: psycopg.AsyncConnection[Any]) -> Any:
        await s.versions.register(conn, datetime.now(UTC))
        with Client(s.url) as client:
            client.start("two_steps")
        assert await s.runner.run(using(conn), await s.claim(conn), local=s.local)
        return s.handed

    assert _run(db_url, tmp_path, body, flow) == []
