/**
 * JSON payloads as the Python side stores them (rhythm/runtime/payloads.py): compact
 * text, key order as written, unicode unescaped, integers of any size exact (Python
 * writes them digit for digit: here an integer beyond 2^53 reads as a BigInt and a
 * BigInt writes as its digits), and refused with one clear line: NaN/Infinity,
 * undefined, functions, symbols, cycles, NUL characters, lone surrogates, nesting
 * deeper than 100 levels, more than 1 MiB.
 *
 * One limit of JavaScript itself: an object puts integer-like keys ("1", "42") first,
 * in numeric order, whatever order the JSON text had; every other key keeps its order.
 */

export const MAX_PAYLOAD_BYTES = 1 << 20
export const MAX_DEPTH = 100

/** A payload that cannot be stored; `message` says why in one line. */
export class PayloadError extends Error {
  constructor (message) {
    super(message)
    this.name = 'PayloadError'
  }
}

// An integer literal of 16+ digits outside a string (anything shorter is exact as a
// double), or a string literal (matched so that digits inside strings are skipped).
const BIG = /"(?:[^"\\]|\\.)*"|(?<![\w.+-])-?\d{16,}(?![.eE\d])/g
const TAG = '\u0000rhythm-bigint:'

/**
 * The value of JSON text (from the database): integers beyond 2^53 as BigInt.
 * @param {string | null} text
 */
export function decode (text) {
  if (text === null || text === undefined) return null
  if (!/\d{16}/.test(text)) return JSON.parse(text)
  let tagged = false
  const marked = text.replace(BIG, (m) => {
    if (m[0] === '"') return m
    tagged = true
    return JSON.stringify(TAG + m)
  })
  if (!tagged) return JSON.parse(text)
  return JSON.parse(marked, (_key, v) => {
    if (typeof v !== 'string' || !v.startsWith(TAG)) return v
    const n = BigInt(v.slice(TAG.length))
    return n > BigInt(Number.MAX_SAFE_INTEGER) || n < -BigInt(Number.MAX_SAFE_INTEGER)
      ? n : Number(n)
  })
}

/**
 * The JSON text of `value`, or PayloadError saying why it cannot be stored.
 * @param {unknown} value
 * @param {string} what  e.g. "result of task 'charge'"
 */
export function encode (value, what, limit = MAX_PAYLOAD_BYTES) {
  const text = write(value, what, '', new Set(), 0)
  if (text === undefined) {
    throw new PayloadError(`${what} is not JSON: ${describe(value)} has no JSON form`)
  }
  const size = Buffer.byteLength(text, 'utf8')
  if (size > limit) {
    throw new PayloadError(`${what} is ${size} bytes of JSON, over the limit of ${limit} bytes`)
  }
  return text
}

/** Like encode, for inputs: undefined/null means {}; anything else must be an object. */
export function encodeObject (value, what) {
  if (value === undefined || value === null) return '{}'
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new PayloadError(`${what} must be a JSON object, got ${describe(value)}`)
  }
  return encode(value, what)
}

function describe (v) {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an array'
  if (typeof v === 'function') return `a function (${v.name || 'anonymous'})`
  return typeof v === 'object' ? `an object (${v.constructor?.name ?? 'null prototype'})` : `${typeof v}`
}

function at (path) {
  return path ? ` at ${path}` : ''
}

/** @returns {string | undefined} undefined only for a value with no JSON form at the top */
function write (value, what, path, seen, depth) {
  if (value !== null && typeof value === 'object' && typeof value.toJSON === 'function') {
    value = value.toJSON()
  }
  switch (typeof value) {
    case 'string': return quote(value, what, path)
    case 'boolean': return value ? 'true' : 'false'
    case 'bigint': return value.toString()
    case 'number':
      if (!Number.isFinite(value)) {
        throw new PayloadError(`${what} is not JSON: ${value}${at(path)} (NaN and Infinity are not JSON numbers)`)
      }
      return JSON.stringify(value)
    case 'undefined':
    case 'function':
    case 'symbol':
      throw new PayloadError(`${what} is not JSON: ${describe(value)}${at(path)}`)
  }
  if (value === null) return 'null'
  if (depth >= MAX_DEPTH) {
    throw new PayloadError(`${what} is nested more than ${MAX_DEPTH} levels deep (the limit of workflow values)`)
  }
  if (seen.has(value)) throw new PayloadError(`${what} is not JSON: a cycle${at(path)}`)
  seen.add(value)
  let out
  if (Array.isArray(value)) {
    out = '[' + value.map((v, i) => write(v, what, `${path}[${i}]`, seen, depth + 1)).join(',') + ']'
  } else {
    const parts = []
    for (const key of Object.keys(value)) {
      const p = path ? `${path}.${key}` : key
      parts.push(quote(key, what, p) + ':' + write(value[key], what, p, seen, depth + 1))
    }
    out = '{' + parts.join(',') + '}'
  }
  seen.delete(value)
  return out
}

// eslint-disable-next-line no-control-regex
const NUL = /\u0000/
const LONE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/

function quote (s, what, path) {
  if (NUL.test(s)) {
    throw new PayloadError(`${what} contains a NUL character (U+0000)${at(path)}, which Postgres cannot store`)
  }
  if (LONE.test(s)) {
    throw new PayloadError(`${what} contains a lone surrogate${at(path)}, which is not Unicode text and cannot be stored`)
  }
  return JSON.stringify(s)
}
