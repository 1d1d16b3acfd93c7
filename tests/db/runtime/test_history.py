"""Execution history on Postgres (issue 20, docs/observability.md "History"): the
entries a real worker writes, entry by entry, and reading them back."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from click.testing import CliRunner
from conftest import flows_worker, one_row, wait_for

from rhythm.cli import main
from rhythm.errors import UnknownName
from rhythm.observe.history import (
    HistoryEntry,
    NoSnapshot,
    read_history,
    record_entry,
    snapshot_at,
)
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
    assert [(e.seq, e.kind, e.step) for e in entries] == [
        (1, "started", None), (2, "activation", 1), (3, "activation", 2),
        (4, "activation", 3), (5, "signal", None), (6, "activation", 4),
        (7, "activation", 5), (8, "activation", 6), (9, "activation", 7)]
    assert entries[0].detail["name"] == "order" and entries[0].worker is None
    assert entries[4].detail == {"name": "approval", "buffered": False, "delivered_to": 3,
                                 "run_no": 1}
    acts = [e for e in entries if e.kind == "activation"]
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
        (8, [("task", "flaky", "ok")], 9, "completed", []),  # (the return's line)
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
    assert kid[0].kind == "started" and kid[0].detail == {
        "name": "adder", "version": kid[0].detail["version"], "run_no": 1, "parent_id": run.id}
    assert kid[0].detail["version"] is not None and kid[0].worker is None
    assert [(e.kind, e.step, e.detail["stopped"]["status"]) for e in kid[1:]] == [
        ("activation", 1, "suspended"), ("activation", 2, "suspended"),
        ("activation", 3, "completed")]
    assert [e.seq for e in kid] == [1, 2, 3, 4]


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
        assert code == 0 and len(lines) == 3
        assert [line.split()[0] for line in lines] == ["1", "2", "3"]
        assert lines[0].endswith(f"started     started racer (version {found.version[:12]})")
        assert lines[1].endswith(
            "activation  step 1 started -> waiting at line 2: Promise.race(signal go, timer)")
        assert lines[2].endswith("signal      signal other arrived (buffered)")
        client.signal(run.id, "go", "now")
        assert run.result(timeout=10) == "now"
    code, out, _ = rhythm_cli("history", run.id, "--database-url", db_url, "--json")
    entries = json.loads(out)["entries"]
    assert [(e["kind"], e["step"]) for e in entries] == [
        ("started", None), ("activation", 1), ("signal", None), ("signal", None),
        ("activation", 2)]
    assert entries[3]["detail"] == {"name": "go", "buffered": False, "delivered_to": 1,
                                    "run_no": 1}
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
    first = client.history(run.id)[1]  # (step 1)
    assert first.snapshot_truncated and first.snapshot_bytes is not None
    assert first.snapshot_bytes > 20
    assert one_row(db_url, "SELECT snapshot IS NULL FROM rhythm.history "
                   "WHERE execution_id = %s AND seq = %s", (run.id, first.seq)) == (True,)
    with pytest.raises(NoSnapshot, match="over the history cap"):
        snapshot_at(psycopg.connect(db_url, autocommit=True), run.id, first.step or 0)
    found = client.inspect(run.id, at=1)
    assert found.variables == {} and found.line == 2
    assert found.note is not None and "over the history cap" in found.note


PADDED = """let pad = ""
const go = await Signal.next("go")
pad = "x".repeat(300)
const a = await Task.run("add", { a: 1, b: 1 })
const again = await Signal.next("again")
pad = ""
const b = await Task.run("add", { a: a, b: 1 })
return { go: go, again: again, b: b }
"""


def test_snapshots_under_256_bytes_are_kept_as_text_and_larger_ones_compressed(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """Both commit paths (a new signal wait takes the pipelined one, a task the group
    commit) store a small snapshot as its JSON text and a large one as zlib, and both
    read back as the variables of their step."""
    with flows_worker(db_url, tmp_path, {"padded": PADDED}):
        run = client.start("padded")
        wait_for(lambda: client.get(run.id)["status"] == "suspended", what="first wait")
        client.signal(run.id, "go", 1)
        wait_for(lambda: client.inspect(run.id).step == 3, what="second signal wait")
        client.signal(run.id, "again", 2)
        assert run.result(timeout=10) == {"go": 1, "again": 2, "b": 3}
    with psycopg.connect(db_url, autocommit=True) as conn:
        stored = conn.execute(
            "SELECT step, substr(snapshot, 1, 1) = '{'::bytea, snapshot_bytes "
            "FROM rhythm.history WHERE execution_id = %s AND kind = 'activation' "
            "AND snapshot IS NOT NULL ORDER BY step", (run.id,)).fetchall()
    assert [(step, as_text) for step, as_text, _ in stored] == [
        (1, True), (2, False), (3, False), (4, True)]
    assert all((size < 256) == as_text for _, as_text, size in stored)
    pads = [client.inspect(run.id, at=step).variables["pad"] for step in (1, 2, 3, 4)]
    assert pads == ["", "x" * 300, "x" * 300, ""]


def test_cancel_and_retry_entries(db_url: str, client: Client, tmp_path: Path) -> None:
    """A cancellation request and a retry are entries of the transaction that makes
    them; the retried run numbers its steps from 1 again, and --at N is the latest step N."""
    with flows_worker(db_url, tmp_path, {"racer": RACER}):
        run = client.start("racer")
        wait_for(lambda: client.get(run.id)["status"] == "suspended", what="suspended")
        client.cancel(run.id)
        wait_for(lambda: client.get(run.id)["status"] == "cancelled", what="cancelled")
        client.retry(run.id)
        wait_for(lambda: len(client.history(run.id)) == 6, what="the second run waits")
        entries = client.history(run.id)
    assert [(e.kind, e.step) for e in entries] == [
        ("started", None), ("activation", 1), ("cancel_requested", None),
        ("activation", 2), ("retry", None), ("activation", 1)]
    assert entries[3].detail["stopped"]["status"] == "cancelled"
    assert entries[3].detail["settled"] == []  # (CancelledError thrown at the await)
    assert entries[4].detail == {"run_no": 2}
    assert client.inspect(run.id, at=1).step == 1
    assert one_row(db_url, "SELECT history_seq FROM rhythm.executions WHERE id = %s",
                   (run.id,)) == (6,)


def test_record_entry_appends_in_the_callers_transaction(db_url: str, client: Client) -> None:
    run = client.start("nobody-registered")  # (waits for a version: no activation)
    with psycopg.connect(db_url) as conn:
        seq = record_entry(conn, run.id, "upgraded", {"from_version": "a", "to_version": "b"},
                           at=datetime(2026, 12, 2, tzinfo=UTC), worker="w-1")
        assert seq == 2
        conn.rollback()  # (nothing of it remains)
    assert [e.kind for e in client.history(run.id)] == ["started"]
    with psycopg.connect(db_url) as conn:
        assert record_entry(conn, run.id, "forked", {"from_id": "x", "from_step": 3},
                            at=datetime(2026, 12, 2, tzinfo=UTC)) == 2
    last = client.history(run.id)[-1]
    assert (last.seq, last.kind, last.worker, last.detail) == (
        2, "forked", None, {"from_id": "x", "from_step": 3})
    with psycopg.connect(db_url) as conn, pytest.raises(UnknownName):
        record_entry(conn, "nope", "forked", {}, at=datetime(2026, 12, 2, tzinfo=UTC))


def test_history_bytes_per_step_of_the_benchmark_workflow(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """The figure docs/observability.md reports (run with -s to see it): what the history
    of `rhythm bench workflows`' 10-step workflow costs per activation, in the table and
    its key. Bounds only, no timing."""
    from rhythm.bench.noop import FLOWS  # (registers bench_noop)

    with flows_worker(db_url, tmp_path, {"bench_steps": FLOWS["bench_steps"]}):
        runs = [client.start("bench_steps", {"steps": 10}) for _ in range(20)]
        for run in runs:
            assert run.result(timeout=30) == 10
    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE rhythm.history")
        steps, row, snapshot_json, snapshot_zlib, detail, total = conn.execute("""
            SELECT count(*) FILTER (WHERE kind = 'activation'),
                   avg(pg_column_size(h.*)) FILTER (WHERE kind = 'activation'),
                   avg(snapshot_bytes), avg(length(snapshot)),
                   avg(pg_column_size(detail)) FILTER (WHERE kind = 'activation'),
                   pg_total_relation_size('rhythm.history')::float / count(*)
            FROM rhythm.history h""").fetchone()
    assert steps == 20 * 11  # (10 steps, and the activation that returns)
    print(f"\nhistory per activation (bench_steps, 10 steps, 20 workflows): row "
          f"{float(row):.0f} B (detail {float(detail):.0f} B, snapshot {float(snapshot_json):.0f}"
          f" B of JSON -> {float(snapshot_zlib):.0f} B stored); table + key per entry "
          f"{total:.0f} B")
    assert float(row) < 2048


def test_inspect_of_a_task_says_so(client: Client) -> None:
    task = client.queue_task("add", {"a": 1}, id=f"t-inspect-{uuid.uuid4().hex[:6]}")
    found = client.inspect(task.id)
    assert (found.status, found.line, found.variables, found.pending) == ("pending", None, {}, [])
    assert found.note is not None and found.note.startswith("a task:")
    assert client.history(task.id) == []  # (tasks keep no history)


def test_an_error_jsonb_cannot_hold_still_fails_the_workflow_as_itself(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """An error jsonb cannot hold (a NUL) never makes the commit fail: the entry shows
    U+FFFD in its place (the execution's own error is encoded as the runtime does)."""
    flow = 'throw { name: "Bad", message: "a\\u0000b" }\n'
    with flows_worker(db_url, tmp_path, {"nul_throw": flow}):
        run = client.start("nul_throw")
        client.wait(run.id, timeout=10)
    assert client.get(run.id)["status"] == "failed"
    last = client.history(run.id)[-1]
    assert last.detail["error"] == {"name": "Bad", "message": "a\ufffdb"}


def test_a_child_started_by_the_pipelined_commit_has_its_started_entry(
    db_url: str, client: Client, tmp_path: Path
) -> None:
    """An ending that starts a child (fire and forget) takes the pipelined commit
    (insert_effects): the child's history begins with `started` all the same."""
    flows = {"adder": ADDER, "launcher": 'Workflow.run("adder", { x: 1 })\nreturn 1\n'}
    with flows_worker(db_url, tmp_path, flows):
        run = client.start("launcher")
        assert run.result(timeout=10) == 1
        kid_id = one_row(db_url, "SELECT id FROM rhythm.executions WHERE parent_id = %s",
                         (run.id,))[0]
        client.wait(kid_id, timeout=10)
        kid = client.history(kid_id)
    assert [(e.seq, e.kind) for e in kid] == [
        (1, "started"), (2, "activation"), (3, "activation"), (4, "activation")]
    assert kid[0].detail["parent_id"] == run.id
    parent = client.history(run.id)
    assert [(e.kind, e.step) for e in parent] == [("started", None), ("activation", 1)]
    assert parent[1].detail["effects"] == [{"promise": 1, "kind": "child", "name": "adder"}]
