"""Objects keep their insertion order end to end (spec section 3): workflow inputs and
results, task inputs and results, child results, signal payloads, errors, archived runs,
through the real worker, the Client and ``rhythm status --json``.

Every object here lists its keys in an order jsonb would change (jsonb sorts by length,
then bytes: ``a, mid, zeta``), so a payload that passed through jsonb fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from conftest import flows_worker, wait_for
from test_runtime_cli import rhythm_cli

from rhythm.runtime.client import Client
from rhythm.runtime.worker import Worker
from rhythm.store.queries import QUERIES

FLOWS = {
    "ordered": """
const sig = await Signal.next("data")
const got = await Task.run("unordered_record", { first: Inputs.zeta })
const seen = await Task.run("keys_received", { zz: 1, b: 2, ccc: 3 })
const kid = await Workflow.run("ordered_child", { yy: 1, b: 2 })
const keys = []
for (const k in got) keys.push(k)
return {
  zeta: 1, a: { yy: 1, b: 2 }, mid: 3,
  inputKeys: Object.keys(Inputs), taskKeys: keys, nestedKeys: Object.keys(got.mid),
  taskJson: JSON.stringify(got), taskSaw: seen, childKeys: Object.keys(kid),
  signalKeys: Object.keys(sig), signal: sig,
}
""",
    "ordered_child": """
return { zeta: Object.keys(Inputs), a: 1, mid: 2 }
""",
    "task_error_keys": """
try {
  await Task.run("bad_value", { key: "order" })
} catch (e) {
  return Object.keys(e)
}
""",
    "ordered_thrower": """
throw { zeta: 1, name: "Oops", message: "no" }
""",
}


@pytest.fixture
def order_worker(db_url: str, tmp_path: Path) -> Iterator[Worker]:
    with flows_worker(db_url, tmp_path, FLOWS) as w:
        yield w


def test_payloads_keep_key_order_end_to_end(
    client: Client, db_url: str, order_worker: Worker
) -> None:
    run = client.start("ordered", {"zeta": 7, "a": 1, "mid": 2}, id="ordered-1")
    client.signal(run.id, "data", {"zeta": 1, "a": {"yy": 1, "b": 2}, "mid": 3})
    result = run.result(timeout=20)

    assert list(result) == ["zeta", "a", "mid", "inputKeys", "taskKeys", "nestedKeys",
                            "taskJson", "taskSaw", "childKeys", "signalKeys", "signal"]
    assert list(result["a"]) == ["yy", "b"]
    assert result["inputKeys"] == ["zeta", "a", "mid"]
    assert result["taskKeys"] == ["zeta", "a", "mid"]
    assert result["nestedKeys"] == ["yy", "b"]
    assert result["taskJson"] == '{"zeta":7,"a":2,"mid":{"yy":1,"b":2}}'
    assert result["taskSaw"] == ["zz", "b", "ccc"]
    assert result["childKeys"] == ["zeta", "a", "mid"]
    assert result["signalKeys"] == ["zeta", "a", "mid"]
    assert list(result["signal"]["a"]) == ["yy", "b"]

    stored = client.get(run.id)
    assert list(stored["inputs"]) == ["zeta", "a", "mid"]
    code, out, _ = rhythm_cli("status", run.id, "--json", "--database-url", db_url)
    assert code == 0
    shown = json.loads(out)
    assert list(shown["result"]) == list(result) and list(shown["inputs"]) == ["zeta", "a", "mid"]


def test_errors_and_archived_runs_keep_key_order(
    client: Client, db_url: str, order_worker: Worker
) -> None:
    run = client.start("ordered_thrower", id="thrower-1")
    wait_for(lambda: client.get(run.id)["status"] == "failed", what="failed")
    assert list(client.get(run.id)["error"]) == ["zeta", "name", "message"]

    client.start("ordered_thrower", {"zeta": 1, "a": 2}, id="thrower-1")  # a second run
    with psycopg.connect(db_url) as conn:
        inputs, error = conn.execute(
            "SELECT inputs::text, error::text FROM rhythm.execution_runs WHERE id = 'thrower-1'"
        ).fetchone() or (None, None)
    assert inputs == "{}"
    assert error is not None and list(json.loads(error)) == ["zeta", "name", "message"]


def test_task_result_and_inputs_keep_key_order(client: Client, order_worker: Worker) -> None:
    run = client.queue_task("keys_received", {"zz": 1, "b": 2, "ccc": 3})
    assert run.result(timeout=10) == ["zz", "b", "ccc"]
    task = client.queue_task("unordered_record", {"first": 0})
    assert list(task.result(timeout=10)) == ["zeta", "a", "mid"]
    assert list(client.get(task.id)["result"]["mid"]) == ["yy", "b"]


def test_task_error_reaches_the_workflow_in_order(client: Client, order_worker: Worker) -> None:
    keys = client.start("task_error_keys").result(timeout=10)
    assert keys == ["name", "message", "task", "type", "attempts", "details"]


PAYLOAD_COLUMNS = {
    "executions": ("inputs", "result", "error"),
    "execution_runs": ("inputs", "result", "error"),
    "promises": ("value", "params"),
    "signals": ("payload",),
}
# A payload name declared or cast as jsonb in a query: "result jsonb", "%(payload)s::jsonb".
_PAYLOAD_AS_JSONB = re.compile(
    r"\b(inputs|result|error|value|params|payload|batch)\b(\)s::|\s+)jsonb\b")


def test_payload_columns_are_json(db_url: str) -> None:
    with psycopg.connect(db_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = 'rhythm'").fetchall()
    types = {(t, c): d for t, c, d in rows}
    for table, columns in PAYLOAD_COLUMNS.items():
        for column in columns:
            assert types[(table, column)] == "json", f"{table}.{column}"


def test_no_runtime_query_sends_a_payload_through_jsonb() -> None:
    """A payload that passes through jsonb once (a cast, a recordset column, an
    aggregate) comes out reordered, so no runtime query may do that."""
    offenders = []
    for name, sql in QUERIES.items():
        code = "\n".join(line.split("--", 1)[0] for line in sql.splitlines())
        if _PAYLOAD_AS_JSONB.search(code) or re.search(r"\bjsonb_(agg|build_\w+)\b", code):
            offenders.append(name)
    assert offenders == []
