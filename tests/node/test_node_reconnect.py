"""A Node.js worker process survives a Postgres restart: tasks queued before and after
complete (it reconnects, re-listens and claims again)."""

from __future__ import annotations

import subprocess
import time

from nodejs import PACKAGE, node_env, node_or_skip

from rhythm.runtime.client import Client


def test_a_node_worker_reconnects_after_a_postgres_restart(private_server) -> None:
    node = node_or_skip()
    url = private_server.url
    env = {**node_env(url), "RHYTHM_NODE_LEASE": "3"}
    proc = subprocess.Popen([node, "test/fixtures/run-worker.js"], cwd=PACKAGE, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().startswith("ready ")
        with Client(url) as client:
            before = client.queue_task("js_add", {"a": 1, "b": 2})
            assert before.result(timeout=20) == 3
        private_server.restart()
        time.sleep(0.5)  # (the worker finds the server gone, and back)
        with Client(url) as client:
            after = [client.queue_task("js_add", {"a": i, "b": 1}) for i in range(5)]
            assert [r.result(timeout=30) for r in after] == [1, 2, 3, 4, 5]
        assert proc.poll() is None, "the worker process survived"
    finally:
        proc.terminate()
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err[-3000:]
    assert "reconnecting" in err
