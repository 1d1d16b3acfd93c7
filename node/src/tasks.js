/**
 * `defineTask`: a JavaScript function as a durable task, with the options of Python's
 * `@rhythm.task` (queue, retries, backoff with jitter, per-attempt timeout, errors never
 * retried), and the structured errors a failed attempt stores (rhythm/runtime/failures.py).
 */

/** Seconds of a duration: a number of seconds, or "500ms", "30s", "5m", "1h". */
export function seconds (value, what) {
  if (value === undefined || value === null) return null
  if (typeof value === 'number' && Number.isFinite(value) && value > 0) return value
  const m = typeof value === 'string' && /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value)
  if (!m) throw new TypeError(`${what} must be a positive number of seconds or a duration like "30s", got ${JSON.stringify(value)}`)
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400 }[m[2]]
  return Number(m[1]) * unit
}

/** Exponential backoff with jitter: retry n waits base*(1 - jitter*random), base = min(initial*factor^(n-1), maximum). */
export class Backoff {
  constructor ({ initial = 1, factor = 2, maximum = 300, jitter = 0.5 } = {}) {
    this.initial = initial
    this.factor = factor
    this.maximum = maximum
    this.jitter = jitter // fraction of the delay that is randomised
  }

  delay (retry, rng = Math.random) {
    const base = Math.min(this.initial * this.factor ** Math.max(retry - 1, 0), this.maximum)
    return base * (1 - this.jitter * rng())
  }

  static of (value) {
    if (value === undefined || value === null) return new Backoff()
    if (value instanceof Backoff) return value
    if (typeof value === 'object') return new Backoff(value)
    return new Backoff({ initial: seconds(value, 'backoff') })
  }
}

/**
 * @typedef {object} TaskContext
 * @property {AbortSignal} signal  aborted on timeout, cancellation, lost lease or shutdown
 * @property {string} id           the execution id
 * @property {number} attempt      1 for the first attempt
 * @property {string} name
 * @property {string} queue
 */

/**
 * @typedef {object} TaskOptions
 * @property {string} [queue]   default "default"
 * @property {number} [retries] retries after the first attempt (default 0)
 * @property {number|string|object} [backoff]  initial delay, or {initial, factor, maximum, jitter}
 * @property {number|string} [timeout]  per attempt
 * @property {Array<Function|string>} [nonRetryable]  error classes (or names) never retried
 */

/**
 * A durable task.
 * @param {string} name
 * @param {(inputs: any, ctx: TaskContext) => unknown} fn
 * @param {TaskOptions} [options]
 */
export function defineTask (name, fn, options = {}) {
  if (typeof name !== 'string' || !name) throw new TypeError('task name must be a non-empty string')
  if (typeof fn !== 'function') throw new TypeError(`task ${name}: fn must be a function`)
  const { queue = 'default', retries = 0, backoff, timeout, nonRetryable = [] } = options
  if (!Number.isInteger(retries) || retries < 0) {
    throw new TypeError(`task ${name}: retries must be a non-negative integer, got ${retries}`)
  }
  return Object.freeze({
    name, fn, queue, retries, backoff: Backoff.of(backoff), timeout: seconds(timeout, 'timeout'),
    nonRetryable: [...nonRetryable]
  })
}

/** Is `error` retryable under the task's nonRetryable list? */
export function retryable (task, error) {
  return !task.nonRetryable.some((k) =>
    typeof k === 'string' ? error?.name === k : (typeof k === 'function' && error instanceof k))
}

export const UNKNOWN_TASK = 'UnknownTask'
export const ARGUMENT_MISMATCH = 'ArgumentMismatch'
export const RESULT_NOT_JSON = 'ResultNotJSON'
export const WORKER_LOST = 'WorkerLost'
export const TIMEOUT = 'TimeoutError'
export const NOT_AN_ERROR = 'NonErrorThrown'

/** The TaskError object stored for a failed attempt (the shape Python stores). */
export function taskError (task, type, message, attempts, details = {}) {
  return { name: 'TaskError', message: storable(message), task, type, attempts, details }
}

/** The TaskError of whatever the task threw: an Error, or anything else (said so). */
export function fromThrown (task, thrown, attempts) {
  if (thrown instanceof Error) {
    return taskError(task, thrown.name || 'Error', thrown.message || thrown.name || 'Error',
      attempts, { language: 'javascript', stack: storable(String(thrown.stack ?? '')).slice(-8000) })
  }
  let shown
  try { shown = typeof thrown === 'string' ? thrown : JSON.stringify(thrown) } catch { shown = undefined }
  shown = shown ?? String(thrown)
  return taskError(task, NOT_AN_ERROR,
    `the task threw ${typeof thrown === 'object' ? (thrown === null ? 'null' : 'an object') : 'a ' + typeof thrown}, not an Error: ${shown}`.slice(0, 2000),
    attempts, { language: 'javascript' })
}

/** Text Postgres can store in JSON: NUL and lone surrogates become U+FFFD. */
export function storable (text) {
  // eslint-disable-next-line no-control-regex
  return String(text).replace(/\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
}
