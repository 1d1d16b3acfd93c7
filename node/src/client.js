/**
 * The Node.js client: queue tasks, start workflows, cancel, wait for results - the same
 * named queries as the Python client (rhythm/runtime/operations.py), on one connection.
 */
import { OPTIONS, batchJson, fieldError, prepare, unknownOption } from './bulk.js'
import { connect, generatedId, notifyWakes, partOf, readLayout, run, wakesOf } from './db.js'
import { decode, encode, encodeObject } from './payloads.js'
import { callerTraceparent } from './tracing.js'

const TERMINAL = new Set(['completed', 'failed', 'cancelled'])
// what queueTask and start take (bulk enqueue: bulk.OPTIONS)
const SINGLE_OPTIONS = { task: [...OPTIONS.task, 'timeout'], workflow: OPTIONS.workflow }
const CANCELLED_ERROR = { name: 'CancelledError', message: 'the execution was cancelled' }
const BACKSTOP_SECONDS = 5 // re-read while waiting, should a notification be missed (Python's too)

/** An execution ended as failed or cancelled; `error` is its stored error object. */
export class ExecutionFailed extends Error {
  constructor (id, status, error) {
    super(`execution ${id} ${status}: ${error?.message ?? status}`)
    this.name = 'ExecutionFailed'
    Object.assign(this, { id, status, error })
  }
}

/** An argument the runtime refuses (one clear line). */
export class InputError extends Error {
  constructor (message) {
    super(message)
    this.name = 'InputError'
  }
}

export class Client {
  /** @param {{databaseUrl: string}} options */
  constructor ({ databaseUrl }) {
    if (!databaseUrl) throw new TypeError('Client: databaseUrl is required')
    this.url = databaseUrl
    /** @type {Promise<any> | null} the connection, once asked for (concurrent calls share it) */
    this.conn = null
    this.layout = null
    /** @type {Promise<any> | null} the connection that LISTENs for rhythm_done (result()) */
    this.listener = null
    /** @type {Map<string, Set<() => void>>} execution id -> the result() calls watching it */
    this.waiting = new Map()
  }

  _connection () {
    // (one promise: calls made at once, before it is open, wait for the same connection)
    this.conn ??= (async () => {
      const conn = await connect(this.url)
      this.layout = await readLayout(conn)
      return conn
    })().catch((err) => { this.conn = null; throw err })
    return this.conn
  }

  async close () {
    const opened = [this.conn, this.listener]
    this.conn = this.listener = null
    await Promise.allSettled(opened.map((conn) => conn?.then((c) => c.end())))
  }

  /** The connection LISTENing for rhythm_done, opened on first need; each notification
   * wakes the result() calls waiting on its id. A broken one is dropped (the next call
   * opens another; meanwhile the waits fall back on their re-reads). */
  _listening () {
    this.listener ??= (async () => {
      const listener = await connect(this.url)
      listener.on('notification', (msg) => {
        for (const wake of this.waiting.get(msg.payload) ?? []) wake()
      })
      listener.on('error', () => { this.listener = null })
      await run(listener, 'listen_done', {})
      return listener
    })().catch((err) => { this.listener = null; throw err })
    return this.listener
  }

  /** Watch for `id`'s rhythm_done from now on: `next(seconds)` resolves once it has come
   * (at once if it came since the last call: one that arrives while the row is being
   * read is not lost) or after `seconds`; `stop()` when done watching. */
  _watch (id) {
    let heard = false
    /** @type {(() => void) | null} */
    let wake = null
    const onDone = () => { heard = true; wake?.() }
    const watchers = this.waiting.get(id) ?? new Set()
    this.waiting.set(id, watchers.add(onDone))
    return {
      next: (seconds) => new Promise((resolve) => {
        if (heard) { heard = false; resolve(); return }
        const timer = setTimeout(() => { wake = null; resolve() }, seconds * 1000)
        wake = () => { clearTimeout(timer); wake = null; heard = false; resolve() }
      }),
      stop: () => {
        watchers.delete(onDone)
        if (!watchers.size) this.waiting.delete(id)
      }
    }
  }

  /** Run `fn(conn)` in one transaction. */
  async _transaction (fn) {
    const conn = await this._connection()
    await conn.query('BEGIN')
    try {
      const out = await fn(conn)
      await conn.query('COMMIT')
      return out
    } catch (err) {
      await conn.query('ROLLBACK').catch(() => {})
      throw err
    }
  }

  _part (id) {
    return partOf(id, this.layout.partitions)
  }

  /**
   * insert_execution on Citus, as the statements Citus routes to one node whole (each of
   * its CTEs would be a distributed step of its own): where the execution goes, read on
   * the coordinator; the insert; a new workflow's `started` entry. Returns the rows
   * insert_execution would (rhythm/runtime/routed.py does the same: keep the two in step).
   */
  async _insertRouted (conn, params) {
    const [route] = await run(conn, 'enqueue_route', params)
    const rows = await run(conn, 'insert_execution_routed', { ...params, ...route })
    if (rows.length && params.kind === 'workflow') {
      await run(conn, 'insert_started_entry', { ...params, version: rows[0].version, run_no: rows[0].run_no })
    }
    return rows
  }

  /**
   * Queue a task (any worker that has its name runs it).
   * @param {string} name
   * @param {object} [inputs]
   * @param {{id?: string, queue?: string, priority?: number, retries?: number, timeout?: number}} [options]
   * @returns {Promise<{id: string, status: string, created: boolean}>}
   */
  async queueTask (name, inputs = {}, options = {}) {
    return this._enqueue('task', name, inputs, options, null)
  }

  /**
   * Bulk enqueue: `[[name, inputs, options], ...]` (options: id, queue, priority, retries)
   * in one statement, one round trip. The ids, in order. An id that exists already keeps
   * its execution as it is. A bad item is refused, naming it, before anything is written.
   * @param {Array<[string, object?, object?]>} items
   * @returns {Promise<{ids: string[]}>}
   */
  async queueTasks (items) {
    const { ids } = await this._enqueueMany('task', items)
    return { ids }
  }

  /**
   * Bulk start: `[[name, inputs, options], ...]` (options: id, queue, priority), as
   * queueTasks; a name with no registered version waits for one, as with start.
   * @param {Array<[string, object?, object?]>} items
   * @returns {Promise<{ids: string[], waiting: number}>} waiting: how many wait for a version
   */
  async startMany (items) {
    return this._enqueueMany('workflow', items)
  }

  async _enqueueMany (kind, items) {
    const rows = prepare(kind, items, InputError)
    if (!rows.length) return { ids: [], waiting: 0 }
    const conn = await this._connection()
    const traceparent = await callerTraceparent() // (null unless the caller traces)
    const citus = this.layout.citus
    const out = await run(conn, 'insert_executions', {
      batch: batchJson(kind, rows, this.layout.partitions),
      names: [...new Set(rows.map((r) => r.name))].sort(), kind, now: new Date(),
      options: traceparent === null ? null : JSON.stringify({ traceparent }), notify: !citus
    })
    // (on Citus the statement cannot notify: this coordinator connection does)
    if (citus) await notifyWakes(conn, wakesOf(out))
    const waiting = out.filter((r) => r.wake === null).reduce((sum, r) => sum + Number(r.n), 0)
    return { ids: rows.map((r) => r.id), waiting }
  }

  /**
   * Start a workflow on the current version of its name (or waiting for one).
   * @param {string} name
   * @param {object} [inputs]
   * @param {{id?: string, queue?: string, priority?: number}} [options]
   */
  async start (name, inputs = {}, options = {}) {
    await this._connection()
    return this._transaction(async (conn) => {
      let rows = await run(conn, 'current_versions', { names: [name] })
      if (!rows.length) {
        await run(conn, 'lock_workflow_names', { names: [name] })
        rows = await run(conn, 'current_versions', { names: [name] })
      }
      return this._insert(conn, 'workflow', name, inputs, options, rows[0]?.version ?? null)
    })
  }

  async _enqueue (kind, name, inputs, options, version) {
    await this._connection()
    return this._transaction((conn) => this._insert(conn, kind, name, inputs, options, version))
  }

  async _insert (conn, kind, name, inputs, options, version) {
    if (typeof name !== 'string' || !name) throw new InputError(`${kind} name must be a non-empty string`)
    const unknown = unknownOption(options, SINGLE_OPTIONS[kind])
    if (unknown) throw new InputError(`${unknown}; ${kind === 'task' ? 'queueTask' : 'start'} takes ${SINGLE_OPTIONS[kind].join(', ')}`)
    const { id = generatedId(kind === 'task' ? 't' : 'w', 0, 1), queue = null, priority = 0, retries = null, timeout } = options
    const bad = fieldError(options.id, queue, priority, retries)
    if (bad) throw new InputError(bad)
    const extra = timeout !== undefined ? { timeout } : {}
    const traceparent = await callerTraceparent() // (null unless the caller traces)
    if (traceparent !== null) extra.traceparent = traceparent
    const params = {
      id, kind, name, version, inputs: encodeObject(inputs, `inputs of ${kind} ${JSON.stringify(name)}`),
      queue, priority, max_retries: retries, options: encode(extra, 'options'), parent_id: null,
      parent_promise: null, now: new Date(), concurrency_key: null, concurrency_limit: null,
      part: this._part(id), notify: !this.layout.citus
    }
    const inserted = this.layout.citus
      ? await this._insertRouted(conn, params)
      : await run(conn, 'insert_execution', params)
    if (inserted.length) {
      // (on Citus the routed statement cannot notify: this coordinator connection does,
      // as the Python client's does; else the workers find the start by polling)
      if (this.layout.citus) await notifyWakes(conn, wakesOf(inserted))
      return { id, status: inserted[0].status, created: true }
    }
    const [existing] = await run(conn, 'lock_execution', { id, part: params.part })
    if (!existing) throw new InputError(`id ${JSON.stringify(id)} changed hands while starting; try again`)
    if (existing.kind !== kind || existing.name !== name) {
      throw new InputError(`id ${JSON.stringify(id)} is already used by ${existing.kind} ${JSON.stringify(existing.name)}`)
    }
    if (!['failed', 'cancelled'].includes(existing.status)) return { id, status: existing.status, created: false }
    await run(conn, 'archive_run', { ids: [id], part: params.part })
    await run(conn, 'clear_run_state', { ids: [id], part: params.part })
    const [row] = await run(conn, 'restart_execution', params)
    await notifyWakes(conn, wakesOf([row]))
    return { id, status: row.status, created: true }
  }

  /**
   * Send signal `channel` to workflow `id`: to its oldest wait on that channel, else kept
   * for its next one. Refused once the workflow has ended.
   * @returns {Promise<{signalId: string, deliveredTo: number | null}>}
   */
  async signal (id, channel, payload = null) {
    if (typeof channel !== 'string' || !channel) throw new InputError('signal name must be a non-empty string')
    const text = encode(payload, `payload of signal ${JSON.stringify(channel)}`)
    return this._transaction(async (conn) => {
      const part = this._part(id)
      const [target] = await run(conn, 'lock_for_signal', { id, part })
      if (!target) throw new InputError(`no execution with id ${JSON.stringify(id)}`)
      if (target.kind !== 'workflow') throw new InputError(`execution ${JSON.stringify(id)} is a task; only workflows take signals`)
      if (TERMINAL.has(target.status)) {
        throw new InputError(`execution ${JSON.stringify(id)} has ended (${target.status}); signal ${JSON.stringify(channel)} refused`)
      }
      const waits = await run(conn, 'open_signal_waits', { id, channel, part })
      let receiver = null
      if (waits.length) {
        // Which waits an open race or any has abandoned is the engine's to decide
        // (Python): not from here yet.
        if ((await run(conn, 'load_open_combinators', { id, part })).length) {
          throw new InputError(`workflow ${JSON.stringify(id)} waits for ${JSON.stringify(channel)} while it has an open race or any: send this signal with the Python client or \`rhythm signal\` (not supported from Node.js yet)`)
        }
        receiver = waits[0].promise_id
      }
      const now = new Date()
      const [row] = await run(conn, 'insert_signal', { id, channel, payload: text, now, consumed_by: receiver, part })
      if (receiver !== null) {
        const woken = await run(conn, 'settle_signal_wait', { id, promise_id: receiver, payload: text, now, now_ms: now.getTime(), part })
        await notifyWakes(conn, wakesOf(woken))
      }
      return { signalId: String(row.id), deliveredTo: receiver }
    })
  }

  /** The execution's row (status, result, error, attempt, ...), payloads decoded; null if none. */
  async get (id) {
    const conn = await this._connection()
    const [row] = await run(conn, 'get_execution', { id, part: this._part(id) })
    if (!row) return null
    for (const key of ['inputs', 'result', 'error', 'options']) row[key] = decode(row[key])
    return row
  }

  /** Cancel: a pending execution ends now, a running one is asked to stop. Its status after. */
  async cancel (id) {
    return this._transaction(async (conn) => {
      const part = this._part(id)
      const rows = await run(conn, 'cancel_executions', {
        ids: [id], now: new Date(), error: encode(CANCELLED_ERROR, 'error'), part
      })
      if (!rows.length) {
        const [row] = await run(conn, 'get_execution', { id, part })
        if (!row) throw new InputError(`no execution with id ${JSON.stringify(id)}`)
        throw new InputError(`execution ${JSON.stringify(id)} has already ended (${row.status})`)
      }
      const [row] = rows
      if (row.parent_id !== null && row.status === 'cancelled') {
        await run(conn, 'settle_parents', { ids: [id], now: new Date(), part })
      }
      await notifyWakes(conn, wakesOf(rows), row.done ? [row.done] : [])
      return row.status
    })
  }

  /**
   * Wait for the execution to end: its result, or ExecutionFailed (failed or cancelled).
   * @param {string} id
   * Woken by the `rhythm_done` notification (one LISTEN connection per client, opened on
   * first use); `pollSeconds` (5): the row is re-read this often too, should one be missed.
   * @param {{timeoutSeconds?: number, pollSeconds?: number}} [options]
   */
  async result (id, { timeoutSeconds = 60, pollSeconds = BACKSTOP_SECONDS } = {}) {
    const deadline = Date.now() + timeoutSeconds * 1000
    const watch = this._watch(id) // (before the first read: no ending is missed in between)
    try {
      await this._listening()
      for (;;) {
        const row = await this.get(id)
        if (!row) throw new InputError(`no execution with id ${JSON.stringify(id)}`)
        if (row.status === 'completed') return row.result
        if (TERMINAL.has(row.status)) throw new ExecutionFailed(id, row.status, row.error)
        const remaining = deadline - Date.now()
        if (remaining <= 0) throw new Error(`execution ${id} did not finish within ${timeoutSeconds}s (${row.status})`)
        await watch.next(Math.min(remaining / 1000, pollSeconds))
      }
    } finally {
      watch.stop()
    }
  }
}
