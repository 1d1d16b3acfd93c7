// No-op JavaScript tasks drained by one Node.js worker, the contract of `rhythm bench
// tasks`: N no-op tasks are queued (one Client.queueTask each, timed separately), then
// a worker is timed from just before it starts until the N-th outcome is committed.
//
//   RHYTHM_DATABASE_URL=... node bench/drain.js [N=10000] [concurrency=10]
//
// The database must be migrated and hold no other ready task of the queue "bench".
import { performance } from 'node:perf_hooks'
import { Client, Worker, defineTask } from '../src/index.js'

const url = process.env.RHYTHM_DATABASE_URL
if (!url) throw new Error('set RHYTHM_DATABASE_URL to a migrated database')
const n = Number(process.argv[2] ?? 10000)
const concurrency = Number(process.argv[3] ?? 10)

const client = new Client({ databaseUrl: url })
let started = performance.now()
for (let i = 0; i < n; i++) await client.queueTask('bench_noop_js', { i }, { queue: 'bench' })
const enqueueSeconds = (performance.now() - started) / 1000
await client.close()

const worker = new Worker({
  databaseUrl: url, queues: ['bench'], concurrency, handleSignals: false, log: () => {},
  tasks: [defineTask('bench_noop_js', ({ i }) => i, { queue: 'bench' })]
})
started = performance.now()
const running = worker.run()
while (worker.completed < n) await new Promise((resolve) => setTimeout(resolve, 2))
const seconds = (performance.now() - started) / 1000
worker.stop()
await running
console.log(JSON.stringify({
  tasks: n, concurrency, drainSeconds: +seconds.toFixed(3),
  tasksPerSecond: Math.round(n / seconds), enqueuedPerSecond: Math.round(n / enqueueSeconds)
}))
