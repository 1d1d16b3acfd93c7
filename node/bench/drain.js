// No-op JavaScript tasks drained by one Node.js worker, the contract of `rhythm bench
// tasks`: N no-op tasks are queued (one Client.queueTask each, timed separately), then
// a worker is timed from just before it starts until the N-th outcome is committed.
//
//   RHYTHM_DATABASE_URL=... node bench/drain.js [N=10000] [concurrency=10] [--queued] [--async]
//                                               [--from DIR]
//
// The database must be migrated and hold no other ready task of the queue "bench".
// --queued: the N tasks (`bench_noop_js`, queue "bench", inputs {"i": i}) are queued
// already (benchmarks/node_drain.py queues them in one statement), so only the drain runs.
// --async: the task is an async function (each attempt awaits a promise, holding a slot).
// --from DIR: the package to measure (its src/index.js; default this one), so that a
// harness can time two revisions with the same script.
// Prints one JSON line; `cpuSeconds` is the process's CPU (user + system) during the
// drain, `cpuPerTaskUs` the same per task.
import { performance } from 'node:perf_hooks'
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'

const url = process.env.RHYTHM_DATABASE_URL
if (!url) throw new Error('set RHYTHM_DATABASE_URL to a migrated database')
const args = process.argv.slice(2)
const flag = (name) => {
  const at = args.indexOf(name)
  if (at < 0) return undefined
  const [, value] = args.splice(at, 2)
  return value
}
const option = (name) => {
  const at = args.indexOf(name)
  if (at >= 0) args.splice(at, 1)
  return at >= 0
}
const queued = option('--queued')
const asynchronous = option('--async')
const from = flag('--from')
const pkg = from ? pathToFileURL(resolve(from, 'src', 'index.js')).href : '../src/index.js'
const { Client, Worker, defineTask } = await import(pkg)
const n = Number(args[0] ?? 10000)
const concurrency = Number(args[1] ?? 10)

let enqueuedPerSecond = null
if (!queued) {
  const client = new Client({ databaseUrl: url })
  const started = performance.now()
  for (let i = 0; i < n; i++) await client.queueTask('bench_noop_js', { i }, { queue: 'bench' })
  enqueuedPerSecond = Math.round(n / ((performance.now() - started) / 1000))
  await client.close()
}

const worker = new Worker({
  databaseUrl: url, queues: ['bench'], concurrency, handleSignals: false, log: () => {},
  tasks: [defineTask('bench_noop_js', asynchronous ? async ({ i }) => i : ({ i }) => i, { queue: 'bench' })]
})
const cpu = process.cpuUsage()
const started = performance.now()
const running = worker.run()
while (worker.completed < n) await new Promise((resolve) => setTimeout(resolve, 2))
const seconds = (performance.now() - started) / 1000
const used = process.cpuUsage(cpu)
const cpuSeconds = (used.user + used.system) / 1e6
worker.stop()
await running
console.log(JSON.stringify({
  tasks: n, concurrency, async: asynchronous, drainSeconds: +seconds.toFixed(3),
  tasksPerSecond: Math.round(n / seconds), cpuSeconds: +cpuSeconds.toFixed(3),
  cpuPerTaskUs: Math.round(cpuSeconds / n * 1e6),
  systemPerTaskUs: Math.round(used.system / n), enqueuedPerSecond
}))
