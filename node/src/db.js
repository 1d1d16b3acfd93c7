/**
 * Connections: pg clients that hand json/jsonb columns over as text (the payload codec
 * decodes them: big integers and key order), bigint as text, and run named queries.
 */
import os from 'node:os'
import pg from 'pg'
import { named } from './sql.js'

const TEXT = (v) => v
const JSON_OID = 114
const JSONB_OID = 3802

const types = {
  getTypeParser (oid, format) {
    if (oid === JSON_OID || oid === JSONB_OID) return TEXT
    return pg.types.getTypeParser(oid, format)
  }
}

/** A connected client; `setup` statements run first (e.g. the claim session's SETs). */
export async function connect (url, setup = []) {
  const client = new pg.Client({ connectionString: url, types, application_name: `rhythm-node:${os.hostname()}:${process.pid}` })
  client.on('error', () => {}) // a lost connection fails its next query, handled there
  await client.connect()
  for (const statement of setup) await client.query(statement)
  return client
}

/** Run named query `name` with `params` (by name); its rows. */
export async function run (client, name, params) {
  const result = await client.query(named(name, params))
  return result.rows
}

/** Wake the workers of each `part:queue` payload, and tell the waiting clients of each
 * id in `done` that it ended, when the transaction commits (a NOTIFY on this connection:
 * on Citus the coordinator's, where workers and clients listen). Nothing to send: no
 * statement. */
export async function notifyWakes (client, wakes, done = []) {
  if (!wakes.length && !done.length) return
  await run(client, 'notify', {
    channels: [...wakes.map(() => 'rhythm_wake'), ...done.map(() => 'rhythm_done')],
    payloads: [...wakes, ...done]
  })
}

/** The workers' wake-ups (`part:queue`) among the `wake` column of `rows`: a key's freed
 * slot ('!admit:KEY') is the admitting worker's to act on, never sent. */
export function wakesOf (rows) {
  return rows.map((r) => r.wake).filter((w) => w && !w.startsWith('!'))
}

/** Is this error the connection's (the database went away), not the statement's? */
export function isConnectionError (err) {
  if (!err) return false
  const code = err.code ?? ''
  return code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' ||
    ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND'].includes(code) ||
    /Connection terminated|not queryable|Client was closed|connection.*(closed|ended)/i.test(err.message ?? '')
}

/** The partition of an execution id among `partitions` (rhythm/runtime/partitions.py part_of). */
export function partOf (id, partitions) {
  if (partitions === 1) return 0
  const m = /^[tw]-([0-9a-f]{4})[0-9a-f]{28}$/.exec(id)
  if (m) return parseInt(m[1], 16) % partitions
  return crc32(Buffer.from(id, 'utf8')) % partitions
}

let table = null
function crc32 (bytes) {
  if (table === null) {
    table = new Uint32Array(256)
    for (let n = 0; n < 256; n++) {
      let c = n
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
      table[n] = c >>> 0
    }
  }
  let crc = 0xffffffff
  for (const b of bytes) crc = table[(crc ^ b) & 0xff] ^ (crc >>> 8)
  return (crc ^ 0xffffffff) >>> 0
}

/** A fresh random id in partition `part` (partitions.py generated_id). */
export function generatedId (prefix, part, partitions) {
  const rand = crypto.getRandomValues(new Uint8Array(16))
  let lead = (rand[0] << 8) | rand[1]
  if (partitions > 1) {
    lead = lead - (lead % partitions) + part
    if (lead > 0xffff) lead -= partitions
  }
  const tail = Buffer.from(rand.subarray(2)).toString('hex')
  return `${prefix}-${lead.toString(16).padStart(4, '0')}${tail}`
}

/** How the database is laid out: {partitions, citus}. */
export async function readLayout (client) {
  const rows = await run(client, 'read_layout', {})
  if (!rows.length) return { partitions: 1, citus: false }
  return { partitions: Number(rows[0].partitions), citus: Boolean(rows[0].citus) }
}
