/**
 * One running attempt of a claimed task, and what a task sees of it (its context).
 *
 * Built for the common case of a task that returns at once (no promise): it costs one
 * small object and no AbortController, no promise, no timer and no microtask hop - the
 * controller behind `ctx.signal` is created only if the task reads it. An attempt that
 * returns a promise is raced against its interruption: a timeout (`expire`), or a
 * cancellation, a lost lease or a shutdown (`interrupt`).
 */

export class Attempt {
  constructor (claim) {
    this.claim = claim
    /** @type {AbortController | null} created when the task reads ctx.signal */
    this.controller = null
    /** @type {null | 'lost' | 'cancel' | 'shutdown'} why it was interrupted */
    this.why = null
    this.timedOut = false
    /** @type {unknown} what ended it early (the signal's reason) */
    this.reason = undefined
    /** @type {((reason: unknown) => void) | null} rejects the race of a running promise */
    this.reject = null
    /** @type {any} its span (a worker with otel: true) */
    this.span = null
  }

  /** The task's AbortSignal (aborted already if the attempt was ended before it asked). */
  get signal () {
    if (this.controller === null) {
      this.controller = new AbortController()
      if (this.reason !== undefined) this.controller.abort(this.reason)
    }
    return this.controller.signal
  }

  /** Interrupted by the worker (`why`): the first reason wins. */
  interrupt (why, err) {
    if (this.why) return
    this.why = why
    this._end(err)
  }

  /** The attempt ran past its timeout. */
  expire (err) {
    this.timedOut = true
    this._end(err)
  }

  _end (err) {
    if (this.reason === undefined) this.reason = err
    this.controller?.abort(err)
    this.reject?.(err)
  }

  /** `value` (the task's promise) settled, or the attempt's end, whichever comes first. */
  race (value) {
    if (this.reason !== undefined) return Promise.reject(this.reason)
    return new Promise((resolve, reject) => {
      this.reject = reject
      Promise.resolve(value).then(resolve, reject)
    })
  }
}

/** What a task gets as its second argument. */
export class TaskContext {
  /** @param {Attempt} attempt */
  constructor (attempt) {
    const { claim } = attempt
    this._attempt = attempt
    this.id = claim.id
    this.attempt = claim.attempt
    this.name = claim.name
    this.queue = claim.queue
  }

  /** Aborted on timeout, cancellation, lost lease or shutdown. */
  get signal () {
    return this._attempt.signal
  }
}

/** Is `value` a promise (or any thenable) to wait for? */
export function isThenable (value) {
  return value !== null && (typeof value === 'object' || typeof value === 'function') &&
    typeof value.then === 'function'
}
