/**
 * The Node.js worker: the Python worker's protocol (docs/internals/claims.md) for tasks
 * written in JavaScript. Batched claims (`claim`: SKIP LOCKED, a fresh fencing token per
 * row, only the task names this worker has), a local buffer of claimed rows, leases
 * renewed by a heartbeat (`renew_leases`), outcomes written in batches
 * (`record_outcomes`: each row only if still running under its token), retries with
 * backoff and jitter, a per-attempt timeout (the task's AbortSignal), NOTIFY as a hint
 * with polling as a backstop, and reconnection after the database went away. Every
 * statement is a named query of the project's .sql files (sql.js).
 *
 * Queue controls are obeyed: paused queues are not claimed, rate-limited ones are claimed
 * with `claim_limited` (tokens taken in the claim). On Citus every statement names one
 * partition and the notifications go from the coordinator connection, as in the Python
 * worker (rhythm/runtime/notices.py). Not handled here (they need the Python worker):
 * workflows, transactional tasks, tasks with a concurrency key.
 */
import os from 'node:os'
import { randomBytes } from 'node:crypto'
import { performance } from 'node:perf_hooks'
import { Attempt, TaskContext, isThenable } from './attempts.js'
import { connect, isConnectionError, notifyWakes, readLayout, run, wakesOf } from './db.js'
import { PayloadError, decode, encode } from './payloads.js'
import { startTracing } from './tracing.js'
import {
  ARGUMENT_MISMATCH, RESULT_NOT_JSON, TIMEOUT, UNKNOWN_TASK, WORKER_LOST, fromThrown,
  retryable, taskError
} from './tasks.js'

// As the Python claim connection: the planner can only walk executions_ready in order.
const CLAIM_SESSION = ['SET enable_sort = off', 'SET enable_bitmapscan = off', 'SET jit = off']
const BATCH = 500
const CANCELLED_ERROR = { name: 'CancelledError', message: 'the execution was cancelled' }
const ENDED = new Set(['completed', 'failed', 'cancelled'])
const LIMITS_PAYLOAD = '!limits' // (rhythm/runtime/limits.py: queue controls changed)
const SLICE_MS = 10 // synchronous tasks run back to back for at most this long (then I/O)
const NO_OPTIONS = Object.freeze({})

/** What record_outcomes' rows ask to notify: the rows woken, the parents woken (on the
 * first row, as JSON text: the connection leaves json unparsed), the ids that ended. */
function recordedNotices (rows) {
  const wakes = wakesOf(rows)
  if (rows[0]?.woke) wakes.push(...JSON.parse(rows[0].woke))
  return [[...new Set(wakes)], rows.map((r) => r.done).filter(Boolean)]
}

/** A claimed row as the worker keeps it: the row, its token and partition as numbers,
 * and its options decoded (usually none: the claim returns NULL for {}). */
function asClaim (row) {
  row.token = Number(row.claim_token)
  row.part = Number(row.part)
  row.opts = row.options ? decode(row.options) : NO_OPTIONS
  return row
}

/**
 * @typedef {object} WorkerOptions
 * @property {string} databaseUrl
 * @property {string[]} [queues]       default ["default"]
 * @property {Array<ReturnType<typeof import('./tasks.js').defineTask>>} tasks
 * @property {number} [concurrency]    tasks running at once (default 10)
 * @property {number} [prefetch]       rows claimed beyond free slots (default max(100, 2 x concurrency))
 * @property {number} [leaseSeconds]   a dead worker's rows run again after this long (30)
 * @property {number} [pollSeconds]    backstop when no NOTIFY arrives (5)
 * @property {number} [shutdownGraceSeconds]  running tasks may finish for this long on stop (30)
 * @property {number} [maxLeaseLosses] a row whose workers keep dying fails after this many (5)
 * @property {string} [id]
 * @property {boolean} [handleSignals] stop on SIGTERM/SIGINT while run() runs (default true)
 * @property {boolean} [otel]          a span per task attempt, through the OpenTelemetry API (default false)
 * @property {(level: string, message: string) => void} [log]
 */

export class Worker {
  /** @param {WorkerOptions} options */
  constructor (options) {
    const { databaseUrl, queues = ['default'], tasks = [], concurrency = 10 } = options
    if (!databaseUrl) throw new TypeError('Worker: databaseUrl is required')
    this.url = databaseUrl
    this.queues = [...queues]
    this.tasks = new Map()
    for (const t of tasks) {
      if (this.tasks.has(t.name)) throw new TypeError(`Worker: task ${t.name} is given twice`)
      this.tasks.set(t.name, t)
    }
    this.names = [...this.tasks.keys()].sort()
    this.concurrency = concurrency
    this.prefetch = options.prefetch ?? Math.max(100, 2 * concurrency)
    this.leaseSeconds = options.leaseSeconds ?? 30
    this.pollSeconds = options.pollSeconds ?? 5
    this.grace = options.shutdownGraceSeconds ?? 30
    this.maxLeaseLosses = options.maxLeaseLosses ?? 5
    this.id = options.id ?? `${os.hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`
    this.handleSignals = options.handleSignals ?? true
    this.otel = options.otel ?? false
    /** @type {import('./tracing.js').Tracing | null} (run(), with otel) */
    this.tracing = null
    this.log = options.log ?? ((level, message) => { if (level !== 'debug') console.error(`rhythm-worker ${level}: ${message}`) })
    this.layout = { partitions: 1, citus: false }
    this.buffer = [] // claimed rows not started yet, oldest first
    this.running = new Map() // id -> Attempt (asynchronous ones: a sync task ends at once)
    this.pending = [] // outcomes not recorded yet
    this.held = new Map() // id -> claim: every row this worker holds a lease on
    this.claimed = 0
    this.completed = 0
    this.stopping = false
    this.conns = null
    /** connected and registered (its task names and routes written): what `rhythm status` sees */
    this.ready = false
    this._wake = null
    this._hinted = true
    // Queue controls (`rhythm queue`, rhythm/runtime/limits.py): paused queues are not
    // claimed; a rate-limited queue (or one carrying rate-limited task names) is claimed
    // with claim_limited, which takes the tokens; after a short one, when its next token.
    this.controls = { paused: new Set(), limited: new Map() }
    this._tokenDue = new Map() // "part:queue" -> Date
    this._backPressure = false // the claim loop waits for the flusher (a batch is waiting)
    this._pumpLater = null // the rest of a long run of synchronous tasks, next turn
  }

  /** Run until stop() (or SIGTERM/SIGINT); resolves once everything is handed back. */
  async run () {
    if (this.otel && this.tracing === null) {
      this.tracing = await startTracing((what, err) => this.log('warn', `tracing failed (${what}), the attempt is not affected: ${err?.stack ?? err}`))
    }
    const onSignal = () => { this.stop() }
    if (this.handleSignals) {
      process.on('SIGTERM', onSignal)
      process.on('SIGINT', onSignal)
    }
    const flusher = this._flushLoop()
    const beat = this._heartbeatLoop()
    try {
      await this._claimLoop()
      await this._drain()
    } finally {
      this.stopping = true
      this._kick()
      this._kickFlush()
      this._beatWake?.()
      await Promise.allSettled([flusher, beat])
      await this._shutdown()
      if (this.handleSignals) {
        process.off('SIGTERM', onSignal)
        process.off('SIGINT', onSignal)
      }
    }
  }

  /** Ask the worker to stop: no more claims; running tasks may finish (grace). */
  stop () {
    this.stopping = true
    this._kick()
  }

  // ------------------------------------------------------------ connections

  async _open () {
    const [claim, flush, listen] = await Promise.all([
      connect(this.url, CLAIM_SESSION), connect(this.url), connect(this.url)])
    this.conns = { claim, flush, listen }
    this.layout = await readLayout(claim)
    listen.on('notification', (msg) => this._notified(msg))
    listen.on('error', () => this._broken())
    await run(listen, 'listen_wake', {})
    const now = new Date()
    await run(claim, 'register_worker', {
      id: this.id, host: os.hostname(), pid: process.pid, queues: this.queues, now,
      tasks: this.names, lease_seconds: this.leaseSeconds // (what `rhythm status` reads)
    })
    const routes = [...this.tasks.values()].map((t) => ({ name: t.name, queue: t.queue, concurrency: null, rate_limit: null }))
    if (routes.length) await run(claim, 'register_task_routes', { routes: JSON.stringify(routes), now })
    await this._readControls(claim)
    this._hinted = true
    this.ready = true
    this.log('debug', `connected (${this.layout.partitions} partition(s))`)
  }

  async _close () {
    const conns = this.conns
    this.conns = null
    this.ready = false
    if (conns) await Promise.allSettled(Object.values(conns).map((c) => c.end()))
  }

  _broken () {
    if (this.conns) {
      this.log('warning', 'database connection lost; reconnecting')
      this._close()
    }
    this._kick()
  }

  /** Connected, reconnecting with backoff while the database is away. */
  async _connected () {
    let delay = 0.2
    while (!this.conns && !this.stopping) {
      try {
        await this._open()
      } catch (err) {
        if (!isConnectionError(err)) throw err
        await this._close()
        await this._sleep(delay)
        delay = Math.min(delay * 2, 5)
      }
    }
    return this.conns
  }

  // ------------------------------------------------------------ claims

  /** Paused queues, and the rate-limited ones with their limited task names. */
  async _readControls (conn) {
    const paused = new Set()
    const limited = new Map()
    for (const row of await run(conn, 'read_queue_controls', {})) {
      if (row.paused) paused.add(row.name)
      if (row.rate_limit !== null) limited.set(row.name, limited.get(row.name) ?? [])
    }
    for (const row of await run(conn, 'read_task_limits', {})) {
      limited.set(row.queue, [...(limited.get(row.queue) ?? []), row.name])
    }
    this.controls = { paused, limited }
    this._tokenDue.clear()
  }

  _notified (msg) {
    if (msg.payload === LIMITS_PAYLOAD) { // queue controls changed (`rhythm queue ...`)
      this._controlsChanged = true
      this._hinted = true
      this._kick()
      return
    }
    const [, queue] = /^(?:\d+:)?(.*)$/.exec(msg.payload ?? '') ?? []
    if (this.queues.includes(queue)) {
      this._hinted = true
      this._kick()
    }
  }

  _kick () {
    const wake = this._wake
    this._wake = null
    if (wake) wake()
  }

  /** Sleep until kicked (a NOTIFY, a freed slot, stop) or `seconds` pass. */
  _sleep (seconds) {
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this._wake = null; resolve() }, seconds * 1000)
      this._wake = () => { clearTimeout(timer); resolve() }
    })
  }

  _free () {
    return this.concurrency - this.running.size
  }

  async _claimLoop () {
    while (!this.stopping) {
      const conns = await this._connected()
      if (!conns) break
      try {
        this._pump()
        const want = this._free() + this.prefetch - this.buffer.length
        // (back-pressure: tasks that return at once take no slot, so claims stop while
        // a batch of outcomes waits for a slow database; the flusher kicks once fewer do)
        this._backPressure = this.pending.length >= BATCH
        if (want <= 0 || this.buffer.length >= this._free() + Math.floor(this.prefetch / 2) ||
            this._backPressure) {
          // (a finished task kicks when it is time)
          await this._sleep(this.pollSeconds)
          continue
        }
        this._hinted = false
        if (this._controlsChanged) {
          this._controlsChanged = false
          await this._readControls(conns.claim)
        }
        const short = await this._refill(conns.claim, want)
        this._pump()
        if (short && !this._hinted) {
          const wait = await this._idle(conns.claim)
          if (!this._hinted) await this._sleep(wait) // (a NOTIFY during the probe: claim now)
        }
      } catch (err) {
        if (!isConnectionError(err)) throw err
        this._broken()
      }
    }
  }

  /** Claim up to `want` rows over every partition and queue; true when they came back short. */
  async _refill (conn, want) {
    let short = false
    const queues = this.queues.filter((q) => !this.controls.paused.has(q))
    for (let part = 0; part < this.layout.partitions; part++) {
      for (const queue of queues) {
        const limit = this._free() + this.prefetch - this.buffer.length
        if (limit <= 0) return short
        const now = new Date()
        const params = {
          part, queue, now, kinds: ['task'], names: this.names, limit, worker: this.id,
          lease_until: new Date(now.getTime() + this.leaseSeconds * 1000)
        }
        const taskNames = this.controls.limited.get(queue)
        let rows
        if (taskNames === undefined) {
          rows = await run(conn, 'claim', params)
        } else {
          rows = await run(conn, 'claim_limited', { ...params, task_names: taskNames })
          const due = [rows[0]?.queue_due, rows[0]?.task_due].filter(Boolean).sort((a, b) => a - b)[0]
          rows = rows.filter((r) => r.id !== null)
          if (rows.length < limit && due) this._tokenDue.set(`${part}:${queue}`, due)
          else this._tokenDue.delete(`${part}:${queue}`)
        }
        short = short || rows.length < limit
        for (const row of rows) {
          const claim = asClaim(row)
          this.buffer.push(claim)
          this.held.set(claim.id, claim)
        }
        this.claimed += rows.length
      }
    }
    return short || queues.length === 0
  }

  /** How long an idle claimer may sleep: to the next due row or token (a queue waiting
   * for a token is not probed: its rows are due, yet not claimable before the token),
   * at most the poll interval. */
  async _idle (conn) {
    /** @type {Date | null} */
    let due = null
    /** @param {Date | null | undefined} at */
    const earlier = (at) => { if (at && (due === null || at < due)) due = at }
    for (const at of this._tokenDue.values()) earlier(at)
    for (let part = 0; part < this.layout.partitions; part++) {
      const queues = this.queues.filter((q) => !this.controls.paused.has(q) && !this._tokenDue.has(`${part}:${q}`))
      if (!queues.length) continue
      const rows = await run(conn, 'next_due', { queues, kinds: ['task'], names: this.names, part })
      earlier(rows[0]?.due)
    }
    const at = /** @type {Date | null} */ (due)
    if (at === null) return this.pollSeconds
    return Math.min(Math.max((at.getTime() - Date.now()) / 1000, 0.02), this.pollSeconds)
  }

  /** Start buffered rows while slots are free. A task that returns at once (no promise)
   * ends on the spot, without taking a slot (so a claimed batch of such tasks runs in
   * one go, and their outcomes go to the flusher together); after SLICE_MS of them the
   * rest waits for the next turn of the event loop, so that outcomes, claims and
   * heartbeats are not held up by a long buffer of synchronous work. */
  _pump () {
    if (this._pumpLater) return
    const began = performance.now()
    let ended = 0
    while (this.buffer.length && this.running.size < this.concurrency && !this.stopping) {
      const attempt = new Attempt(this.buffer.shift())
      let outcome
      try {
        outcome = this._begin(attempt)
      } catch (err) {
        this.log('error', `attempt of ${attempt.claim.id} broke: ${err?.stack ?? err}`)
        outcome = null
      }
      if (outcome !== undefined) {
        this._ended(attempt, outcome)
        ended += 1
        if (ended % 16 === 0 && performance.now() - began > SLICE_MS) {
          this._pumpLater = setImmediate(() => { this._pumpLater = null; this._pump() })
          break
        }
      }
    }
    if (this.buffer.length < this._free() + Math.floor(this.prefetch / 2)) this._kick()
  }

  /** An attempt ended: its outcome to the flusher (null: nothing to record). */
  _ended (attempt, outcome) {
    if (attempt.span !== null) this.tracing?.end(attempt.span, outcome)
    if (outcome) {
      this.pending.push(outcome)
      this._kickFlush()
    } else {
      this.held.delete(attempt.claim.id)
    }
  }

  /** A running (asynchronous) attempt ended: its slot is free. */
  _finished (attempt, outcome) {
    this.running.delete(attempt.claim.id)
    this._ended(attempt, outcome)
    this._pump()
  }

  // ------------------------------------------------------------ attempts

  /** Start one attempt: its outcome if it ended at once (null: nothing to record),
   * undefined while it runs (in `running`, until _finished). */
  _begin (attempt) {
    const { claim } = attempt
    if (this.tracing !== null) attempt.span = this.tracing.begin(claim)
    const task = this.tasks.get(claim.name)
    const early = this._refused(claim, task)
    if (early !== undefined) return early
    const inputs = claim.inputsValue
    const timeout = typeof claim.opts.timeout === 'number' && claim.opts.timeout > 0 ? claim.opts.timeout : task.timeout
    const began = timeout === null ? 0 : Date.now()
    let value
    try {
      value = attempt.span === null
        ? task.fn(inputs, new TaskContext(attempt))
        : this.tracing.call(attempt.span, task, inputs, new TaskContext(attempt))
    } catch (thrown) {
      return this._failure(claim, task, fromThrown(claim.name, thrown, claim.attempt), retryable(task, thrown))
    }
    if (!isThenable(value)) return this._result(claim, value)
    this.running.set(claim.id, attempt)
    this._settle(attempt, task, value, timeout, began)
      .then((outcome) => this._finished(attempt, outcome), (err) => {
        this.log('error', `attempt of ${claim.id} broke: ${err?.stack ?? err}`)
        this._finished(attempt, null)
      })
    return undefined
  }

  /** The outcome of a claim that must not run (unknown task, cancelled, too many lost
   * leases, bad inputs); undefined when it may run (its inputs decoded then). */
  _refused (claim, task) {
    const attempt = claim.attempt
    if (!task) {
      return this._outcome(claim, 'failed', { error: taskError(claim.name, UNKNOWN_TASK, `no task named ${JSON.stringify(claim.name)} is registered on worker ${this.id}`, attempt) })
    }
    if (claim.cancel_requested) return this._outcome(claim, 'cancelled', { error: CANCELLED_ERROR })
    if (claim.lease_losses >= this.maxLeaseLosses) {
      return this._outcome(claim, 'failed', { error: taskError(claim.name, WORKER_LOST, `the workers running it stopped ${claim.lease_losses} times (crash or kill)`, attempt) })
    }
    let inputs
    try {
      inputs = decode(claim.inputs)
    } catch (err) {
      return this._outcome(claim, 'failed', { error: taskError(claim.name, ARGUMENT_MISMATCH, `inputs are not JSON: ${err.message}`, attempt) })
    }
    if (inputs === null || typeof inputs !== 'object' || Array.isArray(inputs)) {
      return this._outcome(claim, 'failed', { error: taskError(claim.name, ARGUMENT_MISMATCH, 'inputs must be a JSON object', attempt) })
    }
    claim.inputsValue = inputs
    return undefined
  }

  /** Wait for an asynchronous attempt (with a timeout: at most `timeout` seconds from
   * `began`, when the task was called); its outcome. */
  async _settle (attempt, task, promise, timeout, began) {
    const { claim } = attempt
    let timer = null
    if (timeout !== null) {
      timer = setTimeout(() => {
        const err = new Error(`attempt ${claim.attempt} did not finish within ${timeout}s`)
        err.name = TIMEOUT
        attempt.expire(err)
      }, Math.max(timeout * 1000 - (Date.now() - began), 0))
    }
    let value
    try {
      value = await attempt.race(promise)
    } catch (thrown) {
      const why = attempt.why
      if (why === 'lost') return null
      if (why === 'cancel') return this._outcome(claim, 'cancelled', { error: CANCELLED_ERROR })
      if (why === 'shutdown') return this._outcome(claim, 'pending', { run_at: new Date(), handed_back: true })
      if (attempt.timedOut && thrown === attempt.reason) {
        return this._failure(claim, task, taskError(claim.name, TIMEOUT, /** @type {Error} */ (thrown).message, claim.attempt), true)
      }
      return this._failure(claim, task, fromThrown(claim.name, thrown, claim.attempt), retryable(task, thrown))
    } finally {
      if (timer) clearTimeout(timer)
    }
    if (attempt.why === 'lost') return null
    if (attempt.why === 'cancel') return this._outcome(claim, 'cancelled', { error: CANCELLED_ERROR })
    return this._result(claim, value)
  }

  /** The outcome of a value the task returned. */
  _result (claim, value) {
    if (value === undefined) {
      return this._outcome(claim, 'failed', { error: taskError(claim.name, RESULT_NOT_JSON, `result of task ${JSON.stringify(claim.name)} is undefined (return null, or a JSON value)`, claim.attempt) })
    }
    try {
      return this._outcome(claim, 'completed', { result: encode(value, `result of task ${JSON.stringify(claim.name)}`) })
    } catch (err) {
      if (!(err instanceof PayloadError)) throw err
      return this._outcome(claim, 'failed', { error: taskError(claim.name, RESULT_NOT_JSON, err.message, claim.attempt) })
    }
  }

  _failure (claim, task, error, canRetry) {
    const maxRetries = claim.max_retries ?? task.retries
    if (canRetry && claim.attempt <= maxRetries) {
      const delay = task.backoff.delay(claim.attempt)
      return this._outcome(claim, 'pending', { error, run_at: new Date(Date.now() + delay * 1000) })
    }
    return this._outcome(claim, 'failed', { error })
  }

  _outcome (claim, status, { result = null, error = null, run_at: runAt = null, handed_back: handedBack = false }) {
    const head = JSON.stringify({
      id: claim.id, token: claim.token, status, error, run_at: runAt ? runAt.toISOString() : null, handed_back: handedBack
    })
    const keyed = typeof claim.opts.idempotencyKey === 'string'
    const outcome = { id: claim.id, part: claim.part, keyed, json: `${head.slice(0, -1)},"result":${result ?? 'null'}}` }
    // (what the attempt's span ends with: only when traced, the untraced path stays as it was)
    if (this.tracing !== null) Object.assign(outcome, { status, error })
    return outcome
  }

  // ------------------------------------------------------------ outcomes

  _kickFlush () {
    const wake = this._flushWake
    this._flushWake = null
    if (wake) wake()
  }

  async _flushLoop () {
    while (!(this.stopping && this.pending.length === 0 && this.running.size === 0)) {
      if (this.pending.length === 0 || !this.conns) {
        await new Promise((resolve) => {
          const t = setTimeout(resolve, this.conns ? 1000 : 200)
          this._flushWake = () => { clearTimeout(t); resolve() }
        })
        if (this.stopping && !this.conns && this.pending.length) {
          if (!(await this._connected())) return
        }
        continue
      }
      const batch = this.pending.splice(0, BATCH)
      try {
        await this._record(this.conns.flush, batch)
        if (this._backPressure && this.pending.length < BATCH) this._kick()
      } catch (err) {
        this.pending.unshift(...batch)
        if (!isConnectionError(err)) {
          this.log('error', `recording outcomes failed: ${err.message}`)
        }
        this._broken()
        // (not _sleep: that is the claim loop's, whose kick it would take over)
        await new Promise((resolve) => setTimeout(resolve, 200))
      }
    }
  }

  /** Write a batch, one statement per partition; stale rows are rejected by the database. */
  async _record (conn, batch) {
    const parts = [...new Set(batch.map((o) => o.part))].sort((a, b) => a - b)
    for (const part of parts) {
      const outcomes = batch.filter((o) => o.part === part)
      const keyed = outcomes.some((o) => o.keyed)
      if (keyed) await conn.query('BEGIN')
      let rows
      try {
        rows = await this._recordPart(conn, part, outcomes, keyed)
        if (keyed) await conn.query('COMMIT')
      } catch (err) {
        if (keyed) await conn.query('ROLLBACK').catch(() => {})
        throw err
      }
      const accepted = new Set(rows.map((r) => r.id))
      for (const o of outcomes) {
        this.held.delete(o.id)
        if (accepted.has(o.id)) this.completed += 1
        else this.log('warning', `outcome of ${o.id} rejected: its claim is stale (fencing)`)
      }
    }
  }

  /** record_outcomes for one partition; with keyed tasks (idempotency keys), in the
   * caller's transaction with the settlement of the workflows awaiting those that ended
   * (take_waiters, settle_waiter_promises: rhythm/runtime/waiters.py). On plain Postgres
   * the statement sends its own notifications; on Citus it would send them on the node
   * holding the shard, where nobody listens: this connection sends what it returns. */
  async _recordPart (conn, part, outcomes, keyed) {
    const now = new Date()
    const citus = this.layout.citus
    const rows = await run(conn, 'record_outcomes', {
      now, batch: '[' + outcomes.map((o) => o.json).join(',') + ']', part, queues: [],
      worker: this.id, lease_until: now, notify: !citus
    })
    if (citus) await notifyWakes(conn, ...recordedNotices(rows))
    if (!keyed) return rows
    const mine = new Set(outcomes.filter((o) => o.keyed).map((o) => o.id))
    const ids = rows.filter((r) => ENDED.has(r.status) && mine.has(r.id)).map((r) => r.id)
    if (!ids.length) return rows
    const taken = await run(conn, 'take_waiters', { part, ids })
    const wakes = []
    for (const wpart of [...new Set(taken.map((t) => Number(t.waiter_part)))]) {
      const settle = taken.filter((t) => Number(t.waiter_part) === wpart).map((t) =>
        `{"waiter_id":${JSON.stringify(t.waiter_id)},"promise_id":${Number(t.promise_id)},` +
        `"status":${JSON.stringify(t.status)},"result":${t.result ?? 'null'},"error":${t.error ?? 'null'}}`)
      const woken = await run(conn, 'settle_waiter_promises', { part: wpart, rows: `[${settle.join(',')}]`, now })
      wakes.push(...wakesOf(woken))
    }
    await notifyWakes(conn, wakes)
    return rows
  }

  // ------------------------------------------------------------ leases

  async _heartbeatLoop () {
    while (!this.stopping || this.running.size) {
      await new Promise((resolve) => {
        const t = setTimeout(resolve, (this.leaseSeconds / 3) * 1000)
        this._beatWake = () => { clearTimeout(t); resolve() }
      })
      if (!this.conns) continue
      try {
        await this._beat(this.conns.listen)
      } catch (err) {
        if (!isConnectionError(err)) this.log('error', `heartbeat failed: ${err.message}`)
        this._broken()
      }
    }
  }

  /** Renew every lease held (rows not renewed were lost: someone else's now), say the
   * worker is alive, and put back the rows of workers that stopped renewing. */
  async _beat (conn) {
    const now = new Date()
    await run(conn, 'worker_heartbeat', { id: this.id, now })
    for (let part = 0; part < this.layout.partitions; part++) {
      const reaped = await run(conn, 'reap_expired_leases', { now, part })
      const wakes = [...new Set(reaped.map((r) => r.wake))]
      if (wakes.length) {
        this.log('info', `put back ${reaped.length} executions whose worker stopped renewing`)
        await notifyWakes(conn, wakes)
      }
    }
    await this._renew(conn, now)
  }

  async _renew (conn, now) {
    const held = [...this.held.values()]
    for (let part = 0; part < this.layout.partitions; part++) {
      const mine = held.filter((c) => c.part === part)
      if (!mine.length) continue
      const rows = await run(conn, 'renew_leases', {
        lease_until: new Date(now.getTime() + this.leaseSeconds * 1000),
        claims: JSON.stringify(mine.map((c) => ({ id: c.id, token: c.token }))), part
      })
      const kept = new Map(rows.map((r) => [r.id, r.cancel_requested]))
      for (const claim of mine) {
        const entry = this.running.get(claim.id)
        if (!kept.has(claim.id)) {
          if (this.pending.some((o) => o.id === claim.id)) continue // being recorded (fencing decides)
          this.held.delete(claim.id)
          this.buffer = this.buffer.filter((c) => c.id !== claim.id)
          if (entry) this._interrupt(entry, 'lost', 'the lease was lost')
        } else if (kept.get(claim.id) && entry) {
          this._interrupt(entry, 'cancel', 'the execution was cancelled')
        }
      }
    }
  }

  _interrupt (attempt, why, message) {
    if (attempt.why) return
    const err = new Error(message)
    err.name = why === 'cancel' ? 'CancelledError' : 'AbortError'
    attempt.interrupt(why, err)
  }

  // ------------------------------------------------------------ shutdown

  /** Stopping: buffered rows go back at once; running ones may finish for the grace period. */
  async _drain () {
    const deadline = Date.now() + this.grace * 1000
    while (this.running.size && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
    for (const entry of this.running.values()) this._interrupt(entry, 'shutdown', 'the worker is stopping')
    while (this.running.size) await new Promise((resolve) => setTimeout(resolve, 20))
    this._kickFlush()
  }

  async _shutdown () {
    try {
      const conns = this.conns ?? (await this._reconnectOnce())
      if (conns) {
        const now = new Date()
        const buffered = this.buffer.splice(0)
        for (let part = 0; part < this.layout.partitions; part++) {
          const mine = buffered.filter((c) => c.part === part)
          if (mine.length) {
            await run(conns.flush, 'release_claims', { claims: JSON.stringify(mine.map((c) => ({ id: c.id, token: c.token }))), now, part })
            // (release_claims returns the wake-ups; the rows are claimable at once)
            await notifyWakes(conns.flush, this.queues.map((q) => `${part}:${q}`))
          }
        }
        if (this.pending.length) await this._record(conns.flush, this.pending.splice(0))
        await run(conns.flush, 'unregister_worker', { id: this.id })
      }
    } catch (err) {
      this.log('warning', `shutdown: ${err.message}`)
    } finally {
      await this._close()
    }
  }

  async _reconnectOnce () {
    try {
      this.stopping = false // (only to let _connected try)
      const conns = await Promise.race([this._connected(), new Promise((resolve) => setTimeout(() => resolve(null), 5000))])
      return conns
    } finally {
      this.stopping = true
    }
  }
}
