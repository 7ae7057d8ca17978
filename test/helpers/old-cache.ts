// Edge cache files as earlier releases wrote them, with data in them, for the migration tests.
// The tables are those of schema versions 1 and 2 as committed (git show d7a8d6e^:src/edge/cache/store.ts
// and 9edb439^: the same SQL; version 2 changed what objects may hold, not the tables).
import Database from 'better-sqlite3'

const SCHEMA_V1_V2 = `
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
  kind TEXT NOT NULL, api_version TEXT NOT NULL, rv TEXT NOT NULL, changed_rv TEXT NOT NULL, used_at INTEGER NOT NULL,
  PRIMARY KEY (resource, namespace, label_selector, field_selector)) WITHOUT ROWID;
CREATE TABLE documents (
  path TEXT NOT NULL, content_type TEXT NOT NULL, etag TEXT NOT NULL, body BLOB NOT NULL,
  size INTEGER NOT NULL, used_at INTEGER NOT NULL, PRIMARY KEY (path, content_type)) WITHOUT ROWID;
CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE usage (id INTEGER PRIMARY KEY CHECK (id = 1), bytes INTEGER NOT NULL);
INSERT INTO usage VALUES (1, 0);
CREATE TRIGGER objects_ins AFTER INSERT ON objects BEGIN UPDATE usage SET bytes = bytes + NEW.size; END;
CREATE TRIGGER objects_del AFTER DELETE ON objects BEGIN UPDATE usage SET bytes = bytes - OLD.size; END;
CREATE TRIGGER objects_upd AFTER UPDATE OF size ON objects BEGIN UPDATE usage SET bytes = bytes - OLD.size + NEW.size; END;
CREATE TRIGGER documents_ins AFTER INSERT ON documents BEGIN UPDATE usage SET bytes = bytes + NEW.size; END;
CREATE TRIGGER documents_del AFTER DELETE ON documents BEGIN UPDATE usage SET bytes = bytes - OLD.size; END;
CREATE TRIGGER documents_upd AFTER UPDATE OF size ON documents BEGIN UPDATE usage SET bytes = bytes - OLD.size + NEW.size; END;
`

export interface OldCacheContent {
  state: Record<string, string>
  /** ConfigMaps in namespace `ns`, all listed by one complete list at rv '10'. */
  configMaps: string[]
  document: { path: string, body: string }
}

export const CM_RESOURCE = '/v1/configmaps'

/** Writes `file` as schema `version` (1 or 2) wrote it, holding `content`. */
export function writeOldCache (file: string, version: 1 | 2, content: OldCacheContent): void {
  const db = new Database(file)
  db.pragma('journal_mode = WAL')
  db.exec(SCHEMA_V1_V2)
  const stateRow = db.prepare('INSERT INTO state (key, value) VALUES (?, ?)')
  for (const [key, value] of Object.entries(content.state)) stateRow.run(key, value)
  const object = db.prepare('INSERT INTO objects VALUES (?, ?, ?, ?, ?, ?, 1)')
  for (const name of content.configMaps) {
    const body = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'ns', resourceVersion: '10' } })
    object.run(CM_RESOURCE, 'ns', name, '10', body, Buffer.byteLength(body))
  }
  db.prepare("INSERT INTO lists VALUES (?, 'ns', '', '', 'ConfigMap', 'v1', '10', '10', 1)").run(CM_RESOURCE)
  const doc = Buffer.from(content.document.body)
  db.prepare("INSERT INTO documents VALUES (?, 'application/json', '', ?, ?, 1)").run(content.document.path, doc, doc.length)
  db.pragma(`user_version = ${version}`)
  db.close()
}
