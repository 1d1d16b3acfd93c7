// The Node.js client's enqueue rate: N `queueTask` calls one after the other (each its
// own transaction), after one to warm the connection.
//
//     node benchmarks/node_enqueue.mjs DATABASE_URL [N=300]
//
// Against a migrated database (`rhythm migrate`, or `rhythm migrate --citus --partitions
// 32` on a Citus coordinator: ../shared/citus/cluster.sh start DIR 2 prints its URL).
// Prints one line: N, seconds, tasks/s. The tasks stay queued (no worker runs them).
import { Client } from '../node/src/index.js'

const [url, count = '300'] = process.argv.slice(2)
if (!url) {
  console.error('usage: node benchmarks/node_enqueue.mjs DATABASE_URL [N]')
  process.exit(2)
}
const n = Number(count)
const client = new Client({ databaseUrl: url })
try {
  await client.queueTask('bench_warm', {})
  const started = performance.now()
  for (let i = 0; i < n; i++) await client.queueTask('bench_noop', { i })
  const seconds = (performance.now() - started) / 1000
  console.log(`${n} queueTask in ${seconds.toFixed(2)} s: ${(n / seconds).toFixed(0)} tasks/s`)
} finally {
  await client.close()
}
