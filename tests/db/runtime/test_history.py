"""Execution history on Postgres (issue 20, docs/observability.md "History"): the
entries a real worker writes, entry by entry, and reading them back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from conftest import flows_worker, one_row, wait_for

from rhythm.cli import main
from rhythm.observe.history import HistoryEntry, NoSnapshot, read_history, snapshot_at
from rhythm.observe.inspect import inspect_execution
from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker

ADDER = """
const a = await Task.run("add", { a: Inputs.x, b: 1 })
const b = await Task.run("add", { a: a, b: 10 })
return { a: a, b: b }
"""


@pytest.fixture
def worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, {"adder": ADDER}) as w:
        yield w


def history(url: str, execution_id: str) -> list[HistoryEntry]:
    with psycopg.connect(url, autocommit=True) as conn:
        return read_history(conn, execution_id)


def activations(entries: list[HistoryEntry]) -> list[dict[str, Any]]:
    return [e.detail for e in entries if e.kind == "activation"]


def test_each_activation_writes_one_entry_in_its_commit(
    db_url: str, client: Client, worker: Worker
) -> None:
    run = client.start("adder", {"x": 1}, id=f"h-{uuid.uuid4().hex}")
    assert run.result(timeout=10) == {"a": 2, "b": 12}
    entries = history(db_url, run.id)
    acts = [e for e in entries if e.kind == "activation"]
    assert [e.step for e in acts] == [1, 2, 3]
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    assert all(e.worker == worker.id for e in acts)
    first, second, third = (e.detail for e in acts)
    assert first["resumed"] is None
    assert first["stopped"]["status"] == "suspended"
    assert first["stopped"]["line"] == 2
    assert first["effects"] == [{"promise": 1, "kind": "task", "name": "add"}]
    assert first["settled"] == []
    assert second["resumed"]["line"] == 2
    assert second["settled"] == [{"promise": 1, "kind": "task", "name": "add", "outcome": "ok"}]
    assert second["stopped"]["line"] == 3
    assert third["stopped"]["status"] == "completed"
    assert third["effects"] == []
    snap = snapshot_at(psycopg.connect(db_url, autocommit=True), run.id, 2)
    assert snap["label"] == second["stopped"]["state"] and snap["vars"]["vars"] == ["a", 2]
    assert acts[2].snapshot_bytes is None


ORDER = """let total = 0
for (let i = 0; i < 2; i++) {
  total = await Task.run("add", { a: total, b: i + 1 })
}
const approval = await Signal.next("approval")
await Timer.delay(0.2)
const kid = await Workflow.run("adder", { x: total })
const retried = await Task.run("flaky", { key: Inputs.key, failures: 1 })
return { total: total, approval: approval, kid: kid, retried: retried }
"""


def test_a_workflow_with_a_loop_signal_timer_child_and_retried_task(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """The history a reader expects, entry by entry, on the real worker; and `inspect`
    shows the right line and variables after each step."""
    with flows_worker(db_url, tmp_path, {"adder": ADDER, "order": ORDER}) as w:
        run = client.start("order", {"key": f"h-{uuid.uuid4().hex}"})
        wait_for(lambda: len(activations(history(db_url, run.id))) == 3
                 and client.get(run.id)["status"] == "suspended", what="waiting for approval")
        client.signal(run.id, "approval", {"by": "ann"})
        assert run.result(timeout=15) == {"total": 3, "approval": {"by": "ann"},
                                          "kid": {"a": 4, "b": 14}, "retried": "ok after 2"}
        entries = history(db_url, run.id)
    acts = [e for e in entries if e.kind == "activation"]
    assert [e.step for e in acts] == [1, 2, 3, 4, 5, 6, 7]
    assert all(e.worker == w.id for e in acts)

    def brief(d: dict[str, Any]) -> tuple[Any, ...]:
        resumed = d["resumed"]["line"] if d["resumed"] else None
        settled = [(s["kind"], s["name"], s["outcome"]) for s in d["settled"]]
        effects = [(s["kind"], s["name"]) for s in d["effects"]]
        return resumed, settled, d["stopped"]["line"], d["stopped"]["status"], effects

    assert [brief(e.detail) for e in acts] == [
        (None, [], 3, "suspended", [("task", "add")]),
        (3, [("task", "add", "ok")], 3, "suspended", [("task", "add")]),
        (3, [("task", "add", "ok")], 5, "suspended", [("signal", "approval")]),
        (5, [("signal", "approval", "ok")], 6, "suspended", [("timer", None)]),
        (6, [("timer", None, "ok")], 7, "suspended", [("child", "adder")]),
        (7, [("child", "adder", "ok")], 8, "suspended", [("task", "flaky")]),
        (8, [("task", "flaky", "ok")], 8, "completed", []),  # (its last state's line)
    ]
    assert acts[3].detail["waiting"] == {"promise": 4, "kind": "timer", "name": None}
    with psycopg.connect(db_url, autocommit=True) as conn:
        seen = [inspect_execution(conn, run.id, e.step) for e in acts[:-1]]
        child = acts[4].detail["effects"][0]
        kid_id = one_row(db_url, "SELECT id FROM rhythm.executions WHERE parent_id = %s "
                         "AND parent_promise = %s", (run.id, child["promise"]))[0]
        kid = read_history(conn, kid_id)
    assert [(i.step, i.line, i.variables) for i in seen] == [
        (1, 3, {"total": 0, "i": 0}),
        (2, 3, {"total": 1, "i": 1}),
        (3, 5, {"total": 3}),
        (4, 6, {"total": 3, "approval": {"by": "ann"}}),
        (5, 7, {"total": 3, "approval": {"by": "ann"}}),
        (6, 8, {"total": 3, "approval": {"by": "ann"}, "kid": {"a": 4, "b": 14}}),
    ]
    assert seen[3].source_context[3] == (6, "await Timer.delay(0.2)")
    assert [p["kind"] for i in seen for p in i.pending] == [
        "task", "task", "signal", "timer", "child", "task"]
    # The child's own history; its ending (with a parent to wake) took the pipelined commit.
    assert [(e.kind, e.step, e.detail["stopped"]["status"]) for e in kid] == [
        ("activation", 1, "suspended"), ("activation", 2, "suspended"),
        ("activation", 3, "completed")]


RACER = """const note = "waiting"
const got = await Promise.race([Signal.next("go"), Timer.delay(60)])
return got
"""


def rhythm_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_inspect_now_and_the_commands(db_url: str, client: Client, tmp_path: Path) -> None:
    """`inspect` of a suspended workflow: its line with context, each pending await with
    its live state, its variables; `rhythm history` / `rhythm inspect` print them."""
    with flows_worker(db_url, tmp_path, {"racer": RACER}):
        run = client.start("racer", id=f"racer-{uuid.uuid4().hex[:8]}")
        wait_for(lambda: client.get(run.id)["status"] == "suspended", what="suspended")
        client.signal(run.id, "other", 1)  # (another channel: stays buffered)
        found = client.inspect(run.id)
        assert (found.status, found.step, found.line) == ("suspended", 1, 2)
        assert found.source_context[1] == (2, RACER.splitlines()[1])
        assert found.variables == {"note": "waiting"}
        signal, timer = found.pending
        assert signal == {"kind": "signal", "promise": 1, "name": "go", "buffered": 0,
                          "due_at": None}
        assert timer["kind"] == "timer" and timer["due_at"] is not None

        code, out, _ = rhythm_cli("inspect", run.id, "--database-url", db_url)
        assert code == 0
        assert f"{run.id}: racer" in out and "suspended, step 1 (now)" in out
        assert f">    2 | {RACER.splitlines()[1]}" in out
        assert "#1 signal go (0 buffered)" in out and 'note = "waiting"' in out
        code, out, _ = rhythm_cli("history", run.id, "--database-url", db_url)
        lines = out.splitlines()
        assert code == 0 and len(lines) == 1
        assert lines[0].split()[0] == "1" and "activation" in lines[0]
        assert lines[0].endswith(
            "step 1 started -> waiting at line 2: Promise.race(signal go, timer)")
        client.signal(run.id, "go", "now")
        assert run.result(timeout=10) == "now"
    code, out, _ = rhythm_cli("history", run.id, "--database-url", db_url, "--json")
    entries = json.loads(out)["entries"]
    assert [e["step"] for e in entries if e["kind"] == "activation"] == [1, 2]
    assert entries[-1]["detail"]["stopped"]["status"] == "completed"
    code, out, _ = rhythm_cli("inspect", run.id, "--at", "1", "--json", "--database-url", db_url)
    assert code == 0 and json.loads(out)["variables"] == {"note": "waiting"}
    code, _, err = rhythm_cli("inspect", run.id, "--at", "9", "--database-url", db_url)
    assert (code, err.count("\n")) == (1, 1) and "has no step 9" in err
    code, _, err = rhythm_cli("history", "nope", "--database-url", db_url)
    assert (code, err.strip()) == (1, "rhythm: error: no execution with id 'nope'")


def test_a_snapshot_over_the_cap_keeps_its_size_only(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    with flows_worker(db_url, tmp_path, {"adder": ADDER}, history_snapshot_cap=20):
        run = client.start("adder", {"x": 1})
        assert run.result(timeout=10) == {"a": 2, "b": 12}
    first = client.history(run.id)[0]
    assert first.snapshot_truncated and first.snapshot_bytes is not None
    assert first.snapshot_bytes > 20
    assert one_row(db_url, "SELECT snapshot IS NULL FROM rhythm.history "
                   "WHERE execution_id = %s AND seq = %s", (run.id, first.seq)) == (True,)
    with pytest.raises(NoSnapshot, match="over the history cap"):
        snapshot_at(psycopg.connect(db_url, autocommit=True), run.id, first.step or 0)
    found = client.inspect(run.id, at=1)
    assert found.variables == {} and found.line == 2
    assert found.note is not None and "over the history cap" in found.note
