// The worker against a real Postgres: claims, completes, retries, times out, routing,
// fencing, bad results.
import { test, before, after } from 'node:test'
import assert from 'node:assert/strict'
import { Client, ExecutionFailed, defineTask } from '../src/index.js'
import { skip, sql, startWorker, url, waitFor } from './helpers.js'

const attempts = new Map()
let release = null
let sawAbort = false

const tasks = [
  defineTask('js_add', ({ a, b }) => a + b),
  defineTask('js_sync_signal', (_inputs, { signal }) => ({ signal: signal instanceof AbortSignal, aborted: signal.aborted })),
  defineTask('js_echo', async (inputs, ctx) => ({ inputs, attempt: ctx.attempt })),
  defineTask('js_flaky', ({ key, failures }) => {
    const n = (attempts.get(key) ?? 0) + 1
    attempts.set(key, n)
    if (n <= failures) throw new Error(`down (attempt ${n})`)
    return `ok after ${n}`
  }, { retries: 3, backoff: { initial: 0.01, maximum: 0.05 } }),
  defineTask('js_fatal', () => { throw new RangeError('never retried') }, { retries: 3, nonRetryable: [RangeError] }),
  defineTask('js_hang', (_inputs, { signal }) => new Promise((resolve, reject) => {
    signal.addEventListener('abort', () => { sawAbort = true; reject(signal.reason) })
  }), { timeout: '200ms' }),
  defineTask('js_gate', () => new Promise((resolve) => { release = resolve })),
  defineTask('js_undefined', () => undefined),
  defineTask('js_function', () => ({ f: () => 1 })),
  defineTask('js_cyclic', () => { const o = {}; o.self = o; return o }),
  defineTask('js_nan', () => ({ ratio: NaN })),
  defineTask('js_throws_string', () => { throw 'plain text' }), // eslint-disable-line no-throw-literal
  defineTask('js_throws_object', () => { throw { code: 42 } }) // eslint-disable-line no-throw-literal
]

let client, running

before(async () => {
  if (skip) return
  client = new Client({ databaseUrl: url })
  running = startWorker({ tasks, concurrency: 4, pollSeconds: 0.5 })
})

after(async () => {
  if (skip) return
  await running.stop()
  await client.close()
})

test('claims and completes tasks, results as JSON', { skip }, async () => {
  const a = await client.queueTask('js_add', { a: 2, b: 3 })
  const e = await client.queueTask('js_echo', { z: 1, a: 'é', big: 12345678901234567890n })
  assert.equal(await client.result(a.id), 5)
  assert.deepEqual(await client.result(e.id), { inputs: { z: 1, a: 'é', big: 12345678901234567890n }, attempt: 1 })
  const [row] = await sql("SELECT status, attempt, claimed_by, result::text FROM rhythm.executions WHERE id = $1", [e.id])
  assert.deepEqual([row.status, row.attempt, row.claimed_by], ['completed', 1, null])
  assert.equal(row.result, '{"inputs":{"z":1,"a":"é","big":12345678901234567890},"attempt":1}')
})

test('tasks that return at once (no promise) run back to back past the concurrency, each recorded', { skip }, async () => {
  const runs = []
  for (let i = 0; i < 40; i++) runs.push(await client.queueTask('js_add', { a: i, b: 1 }))
  const signal = await client.queueTask('js_sync_signal', {})
  for (let i = 0; i < 40; i++) assert.equal(await client.result(runs[i].id), i + 1)
  // (its AbortSignal is made when the task reads it; nothing aborted it)
  assert.deepEqual(await client.result(signal.id), { signal: true, aborted: false })
})

test('a failing task is retried with backoff, then succeeds', { skip }, async () => {
  const run = await client.queueTask('js_flaky', { key: 'k1', failures: 2 })
  assert.equal(await client.result(run.id), 'ok after 3')
  assert.equal((await client.get(run.id)).attempt, 3)
})

test('retries run out: the error is structured', { skip }, async () => {
  const run = await client.queueTask('js_flaky', { key: 'k2', failures: 99 })
  const err = await client.result(run.id).catch((e) => e)
  assert.ok(err instanceof ExecutionFailed)
  assert.equal(err.error.name, 'TaskError')
  assert.equal(err.error.type, 'Error')
  assert.equal(err.error.attempts, 4)
  assert.equal(err.error.task, 'js_flaky')
  assert.match(err.error.message, /down \(attempt 4\)/)
  assert.match(err.error.details.stack, /js_flaky|worker\.test\.js/)
})

test('a non-retryable error fails at once', { skip }, async () => {
  const run = await client.queueTask('js_fatal', {})
  const err = await client.result(run.id).catch((e) => e)
  assert.equal(err.error.type, 'RangeError')
  assert.equal(err.error.attempts, 1)
})

test('an attempt past its timeout is aborted (AbortSignal) and fails with TimeoutError', { skip }, async () => {
  const run = await client.queueTask('js_hang', {})
  const err = await client.result(run.id).catch((e) => e)
  assert.equal(err.error.type, 'TimeoutError')
  assert.match(err.error.message, /did not finish within 0.2s/)
  assert.ok(sawAbort, 'the task saw its signal abort')
})

test('a per-call timeout overrides the task\'s', { skip }, async () => {
  const run = await client.queueTask('js_gate', {}, { timeout: 0.1 })
  const err = await client.result(run.id).catch((e) => e)
  assert.equal(err.error.type, 'TimeoutError')
})

test('bad results and thrown non-Errors fail with a structured error, nothing lost', { skip }, async () => {
  const cases = {
    js_undefined: [/undefined/, 'ResultNotJSON'],
    js_function: [/a function .* at f/, 'ResultNotJSON'],
    js_cyclic: [/a cycle at self/, 'ResultNotJSON'],
    js_nan: [/NaN at ratio \(NaN and Infinity are not JSON numbers\)/, 'ResultNotJSON'],
    js_throws_string: [/threw a string, not an Error: plain text/, 'NonErrorThrown'],
    js_throws_object: [/threw an object, not an Error: \{"code":42\}/, 'NonErrorThrown']
  }
  const good = await client.queueTask('js_add', { a: 1, b: 1 })
  for (const [name, [message, type]] of Object.entries(cases)) {
    const run = await client.queueTask(name, {})
    const err = await client.result(run.id).catch((e) => e)
    assert.ok(err instanceof ExecutionFailed, name)
    assert.equal(err.error.type, type, name)
    assert.match(err.error.message, message, name)
  }
  assert.equal(await client.result(good.id), 2)
})

test('routing: a task this worker does not have stays queued for a worker that has it', { skip }, async () => {
  const run = await client.queueTask('only_in_python', { x: 1 })
  const done = await client.queueTask('js_add', { a: 1, b: 2 })
  assert.equal(await client.result(done.id), 3)
  await new Promise((resolve) => setTimeout(resolve, 300))
  const row = await client.get(run.id)
  assert.deepEqual([row.status, row.attempt, row.claimed_by], ['pending', 0, null])
})

test('fencing: the completion of a stale claim is rejected', { skip }, async () => {
  release = null
  const run = await client.queueTask('js_gate', {})
  await waitFor(() => release, { what: 'the gate task to start' })
  // Another claim took the row meanwhile (as after a lost lease): a newer token.
  await sql("UPDATE rhythm.executions SET claim_token = claim_token + 1, claimed_by = 'other' WHERE id = $1", [run.id])
  const before = running.worker.completed
  release('late')
  await waitFor(() => running.worker.held.size === 0 && running.worker.pending.length === 0, { what: 'the outcome to be written' })
  const row = await client.get(run.id)
  assert.deepEqual([row.status, row.claimed_by, row.result], ['running', 'other', null])
  assert.equal(running.worker.completed, before)
})

test('cancel: a pending execution ends at once', { skip }, async () => {
  const run = await client.queueTask('not_served_here', {})
  assert.equal(await client.cancel(run.id), 'cancelled')
  const err = await client.result(run.id).catch((e) => e)
  assert.equal(err.status, 'cancelled')
})

test('cancel reaches a running task: its signal aborts, it ends cancelled', { skip }, async () => {
  let aborted = null
  const own = startWorker({
    queues: ['cancel_q'], leaseSeconds: 0.6,
    tasks: [defineTask('js_wait_cancel', (_inputs, { signal }) => new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => { aborted = signal.reason; reject(signal.reason) })
    }), { queue: 'cancel_q' })]
  })
  try {
    const run = await client.queueTask('js_wait_cancel', {}, { queue: 'cancel_q' })
    await waitFor(async () => (await client.get(run.id)).status === 'running', { what: 'the task to start' })
    assert.equal(await client.cancel(run.id), 'running')
    const err = await client.result(run.id).catch((e) => e)
    assert.equal(err.status, 'cancelled')
    assert.equal(aborted?.name, 'CancelledError')
  } finally {
    await own.stop()
  }
})
