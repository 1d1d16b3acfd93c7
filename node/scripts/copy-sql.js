// Build step: copy the project's named SQL (rhythm/store/sql/*.sql, the one source of
// truth shared with the Python worker) into the package, for `npm pack`.
import { copyFileSync, mkdirSync, readdirSync, rmSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const source = join(here, '..', '..', 'rhythm', 'store', 'sql')
const target = join(here, '..', 'sql')
rmSync(target, { recursive: true, force: true })
mkdirSync(target)
const files = readdirSync(source).filter((f) => f.endsWith('.sql'))
for (const file of files) copyFileSync(join(source, file), join(target, file))
console.error(`copied ${files.length} SQL files to ${target}`)
