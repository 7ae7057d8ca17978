// What a request means to Kubernetes (verb, group, version, resource, namespace, name,
// subresource): the same algorithm as k8s.io/apiserver's RequestInfoFactory, so RBAC decisions,
// watch detection and caching keys agree with kube-apiserver's. Pure: no I/O.

export interface RequestInfo {
  isResourceRequest: boolean
  path: string
  /** Kubernetes verb: get list watch create update patch delete deletecollection proxy, or the lower-cased HTTP method for non-resource paths. */
  verb: string
  apiPrefix: string
  apiGroup: string
  apiVersion: string
  namespace: string
  resource: string
  subresource: string
  name: string
  parts: string[]
}

const API_PREFIXES = new Set(['api', 'apis'])
const GROUPLESS_PREFIXES = new Set(['api'])
const SPECIAL_VERBS = new Set(['proxy', 'watch'])
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy'])
// Subresources of a namespace itself (/api/v1/namespaces/{ns}/status), not namespaced resources.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize'])

const METHOD_VERBS: Record<string, string> = {
  POST: 'create', GET: 'get', HEAD: 'get', PUT: 'update', PATCH: 'patch', DELETE: 'delete',
}

export type RequestInfoResult = { ok: true, info: RequestInfo } | { ok: false, message: string }

/** Parses a request the way kube-apiserver does. `url` is the path plus optional query string. */
export function requestInfo (method: string, url: string): RequestInfoResult {
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1))
  const info: RequestInfo = {
    isResourceRequest: false, path, verb: method.toLowerCase(), apiPrefix: '', apiGroup: '', apiVersion: '',
    namespace: '', resource: '', subresource: '', name: '', parts: [],
  }
  let parts = splitPath(path)
  if (parts.length < 3 || !API_PREFIXES.has(parts[0]!)) return { ok: true, info }

  info.apiPrefix = parts[0]!
  parts = parts.slice(1)
  if (!GROUPLESS_PREFIXES.has(info.apiPrefix)) {
    // One part for the group, one for the version, one for the resource at least.
    if (parts.length < 3) return { ok: true, info }
    info.apiGroup = parts[0]!
    parts = parts.slice(1)
  }
  info.isResourceRequest = true
  info.apiVersion = parts[0]!
  parts = parts.slice(1)

  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) return { ok: false, message: `unable to determine kind and namespace from url, ${path}` }
    info.verb = parts[0]!
    parts = parts.slice(1)
  } else {
    info.verb = METHOD_VERBS[method.toUpperCase()] ?? ''
  }

  if (parts[0] === 'namespaces') {
    if (parts.length > 1) {
      info.namespace = parts[1]!
      // /namespaces/{ns}/{resource}/...: everything after the namespace is relative to the resource.
      if (parts.length > 2 && !NAMESPACE_SUBRESOURCES.has(parts[2]!)) parts = parts.slice(2)
    }
  }
  info.parts = parts

  if (parts.length >= 3 && !SPECIAL_VERBS_NO_SUBRESOURCES.has(info.verb)) info.subresource = parts[2]!
  if (parts.length >= 2) info.name = parts[1]!
  if (parts.length >= 1) info.resource = parts[0]!

  if (info.name === '' && info.verb === 'get') {
    info.verb = queryBool(query.getAll('watch')) ? 'watch' : 'list'
    // A list or watch pinned to one name by field selector is authorised as that name.
    const pinned = fieldSelectorName(query.get('fieldSelector'))
    if (pinned !== undefined) info.name = pinned
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection'
  return { ok: true, info }
}

function splitPath (path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? [] : trimmed.split('/')
}

/** metav1's string→bool query conversion: absent is false; "0", "f", "false" are false; anything else true. */
export function queryBool (values: string[]): boolean {
  if (values.length === 0) return false
  const v = values[0]!.toLowerCase()
  return !(v === '0' || v === 'f' || v === 'false')
}

function fieldSelectorName (selector: string | null): string | undefined {
  if (selector === null || selector === '') return undefined
  for (const term of selector.split(',')) {
    const m = /^\s*metadata\.name\s*==?\s*(.*?)\s*$/.exec(term)
    if (m !== null) return m[1]
  }
  return undefined
}

/** Watches and upgrades run for as long as the client wants; everything else gets a request timeout. */
export function isLongRunning (info: RequestInfo): boolean {
  return info.verb === 'watch' || info.verb === 'proxy' ||
    ['exec', 'attach', 'portforward', 'proxy', 'log'].includes(info.subresource)
}
