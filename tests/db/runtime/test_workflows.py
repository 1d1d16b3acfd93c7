"""Workflows on Postgres: activations, tasks, timers, signals, children, combinators,
cancellation, versions and poison inputs, with an in-process worker on a real database."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
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


def test_tasks_in_sequence(client: Client, wf_worker: Worker) -> None:
    run = client.start("adder", {"x": 4})
    assert run.result(timeout=10) == {"a": 5, "b": 15}
    assert run.status() == "completed"


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


def test_unknown_workflow_is_refused(client: Client, wf_worker: Worker) -> None:
    with pytest.raises(UnknownName, match="no workflow named"):
        client.start("nope")


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
