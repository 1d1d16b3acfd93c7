// Queue controls set with `rhythm queue set` (the Python CLI) are obeyed by the Node.js
// worker: a paused queue is not claimed until resumed; a rate limit holds claims to it.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { Client, defineTask } from '../src/index.js'
import { skip, sql, startWorker, url, waitFor } from './helpers.js'

const python = process.env.RHYTHM_NODE_TEST_PYTHON
const rhythm = (...args) => execFileSync(python, ['-m', 'rhythm', ...args, '--database-url', url], { stdio: 'pipe' })

let client, running
before(async () => {
  if (skip) return
  client = new Client({ databaseUrl: url })
  running = startWorker({
    queues: ['ctl'], pollSeconds: 0.5,
    tasks: [defineTask('js_ctl', ({ i }) => i, { queue: 'ctl' })]
  })
  await waitFor(() => running.worker.ready, { what: 'the worker to connect' })
})
after(async () => {
  if (skip) return
  await running.stop()
  await client.close()
})

test('a paused queue is not claimed until it is resumed', { skip }, async () => {
  rhythm('queue', 'set', 'ctl', '--paused')
  await new Promise((resolve) => setTimeout(resolve, 200)) // (the '!limits' NOTIFY lands)
  const run = await client.queueTask('js_ctl', { i: 1 })
  await new Promise((resolve) => setTimeout(resolve, 600))
  assert.equal((await client.get(run.id)).status, 'pending')
  rhythm('queue', 'set', 'ctl', '--running')
  assert.equal(await client.result(run.id), 1)
})

test('a rate-limited queue is claimed with tokens (claim_limited)', { skip }, async () => {
  rhythm('queue', 'set', 'ctl', '--rate-limit', '4/s')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const runs = []
  for (let i = 0; i < 10; i++) runs.push(await client.queueTask('js_ctl', { i }))
  const results = []
  for (const r of runs) results.push(await client.result(r.id, { timeoutSeconds: 30 }))
  assert.deepEqual(results, [...Array(10).keys()])
  // 10 claims at 4/s with a burst of 4: the last started at least ~1.5 s after the first.
  const [span] = await sql(`SELECT extract(epoch FROM max(started_at) - min(started_at)) AS s
    FROM rhythm.executions WHERE id = ANY($1)`, [runs.map((r) => r.id)])
  assert.ok(Number(span.s) >= 1.2, `10 tasks at 4/s started within ${span.s}s`)
  const [bucket] = await sql("SELECT count(*)::int AS n FROM rhythm.rate_limits WHERE scope = 'queue' AND name = 'ctl'")
  assert.ok(bucket.n >= 1)
})
