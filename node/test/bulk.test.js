// The client's bulk enqueue against a real Postgres: many tasks in one statement, drained
// by a worker; every bad item or option refused in one line naming it, nothing written.
// (Its rows against the Python client's, and on Citus: tests/node/test_node_bulk.py.)
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { Client, InputError, defineTask } from '../src/index.js'
import { skip, sql, startWorker, url } from './helpers.js'

const count = async () => Number((await sql('SELECT count(*) AS n FROM rhythm.executions'))[0].n)

test('queueTasks inserts every item in order; a worker drains them', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  const running = startWorker({ tasks: [defineTask('js_bulk_add', ({ a, b }) => a + b)], pollSeconds: 0.2 })
  try {
    const items = Array.from({ length: 200 }, (_, i) => ['js_bulk_add', { a: i, b: 1 }])
    items.push(['js_bulk_add', { a: 1000, b: 0 }, { id: 'bulk-mine', priority: 3 }])
    const { ids } = await client.queueTasks(items)
    assert.equal(ids.length, 201)
    assert.equal(ids[200], 'bulk-mine')
    assert.equal(new Set(ids).size, 201)
    const results = await Promise.all(ids.map((id) => client.result(id, { timeoutSeconds: 30 })))
    assert.deepEqual(results, [...Array.from({ length: 200 }, (_, i) => i + 1), 1000])
    const again = await client.queueTasks([['js_bulk_add', { a: 5, b: 5 }, { id: 'bulk-mine' }]])
    assert.deepEqual(again.ids, ['bulk-mine']) // an id kept as it is
    assert.equal(await client.result('bulk-mine', { timeoutSeconds: 5 }), 1000)
    assert.deepEqual(await client.queueTasks([]), { ids: [] })
  } finally {
    await client.close()
    await running.stop()
  }
})

test('a bad item or option is refused in one line naming it, and nothing is written', { skip }, async () => {
  const client = new Client({ databaseUrl: url })
  try {
    const before = await count()
    const refused = [
      [[['js_add', {}], 'js_add'], 'item 1: expected [name, inputs, options], got "js_add"'],
      [[['js_add', {}], ['', {}]], 'item 1: task name must be a non-empty string, got ""'],
      [[['js_add', [1, 2]]], 'item 0: inputs of task "js_add" must be a JSON object, got an array'],
      [[['js_add', {}, { retry: 2 }]], 'item 0: unknown option "retry" (did you mean "retries"?); bulk enqueue takes id, queue, priority, retries'],
      [[['js_add', {}, { priority: 1.5 }]], 'item 0: priority must be an integer, got 1.5'],
      [[['js_add', {}, { retries: -1 }]], 'item 0: retries must be a non-negative integer, got -1'],
      [[['js_add', {}, { id: '' }]], 'item 0: execution id must be a string of 1 to 200 characters, got ""'],
      [[['js_add', {}, { queue: 7 }]], 'item 0: queue must be a non-empty string, got 7'],
      ['js_add', 'expected an array of [name, inputs, options], got string']
    ]
    for (const [items, message] of refused) {
      await assert.rejects(client.queueTasks(items), (err) => err instanceof InputError && err.message === message)
    }
    await assert.rejects(client.startMany([['flow', {}, { retries: 1 }]]),
      { message: 'item 0: unknown option "retries"; bulk enqueue takes id, queue, priority' })
    await assert.rejects(client.queueTask('js_add', {}, { retry: 3 }),
      { message: 'unknown option "retry" (did you mean "retries"?); queueTask takes id, queue, priority, retries, timeout' })
    await assert.rejects(client.start('flow', {}, { priorty: 1 }),
      { message: 'unknown option "priorty" (did you mean "priority"?); start takes id, queue, priority' })
    await assert.rejects(client.queueTask('js_add', {}, { queue: '' }), { message: 'queue must be a non-empty string, got ""' })
    assert.equal(await count(), before)
  } finally {
    await client.close()
  }
})
