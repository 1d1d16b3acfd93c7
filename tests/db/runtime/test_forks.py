"""``rhythm fork`` on the real worker: a workflow that failed at step 7 because of a bug,
forked from step 6 onto the fixed version, completes without running steps 1-6's tasks
again (asserted on public.task_log); a fork of a suspended execution from its current
snapshot; pending tasks issued again for the fork; what cannot be forked is refused in
one line."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, one_row, register_flow, wait_for
from dbfixtures import run_cli

from rhythm.errors import WorkflowFailed
from rhythm.runtime.client import Client

BUGGY = """\
const r1 = await Task.run("log_once", { key: Inputs.id + ":1" })
const r2 = await Task.run("log_once", { key: Inputs.id + ":2" })
const r3 = await Task.run("log_once", { key: Inputs.id + ":3" })
let go = await Signal.next("go")
if (go == "x") {
  throw { name: "Bug", message: "x is not handled" }
}
await Task.run("log_once", { key: Inputs.id + ":after" })
return [r1, r2, r3, go]
"""
FIXED = BUGGY.replace('throw { name: "Bug", message: "x is not handled" }', 'go = "handled"')

CRASHES = """\
const r1 = await Task.run("log_once", { key: Inputs.id + ":1" })
const r2 = await Task.run("log_once", { key: Inputs.id + ":2" })
const r3 = await Task.run("log_once", { key: Inputs.id + ":3" })
const r4 = await Task.run("log_once", { key: Inputs.id + ":4" })
const r5 = await Task.run("log_once", { key: Inputs.id + ":5" })
const r6 = await Task.run("log_once", { key: Inputs.id + ":6" })
const parts = r6.split(":")
return [r1, r2, r3, r4, r5, parts[3].toUpperCase()]
"""
CRASHES_FIXED = CRASHES.replace("parts[3]", "parts[1]")

WAITING = """\
await Task.run("log_once", { key: Inputs.id + ":1" })
return await Task.run("nobody_runs_this", {}, { queue: "elsewhere" })
"""


def _suspended_at(url: str, eid: str, label_count: int) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT e.status, e.run_at, s.snapshot->>'label' FROM"
                           " rhythm.executions e JOIN rhythm.snapshots s ON"
                           " s.execution_id = e.id WHERE e.id = %s", (eid,)).fetchone()
    return row is not None and row[0] == "suspended" and row[1] is None and int(
        row[2]) == label_count


def test_a_fork_onto_the_fixed_version_does_not_run_earlier_tasks_again(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    from rhythm.codegen.compile import compile_flow

    at_go = next(label for label, ident in compile_flow(BUGGY, "job.flow", "job").AWAITS.items()
                 if ident == "Signal.next:go#1")
    (tmp_path / "v1").mkdir()
    with Client(db_url) as client:
        with flows_worker(db_url, tmp_path / "v1", {"job": BUGGY}):
            client.start("job", {"id": "src"}, id="src")
            wait_for(lambda: _suspended_at(db_url, "src", at_go), timeout=30,
                     what="the source to wait for its signal")
        fixed = register_flow(db_url, tmp_path / "fixed", "job", FIXED)
        run = client.fork("src", to_version=fixed, id="src-fork", generated=None)
        assert run.id == "src-fork"
        row = client.get("src-fork")
        assert row["version"] == fixed and row["options"]["forked_from"] == "src"
        client.signal("src", "go", "x")
        client.signal("src-fork", "go", "x")
        (tmp_path / "w").mkdir()
        with flows_worker(db_url, tmp_path / "w", {"job": FIXED}):
            assert client.run("src-fork").result(timeout=30) == ["src:1", "src:2", "src:3",
                                                                  "handled"]
            with pytest.raises(WorkflowFailed, match="x is not handled"):
                client.run("src").result(timeout=30)
    assert task_log() == ["src:1", "src:2", "src:3", "src:after"]
    assert hashlib.sha256(BUGGY.encode()).hexdigest() != fixed


def test_a_fork_from_the_step_before_a_failure_does_not_run_steps_1_to_6_again(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    (tmp_path / "v1").mkdir()
    with Client(db_url) as client:
        with (flows_worker(db_url, tmp_path / "v1", {"job": CRASHES}),
              pytest.raises(WorkflowFailed, match="toUpperCase")):
            client.start("job", {"id": "c"}, id="c").result(timeout=30)
        steps = [e for e in client.history("c") if e.kind == "activation"]
        assert [e.step for e in steps] == [1, 2, 3, 4, 5, 6, 7]
        assert steps[-1].detail["stopped"]["status"] == "failed"
        fixed = register_flow(db_url, tmp_path / "fixed", "job", CRASHES_FIXED)
        made = client.fork("c", from_step=6, to_version=fixed, id="c-fixed", generated=None)
        assert made.id == "c-fixed"
        (tmp_path / "w").mkdir()
        with flows_worker(db_url, tmp_path / "w", {"job": CRASHES_FIXED}):
            assert client.run("c-fixed").result(timeout=30) == [
                "c:1", "c:2", "c:3", "c:4", "c:5", "6"]
        forked = [e for e in client.history("c-fixed") if e.kind == "forked"]
        assert [e.detail for e in forked] == [{"from_id": "c", "from_step": 6}]
    assert task_log() == ["c:1", "c:2", "c:3", "c:4", "c:5", "c:6"]  # each once


def test_pending_tasks_are_issued_again_for_the_fork(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    (tmp_path / "v1").mkdir()
    with Client(db_url) as client, flows_worker(db_url, tmp_path / "v1", {"job": WAITING}):
        client.start("job", {"id": "p"}, id="p")
        wait_for(lambda: one_row(db_url, "SELECT count(*) FROM rhythm.executions WHERE"
                                 " name = 'nobody_runs_this'") == (1,), timeout=30,
                 what="the second task to be requested")
        wait_for(lambda: client.get("p")["status"] == "suspended", what="p to suspend")
        made = client.fork("p", id="p-fork", generated=None)
        assert made.id == "p-fork"
    with psycopg.connect(db_url, autocommit=True) as conn:
        tasks = conn.execute("SELECT parent_id, parent_promise, status FROM rhythm.executions"
                             " WHERE name = 'nobody_runs_this' ORDER BY parent_id").fetchall()
        promises = conn.execute("SELECT execution_id, promise_id, state, target FROM"
                                " rhythm.promises ORDER BY execution_id, promise_id").fetchall()
    assert [(t[0], t[2]) for t in tasks] == [("p", "pending"), ("p-fork", "pending")]
    assert tasks[0][1] == tasks[1][1]  # the same promise id in each
    by_owner = {(p[0], p[1]): p for p in promises}
    # (the settled first task's promise was forgotten: nothing can reach it any more)
    (second,) = [pid for owner, pid in by_owner if owner == "p"]
    assert {pid for owner, pid in by_owner if owner == "p-fork"} == {second}
    assert by_owner[("p-fork", second)][2] == "pending"
    assert by_owner[("p-fork", second)][3] != by_owner[("p", second)][3]  # a new task
    assert task_log() == ["p:1"]


def test_what_cannot_be_forked_is_refused_in_one_line(
    db_url: str, tmp_path: Path, task_log: Callable[[], list[str]]
) -> None:
    (tmp_path / "v1").mkdir()
    with Client(db_url) as client, flows_worker(db_url, tmp_path / "v1",
                                                {"job": "return 1\n"}):
        client.start("job", {}, id="ended").result(timeout=30)
    done = run_cli("fork", "ended", "--database-url", db_url, home=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().endswith(
        "execution 'ended' is completed and has no current snapshot; give --from-step N")
    step = run_cli("fork", "ended", "--from-step", "2", "--database-url", db_url,
                   home=tmp_path)
    assert step.returncode == 1
    assert "execution 'ended' has no step 2 in its history" in step.stderr
    nobody = run_cli("fork", "nope", "--database-url", db_url, home=tmp_path)
    assert nobody.returncode != 0 and "no workflow execution with id 'nope'" in nobody.stderr
