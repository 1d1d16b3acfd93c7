"""The Node.js client's bulk enqueue (queueTasks, startMany) writes what the Python
client's (queue_tasks, start_many) writes for the same items: every column but the ids
and times, and the history, on plain Postgres and on Citus; inside a span it stores the
span's traceparent with every row."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import psycopg
from nodejs import FLOWS, PACKAGE, node_env, node_or_skip
from psycopg.rows import dict_row

from rhythm.runtime.client import Client

# (name, inputs, options) for tasks, then for workflows; ids given here are suffixed
# per side
TASKS: list[list[Any]] = [
    ["js_add", {"a": 1, "b": 2}], ["js_add", {"a": 3}, {"queue": "slow", "priority": 4}],
    ["unknown_task", {}, {"retries": 2, "id": "bulk-task"}], ["js_nap"]]
WORKFLOWS: list[list[Any]] = [
    ["node_traced", {"x": 1}], ["never_registered", {}, {"priority": -1}]]
ROW = """SELECT part, kind, name, version, inputs::text, queue, priority, max_retries,
                options::text, run_at IS NOT NULL AS ready, status, history_seq, run_no
         FROM rhythm.executions WHERE id = %s"""
HISTORY = "SELECT seq, kind, detail::text FROM rhythm.history WHERE execution_id = %s ORDER BY seq"


def _with_ids(items: list[list[Any]], side: str) -> list[list[Any]]:
    out = []
    for item in items:
        options = dict(item[2]) if len(item) > 2 else None
        if options and "id" in options:
            options["id"] = f"{options['id']}-{side}"
        out.append([*item[:2], options] if options is not None else list(item))
    return out


def _node_enqueue(node: str, url: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    items = {"tasks": _with_ids(TASKS, "node"), "workflows": _with_ids(WORKFLOWS, "node")}
    done = subprocess.run([node, "test/fixtures/bulk-enqueue.js"], cwd=PACKAGE,
                          env={**node_env(url), "ITEMS": json.dumps(items), **(env or {})},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    out: dict[str, Any] = json.loads(done.stdout)
    return out


def _compare_with_python(url: str, node_out: dict[str, Any]) -> None:
    with Client(url) as client:
        python_tasks = client.queue_tasks([tuple(i) for i in _with_ids(TASKS, "python")])
        python_flows = client.start_many([tuple(i) for i in _with_ids(WORKFLOWS, "python")])
    assert node_out["workflows"]["waiting"] == 1  # never_registered
    pairs = [*zip(node_out["tasks"]["ids"], [r.id for r in python_tasks], strict=True),
             *zip(node_out["workflows"]["ids"], [r.id for r in python_flows], strict=True)]
    assert ("bulk-task-node", "bulk-task-python") in pairs
    with psycopg.connect(url, row_factory=dict_row) as conn:
        for node_id, python_id in pairs:
            node_row, python_row = (conn.execute(ROW, [i]).fetchone() for i in (node_id, python_id))
            assert node_row is not None and python_row is not None
            if node_row["part"] != python_row["part"]:  # (random ids: partitions may differ)
                node_row["part"] = python_row["part"] = None
            assert node_row == python_row, node_id
            assert conn.execute(HISTORY, [node_id]).fetchall() == \
                conn.execute(HISTORY, [python_id]).fetchall()


def test_node_bulk_enqueue_writes_what_python_writes(db_url: str) -> None:
    node = node_or_skip()
    _register_node_traced(db_url)
    _compare_with_python(db_url, _node_enqueue(node, db_url))


def test_node_bulk_enqueue_on_citus(citus_url: str) -> None:
    node = node_or_skip()
    _register_node_traced(citus_url)
    with psycopg.connect(citus_url, autocommit=True) as listener:
        listener.execute("LISTEN rhythm_wake")
        out = _node_enqueue(node, citus_url)
        heard = {n.payload for n in listener.notifies(timeout=5, stop_after=2)}
    assert any(p.endswith(":default") for p in heard) and any(p.endswith(":slow") for p in heard)
    _compare_with_python(citus_url, out)


def test_node_bulk_enqueue_stores_the_callers_span(db_url: str, tmp_path: Any) -> None:
    node = node_or_skip()
    out = _node_enqueue(node, db_url, {"RHYTHM_NODE_TEST_SPANS": str(tmp_path / "spans.jsonl")})
    with Client(db_url) as client:
        for execution_id in [*out["tasks"]["ids"], *out["workflows"]["ids"]]:
            assert client.get(execution_id)["options"] == {"traceparent": out["traceparent"]}


def _register_node_traced(url: str) -> None:
    """A version for node_traced (the other workflow has none: it waits)."""
    done = subprocess.run([sys.executable, "-m", "rhythm", "register",
                           str(FLOWS / "node_traced.flow"), "--database-url", url],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
