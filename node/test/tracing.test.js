// A worker with otel: true whose tracer is broken (the API's global provider replaced by
// one that throws): every task still completes, untraced, and the worker says why.
// (Working traces across both languages: tests/node/test_node_tracing.py.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { trace } from '@opentelemetry/api'
import { Client, defineTask } from '../src/index.js'
import { skip, startWorker, url, waitFor } from './helpers.js'

const brokenSpan = {
  spanContext: () => ({ traceId: '1'.repeat(32), spanId: '1'.repeat(16), traceFlags: 1 }),
  setAttribute () { return this },
  addEvent () { throw new Error('cannot add events') },
  setStatus () { return this },
  isRecording: () => true,
  end () { throw new Error('cannot end') }
}
const brokenProvider = {
  getTracer: () => ({
    startSpan (name) {
      if (name === 'task js_no_span') throw new Error('cannot start')
      return brokenSpan
    }
  })
}

test('a broken tracer never fails a task: it runs untraced, the worker logs why', { skip }, async () => {
  trace.setGlobalTracerProvider(/** @type {any} */ (brokenProvider))
  const logged = []
  const tasks = [
    defineTask('js_no_span', ({ a }) => a + 1),
    defineTask('js_span_not_ending', async ({ a }) => a + 2),
    defineTask('js_failing_traced', () => { throw new Error('the task fails') })
  ]
  const running = startWorker({ tasks, otel: true, pollSeconds: 0.2, log: (level, message) => logged.push([level, message]) })
  const client = new Client({ databaseUrl: url })
  try {
    const a = await client.queueTask('js_no_span', { a: 1 })
    const b = await client.queueTask('js_span_not_ending', { a: 1 })
    const c = await client.queueTask('js_failing_traced', {})
    assert.equal(await client.result(a.id, { timeoutSeconds: 20 }), 2)
    assert.equal(await client.result(b.id, { timeoutSeconds: 20 }), 3)
    await assert.rejects(client.result(c.id, { timeoutSeconds: 20 }), (err) => err.error.message === 'the task fails')
    await waitFor(() => logged.length >= 3, { what: 'three warnings' })
    const warnings = logged.filter(([level]) => level === 'warn').map(([, message]) => message.split('\n')[0])
    assert.deepEqual(warnings.sort(), [
      'tracing failed (begin), the attempt is not affected: Error: cannot start',
      'tracing failed (end), the attempt is not affected: Error: cannot add events',
      'tracing failed (end), the attempt is not affected: Error: cannot end'
    ])
  } finally {
    await client.close()
    await running.stop()
  }
})
