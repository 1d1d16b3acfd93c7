"""The Node.js client on Citus wakes the workers as the Python client does: its
statements run routed to a shard, where a NOTIFY would reach no listener, so the
notifications go from its coordinator connection with the commit. (They once went
nowhere on Citus: the workers found a start from Node.js by their poll, seconds late.)"""

from __future__ import annotations

import subprocess

import psycopg
from nodejs import PACKAGE, node_env, node_or_skip

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
