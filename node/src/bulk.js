/**
 * Bulk enqueue (`client.queueTasks` / `startMany`): many executions in one statement,
 * `insert_executions`, as the Python client's (rhythm/runtime/bulk.py: keep the two in
 * step). Every item is checked as `queueTask`/`start` would, naming the item, before any
 * I/O; the whole list travels as one JSON array, each row with its partition.
 */
import { generatedId, partOf } from './db.js'
import { encodeObject } from './payloads.js'

export const OPTIONS = { task: ['id', 'queue', 'priority', 'retries'], workflow: ['id', 'queue', 'priority'] }

/** A refused item or option (the client's InputError, given by the caller). */
function refuse (Err, n, message) {
  return new Err(`item ${n}: ${message}`)
}

/** The validated rows of a bulk enqueue of `kind`: each item `[name, inputs?, options?]`. */
export function prepare (kind, items, Err) {
  if (!Array.isArray(items)) throw new Err(`expected an array of [name, inputs, options], got ${typeof items}`)
  return items.map((item, n) => prepareOne(kind, item, n, Err))
}

function prepareOne (kind, item, n, Err) {
  if (!Array.isArray(item) || item.length < 1 || item.length > 3) {
    throw refuse(Err, n, `expected [name, inputs, options], got ${JSON.stringify(item)?.slice(0, 80)}`)
  }
  const [name, inputs = {}, options = {}] = item
  if (typeof name !== 'string' || !name) throw refuse(Err, n, `${kind} name must be a non-empty string, got ${JSON.stringify(name)}`)
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw refuse(Err, n, `options must be an object, got ${JSON.stringify(options)}`)
  }
  const unknown = unknownOption(options, OPTIONS[kind])
  if (unknown) throw refuse(Err, n, `${unknown}; bulk enqueue takes ${OPTIONS[kind].join(', ')}`)
  const { id, queue = null, priority = 0, retries = null } = options
  const bad = fieldError(id, queue, priority, retries)
  if (bad) throw refuse(Err, n, bad)
  let text
  try {
    text = encodeObject(inputs, `inputs of ${kind} ${JSON.stringify(name)}`)
  } catch (err) {
    throw refuse(Err, n, err.message)
  }
  return { id: id ?? generatedId(kind === 'task' ? 't' : 'w', 0, 1), name, queue, priority, retries, inputs: text }
}

/** What is wrong with an id, queue, priority or retries (as Python's check_fields), or
 * null. (undefined and null: not given.) */
export function fieldError (id, queue, priority, retries) {
  if (id !== undefined && (typeof id !== 'string' || !id || id.length > 200)) {
    return `execution id must be a string of 1 to 200 characters, got ${JSON.stringify(id)}`
  }
  if (queue !== null && (typeof queue !== 'string' || !queue)) return `queue must be a non-empty string, got ${JSON.stringify(queue)}`
  if (!Number.isInteger(priority)) return `priority must be an integer, got ${JSON.stringify(priority)}`
  if (retries !== null && !(Number.isInteger(retries) && retries >= 0)) {
    return `retries must be a non-negative integer, got ${JSON.stringify(retries)}`
  }
  return null
}

/** The rows as the JSON array insert_executions reads, each with its partition. */
export function batchJson (kind, rows, partitions) {
  return '[' + rows.map((r) =>
    `{"kind":"${kind}","part":${partOf(r.id, partitions)},"id":${JSON.stringify(r.id)},` +
    `"name":${JSON.stringify(r.name)},"queue":${JSON.stringify(r.queue)},"priority":${r.priority},` +
    `"max_retries":${r.retries === null ? 'null' : r.retries},"inputs":${r.inputs}}`).join(',') + ']'
}

/** "unknown option 'x' (did you mean 'y'?)" for the first key of `options` not in
 * `allowed`, or null when all are known. */
export function unknownOption (options, allowed) {
  const option = Object.keys(options).find((key) => !allowed.includes(key))
  if (option === undefined) return null
  // (the nearest name, if at least half of the longer of the two names is right)
  const near = allowed.map((a) => [1 - distance(option, a) / Math.max(option.length, a.length), a])
    .sort((x, y) => y[0] - x[0])[0]
  const guess = near && near[0] >= 0.5 ? ` (did you mean ${JSON.stringify(near[1])}?)` : ''
  return `unknown option ${JSON.stringify(option)}${guess}`
}

/** Levenshtein distance (short option names only). */
function distance (a, b) {
  let row = Array.from({ length: b.length + 1 }, (_, j) => j)
  for (let i = 1; i <= a.length; i++) {
    const next = [i]
    for (let j = 1; j <= b.length; j++) {
      next[j] = Math.min(row[j] + 1, next[j - 1] + 1, row[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1))
    }
    row = next
  }
  return row[b.length]
}
