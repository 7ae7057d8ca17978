// The Table and PartialObjectMetadata answers kube-apiserver gives for a LIST when the client asks
// for them in Accept (kubectl get, metadata informers), built as the apiserver builds them for a
// kind without a registered printer: k8s.io/apiserver pkg/registry/rest/table.go
// defaultTableConvertor, then handlers/response.go asTable / asPartialObjectMetadataList. The edge
// has no per-kind printers, so offline it always answers with these default columns. Pure.
import { goQuote } from './go-quote.js'

export interface ListMeta { resourceVersion?: string, continue?: string, remainingItemCount?: number }

export interface TableColumnDefinition { name: string, type: string, format: string, description: string, priority: number }
export interface TableRow { cells: unknown[], object: unknown }
export interface Table {
  kind: 'Table'
  apiVersion: 'meta.k8s.io/v1'
  metadata: ListMeta
  columnDefinitions: TableColumnDefinition[]
  /** null for no rows: Go marshals the unset slice the convertor appends to as null. */
  rows: TableRow[] | null
}
export interface PartialObjectMetadata { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: unknown }
export interface PartialObjectMetadataList {
  kind: 'PartialObjectMetadataList'
  apiVersion: 'meta.k8s.io/v1'
  metadata: ListMeta
  /** null for no items, as for Table rows. */
  items: PartialObjectMetadata[] | null
}

// metav1.ObjectMeta{}.SwaggerDoc()["name"] and ["creationTimestamp"], as served by 1.34.
const NAME_DESCRIPTION = 'Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names'
const CREATED_DESCRIPTION = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata'

const COLUMNS: readonly TableColumnDefinition[] = [
  { name: 'Name', type: 'string', format: 'name', description: NAME_DESCRIPTION, priority: 0 },
  { name: 'Created At', type: 'date', format: '', description: CREATED_DESCRIPTION, priority: 0 },
]

/**
 * The Table for a list of objects. `includeObject` is the query parameter (null when absent):
 * Metadata (the default) embeds each object's PartialObjectMetadata, Object the object itself,
 * None nothing (null). Any other value gives `error`, the message of the 400 the apiserver answers,
 * even for an empty list, since it validates the TableOptions before converting
 * (handlers/response.go optionsForTransform).
 */
export function toTable (objects: readonly unknown[], listMeta: ListMeta, includeObject: string | null): Table | { error: string } {
  const include = includeObject ?? ''
  if (!['', 'Metadata', 'Object', 'None'].includes(include)) {
    return { error: `Unable to convert to Table as requested: includeObject: Invalid value: ${goQuote(include)}: must be 'Metadata', 'Object', 'None', or empty` }
  }
  const rows = objects.map((obj): TableRow => ({
    cells: [stringAt(obj, 'name'), rfc3339(metadataOf(obj)?.creationTimestamp)],
    object: include === 'Object' ? obj : include === 'None' ? null : toPartialObjectMetadata(obj),
  }))
  return { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: listMetadata(listMeta), columnDefinitions: COLUMNS.map((c) => ({ ...c })), rows: rows.length > 0 ? rows : null }
}

export function toPartialObjectMetadataList (objects: readonly unknown[], listMeta: ListMeta): PartialObjectMetadataList {
  const items = objects.map(toPartialObjectMetadata)
  return { kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: listMetadata(listMeta), items: items.length > 0 ? items : null }
}

export function toPartialObjectMetadata (obj: unknown): PartialObjectMetadata {
  // meta.AsPartialObjectMetadata keeps the whole ObjectMeta; a zero ObjectMeta marshals as below.
  return { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: metadataOf(obj) ?? { creationTimestamp: null } }
}

/** ListMeta as Go marshals it: omitempty strings, remainingItemCount whenever set (even 0). */
function listMetadata (m: ListMeta): ListMeta {
  const out: ListMeta = {}
  if (m.resourceVersion !== undefined && m.resourceVersion !== '') out.resourceVersion = m.resourceVersion
  if (m.continue !== undefined && m.continue !== '') out.continue = m.continue
  if (m.remainingItemCount !== undefined) out.remainingItemCount = m.remainingItemCount
  return out
}

function metadataOf (obj: unknown): Record<string, unknown> | undefined {
  const m = typeof obj === 'object' && obj !== null ? (obj as { metadata?: unknown }).metadata : undefined
  return typeof m === 'object' && m !== null ? m as Record<string, unknown> : undefined
}

function stringAt (obj: unknown, key: string): string {
  const v = metadataOf(obj)?.[key]
  return typeof v === 'string' ? v : ''
}

/** creationTimestamp.Time.UTC().Format(time.RFC3339): whole seconds, "Z"; an unset time is Go's zero time. */
function rfc3339 (v: unknown): string {
  if (typeof v !== 'string' || v === '') return '0001-01-01T00:00:00Z'
  const t = new Date(v)
  return Number.isNaN(t.getTime()) ? v : t.toISOString().replace(/\.\d+Z$/, 'Z')
}
