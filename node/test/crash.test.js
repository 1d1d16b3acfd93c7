// A worker SIGKILLed mid-task: its row is put back after the lease and runs again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { Client, defineTask } from '../src/index.js'
import { skip, sql, startWorker, url, waitFor } from './helpers.js'

const child = fileURLToPath(new URL('./fixtures/run-worker.js', import.meta.url))

test('a task whose worker was SIGKILLed runs again after the lease', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  const proc = spawn(process.execPath, [child], {
    env: { ...process.env, RHYTHM_NODE_LEASE: '1' }, stdio: ['ignore', 'pipe', 'inherit']
  })
  let out = ''
  proc.stdout.on('data', (chunk) => { out += chunk })
  try {
    await waitFor(() => out.includes('ready '), { what: 'the worker to connect' })
    const run = await client.queueTask('js_slow_once', {})
    await waitFor(async () => (await client.get(run.id)).status === 'running', { what: 'the first attempt to start' })
    proc.kill('SIGKILL')
    await new Promise((resolve) => proc.once('exit', resolve))
    const again = startWorker({
      leaseSeconds: 0.6,
      tasks: [defineTask('js_slow_once', (_inputs, { attempt }) => ({ attempt }))]
    })
    try {
      assert.deepEqual(await client.result(run.id, { timeoutSeconds: 20 }), { attempt: 2 })
    } finally {
      await again.stop()
    }
    const [row] = await sql('SELECT lease_losses, attempt FROM rhythm.executions WHERE id = $1', [run.id])
    assert.deepEqual([row.lease_losses, row.attempt], [1, 2])
  } finally {
    proc.kill('SIGKILL')
    await client.close()
  }
})

test('SIGTERM stops a worker gracefully: the running task finishes, it unregisters', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  const proc = spawn(process.execPath, [child], { env: process.env, stdio: ['ignore', 'pipe', 'inherit'] })
  let out = ''
  proc.stdout.on('data', (chunk) => { out += chunk })
  try {
    await waitFor(() => out.includes('ready '), { what: 'the worker to connect' })
    const run = await client.queueTask('js_nap', { ms: 400 })
    await waitFor(async () => (await client.get(run.id)).status === 'running', { what: 'the nap to start' })
    proc.kill('SIGTERM')
    const code = await new Promise((resolve) => proc.once('exit', resolve))
    assert.equal(code, 0)
    assert.equal((await client.get(run.id)).status, 'completed')
    assert.match(out, /stopped .* completed=1/)
    const id = /ready (\S+)/.exec(out)[1]
    const workers = await sql('SELECT count(*)::int AS n FROM rhythm.workers WHERE id = $1', [id])
    assert.equal(workers[0].n, 0)
  } finally {
    proc.kill('SIGKILL')
    await client.close()
  }
})
