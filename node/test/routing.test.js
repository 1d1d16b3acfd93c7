// `rhythm status` (the Python CLI) on a task only a Node.js worker has: no reason while
// that worker lives; "no live worker has task ..." once it is gone - killed (one lease
// after its last heartbeat) or stopped (at once: it deletes its row).
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync, spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Client } from '../src/index.js'
import { skip, sql, url, waitFor } from './helpers.js'

const child = fileURLToPath(new URL('./fixtures/run-worker.js', import.meta.url))
const python = process.env.RHYTHM_NODE_TEST_PYTHON
const reason = (id) => JSON.parse(execFileSync(python, ['-m', 'rhythm', 'status', id, '--json', '--database-url', url])).reason
const GONE = "no live worker has task 'js_nap': every worker that registered it has stopped"

/** A worker process (run-worker.js) on queue "routing"; resolves once it is ready. */
async function spawnWorker (lease) {
  const proc = spawn(process.execPath, [child], {
    env: { ...process.env, RHYTHM_NODE_LEASE: String(lease), RHYTHM_NODE_QUEUES: 'routing' },
    stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  proc.stdout.on('data', (chunk) => { out += chunk })
  await waitFor(() => out.includes('ready '), { what: 'the worker to connect' })
  return proc
}

test('a task whose Node.js workers are gone says no live worker has it', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  let proc = null
  try {
    // (queue "parked": the worker has the name, not the queue, so the row stays pending)
    const run = await client.queueTask('js_nap', { ms: 1 }, { queue: 'parked' })
    proc = await spawnWorker(1)
    const [row] = await sql("SELECT tasks, lease_seconds FROM rhythm.workers WHERE 'js_nap' = ANY(tasks)")
    assert.deepEqual([row.tasks.includes('js_add'), row.lease_seconds], [true, 1])
    assert.equal(reason(run.id), null)
    proc.kill('SIGKILL') // its row stays; its heartbeat ages past its lease of 1 s
    await new Promise((resolve) => proc.once('exit', resolve))
    await waitFor(() => reason(run.id)?.startsWith(GONE), { what: 'the killed worker to count as gone' })

    proc = await spawnWorker(30)
    assert.equal(reason(run.id), null)
    proc.kill('SIGTERM') // a graceful stop deletes its row: gone at once
    await new Promise((resolve) => proc.once('exit', resolve))
    assert.ok(reason(run.id).startsWith(GONE))
  } finally {
    proc?.kill('SIGKILL')
    await client.close()
  }
})
