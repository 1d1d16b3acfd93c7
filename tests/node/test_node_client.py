"""The Node.js client with a Python worker: it starts a workflow (idempotently by id),
signals it and reads its result; the workflow's task runs on a Node.js worker."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from nodejs import PACKAGE, node_env, node_or_skip

HERE = Path(__file__).resolve().parent


def test_the_node_client_starts_signals_and_awaits_a_workflow(db_url: str) -> None:
    node = node_or_skip()
    env = node_env(db_url)
    python = subprocess.Popen(
        [sys.executable, "-m", "rhythm", "worker", "-q", "default", "--flows", str(HERE / "flows"),
         "--grace", "2", "--database-url", db_url], env=env, stderr=subprocess.PIPE, text=True)
    js = subprocess.Popen([node, "test/fixtures/run-worker.js"], cwd=PACKAGE, env=env,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        done = subprocess.run([node, "test/fixtures/client-flow.js"], cwd=PACKAGE, env=env,
                              capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, done.stderr
        out = json.loads(done.stdout)
        assert out["started"] == {"id": "from-node-1", "status": "pending", "created": True}
        assert out["again"]["created"] is False
        assert out["result"] == {"approvedBy": "node", "sum": 42}
    finally:
        for proc in (python, js):
            proc.terminate()
        for proc in (python, js):
            proc.communicate(timeout=20)
