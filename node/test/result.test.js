// client.result() is woken by rhythm_done (one LISTEN connection per client), not by its
// re-reads: with re-reads a minute apart, results still come back as the worker records
// them, a failure included, and nothing waits on afterwards.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Client, ExecutionFailed, defineTask } from '../src/index.js'
import { skip, startWorker, url } from './helpers.js'

test('result() returns when rhythm_done says so, without waiting for a re-read', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  const tasks = [
    defineTask('js_result_nap', ({ ms }) => new Promise((resolve) => setTimeout(() => resolve(ms), ms))),
    defineTask('js_result_fails', async () => { await new Promise((resolve) => setTimeout(resolve, 300)); throw new Error('no') })
  ]
  const running = startWorker({ tasks, pollSeconds: 0.2 })
  try {
    const naps = await Promise.all([300, 600, 900].map((ms) => client.queueTask('js_result_nap', { ms })))
    const failing = await client.queueTask('js_result_fails', {})
    const began = Date.now()
    const slow = { timeoutSeconds: 30, pollSeconds: 60 }
    const results = await Promise.all(naps.map((run) => client.result(run.id, slow)))
    const err = await client.result(failing.id, slow).catch((e) => e)
    assert.deepEqual(results, [300, 600, 900])
    assert.ok(err instanceof ExecutionFailed && err.error.message === 'no')
    // (a missed notification would have waited for the 60 s re-read, or the 30 s timeout)
    assert.ok(Date.now() - began < 10000, `took ${Date.now() - began} ms`)
    assert.equal(client.waiting.size, 0)
  } finally {
    await client.close()
    await running.stop()
  }
})
