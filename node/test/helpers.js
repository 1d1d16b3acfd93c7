// Shared by the node tests: the database (RHYTHM_NODE_TEST_DATABASE_URL, a migrated
// database the pytest driver tests/node/test_node.py creates), a worker run in-process,
// and polling for a condition.
import pg from 'pg'
import { Worker } from '../src/index.js'

export const url = process.env.RHYTHM_NODE_TEST_DATABASE_URL
export const skip = url ? false : 'RHYTHM_NODE_TEST_DATABASE_URL is not set (run through pytest tests/node)'

export async function sql (text, values = []) {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query(text, values)).rows
  } finally {
    await client.end()
  }
}

/** A worker running in this process; `stop()` stops it and waits. */
export function startWorker (options) {
  const worker = new Worker({ databaseUrl: url, handleSignals: false, log: () => {}, ...options })
  const done = worker.run()
  return { worker, done, stop: async () => { worker.stop(); await done } }
}

export async function waitFor (predicate, { timeout = 10000, what = 'the condition' } = {}) {
  const deadline = Date.now() + timeout
  for (;;) {
    const value = await predicate()
    if (value) return value
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}
