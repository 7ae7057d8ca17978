// The edge's SQLite file (WAL, one writer: this process): API objects, the list resourceVersion per
// (resource, namespace, selectors), discovery/openapi/version bodies, and the small state the daemon
// needs to start without the cloud (signing keys, policy bundle). A crash (kill -9, power loss)
// leaves the last committed transaction. Only a file SQLite itself reports corrupt (quick_check,
// "file is not a database") is moved aside and rebuilt. Anything else — a native module that does
// not load (sqlite-addon.ts), a file the daemon may not read or write, a full disk, a file from a
// newer release — is not the file's fault: that is fatal and the file stays, because the keys and
// policy in it are what an offline start needs. An older schema is migrated in place (MIGRATIONS).
import Database, { type Database as Db, type Statement } from 'better-sqlite3'
import { chmodSync, renameSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../../obs/logger.js'
import { isNewerRv } from '../../kube/resource-version.js'
import { afterCompleteList, afterEvent, type Known } from './completeness.js'
import { loadSqliteAddon } from './sqlite-addon.js'

export const CACHE_FILE = 'cache.db'
/**
 * Bump when the tables or what they may hold change, and add the step from the previous version to
 * MIGRATIONS. 2: metadata-only copies kept apart; 3: lists keep their listKind (that column was
 * added under version 2, so a file from then has none). A newer file is fatal (a downgrade).
 */
export const SCHEMA_VERSION = 3

/**
 * In-place upgrades, keyed by the version they start from; each runs in the upgrade's transaction.
 * They keep `state` (signing keys, policy bundle: what an offline start needs) and the documents.
 */
export const MIGRATIONS: Record<number, string> = {
  // Version 1 may hold metadata-only copies stored as whole objects: the API objects and the lists
  // claiming them go (they are fetched again online); keys, policy and discovery stay.
  1: 'DELETE FROM lists; DELETE FROM objects; DELETE FROM tombstones;',
  // Lists then had no list_kind; every list such a file holds was cached as `${kind}List`.
  2: `ALTER TABLE lists ADD COLUMN list_kind TEXT NOT NULL DEFAULT '';
      UPDATE lists SET list_kind = kind || 'List';`,
}

// Deletions are remembered this long, so a list answered a moment before a watch saw the delete
// cannot bring the object back.
const TOMBSTONE_TTL_MS = 10 * 60_000
const MAX_PENDING_WRITES = 5000

/** One list's identity: the resource as group/version/resource, namespace '' for cluster-wide. */
export interface Scope {
  resource: string
  namespace: string
  labelSelector: string
  fieldSelector: string
}

/** A scope the cache holds completely; `rv`/`changedRv` are its claim (completeness.ts). */
export interface ListRow extends Scope, Known {
  /** Item kind and apiVersion. */
  kind: string
  apiVersion: string
  /** The list's kind as kube-apiserver served it (a CRD's listKind need not be `${kind}List`). */
  listKind: string
}

/** What commitList is told; the list kind defaults to `${kind}List`. */
export type CompleteList = Omit<ListRow, 'changedRv' | 'listKind'> & { listKind?: string }

export interface StoredObject { namespace: string, name: string, rv: string, body: string }
export interface StoredDocument { contentType: string, etag: string, body: Buffer }

/** The tables of SCHEMA_VERSION (exported for the migration tests, which derive the older ones from it). */
export const SCHEMA = `
CREATE TABLE objects (
  resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL,
  rv TEXT NOT NULL, body TEXT NOT NULL, size INTEGER NOT NULL, used_at INTEGER NOT NULL,
  PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;
CREATE INDEX objects_lru ON objects (used_at);
CREATE TABLE tombstones (
  resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, rv TEXT NOT NULL, at INTEGER NOT NULL,
  PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;
CREATE TABLE lists (
  resource TEXT NOT NULL, namespace TEXT NOT NULL, label_selector TEXT NOT NULL, field_selector TEXT NOT NULL,
  kind TEXT NOT NULL, list_kind TEXT NOT NULL, api_version TEXT NOT NULL, rv TEXT NOT NULL, changed_rv TEXT NOT NULL, used_at INTEGER NOT NULL,
  PRIMARY KEY (resource, namespace, label_selector, field_selector)) WITHOUT ROWID;
CREATE TABLE documents (
  path TEXT NOT NULL, content_type TEXT NOT NULL, etag TEXT NOT NULL, body BLOB NOT NULL,
  size INTEGER NOT NULL, used_at INTEGER NOT NULL, PRIMARY KEY (path, content_type)) WITHOUT ROWID;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
-- Bytes held, kept by triggers inside each transaction so it is exact after any crash.
CREATE TABLE usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT INTO usage VALUES (1, 0);
CREATE TRIGGER objects_ins AFTER INSERT ON objects BEGIN UPDATE usage SET bytes = bytes + NEW.size; END;
CREATE TRIGGER objects_del AFTER DELETE ON objects BEGIN UPDATE usage SET bytes = bytes - OLD.size; END;
CREATE TRIGGER objects_upd AFTER UPDATE OF size ON objects BEGIN UPDATE usage SET bytes = bytes - OLD.size + NEW.size; END;
CREATE TRIGGER documents_ins AFTER INSERT ON documents BEGIN UPDATE usage SET bytes = bytes + NEW.size; END;
CREATE TRIGGER documents_del AFTER DELETE ON documents BEGIN UPDATE usage SET bytes = bytes - OLD.size; END;
CREATE TRIGGER documents_upd AFTER UPDATE OF size ON documents BEGIN UPDATE usage SET bytes = bytes - OLD.size + NEW.size; END;
`

/** SQLite says the file is damaged or not a database: the only reason to move it aside. */
class CorruptCacheError extends Error {}

/** The cache file cannot be used for a reason that is not the file's content: fatal, the file stays. */
export class CacheOpenError extends Error {
  override readonly name = 'CacheOpenError'
}

// SQLite's own verdicts on a file's content (better-sqlite3 puts the result code in err.code).
const CORRUPTION_CODES = new Set(['SQLITE_CORRUPT', 'SQLITE_NOTADB'])

export interface CacheStoreOptions {
  maxSizeBytes: number
  logger: Logger
  /** Decides, at eviction, whether a list row still covers an object (selectors are evaluated outside SQL). */
  covers: (row: ListRow, object: StoredObject) => boolean
  now?: () => number
}

export class CacheStore {
  private readonly pending: Array<() => void> = []
  private flushScheduled = false
  private readonly sql: ReturnType<typeof prepare>
  private readonly now: () => number

  private constructor (private readonly db: Db, private readonly opts: CacheStoreOptions) {
    this.sql = prepare(db)
    this.now = opts.now ?? Date.now
  }

  /**
   * Opens (or creates) `<dir>/cache.db`, migrating an older schema in place. A file SQLite reports
   * corrupt is moved to `cache.db.broken` and the cache starts empty; any other failure throws
   * CacheOpenError (or SqliteAddonError) and leaves the file as it is.
   */
  static open (dir: string, opts: CacheStoreOptions): CacheStore {
    const path = join(dir, CACHE_FILE)
    // Before the try: a missing or mismatched addon throws SqliteAddonError and touches no file.
    loadSqliteAddon()
    try {
      return new CacheStore(openChecked(path, opts.logger), opts)
    } catch (err) {
      if (!(err instanceof CorruptCacheError)) throw asOpenError(path, err)
      opts.logger.error({ path, reason: err.message, movedTo: `${path}.broken` }, 'the edge cache file is corrupt (SQLite says so); moving it aside and starting empty')
      for (const suffix of ['-wal', '-shm']) rmSync(path + suffix, { force: true })
      renameSync(path, `${path}.broken`)
      try {
        return new CacheStore(openChecked(path, opts.logger), opts)
      } catch (again) {
        throw asOpenError(path, again)
      }
    }
  }

  close (): void {
    this.flush()
    this.db.close()
  }

  get maxSizeBytes (): number { return this.opts.maxSizeBytes }

  /** A new size limit (SIGHUP); a smaller one evicts at once. */
  setMaxSizeBytes (maxSizeBytes: number): void {
    this.opts.maxSizeBytes = maxSizeBytes
    this.flush()
    this.evictIfFull()
  }

  // ---- writes: queued and committed together on the next turn of the event loop, so teeing a
  // response costs the client nothing and a burst of watch events is one transaction.

  enqueue (write: () => void): void {
    this.pending.push(write)
    if (this.pending.length >= MAX_PENDING_WRITES) { this.flush(); return }
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(() => this.flush())
    }
  }

  flush (): void {
    this.flushScheduled = false
    if (this.pending.length === 0) return
    const writes = this.pending.splice(0)
    try {
      this.db.transaction(() => { for (const w of writes) w() })()
      this.evictIfFull()
    } catch (err) {
      // The batch is gone, so no list may claim to be complete any more (completeness.ts): later
      // events would move a list past the changes that were just lost. Lists are rebuilt from the next online LISTs.
      let forgotten = false
      try { this.db.exec('DELETE FROM lists'); forgotten = true } catch {}
      this.opts.logger.error({ err, writes: writes.length, listsForgotten: forgotten }, 'edge cache write failed; those updates are lost to the cache')
    }
  }

  /**
   * Stores an object unless the cache holds this version or a newer one, or saw it deleted later.
   * `body` may be a function: re-lists mostly repeat what is stored, and are then not serialised.
   */
  putObject (resource: string, namespace: string, name: string, rv: string, body: string | (() => string)): void {
    const existing = this.sql.getObjectRv.get(resource, namespace, name) as { rv: string } | undefined
    if (existing !== undefined && (existing.rv === rv || isNewerRv(existing.rv, rv))) return
    const tomb = this.sql.getTombstone.get(resource, namespace, name) as { rv: string } | undefined
    if (tomb !== undefined && !isNewerRv(rv, tomb.rv)) return
    if (tomb !== undefined) this.sql.deleteTombstone.run(resource, namespace, name)
    const text = typeof body === 'string' ? body : body()
    this.sql.upsertObject.run(resource, namespace, name, rv, text, Buffer.byteLength(text), this.now())
  }

  /** Removes an object whose deletion version is unknown (no tombstone). */
  dropObject (resource: string, namespace: string, name: string): void {
    this.sql.deleteObject.run(resource, namespace, name)
  }

  deleteObject (resource: string, namespace: string, name: string, rv: string): void {
    this.sql.deleteObject.run(resource, namespace, name)
    this.sql.upsertTombstone.run(resource, namespace, name, rv, this.now())
  }

  /**
   * A complete list whose items were stored with putObject (`present` holds their
   * "namespace/name"): objects of the scope it no longer contains, and not newer than it, are
   * dropped, and the scope is known as of `rv`.
   */
  commitList (row: CompleteList, present: ReadonlySet<string>, inScope: (o: StoredObject) => boolean): void {
    const keys = (row.namespace === '' ? this.sql.allKeys.all(row.resource) : this.sql.namespaceKeys.all(row.resource, row.namespace)) as Array<Omit<StoredObject, 'body'>>
    for (const k of keys) {
      if (present.has(`${k.namespace}/${k.name}`) || isNewerRv(k.rv, row.rv)) continue
      const stored = this.sql.getObject.get(row.resource, k.namespace, k.name) as StoredObject
      if (inScope(stored)) this.sql.deleteObject.run(row.resource, k.namespace, k.name)
    }
    const { rv, changedRv } = afterCompleteList(this.getList(row), row.rv)
    this.sql.upsertList.run(row.resource, row.namespace, row.labelSelector, row.fieldSelector, row.kind, row.listKind ?? `${row.kind}List`, row.apiVersion, rv, changedRv, this.now())
  }

  /** A watch on `scope` that continues what the cache knows (completeness.ts) moved it forward to `rv`. */
  advanceList (scope: Scope, rv: string, changed: boolean): void {
    const old = this.getList(scope)
    if (old === undefined) return
    const known = afterEvent(old, rv, changed)
    this.sql.upsertList.run(scope.resource, scope.namespace, scope.labelSelector, scope.fieldSelector, old.kind, old.listKind, old.apiVersion,
      known.rv, known.changedRv, this.now())
  }

  putDocument (path: string, contentType: string, etag: string, body: Buffer): void {
    this.sql.upsertDocument.run(path, contentType, etag, body, body.length, this.now())
  }

  // ---- reads (pending writes are committed first, so a read sees everything teed so far)

  getObject (resource: string, namespace: string, name: string): StoredObject | undefined {
    this.flush()
    return this.sql.getObject.get(resource, namespace, name) as StoredObject | undefined
  }

  /** The scope's objects (namespace '' = every namespace), in kube-apiserver's key order. */
  scopeObjects (resource: string, namespace: string): StoredObject[] {
    this.flush()
    return (namespace === ''
      ? this.sql.allObjects.all(resource)
      : this.sql.namespaceObjects.all(resource, namespace)) as StoredObject[]
  }

  getList (scope: Scope): ListRow | undefined {
    this.flush()
    return this.sql.getList.get(scope.resource, scope.namespace, scope.labelSelector, scope.fieldSelector) as ListRow | undefined
  }

  /** Every list row of `resource` (any namespace and selector). */
  listsOf (resource: string): ListRow[] {
    this.flush()
    return this.sql.listsOf.all(resource) as ListRow[]
  }

  touchList (scope: Scope): void {
    this.enqueue(() => this.sql.touchList.run(this.now(), scope.resource, scope.namespace, scope.labelSelector, scope.fieldSelector))
  }

  documents (path: string): StoredDocument[] {
    this.flush()
    return this.sql.documents.all(path) as StoredDocument[]
  }

  // ---- probes (/readyz, metrics): what is committed, without committing anything (writes queued
  // in this turn of the event loop count from the next), so a probe never writes to the file.

  /** True once anything an offline client could be served has been committed. */
  get warm (): boolean {
    return this.sql.anyList.get() !== undefined || this.sql.anyDocument.get() !== undefined
  }

  /** Bytes of objects and documents committed. */
  get sizeBytes (): number {
    return (this.sql.usage.get() as { bytes: number }).bytes
  }

  // ---- small durable state (signing keys, policy bundle): written at once, not queued

  getState (key: string): string | undefined {
    return (this.sql.getState.get(key) as { value: string } | undefined)?.value
  }

  setState (key: string, value: string): void {
    this.flush()
    this.sql.setState.run(key, value)
  }

  // ---- bounds

  /**
   * Over the size limit: whole lists go first, least recently used first (with the objects no
   * other list covers), then the least recently used single objects and documents.
   */
  private evictIfFull (): void {
    let bytes = (this.sql.usage.get() as { bytes: number }).bytes
    if (bytes <= this.opts.maxSizeBytes) return
    const started = bytes
    let lists = 0
    this.db.transaction(() => {
      this.sql.pruneTombstones.run(this.now() - TOMBSTONE_TTL_MS)
      for (;;) {
        const victim = this.sql.oldestList.get() as ListRow | undefined
        if (victim === undefined) break
        this.sql.deleteList.run(victim.resource, victim.namespace, victim.labelSelector, victim.fieldSelector)
        lists++
        const others = this.sql.listsOf.all(victim.resource) as ListRow[]
        for (const o of this.scopeObjects(victim.resource, victim.namespace)) {
          if (this.opts.covers(victim, o) && !others.some((row) => this.opts.covers(row, o))) {
            this.sql.deleteObject.run(victim.resource, o.namespace, o.name)
          }
        }
        bytes = (this.sql.usage.get() as { bytes: number }).bytes
        if (bytes <= this.opts.maxSizeBytes) return
      }
      while (bytes > this.opts.maxSizeBytes) {
        const removed = this.sql.evictObjects.run().changes + this.sql.evictDocuments.run().changes
        if (removed === 0) break
        bytes = (this.sql.usage.get() as { bytes: number }).bytes
      }
    })()
    this.opts.logger.info({ before: started, after: bytes, lists, limit: this.opts.maxSizeBytes }, 'edge cache over its size limit: evicted least recently used entries')
  }
}

function openChecked (path: string, logger: Logger): Db {
  let db: Db
  try {
    db = new Database(path)
  } catch (err) {
    throw classify(err)
  }
  try {
    // It holds objects pods were allowed to read and the policy; SQLite gives -wal/-shm the same mode.
    chmodSync(path, 0o600)
    db.pragma('journal_mode = WAL')
    // NORMAL in WAL mode: a power cut may lose the last transactions, never consistency.
    db.pragma('synchronous = NORMAL')
    // Small boards: a 4 MiB page cache (better-sqlite3 builds with 16 MiB), and the WAL file cut
    // back to 16 MiB after each checkpoint instead of keeping its largest size.
    db.pragma('cache_size = -4096')
    db.pragma('journal_size_limit = 16777216')
    const check = db.pragma('quick_check', { simple: true })
    if (check !== 'ok') throw new CorruptCacheError(`quick_check: ${String(check)}`)
    const version = db.pragma('user_version', { simple: true }) as number
    if (version === 0) {
      db.transaction(() => {
        db.exec(SCHEMA)
        db.pragma(`user_version = ${SCHEMA_VERSION}`)
      })()
    } else if (version > SCHEMA_VERSION) {
      throw new CacheOpenError(`written by schema version ${version}, a newer release than this one (${SCHEMA_VERSION}); ` +
        'start that release again, or remove the file to start with an empty cache (it loses the signing keys and policy an offline start needs)')
    } else if (version < SCHEMA_VERSION) {
      migrate(db, version)
      logger.info({ path, from: version, to: SCHEMA_VERSION }, 'edge cache schema migrated in place')
    }
    return db
  } catch (err) {
    db.close()
    throw classify(err)
  }
}

/** Runs MIGRATIONS from `from` up to SCHEMA_VERSION in one transaction: a crash half way leaves the old file. */
function migrate (db: Db, from: number): void {
  db.transaction(() => {
    for (let v = from; v < SCHEMA_VERSION; v++) {
      const step = MIGRATIONS[v]
      if (step === undefined) throw new CacheOpenError(`no migration from schema version ${v}`)
      db.exec(step)
    }
    db.pragma(`user_version = ${SCHEMA_VERSION}`)
  })()
}

function classify (err: unknown): Error {
  if (err instanceof CorruptCacheError || err instanceof CacheOpenError) return err
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && CORRUPTION_CODES.has(code)) return new CorruptCacheError(`${code}: ${(err as Error).message}`)
  return err instanceof Error ? err : new Error(String(err))
}

function asOpenError (path: string, err: unknown): Error {
  if (err instanceof CacheOpenError && err.message.startsWith('the edge cache')) return err
  const reason = (err as Error).message
  const code = (err as { code?: unknown }).code
  const detail = typeof code === 'string' && !reason.includes(code) ? `${code}: ${reason}` : reason
  return new CacheOpenError(`the edge cache ${path} cannot be opened: ${detail}; the file was left as it is`)
}

function prepare (db: Db): Record<string, Statement> {
  const OBJECT = 'namespace, name, rv, body'
  const LIST = 'resource, namespace, label_selector AS labelSelector, field_selector AS fieldSelector, kind, list_kind AS listKind, api_version AS apiVersion, rv, changed_rv AS changedRv'
  return {
    getObject: db.prepare(`SELECT ${OBJECT} FROM objects WHERE resource = ? AND namespace = ? AND name = ?`),
    getObjectRv: db.prepare('SELECT rv FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
    allObjects: db.prepare(`SELECT ${OBJECT} FROM objects WHERE resource = ? ORDER BY namespace, name`),
    allKeys: db.prepare('SELECT namespace, name, rv FROM objects WHERE resource = ?'),
    namespaceKeys: db.prepare('SELECT namespace, name, rv FROM objects WHERE resource = ? AND namespace = ?'),
    namespaceObjects: db.prepare(`SELECT ${OBJECT} FROM objects WHERE resource = ? AND namespace = ? ORDER BY name`),
    upsertObject: db.prepare(`INSERT INTO objects (resource, namespace, name, rv, body, size, used_at) VALUES (?, ?, ?, ?, ?, ?, ?)
      ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, body = excluded.body, size = excluded.size, used_at = excluded.used_at`),
    deleteObject: db.prepare('DELETE FROM objects WHERE resource = ? AND namespace = ? AND name = ?'),
    evictObjects: db.prepare('DELETE FROM objects WHERE (resource, namespace, name) IN (SELECT resource, namespace, name FROM objects ORDER BY used_at LIMIT 64)'),
    getTombstone: db.prepare('SELECT rv FROM tombstones WHERE resource = ? AND namespace = ? AND name = ?'),
    upsertTombstone: db.prepare(`INSERT INTO tombstones (resource, namespace, name, rv, at) VALUES (?, ?, ?, ?, ?)
      ON CONFLICT (resource, namespace, name) DO UPDATE SET rv = excluded.rv, at = excluded.at`),
    deleteTombstone: db.prepare('DELETE FROM tombstones WHERE resource = ? AND namespace = ? AND name = ?'),
    pruneTombstones: db.prepare('DELETE FROM tombstones WHERE at < ?'),
    getList: db.prepare(`SELECT ${LIST} FROM lists WHERE resource = ? AND namespace = ? AND label_selector = ? AND field_selector = ?`),
    listsOf: db.prepare(`SELECT ${LIST} FROM lists WHERE resource = ?`),
    oldestList: db.prepare(`SELECT ${LIST} FROM lists ORDER BY used_at LIMIT 1`),
    anyList: db.prepare('SELECT 1 FROM lists LIMIT 1'),
    upsertList: db.prepare(`INSERT INTO lists (resource, namespace, label_selector, field_selector, kind, list_kind, api_version, rv, changed_rv, used_at)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (resource, namespace, label_selector, field_selector) DO UPDATE SET
      kind = excluded.kind, list_kind = excluded.list_kind, api_version = excluded.api_version, rv = excluded.rv, changed_rv = excluded.changed_rv, used_at = excluded.used_at`),
    touchList: db.prepare('UPDATE lists SET used_at = ? WHERE resource = ? AND namespace = ? AND label_selector = ? AND field_selector = ?'),
    deleteList: db.prepare('DELETE FROM lists WHERE resource = ? AND namespace = ? AND label_selector = ? AND field_selector = ?'),
    documents: db.prepare('SELECT content_type AS contentType, etag, body FROM documents WHERE path = ?'),
    anyDocument: db.prepare('SELECT 1 FROM documents LIMIT 1'),
    upsertDocument: db.prepare(`INSERT INTO documents (path, content_type, etag, body, size, used_at) VALUES (?, ?, ?, ?, ?, ?)
      ON CONFLICT (path, content_type) DO UPDATE SET etag = excluded.etag, body = excluded.body, size = excluded.size, used_at = excluded.used_at`),
    evictDocuments: db.prepare('DELETE FROM documents WHERE (path, content_type) IN (SELECT path, content_type FROM documents ORDER BY used_at LIMIT 8)'),
    usage: db.prepare('SELECT bytes FROM usage WHERE id = 1'),
    getState: db.prepare('SELECT value FROM state WHERE key = ?'),
    setState: db.prepare('INSERT INTO state (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value'),
  }
}
