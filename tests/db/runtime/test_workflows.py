"""Workflows on Postgres: activations, tasks, timers, signals, children, combinators,
cancellation, versions and poison inputs, with an in-process worker on a real database."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
import sample_tasks
from conftest import running_worker, wait_for

from rhythm.errors import InputError, UnknownName, WorkflowFailed
from rhythm.runtime.client import Client
from rhythm.runtime.versions import WorkflowVersions
from rhythm.runtime.worker import Worker

FLOWS = {
    "adder": """
const a = await Task.run("add", { a: Inputs.x, b: 1 })
const b = await Task.run("add_async", { a: a, b: 10 })
return { a: a, b: b }
""",
    "waiter": """
const first = await Signal.next("go")
let second
try {
  second = await Signal.next("go", { timeout: "300ms" })
} catch (e) {
  second = e.name
}
return [first, second]
""",
    "sleeper": """
const t0 = Date.now()
await Timer.delay(0.3)
return Date.now() - t0 >= 300
""",
    "parent": """
const kids = await Promise.all([
  Workflow.run("adder", { x: 1 }),
  Workflow.run("adder", { x: 2 }),
])
let err = null
try { await Workflow.run("nobody", {}) } catch (e) { err = e.name }
return [kids[0].b, kids[1].b, err]
""",
    "racer": """
const winner = await Promise.race([Signal.next("fast"), Timer.delay(30)])
const late = await Signal.next("fast")
return [winner, late]
""",
    "cancellable": """
let cleaned = false
try {
  await Signal.next("never")
} catch (e) {
  cleaned = e.name
  await Task.run("add", { a: 1, b: 1 })
  throw e
}
""",
    "thrower": """
await Task.run("add", { a: 1 })
throw { name: "Oops", message: "no" }
""",
    "gated": """
return await Task.run("gated", {})
""",
    "retried": """
return await Task.run("flaky", { key: Inputs.key, failures: 1 })
""",
}


@pytest.fixture
def flows_dir(tmp_path: Path) -> Path:
    for name, source in FLOWS.items():
        (tmp_path / f"{name}.flow").write_text(source)
    return tmp_path


@pytest.fixture
def wf_worker(db_url: str, flows_dir: Path) -> Iterator[Worker]:
    versions = WorkflowVersions()
    versions.add_folder(flows_dir)
    with running_worker(db_url, versions=versions) as w:
        assert w.registered.wait(10)
        yield w


def test_only_a_worker_with_workflows_opens_its_group_commit_at_start(
    db_url: str, wf_worker: Worker
) -> None:
    """The group commit's connection is opened (and its statement prepared) while a
    worker with workflows of its own starts; a worker of tasks only never needs it."""
    assert len(wf_worker.group._idle) == 1
    with running_worker(db_url) as tasks_only:
        assert tasks_only.registered.wait(10)
        assert tasks_only.group._idle == []


def test_tasks_in_sequence(client: Client, wf_worker: Worker) -> None:
    run = client.start("adder", {"x": 4})
    assert run.result(timeout=10) == {"a": 5, "b": 15}
    assert run.status() == "completed"


def test_a_retried_task_still_resumes_its_workflow(client: Client, wf_worker: Worker) -> None:
    """The worker keeps a workflow's state across retries of the task it waits on: the
    attempt that succeeds resumes it in one commit (no flush, claim or load between)."""
    run = client.start("retried", {"key": f"retried-{uuid.uuid4().hex}"})
    assert run.result(timeout=10) == "ok after 2"
    wait_for(lambda: wf_worker.activations == 2, what="the second activation counted")
    assert wf_worker.resumed == 1


def test_signals_buffered_then_wait_times_out(client: Client, wf_worker: Worker) -> None:
    run = client.start("waiter")
    client.signal(run.id, "go", {"n": 1})  # buffered before anyone waits, or delivered
    assert run.result(timeout=10) == [{"n": 1}, "TimeoutError"]
    with pytest.raises(InputError, match="has ended"):
        client.signal(run.id, "go", 2)


def test_timer_fires_on_time(client: Client, wf_worker: Worker) -> None:
    assert client.start("sleeper").result(timeout=10) is True


def test_children_and_combinators(client: Client, wf_worker: Worker) -> None:
    assert client.start("parent").result(timeout=15) == [12, 13, "ChildWorkflowError"]


def test_race_abandons_wait_so_signal_goes_to_next(client: Client, wf_worker: Worker) -> None:
    run = client.start("racer")
    wait_for(lambda: client.get(run.id)["status"] == "suspended", what="suspended")
    client.signal(run.id, "fast", "one")
    wait_for(lambda: client.get(run.id)["status"] in ("suspended", "completed"))
    client.signal(run.id, "fast", "two")
    assert run.result(timeout=10) == ["one", "two"]


def test_cancel_runs_catch_and_cancels(client: Client, wf_worker: Worker) -> None:
    run = client.start("cancellable")
    wait_for(lambda: client.get(run.id)["status"] == "suspended", what="suspended")
    client.cancel(run.id)
    with pytest.raises(WorkflowFailed):
        run.result(timeout=10)
    assert run.status() == "cancelled"


def test_thrown_value_fails_with_it(client: Client, wf_worker: Worker) -> None:
    run = client.start("thrower")
    with pytest.raises(WorkflowFailed):
        run.result(timeout=10)
    assert client.get(run.id)["error"] == {"name": "Oops", "message": "no"}


def test_unknown_workflow_waits_with_a_warning(
    client: Client, wf_worker: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    """(It used to be refused; the operations spec says a start never fails for want of
    a worker: it waits for a version, see test_start_before_worker.py.)"""
    run = client.start("addr")
    assert run.awaiting_version and client.get(run.id)["status"] == "pending"
    assert caplog.messages == [
        "no workflow named 'addr' is registered yet (did you mean 'adder'?); it waits "
        "(pending) until `rhythm register` or a worker that has it registers a version"]


def test_idempotent_start(client: Client, wf_worker: Worker) -> None:
    a = client.start("adder", {"x": 1}, id="order-1")
    b = client.start("adder", {"x": 1}, id="order-1")
    assert a.id == b.id == "order-1"
    assert a.result(timeout=10) == {"a": 2, "b": 12}



def test_cli_start_signal_wait(db_url: str, wf_worker: Worker) -> None:
    from test_runtime_cli import rhythm_cli

    code, out, _ = rhythm_cli("start", "waiter", "--id", "cli-w", "--json",
                              "--database-url", db_url)
    assert code == 0 and json.loads(out)["id"] == "cli-w"
    code, out, _ = rhythm_cli("signal", "cli-w", "go", "--payload", '{"n": 7}',
                              "--database-url", db_url)
    assert code == 0 and "signal 'go'" in out
    code, out, _ = rhythm_cli("start", "waiter", "--id", "cli-w", "--wait", "--json",
                              "--database-url", db_url)
    assert code == 0
    assert json.loads(out)["result"] == [{"n": 7}, "TimeoutError"]
    code, _, err = rhythm_cli("signal", "cli-w", "go", "--database-url", db_url)
    assert code != 0 and "has ended (completed)" in err


def test_cli_start_on_a_queue_with_a_priority(db_url: str, wf_worker: Worker) -> None:
    from test_runtime_cli import rhythm_cli

    code, _, _ = rhythm_cli("start", "waiter", "--id", "cli-q", "--queue", "elsewhere",
                            "--priority", "5", "--database-url", db_url)
    assert code == 0
    code, out, _ = rhythm_cli("status", "cli-q", "--json", "--database-url", db_url)
    row = json.loads(out)
    assert (row["queue"], row["priority"], row["status"]) == ("elsewhere", 5, "pending")


# ---------------------------------------------------------------- guarantee 4 and 5

V1 = 'const r = await Task.run("add", { a: 1 })\nreturn ["v1", r]\n'
V2 = 'const r = await Task.run("add", { a: 2 })\nreturn ["v2", r]\n'
PINNED = 'await Signal.next("go")\nreturn "v1"\n'


def test_executions_stay_on_their_version_and_old_ones_compile_from_source(
    db_url: str, client: Client
) -> None:
    first = WorkflowVersions()
    first.add_source(PINNED, "pinned.flow", "pinned")
    with running_worker(db_url, versions=first) as w:
        assert w.registered.wait(10)
        old = client.start("pinned")
        wait_for(lambda: client.get(old.id)["status"] == "suspended", what="suspended")
    second = WorkflowVersions()  # a redeploy: only the new version on disk
    second.add_source('return "v2"\n', "pinned.flow", "pinned")
    with running_worker(db_url, versions=second) as w:
        assert w.registered.wait(10)
        new = client.start("pinned")
        assert new.result(timeout=10) == "v2"
        client.signal(old.id, "go")
        assert old.result(timeout=10) == "v1"  # compiled from the stored source
    assert client.get(old.id)["version"] != client.get(new.id)["version"]


def test_redeploying_an_older_version_makes_it_current_again(
    db_url: str, client: Client
) -> None:
    for source, expected in ((V1, ["v1", 1]), (V2, ["v2", 2]), (V1, ["v1", 1])):
        versions = WorkflowVersions()
        versions.add_source(source, "ver.flow", "ver")
        with running_worker(db_url, versions=versions) as w:
            assert w.registered.wait(10)
            assert client.start("ver").result(timeout=10) == expected


POISON = {
    "runaway": "let i = 0\nwhile (true) { i = i + 1 }\n",
    "notjson": 'return "nul\\u0000"\n',  # Postgres cannot store NUL in jsonb
    "healthy": 'return await Task.run("add", { a: 40, b: 2 })\n',
    "sleepy": 'await Signal.next("go")\nreturn 1\n',
}


@pytest.fixture
def poison_worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    versions = WorkflowVersions()
    for name, source in POISON.items():
        versions.add_source(source, f"{name}.flow", name)
    with running_worker(db_url, versions=versions) as w:
        assert w.registered.wait(10)
        yield w


def _failure(client: Client, run_id: str) -> dict:
    with pytest.raises(WorkflowFailed):
        client.run(run_id).result(timeout=20)
    error = client.get(run_id)["error"]
    assert isinstance(error, dict)
    return error


def test_poison_workflows_fail_clearly_and_lose_nothing(
    client: Client, poison_worker: Worker, db_url: str
) -> None:
    healthy = [client.start("healthy") for _ in range(5)]
    runaway = client.start("runaway")
    notjson = client.start("notjson")
    sleepy = client.start("sleepy")
    wait_for(lambda: client.get(sleepy.id)["status"] == "suspended", what="suspended")
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("UPDATE rhythm.snapshots SET snapshot = '{\"format\": 99}' "
                     "WHERE execution_id = %s", (sleepy.id,))
        conn.execute("INSERT INTO rhythm.executions (id, kind, name, version, run_at) "
                     "VALUES ('ghost', 'workflow', 'ghost', 'feedbeef', now())")
        conn.execute("SELECT pg_notify('rhythm_wake', 'default')")
    client.signal(sleepy.id, "go")
    assert _failure(client, runaway.id)["name"] == "LimitError"
    error = _failure(client, notjson.id)
    assert (error["type"], error["workflow"]) == ("ResultNotJSON", "notjson")
    error = _failure(client, sleepy.id)
    assert error["type"] == "SnapshotUnreadable" and error["executionId"] == sleepy.id
    error = _failure(client, "ghost")
    assert error["type"] == "UnknownWorkflow" and "not stored" in error["message"]
    assert [r.result(timeout=10) for r in healthy] == [42] * 5


def test_async_client_start_signal_result(db_url: str, wf_worker: Worker) -> None:
    asyncio.run(_async_client_round_trip(db_url))


async def _async_client_round_trip(db_url: str) -> None:
    from rhythm.runtime.client import AsyncClient

    async with AsyncClient(db_url) as client:
        run = await client.start("waiter", id="async-1")
        again = await client.start("waiter", id="async-1")
        assert again.id == run.id
        await client.signal(run.id, "go", "hi")
        assert await run.result(timeout=10) == ["hi", "TimeoutError"]
        assert await run.status() == "completed"


def test_bad_signal_payloads_are_refused_and_nothing_is_lost(
    client: Client, wf_worker: Worker, db_url: str
) -> None:
    run = client.start("waiter")
    for payload, reason in (({1, 2}, "not JSON"), (float("nan"), "NaN"),
                            ("x" * (1 << 20), "over the limit")):
        with pytest.raises(InputError, match=reason):
            client.signal(run.id, "go", payload)
    with pytest.raises(UnknownName):
        client.signal("no-such-execution", "go", 1)
    with psycopg.connect(db_url, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM rhythm.signals").fetchone()
    assert row == (0,)
    client.signal(run.id, "go", "fine")
    assert run.result(timeout=10) == ["fine", "TimeoutError"]


def test_a_task_gives_its_slot_up_while_its_outcome_commits(
    client: Client, db_url: str, flows_dir: Path
) -> None:
    """Concurrency counts tasks running user code: once a workflow's task has returned,
    the next task starts while that outcome is committed with the workflow's next step.
    Here that commit waits for a row lock held by the test; a task queued meanwhile must
    still run on the worker's only slot."""
    versions = WorkflowVersions()
    versions.add_folder(flows_dir)
    sample_tasks.GATE.clear()
    with running_worker(db_url, versions=versions, concurrency=1) as worker, \
            psycopg.connect(db_url) as locker:
        assert worker.registered.wait(10)
        run = client.start("gated")
        wait_for(lambda: _status_of_child(db_url, run.id) == "running", what="gated running")
        locker.execute("SELECT FROM rhythm.executions WHERE id = %s FOR UPDATE", (run.id,))
        sample_tasks.GATE.set()  # its outcome's commit now waits for the lock
        wait_for(lambda: _a_commit_waits_for_a_lock(db_url), what="the commit to wait")
        other = client.queue_task("add", {"a": 2, "b": 3})
        assert other.result(timeout=10) == 5  # ran on the slot the gated task gave up
        assert run.status() == "suspended"  # its commit still waits
        locker.rollback()
        assert run.result(timeout=10) == "through"


def test_an_activation_gives_its_slot_up_while_it_commits(
    client: Client, db_url: str, flows_dir: Path
) -> None:
    """Likewise a workflow activation whose machine has run: here its commit waits for a
    lock on the snapshots table held by the test, and a task queued meanwhile runs."""
    versions = WorkflowVersions()
    versions.add_folder(flows_dir)
    with running_worker(db_url, versions=versions, concurrency=1) as worker, \
            psycopg.connect(db_url) as locker:
        assert worker.registered.wait(10)
        locker.execute("LOCK TABLE rhythm.snapshots IN EXCLUSIVE MODE")  # reads go on
        run = client.start("adder", {"x": 1})
        wait_for(lambda: _a_commit_waits_for_a_lock(db_url), what="the commit to wait")
        other = client.queue_task("add", {"a": 2, "b": 3})
        assert other.result(timeout=10) == 5
        assert run.status() == "running"  # its commit still waits
        locker.rollback()
        assert run.result(timeout=10) == {"a": 2, "b": 12}


def test_an_activation_gives_its_pooled_connection_back_before_its_commit(
    client: Client, db_url: str, flows_dir: Path
) -> None:
    """A claimed activation needs the pool only for its load: while its commit waits in
    the group commit (here for a lock on the snapshots table held by the test), the
    worker's pool has every connection back."""
    versions = WorkflowVersions()
    versions.add_folder(flows_dir)
    with running_worker(db_url, versions=versions, concurrency=1) as worker, \
            psycopg.connect(db_url) as locker:
        assert worker.registered.wait(10)
        locker.execute("LOCK TABLE rhythm.snapshots IN EXCLUSIVE MODE")
        run = client.start("adder", {"x": 1})
        wait_for(lambda: _a_commit_waits_for_a_lock(db_url), what="the commit to wait")
        # (a connection just given back is reset by the pool before it counts as
        # available: a single look can catch the load's, or a claim's, on its way back)
        wait_for(lambda: _pool_in_use(worker) == 0, 5, what="every pooled connection back")
        assert _pool_in_use(worker) == 0, worker._pool.get_stats() if worker._pool else {}
        assert _a_commit_waits_for_a_lock(db_url)  # (it still waits, holding none)
        locker.rollback()
        assert run.result(timeout=10) == {"a": 2, "b": 12}


def _pool_in_use(worker: Worker) -> int:
    stats = worker._pool.get_stats() if worker._pool is not None else {}
    return int(stats["pool_size"] - stats["pool_available"])


def _a_commit_waits_for_a_lock(url: str) -> bool:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock' AND query LIKE '%%activation_commit%%'").fetchone()
        return bool(row and row[0])


def _status_of_child(url: str, parent_id: str) -> str | None:
    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT status FROM rhythm.executions WHERE parent_id = %s",
                           (parent_id,)).fetchone()
        return row[0] if row else None
