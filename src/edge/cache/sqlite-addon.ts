// better-sqlite3 loads its compiled addon (better_sqlite3.node) on the first `new Database()`.
// An addon built for another Node.js ABI (NODE_MODULE_VERSION) or another architecture says
// nothing about the cache file — the file is fine, the code that would read it is not — so it is a
// fatal start-up error that names both ABIs, never a reason to move the cache aside and start empty.
import Database from 'better-sqlite3'

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

export function describeAddonFailure (cause: string): string {
  const runtime = `Node.js ${process.version} (NODE_MODULE_VERSION ${process.versions.modules}, ${process.platform}-${process.arch})`
  return `the SQLite native module (better-sqlite3) does not load in this ${runtime}: ${cause.trim()} — ` +
    'it must be built for this runtime\'s ABI and architecture: the release tarball and .deb bundle a matching ' +
    'Node.js and module (run bin/edge-metaserver, not another node); from source, run npm ci or ' +
    '`npm rebuild better-sqlite3` with the node that runs the daemon. The edge cache was left as it is.'
}
