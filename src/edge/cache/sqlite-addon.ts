// better-sqlite3 loads its compiled addon (better_sqlite3.node) on the first `new Database()`.
// An addon built for another Node.js ABI (NODE_MODULE_VERSION) or another architecture says
// nothing about the cache file — the file is fine, the code that would read it is not — so it is a
// fatal start-up error that names both ABIs, never a reason to move the cache aside and start empty.
import Database from 'better-sqlite3'
import { readFileSync } from 'node:fs'

export class SqliteAddonError extends Error {
  override readonly name = 'SqliteAddonError'
}

/** Loads the addon (an in-memory database); throws SqliteAddonError if it cannot be loaded. */
export function loadSqliteAddon (): void {
  let db
  try {
    db = new Database(':memory:')
  } catch (err) {
    throw new SqliteAddonError(describeAddonFailure((err as Error).message))
  }
  db.close()
}

// ELF e_machine values of the architectures Node.js ships for.
const ELF_MACHINES: Record<number, string> = { 3: 'ia32', 40: 'arm', 62: 'x64', 183: 'arm64', 243: 'riscv64', 21: 'ppc64', 22: 's390x' }

/** "built for linux-arm64" when the module the error names is an ELF file for another architecture (glibc then just says "cannot open shared object file"). */
function otherArchitecture (cause: string): string {
  const file = /(\/[^\s']+\.node)\b/.exec(cause)?.[1]
  if (file === undefined) return ''
  try {
    const head = readFileSync(file).subarray(0, 20)
    if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) return ''
    const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18)
    const arch = ELF_MACHINES[machine] ?? `ELF machine ${machine}`
    return arch === process.arch ? '' : ` (that file is built for linux-${arch})`
  } catch {
    return ''
  }
}

export function describeAddonFailure (cause: string): string {
  const runtime = `Node.js ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}, ${process.platform}-${process.arch})`
  return `the SQLite native module (better-sqlite3) does not load in this ${runtime}: ${cause.trim()}${otherArchitecture(cause)} — ` +
    'it must be built for this runtime\'s ABI and architecture: the release tarball and .deb bundle a matching ' +
    'Node.js and module (run bin/edge-metaserver, not another node); from source, run npm ci or ' +
    '`npm rebuild better-sqlite3` with the node that runs the daemon. The edge cache was left as it is.'
}
