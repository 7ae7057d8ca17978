// What a request means to Kubernetes (verb, group, version, resource, namespace, name,
// subresource), computed as k8s.io/apiserver's RequestInfoFactory.NewRequestInfo does
// (pkg/endpoints/request/requestinfo.go, v0.34–v0.37) on the request Go's HTTP server parsed
// (request-target.ts): the DEcoded path, Go's query parsing, ListOptions decoding whose failure
// drops the metadata.name pin, fields.ParseSelector's term order. RBAC decisions, watch detection
// and cache keys then agree with kube-apiserver's. Pure: no I/O.

import { parseQuery, requestTarget, type GoQuery } from './request-target.js'
import { badRequest, status, type Status } from './status.js'
import { parseFieldSelector, parseInt64, parseLabelSelector, requiresExactMatch, type FieldRequirement } from './selectors.js'

export interface RequestInfo {
  isResourceRequest: boolean
  /** URL.Path: percent-decoded. */
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
  /** URL.Query(), as every kube-apiserver handler reads it. */
  query?: GoQuery
  /** The origin-form target to relay upstream (request-target.ts). */
  originForm?: string
  /** Why metav1.ListOptions failed to decode (list/watch only): kube-apiserver's list handler answers it 400. */
  listOptionsError?: string
  /** RequestInfo.FieldSelector/LabelSelector: the raw first values, for list, watch and deletecollection. */
  fieldSelector?: string
  labelSelector?: string
}

const API_PREFIXES = new Set(['api', 'apis'])
const GROUPLESS_PREFIXES = new Set(['api'])
const SPECIAL_VERBS = new Set(['proxy', 'watch'])
const SPECIAL_VERBS_NO_SUBRESOURCES = new Set(['proxy'])
// Subresources of a namespace itself (/api/v1/namespaces/{ns}/status), not namespaced resources.
const NAMESPACE_SUBRESOURCES = new Set(['status', 'finalize'])
const VERBS_WITH_SELECTORS = new Set(['list', 'watch', 'deletecollection'])

// A Map: an HTTP/2 :method can be any token, "constructor" included.
const METHOD_VERBS: ReadonlyMap<string, string> = new Map([
  ['POST', 'create'], ['GET', 'get'], ['HEAD', 'get'], ['PUT', 'update'], ['PATCH', 'patch'], ['DELETE', 'delete'],
])

/**
 * Not ok: kube-apiserver never reaches authorization. `code` 400: Go's HTTP server refuses the
 * request target; 500: WithRequestInfo's InternalError ("failed to create RequestInfo: …").
 */
export type RequestInfoResult = { ok: true, info: RequestInfo } | { ok: false, message: string, code: 400 | 500 }

/** The Status to answer a request kube-apiserver would refuse before authorization (kube-apiserver's own 500 is plain text; the edge's is a Status). */
export function requestInfoRefusal (refused: { message: string, code: 400 | 500 }): Status {
  return refused.code === 500 ? status('InternalError', refused.message) : badRequest(refused.message)
}

/** Parses a request the way kube-apiserver does. `url` is the request target as received (origin- or absolute-form). */
export function requestInfo (method: string, url: string): RequestInfoResult {
  const parsed = requestTarget(url)
  if (!parsed.ok) return { ok: false, message: parsed.message, code: 400 }
  const { path, query, originForm } = parsed.target
  const info: RequestInfo = {
    isResourceRequest: false, path, verb: method.toLowerCase(), apiPrefix: '', apiGroup: '', apiVersion: '',
    namespace: '', resource: '', subresource: '', name: '', parts: [], query, originForm,
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

  let verbViaPath = false
  if (SPECIAL_VERBS.has(parts[0]!)) {
    if (parts.length < 2) {
      // responsewriters.InternalError: `Internal Server Error: %q: %v` of RequestURI and the error, HTML-escaped.
      const message = `Internal Server Error: ${JSON.stringify(url)}: failed to create RequestInfo: unable to determine kind and namespace from url, ${originForm}`
      return { ok: false, code: 500, message: message.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;') }
    }
    info.verb = parts[0]!
    verbViaPath = true
    parts = parts.slice(1)
  } else {
    // Go switches on req.Method as sent: methods are case-sensitive.
    info.verb = METHOD_VERBS.get(method) ?? ''
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
    const opts = decodeListOptions(query)
    if (!opts.ok) {
      // "An error in parsing request will result in default to list and not setting name field";
      // only watch is still read, straight from the query.
      info.listOptionsError = opts.message
      info.verb = watchParam(query.get('watch')) ? 'watch' : 'list'
    } else {
      info.verb = opts.watch ? 'watch' : 'list'
      const pinned = opts.fieldSelector === undefined ? undefined : requiresExactMatch(opts.fieldSelector, 'metadata.name')
      if (pinned !== undefined && isValidPathSegmentName(pinned)) info.name = pinned
    }
  }
  if (info.name === '' && info.verb === 'delete') info.verb = 'deletecollection'

  // AuthorizeWithSelectors: the raw selectors, not via the deprecated /watch/ paths.
  if (!verbViaPath && VERBS_WITH_SELECTORS.has(info.verb)) {
    const fs = query.get('fieldSelector')
    if (fs !== undefined && fs.length > 0) info.fieldSelector = fs[0]
    const ls = query.get('labelSelector')
    if (ls !== undefined && ls.length > 0) info.labelSelector = ls[0]
  }
  return { ok: true, info }
}

function splitPath (path: string): string[] {
  const trimmed = path.replace(/^\/+|\/+$/g, '')
  return trimmed === '' ? [] : trimmed.split('/')
}

/** path.IsValidPathSegmentName: not "." or "..", no "/" or "%". */
export function isValidPathSegmentName (name: string): boolean {
  return name !== '.' && name !== '..' && !name.includes('/') && !name.includes('%')
}

/** requestinfo.go's fallback reading of ?watch: the first value, "false" and "0" (any case) are false. */
function watchParam (values: readonly string[] | undefined): boolean {
  if (values === undefined || values.length === 0) return false
  const v = values[0]!.toLowerCase()
  return !(v === 'false' || v === '0')
}

/**
 * runtime.Convert_Slice_string_To_bool (metav1 ListOptions watch, allowWatchBookmarks, …): absent is
 * false; the first value "0" or "false" (any case) is false; anything else, even "", is true.
 * Takes url.Values' list for the key (URLSearchParams.getAll works too).
 */
export function queryBool (values: readonly string[] | undefined): boolean {
  return watchParam(values)
}

type ListOptions = { ok: true, watch: boolean, fieldSelector?: FieldRequirement[] } | { ok: false, message: string }

/**
 * metainternalversionscheme.ParameterCodec.DecodeParameters(query, metav1, &ListOptions{}):
 * url.Values → metav1.ListOptions (first value of each key; ints by strconv.ParseInt, so "" and
 * "abc" fail; bools never fail) → internal ListOptions (labels.Parse, fields.ParseSelector).
 */
function decodeListOptions (query: GoQuery): ListOptions {
  // DecodeParameters returns before converting anything when there are no parameters at all.
  if (query.size === 0) return { ok: true, watch: false }
  const first = (k: string): string | undefined => { const v = query.get(k); return v !== undefined && v.length > 0 ? v[0] : undefined }
  for (const key of ['timeoutSeconds', 'limit']) {
    const v = first(key)
    if (v !== undefined && parseInt64(v) === undefined) return { ok: false, message: `strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax` }
  }
  const labels = parseLabelSelector(first('labelSelector') ?? '')
  if (!labels.ok) return labels
  const fields = parseFieldSelector(first('fieldSelector') ?? '')
  if (!fields.ok) return fields
  return { ok: true, watch: queryBool(query.get('watch')), fieldSelector: fields.value }
}

/** url.Values of a request target's query string, Go's way (for callers holding only the raw URL). */
export function queryOf (url: string): GoQuery {
  const at = url.indexOf('?')
  return parseQuery(at === -1 ? '' : url.slice(at + 1))
}

/** Watches and upgrades run for as long as the client wants; everything else gets a request timeout. */
export function isLongRunning (info: RequestInfo): boolean {
  return info.verb === 'watch' || info.verb === 'proxy' ||
    ['exec', 'attach', 'portforward', 'proxy', 'log'].includes(info.subresource)
}
