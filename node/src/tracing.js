/**
 * OpenTelemetry tracing, as the Python worker's `--otel` (docs/observability.md,
 * "Tracing"): a span per task attempt, parented by the W3C traceparent stored in the
 * execution's options, current while the task runs; and the client's current span stored
 * with a start or an enqueue. Only the API (`@opentelemetry/api`, an optional peer
 * dependency) is used: the SDK, its exporters and its context manager are the
 * application's to configure. Nothing here loads unless asked: a worker without
 * `otel: true` never imports it.
 */
import { readFile } from 'node:fs/promises'

const NOT_INSTALLED = 'otel: true needs the OpenTelemetry API: npm install @opentelemetry/api ' +
  '(and configure an SDK, e.g. @opentelemetry/sdk-trace-node, before the worker runs)'
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** @type {Promise<any> | null} the API module, or null where it is not installed */
let loading = null

/** The `@opentelemetry/api` module, or null where it is not installed (tried once). */
export function optionalApi () {
  // (a variable specifier: the package is optional, TypeScript need not resolve it)
  const name = '@opentelemetry/api'
  loading ??= import(name).catch(() => null)
  return loading
}

/** The worker's tracing (`otel: true`); a clear error where the API is missing.
 * `onError(what, err)`: a span call that threw (the attempt goes on untraced). */
export async function startTracing (onError) {
  const api = await optionalApi()
  if (api === null) throw new Error(NOT_INSTALLED)
  const { version } = JSON.parse(await readFile(new URL('../package.json', import.meta.url), 'utf8'))
  return new Tracing(api, version, onError)
}

/** The caller's current span as a W3C traceparent, or null (no API, no valid span). */
export async function callerTraceparent () {
  const api = await optionalApi()
  const context = api?.trace.getActiveSpan()?.spanContext()
  if (!context || !api.trace.isSpanContextValid(context)) return null
  return `00-${context.traceId}-${context.spanId}-${context.traceFlags.toString(16).padStart(2, '0')}`
}

/** A span call that throws (a broken tracer) is reported to `onError` and never fails
 * the attempt: it runs untraced, as in the Python worker. */
export class Tracing {
  constructor (api, version, onError) {
    this.api = api
    this.tracer = api.trace.getTracer('rhythm', version)
    this.onError = onError
  }

  /** Start the span of `claim`'s attempt (kind CONSUMER, the Python worker's
   * attributes); null if the tracer threw. */
  begin (claim) {
    try {
      return this._start(claim)
    } catch (err) {
      this.onError('begin', err)
      return null
    }
  }

  _start (claim) {
    return this.tracer.startSpan(`task ${claim.name}`, {
      kind: this.api.SpanKind.CONSUMER,
      attributes: {
        'rhythm.execution_id': claim.id,
        'rhythm.task': claim.name,
        'rhythm.attempt': claim.attempt,
        'rhythm.queue': claim.queue
      }
    }, this._parent(claim.opts.traceparent))
  }

  /** The stored context; without a valid one the root context, never the current one
   * (a span's parent is what its execution stored, not what the worker was doing). */
  _parent (traceparent) {
    const { ROOT_CONTEXT, trace } = this.api
    const m = typeof traceparent === 'string' && TRACEPARENT.exec(traceparent)
    if (!m) return ROOT_CONTEXT
    const parent = { traceId: m[1], spanId: m[2], traceFlags: parseInt(m[3], 16), isRemote: true }
    return trace.isSpanContextValid(parent) ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT
  }

  /** `task.fn(inputs, ctx)` with `span` current: the task's own spans are its children. */
  call (span, task, inputs, ctx) {
    const { ROOT_CONTEXT, context, trace } = this.api
    return context.with(trace.setSpan(ROOT_CONTEXT, span), task.fn, task, inputs, ctx)
  }

  /** End the span of an attempt that ended as `outcome` (null: its lease was lost). A
   * failed attempt, or one failed to be tried again, has status ERROR and an
   * `exception` event with the stored error's type, message and stack. */
  end (span, outcome) {
    try {
      this._end(span, outcome)
    } catch (err) {
      this.onError('end', err)
    }
  }

  _end (span, outcome) {
    const error = outcome?.error
    if (error && (outcome.status === 'failed' || outcome.status === 'pending')) {
      const type = error.type ?? error.name ?? 'Error'
      const event = { 'exception.type': type, 'exception.message': error.message ?? '' }
      if (error.details?.stack) event['exception.stacktrace'] = error.details.stack
      span.addEvent('exception', event)
      span.setStatus({ code: this.api.SpanStatusCode.ERROR, message: `${type}: ${error.message ?? ''}` })
    }
    span.end()
  }
}
