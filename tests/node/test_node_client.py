"""The Node.js client with a Python worker: it starts a workflow (idempotently by id),
signals it and reads its result; the workflow's task runs on a Node.js worker. And a
keyed JavaScript task awaited by two workflows: the Node.js worker settles both."""

from __future__ import annotations

import json
import subprocess

from nodejs import PACKAGE, both_workers, node_or_skip

from rhythm.runtime.client import Client


def test_the_node_client_starts_signals_and_awaits_a_workflow(db_url: str) -> None:
    node = node_or_skip()
    with both_workers(node, db_url) as env:
        done = subprocess.run([node, "test/fixtures/client-flow.js"], cwd=PACKAGE, env=env,
                              capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["started"] == {"id": "from-node-1", "status": "pending", "created": True}
    assert out["again"]["created"] is False
    assert out["result"] == {"approvedBy": "node", "sum": 42}


def test_a_keyed_js_task_awaited_by_two_workflows_settles_both(db_url: str) -> None:
    node = node_or_skip()
    with both_workers(node, db_url), Client(db_url) as client:
        runs = [client.start("node_keyed", {"key": "nap-1"}) for _ in range(2)]
        assert [r.result(timeout=60) for r in runs] == [{"napped": 300}] * 2
        tasks = client.list(name="js_nap")
    assert len(tasks) == 1 and tasks[0]["status"] == "completed"
