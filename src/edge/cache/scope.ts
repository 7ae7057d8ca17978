// Which cached objects a request is about: the resource key (group/version/resource), the namespace,
// and its label and field selectors compiled into one predicate. Which cached list may answer a
// scope is the completeness rule's (completeness.ts coveringList); the selectors are evaluated here.
/* eslint-disable @typescript-eslint/no-explicit-any -- cached objects are untyped Kubernetes JSON; only metadata and selectable fields are read, each checked */
import { fieldNotSupported, fieldSupported, fieldVariesByRelease, knowsFields, selectableFields } from '../../kube/object-fields.js'
import type { ProtobufObjects, Representation } from '../../kube/media-type.js'
import { hasProtobufSchema } from '../../kube/protobuf/codec.js'
import type { RequestInfo } from '../../kube/request-info.js'
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from '../../kube/selectors.js'
import { LRUCache } from 'lru-cache'
import { offlineAnswers } from '../answers.js'
import { coveringList } from './completeness.js'
import type { CacheStore, ListRow, Scope, StoredObject } from './store.js'

/**
 * What a cache entry holds of a resource's objects: the objects themselves, or only their metadata
 * (PartialObjectMetadata answers, which metadata informers ask for). The two are kept under
 * different resource keys so that a metadata-only copy can never stand in for a whole object.
 */
export type View = 'objects' | 'metadata'

const METADATA_VIEW = '#metadata'

export function resourceKey (info: Pick<RequestInfo, 'apiGroup' | 'apiVersion' | 'resource'>, view: View = 'objects'): string {
  return `${info.apiGroup}/${info.apiVersion}/${info.resource}${view === 'metadata' ? METADATA_VIEW : ''}`
}

/** The parts of a resource key. */
export function resourceOfKey (key: string): { group: string, version: string, resource: string, view: View } {
  const view: View = key.endsWith(METADATA_VIEW) ? 'metadata' : 'objects'
  const [group = '', version = '', resource = ''] = (view === 'metadata' ? key.slice(0, -METADATA_VIEW.length) : key).split('/')
  return { group, version, resource, view }
}

/** The same scope in another view. */
export function inView (scope: Scope, view: View): Scope {
  const { group, version, resource } = resourceOfKey(scope.resource)
  return { ...scope, resource: resourceKey({ apiGroup: group, apiVersion: version, resource }, view) }
}

/** Whether the request's objects have a protobuf form (built-in kinds, not custom resources). */
export function protobufObjects (info: Pick<RequestInfo, 'apiGroup' | 'apiVersion'>): ProtobufObjects {
  return { protobuf: hasProtobufSchema(info.apiGroup === '' ? info.apiVersion : `${info.apiGroup}/${info.apiVersion}`) }
}

export function scopeOf (info: RequestInfo, query: URLSearchParams, view: View = 'objects'): Scope {
  // The selectors exactly as kube-apiserver reads them (Go's query parsing, first value, no
  // trimming: spaces are significant in field selectors); `query` serves infos built by hand.
  const first = (key: string): string => info.query !== undefined ? (info.query.get(key)?.[0] ?? '') : (query.get(key) ?? '')
  return {
    resource: resourceKey(info, view),
    namespace: info.namespace,
    labelSelector: first('labelSelector'),
    fieldSelector: first('fieldSelector'),
  }
}

export type FoundList = { ok: true, scope: Scope, selection: { match: ObjectPredicate }, row: ListRow } | { ok: false, message: string, refused: boolean }

/**
 * The complete list that answers `objects` (a scope of whole objects) in representation `as`:
 * metadata answers fall back to metadata-only copies when no whole objects cover the scope.
 */
export function answeringList (store: CacheStore, objects: Scope, as: Representation, path: string): FoundList {
  const views = as === 'partial-metadata' ? [objects, inView(objects, 'metadata')] : [objects]
  let refusal: FoundList | undefined
  for (const scope of views) {
    const selection = compileScope(scope)
    if (!selection.ok) {
      if (selection.refused) return selection
      refusal ??= selection
      continue
    }
    const row = coveringList(scope, store.listsOf(scope.resource))
    if (row !== undefined) return { ok: true, scope, selection, row }
  }
  return refusal ?? { ok: false, message: offlineAnswers.why.noList(path), refused: false }
}

export type ObjectPredicate = (object: any) => boolean
/** Not ok: a selector kube-apiserver would refuse (`refused`, a 400), or one the edge cannot evaluate for this resource. */
export type Compiled = { ok: true, match: ObjectPredicate } | { ok: false, message: string, refused: boolean }

// Compiled selectors, so a busy scope is not re-parsed on every event or answer.
const compiled = new LRUCache<string, Compiled>({ max: 512 })

/** The scope's selectors as one predicate over a parsed object; a selector kube-apiserver would reject is an error. */
export function compileScope (scope: Scope): Compiled {
  const key = `${scope.resource}\n${scope.labelSelector}\n${scope.fieldSelector}`
  let result = compiled.get(key)
  if (result === undefined) {
    result = compile(scope)
    compiled.set(key, result)
  }
  return result
}

function compile (scope: Scope): Compiled {
  const { group, version, resource, view } = resourceOfKey(scope.resource)
  const labels = parseLabelSelector(scope.labelSelector)
  if (!labels.ok) return { ...labels, refused: true }
  const fields = parseFieldSelector(scope.fieldSelector)
  if (!fields.ok) return { ...fields, refused: true }
  const releaseDependent = fields.value.find((r) => fieldVariesByRelease(group, resource, r.field))
  if (releaseDependent !== undefined) {
    return { ok: false, message: offlineAnswers.why.fieldNotEvaluable(releaseDependent.field, resource), refused: false }
  }
  const unsupported = fields.value.find((r) => !fieldSupported(group, resource, r.field))
  if (unsupported !== undefined) {
    // For kinds the edge knows this is the apiserver's 400; for custom resources it may be a field
    // their CRD declares, which the edge cannot evaluate.
    return knowsFields(group, resource)
      ? { ok: false, message: fieldNotSupported(group, resource, unsupported.field, version), refused: true }
      : { ok: false, message: offlineAnswers.why.fieldNotEvaluable(unsupported.field, resource), refused: false }
  }
  // Metadata-only copies hold no spec or status to evaluate other fields on.
  const beyondMetadata = view === 'metadata' ? fields.value.find((r) => !r.field.startsWith('metadata.')) : undefined
  if (beyondMetadata !== undefined) {
    return { ok: false, message: offlineAnswers.why.metadataOnly(beyondMetadata.field, resource), refused: false }
  }
  const labelReqs = labels.value
  const fieldReqs = fields.value
  return {
    ok: true,
    match: (object) => {
      if (labelReqs.length > 0 && !labelsMatch(labelReqs, object?.metadata?.labels)) return false
      if (fieldReqs.length === 0) return true
      return fieldsMatch(fieldReqs, selectableFields(group, resource, object))
    },
  }
}

/** Whether `object` belongs to the list `row` describes (namespace and selectors). */
export function rowCovers (row: Scope, object: StoredObject): boolean {
  if (row.namespace !== '' && row.namespace !== object.namespace) return false
  if (row.labelSelector === '' && row.fieldSelector === '') return true
  const c = compileScope(row)
  return c.ok && c.match(JSON.parse(object.body))
}

/** Objects passing `match` (all when undefined), parsed only when a selector needs it. */
export function selectObjects (objects: StoredObject[], match: (ObjectPredicate) | undefined): Array<StoredObject & { parsed?: any }> {
  if (match === undefined) return objects
  const out: Array<StoredObject & { parsed?: any }> = []
  for (const o of objects) {
    const parsed = JSON.parse(o.body)
    if (match(parsed)) out.push({ ...o, parsed })
  }
  return out
}
