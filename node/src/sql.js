/**
 * The named queries of the project's `.sql` files (`-- name: x` blocks), the same text
 * the Python worker runs. Read from the package's `sql/` (copied at build time) or, in a
 * repository checkout, from `../rhythm/store/sql` directly. `%(name)s` placeholders are
 * converted to Postgres's `$n` once, at load time.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))

/** @typedef {{ name: string, text: string, params: string[] }} Statement */

/** The folder the queries are read from: the repository's first (dev), else the package's. */
export function sqlFolder () {
  const repo = join(here, '..', '..', 'rhythm', 'store', 'sql')
  // (a checkout: node/ beside the Python package; a stale sql/ of an earlier build must
  // never shadow the SQL being edited)
  if (existsSync(repo) && existsSync(join(here, '..', '..', 'pyproject.toml'))) return repo
  const packaged = join(here, '..', 'sql')
  if (existsSync(packaged)) return packaged
  throw new Error(`rhythm-worker: no SQL files in ${packaged} (run \`npm run build\`)`)
}

/**
 * Named blocks of one file: `-- name: x` starts a block that runs to the next one.
 * @param {string} source
 * @returns {Map<string, string>}
 */
export function parseNamed (source) {
  const out = new Map()
  let name = null
  let lines = []
  const flush = () => {
    if (name !== null) out.set(name, compact(lines.join('\n')))
  }
  for (const line of source.split('\n')) {
    const m = /^--\s*name:\s*(\S+)\s*$/.exec(line)
    if (m) {
      flush()
      name = m[1]
      lines = []
    } else if (name !== null) {
      lines.push(line)
    }
  }
  flush()
  return out
}

/** The statement without comment lines and indentation, as the Python loader sends it. */
function compact (sql) {
  return sql.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('--')).join('\n')
    .replace(/;\s*$/, '')
}

/**
 * `%(name)s` as `$n` (one n per distinct name, in order of first use).
 * @param {string} name
 * @param {string} sql
 * @returns {Statement}
 */
export function toPositional (name, sql) {
  /** @type {string[]} */
  const params = []
  const text = sql.replace(/%\((\w+)\)s/g, (_, p) => {
    if (!params.includes(p)) params.push(p)
    return `$${params.indexOf(p) + 1}`
  })
  return { name, text, params }
}

/** @returns {Map<string, Statement>} every named query of every file of the folder */
export function loadQueries (folder = sqlFolder()) {
  const out = new Map()
  for (const file of readdirSync(folder).filter((f) => f.endsWith('.sql')).sort()) {
    for (const [name, sql] of parseNamed(readFileSync(join(folder, file), 'utf8'))) {
      out.set(name, toPositional(name, sql))
    }
  }
  return out
}

let cached = null

/** @returns {Map<string, Statement>} the queries, loaded once per process */
export function queries () {
  if (cached === null) cached = loadQueries()
  return cached
}

/**
 * The pg query config of a named query with its parameters (by name).
 * Named, so pg prepares it once per connection, as psycopg does.
 * @param {string} name
 * @param {Record<string, unknown>} params
 */
export function named (name, params) {
  const q = queries().get(name)
  if (!q) throw new Error(`no named query ${name}`)
  const values = q.params.map((p) => {
    if (!(p in params)) throw new Error(`query ${name}: missing parameter ${p}`)
    return params[p]
  })
  return { name: `rhythm_${name}`, text: q.text, values }
}
