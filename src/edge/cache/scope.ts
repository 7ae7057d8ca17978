// Which cached objects a request is about: the resource key (group/version/resource), the namespace,
// and its label and field selectors compiled into one predicate. Which cached list may answer a
// scope is the completeness rule's (completeness.ts coveringList); the selectors are evaluated here.
/* eslint-disable @typescript-eslint/no-explicit-any -- cached objects are untyped Kubernetes JSON; only metadata and selectable fields are read, each checked */
import { fieldNotSupported, fieldSupported, knowsFields, selectableFields } from '../../kube/object-fields.js'
import type { RequestInfo } from '../../kube/request-info.js'
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from '../../kube/selectors.js'
import type { Scope, StoredObject } from './store.js'

export function resourceKey (info: Pick<RequestInfo, 'apiGroup' | 'apiVersion' | 'resource'>): string {
  return `${info.apiGroup}/${info.apiVersion}/${info.resource}`
}

export function scopeOf (info: RequestInfo, query: URLSearchParams): Scope {
  // The selectors exactly as kube-apiserver reads them (Go's query parsing, first value, no
  // trimming: spaces are significant in field selectors); `query` serves infos built by hand.
  const first = (key: string): string => info.query !== undefined ? (info.query.get(key)?.[0] ?? '') : (query.get(key) ?? '')
  return {
    resource: resourceKey(info),
    namespace: info.namespace,
    labelSelector: first('labelSelector'),
    fieldSelector: first('fieldSelector'),
  }
}

export type ObjectPredicate = (object: any) => boolean
/** Not ok: a selector kube-apiserver would refuse (`refused`, a 400), or one the edge cannot evaluate for this resource. */
export type Compiled = { ok: true, match: ObjectPredicate } | { ok: false, message: string, refused: boolean }

const compiled = new Map<string, Compiled>()
const MAX_COMPILED = 512

/** The scope's selectors as one predicate over a parsed object; a selector kube-apiserver would reject is an error. */
export function compileScope (scope: Scope): Compiled {
  const key = `${scope.resource}\n${scope.labelSelector}\n${scope.fieldSelector}`
  let result = compiled.get(key)
  if (result === undefined) {
    result = compile(scope)
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!)
    compiled.set(key, result)
  }
  return result
}

function compile (scope: Scope): Compiled {
  const [group, version, resource] = scope.resource.split('/') as [string, string, string]
  const labels = parseLabelSelector(scope.labelSelector)
  if (!labels.ok) return { ...labels, refused: true }
  const fields = parseFieldSelector(scope.fieldSelector)
  if (!fields.ok) return { ...fields, refused: true }
  const unsupported = fields.value.find((r) => !fieldSupported(group, resource, r.field))
  if (unsupported !== undefined) {
    // For kinds the edge knows this is the apiserver's 400; for custom resources it may be a field
    // their CRD declares, which the edge cannot evaluate.
    return knowsFields(group, resource)
      ? { ok: false, message: fieldNotSupported(group, resource, unsupported.field, version), refused: true }
      : { ok: false, message: `the edge cannot evaluate the field selector "${unsupported.field}" for ${resource}`, refused: false }
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
