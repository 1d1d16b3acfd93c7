"""The Node.js client and worker on Citus, beside the Python client and worker on the same
cluster. The client wakes the workers as the Python client does: its statements run
routed to a shard, where a NOTIFY would reach no listener, so the notifications go from
its coordinator connection with the commit (they once went nowhere on Citus: the workers
found a start from Node.js by their poll, seconds late). It enqueues with the statements
Citus routes whole, as rhythm.runtime.routed does, writing what the Python client
writes. The worker runs tasks of every partition and sends what its outcomes wake from
the coordinator too: the Python worker, polling only every 30 s, resumes the workflows
at once."""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from citusfixtures import PARTITIONS
from nodejs import PACKAGE, both_workers, node_env, node_or_skip
from psycopg.rows import dict_row

from rhythm.runtime.client import Client
from rhythm.runtime.operations import Enqueue, drive, enqueue
from rhythm.runtime.partitions import Topology, generated_id

# queued, cancelled while pending, queued again under its id (a restart)
SCRIPT = """
import { Client } from './src/index.js'
const client = new Client({ databaseUrl: process.env.RHYTHM_NODE_TEST_DATABASE_URL })
try {
  const first = await client.queueTask('js_anything', {}, { id: 'node-citus-1' })
  const status = await client.cancel(first.id)
  const again = await client.queueTask('js_anything', {}, { id: 'node-citus-1' })
  console.log(JSON.stringify({ first, status, again }))
} finally {
  await client.close()
}
"""


def test_the_node_client_on_citus_notifies_from_the_coordinator(citus_url: str) -> None:
    node = node_or_skip()
    with psycopg.connect(citus_url, autocommit=True) as listener:
        listener.execute("LISTEN rhythm_wake")
        listener.execute("LISTEN rhythm_done")
        done = subprocess.run([node, "--input-type=module", "-e", SCRIPT], cwd=PACKAGE,
                              env=node_env(citus_url), capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0, done.stderr
        heard = [(n.channel, n.payload) for n in listener.notifies(timeout=5, stop_after=3)]
        row = listener.execute("SELECT part, status FROM rhythm.executions "
                               "WHERE id = 'node-citus-1'").fetchone()
    assert row is not None and row[1] == "pending"
    wake = f"{row[0]}:default"
    assert heard == [("rhythm_wake", wake), ("rhythm_done", "node-citus-1"),
                     ("rhythm_wake", wake)]
    assert '"status":"cancelled"' in done.stdout


ENQUEUES = """
import { Client } from './src/index.js'
const ids = JSON.parse(process.env.IDS)
const client = new Client({ databaseUrl: process.env.RHYTHM_NODE_TEST_DATABASE_URL })
try {
  const out = [
    await client.queueTask('ship', {}, { id: ids[0], queue: 'slow', priority: 5, retries: 2 }),
    await client.queueTask('unknown_task', { n: 1 }, { id: ids[1] }),
    await client.start('orders', { n: 1 }, { id: ids[2] }),
    await client.start('orders', { n: 1 }, { id: ids[2] })
  ]
  console.log(JSON.stringify(out.map((r) => r.created)))
} finally {
  await client.close()
}
"""
# the same requests, as the Python client's operations send them
TWINS = [Enqueue("task", "ship", "{}", queue="slow", priority=5, max_retries=2),
         Enqueue("task", "unknown_task", '{"n":1}'),
         Enqueue("workflow", "orders", '{"n":1}')]
# what an enqueue writes but the id and the times (run_at: whether set)
ROW = """SELECT part, kind, name, version, inputs::text, queue, priority, max_retries,
                options::text, run_at IS NOT NULL AS ready, status, parent_id,
                concurrency_key, concurrency_limit, admitted, history_seq, run_no, attempt
         FROM rhythm.executions WHERE id = %s"""
HISTORY = """SELECT seq, part, kind, step, worker, detail::text FROM rhythm.history
             WHERE execution_id = %s ORDER BY seq"""


def test_the_node_client_on_citus_enqueues_what_the_python_client_does(
    citus_url: str,
) -> None:
    node = node_or_skip()
    with psycopg.connect(citus_url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("INSERT INTO rhythm.task_routes (name, queue) VALUES ('ship', 'shipping')")
        ids = {side: [generated_id(e.kind[0], i, PARTITIONS) for i, e in enumerate(TWINS)]
               for side in ("node", "python")}
        done = subprocess.run([node, "--input-type=module", "-e", ENQUEUES], cwd=PACKAGE,
                              env={**node_env(citus_url), "IDS": json.dumps(ids["node"])},
                              capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert json.loads(done.stdout) == [True, True, True, False]
        for request, twin in zip(TWINS, ids["python"], strict=True):
            drive(conn, enqueue(replace(request, id=twin), datetime.now(UTC)),
                  Topology(partitions=PARTITIONS, citus=True))
        for node_id, python_id in zip(ids["node"], ids["python"], strict=True):
            assert _one(conn, ROW, node_id) == _one(conn, ROW, python_id)
            assert conn.execute(HISTORY, [node_id]).fetchall() == \
                conn.execute(HISTORY, [python_id]).fetchall()
        assert [h["kind"] for h in conn.execute(HISTORY, [ids["node"][2]])] == ["started"]


def _one(conn: psycopg.Connection[Any], query: str, execution_id: str) -> dict[str, Any]:
    row = conn.execute(query, [execution_id]).fetchone()
    assert row is not None, execution_id
    return dict(row)


def test_a_node_worker_on_citus_runs_every_partitions_tasks_and_wakes_their_workflows(
    citus_url: str,
) -> None:
    node = node_or_skip()
    parts = range(PARTITIONS)
    # (the Python worker polls only every 30 s: only a notification resumes its
    # workflows in time)
    with both_workers(node, citus_url, python_args=("--poll", "30")), \
            Client(citus_url) as client, \
            psycopg.connect(citus_url, autocommit=True) as listener:
        listener.execute("LISTEN rhythm_done")
        tasks = [client.queue_task("js_add", {"a": p, "b": 1},
                                   id=generated_id("t", p, PARTITIONS)) for p in parts]
        assert [t.result(timeout=30) for t in tasks] == [p + 1 for p in parts]
        heard = {n.payload for n in listener.notifies(timeout=5, stop_after=len(tasks))}
        assert heard == {t.id for t in tasks}  # (from the coordinator: nobody else listens)

        began = time.monotonic()
        flows = [client.start("node_traced", {"x": p}, id=generated_id("w", p, PARTITIONS))
                 for p in parts]
        keyed = [client.start("node_keyed", {"key": "citus-nap"},
                              id=generated_id("w", p, PARTITIONS)) for p in (0, PARTITIONS - 1)]
        assert [f.result(timeout=60) for f in flows] == [[{"attempt": 2}, {"x": p}]
                                                         for p in parts]
        assert [k.result(timeout=60) for k in keyed] == [{"napped": 300}] * 2
        # Each workflow waited on JavaScript tasks twice (and a retry): resumed by the
        # Node.js worker's notifications, not by the Python worker's 30 s poll.
        assert time.monotonic() - began < 25
        assert len(client.list(name="js_nap")) == 1  # one keyed task for both
