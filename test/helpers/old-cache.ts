// Edge cache files as earlier releases wrote them, with data in them, for the migration tests.
// The tables are those of schema versions 1 and 2 as committed (git show d7a8d6e^:src/edge/cache/store.ts
// and 9edb439^: the same SQL; version 2 changed what objects may hold, not the tables).
import Database from 'better-sqlite3'
import { SCHEMA, SCHEMA_VERSION } from '../../src/edge/cache/store.js'

/**
 * Schema 1 and 2 tables: today's (schema 3) without lists.list_kind, the one column schema 3 added
 * (the triggers, indexes and other tables are unchanged since schema 1). If a later schema changes
 * more, this must become a verbatim copy of the old text; the throw below says when the base moved.
 */
const SCHEMA_V1_V2 = ((): string => {
  if (SCHEMA_VERSION !== 3) throw new Error(`old-cache.ts derives schemas 1-2 from schema 3, not ${SCHEMA_VERSION}: write them out`)
  const old = SCHEMA.replace('kind TEXT NOT NULL, list_kind TEXT NOT NULL, ', 'kind TEXT NOT NULL, ')
  if (old === SCHEMA) throw new Error('lists.list_kind not found in the schema')
  return old
})()

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
