// Answers from the cache while the cloud is unreachable (DESIGN decision 6). Reads that the cache
// can answer exactly are served with a Warning kubectl prints; anything else gets a 503 Status —
// never an empty list standing in for "unknown", never a write pretended to have happened.
// Requests only get here after the edge authorized them (requireAuthorization).
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import { decodeContinue, encodeContinue, listKey } from '../../kube/continue-token.js'
import { negotiateGet, negotiateList, type Encoding, type Representation } from '../../kube/media-type.js'
import { encodeObject, PROTOBUF_MEDIA_TYPE, type JsonObject } from '../../kube/protobuf/codec.js'
import type { RequestInfo } from '../../kube/request-info.js'
import { isOrderableRv, rvAtLeast } from '../../kube/resource-version.js'
import { searchParams } from '../../kube/request-target.js'
import { badRequest, notFound } from '../../kube/status.js'
import { cloudUnreachable, offlineAnswers, offlineWarning, sendStatus } from '../answers.js'

const why = offlineAnswers.why
import { toPartialObjectMetadata, toPartialObjectMetadataList, toTable, type ListMeta } from '../../kube/table.js'
import { chooseDocument, isDocumentPath } from './discovery-documents.js'
import type { OfflineAnswers } from '../relay.js'
import type { HeldWatches } from './held-watch.js'
import { coveringList, listAnswerable } from './completeness.js'
import { answeringList, inView, protobufObjects, scopeOf, selectObjects } from './scope.js'
import type { CacheStore, ListRow, StoredObject } from './store.js'

/** The cache's answers while the cloud is unreachable: what the relay falls back to. */
export class OfflineCacheAnswers implements OfflineAnswers {
  constructor (private readonly store: CacheStore, private readonly watches: HeldWatches) {}

  /** Answers one request from the cache; returns the HTTP status sent. */
  serve (info: RequestInfo, url: string, headers: IncomingHttpHeaders, res: ServerResponse, since: number): number {
    // The query as kube-apiserver parses it (url.ParseQuery drops pairs it cannot decode).
    const query = info.query !== undefined ? searchParams(info.query) : new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length))
    const reads = info.verb === 'get' || info.verb === 'list' || info.verb === 'watch'
    if (!reads) return sendStatus(res, cloudUnreachable(since, why.writes))
    if (!info.isResourceRequest) return this.document(info.path, headers, res, since)
    if (info.subresource !== '') return sendStatus(res, cloudUnreachable(since, why.subresource(info.subresource)))
    // kube-apiserver's list handler refuses ListOptions it cannot decode (limit=abc, a bad selector).
    if (info.listOptionsError !== undefined) return sendStatus(res, badRequest(info.listOptionsError))
    const unusual = notAnsweredOffline(info, query, res.req?.method)
    if (unusual !== undefined) return sendStatus(res, cloudUnreachable(since, why.unusual(unusual)))
    if (info.verb === 'watch') return this.watches.hold(info, url, headers, res, since)
    if (info.verb === 'get') return this.object(info, query, headers, res, since)
    return this.list(info, query, headers, res, since)
  }

  private document (path: string, headers: IncomingHttpHeaders, res: ServerResponse, since: number): number {
    const doc = isDocumentPath(path) ? chooseDocument(headers.accept, this.store.documents(path)) : undefined
    if (doc === undefined) return sendStatus(res, cloudUnreachable(since, why.noDocument(path)))
    const common = { 'cache-control': 'no-cache, private', warning: offlineWarning(since), ...(doc.etag === '' ? {} : { etag: doc.etag }) }
    if (doc.etag !== '' && headers['if-none-match'] === doc.etag) {
      res.writeHead(304, common).end()
      return 304
    }
    res.writeHead(200, { ...common, 'content-type': doc.contentType, 'content-length': String(doc.body.length) }).end(doc.body)
    return 200
  }

  private object (info: RequestInfo, query: URLSearchParams, headers: IncomingHttpHeaders, res: ServerResponse, since: number): number {
    const negotiated = negotiateGet(headers.accept, protobufObjects(info))
    if (negotiated === undefined) return sendStatus(res, offlineAnswers.notAcceptable())
    const { as } = negotiated
    // Metadata answers may come from whole objects or, failing those, from metadata-only copies.
    const objects = scopeOf(info, query)
    const fromMetadata = as === 'partial-metadata' && this.store.getObject(objects.resource, info.namespace, info.name) === undefined &&
      this.store.getObject(inView(objects, 'metadata').resource, info.namespace, info.name) !== undefined
    const scope = fromMetadata ? inView(objects, 'metadata') : objects
    const stored = this.store.getObject(scope.resource, info.namespace, info.name)
    const wanted = query.get('resourceVersion') ?? ''
    if (stored !== undefined && wanted !== '' && wanted !== '0' && !(isOrderableRv(wanted) && rvAtLeast(stored.rv, wanted))) {
      // "Not older than" a version the cached copy does not reach: kube-apiserver would wait for it, or time out.
      return sendStatus(res, cloudUnreachable(since, why.olderObject(info.path, stored.rv, wanted)))
    }
    if (stored === undefined) {
      // A complete list without selectors that does not hold it is as good an answer as the list itself.
      const unfiltered = { ...scope, labelSelector: '', fieldSelector: '' }
      const views = as === 'partial-metadata' ? [unfiltered, inView(unfiltered, 'metadata')] : [unfiltered]
      if (views.some((v) => coveringList(v, this.store.listsOf(v.resource)) !== undefined)) {
        const group = info.apiGroup === '' ? {} : { group: info.apiGroup }
        const qualified = info.apiGroup === '' ? info.resource : `${info.resource}.${info.apiGroup}`
        return sendStatus(res, notFound(`${qualified} "${info.name}" not found`, { name: info.name, ...group, kind: info.resource }), { warning: offlineWarning(since) })
      }
      return sendStatus(res, cloudUnreachable(since, why.noObject(info.path)))
    }
    return represent(res, since, {
      ...negotiated,
      single: true,
      listType: { kind: '', apiVersion: '' },
      listMeta: { resourceVersion: stored.rv },
      includeObject: query.get('includeObject'),
      json: () => stored.body,
      objects: () => [JSON.parse(stored.body)],
    })
  }

  private list (info: RequestInfo, query: URLSearchParams, headers: IncomingHttpHeaders, res: ServerResponse, since: number): number {
    const negotiated = negotiateList(headers.accept, protobufObjects(info))
    if (negotiated === undefined) return sendStatus(res, offlineAnswers.notAcceptable())
    const found = answeringList(this.store, scopeOf(info, query), negotiated.as, info.path)
    if (!found.ok) return sendStatus(res, found.refused ? badRequest(found.message) : cloudUnreachable(since, `and ${found.message}`))
    const { scope, selection, row } = found
    const wanted = query.get('resourceVersion') ?? ''
    const answerable = listAnswerable(row, wanted, query.get('resourceVersionMatch') ?? '')
    if (!answerable.ok && answerable.reason === 'older') {
      return sendStatus(res, cloudUnreachable(since, why.olderList(row.rv, wanted)))
    }
    if (!answerable.ok) {
      return sendStatus(res, cloudUnreachable(since, why.notExactList(row.rv, wanted)))
    }
    this.store.touchList(row)

    const unfiltered = scope.labelSelector === '' && scope.fieldSelector === ''
    const selected = selectObjects(this.store.scopeObjects(scope.resource, scope.namespace), unfiltered ? undefined : selection.match)
      .map((o) => ({ ...o, key: listKey(scope.namespace, o.namespace, o.name) }))
    selected.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)

    let from = 0
    const token = query.get('continue') ?? ''
    if (token !== '') {
      const decoded = decodeContinue(token)
      if (!decoded.ok) return sendStatus(res, badRequest(decoded.message))
      if (decoded.rv !== row.rv) return sendStatus(res, offlineAnswers.continueExpired())
      while (from < selected.length && selected[from]!.key < decoded.start) from++
    }
    const limit = Number.parseInt(query.get('limit') ?? '0', 10)
    const to = limit > 0 ? Math.min(from + limit, selected.length) : selected.length
    const page = selected.slice(from, to)
    const listMeta: ListMeta = { resourceVersion: row.rv }
    if (to < selected.length) {
      listMeta.continue = encodeContinue(row.rv, page[page.length - 1]!.key)
      listMeta.remainingItemCount = selected.length - to
    }
    return represent(res, since, {
      ...negotiated,
      single: false,
      listType: { kind: row.listKind, apiVersion: row.apiVersion },
      listMeta,
      includeObject: query.get('includeObject'),
      json: () => listBody(row, listMeta, page),
      objects: () => page.map((o) => o.parsed ?? JSON.parse(o.body)),
    })
  }
}

/** One cached answer (an object or a page of a list), before it is put in its representation. */
interface CachedAnswer {
  /** The negotiated representation. */
  as: Representation
  encoding: Encoding
  /** One object (a GET) rather than a list. */
  single: boolean
  /** The kind and apiVersion of the list (protobuf lists are written whole). */
  listType: { kind: string, apiVersion: string }
  /** resourceVersion, and continue/remainingItemCount for a page of a list. */
  listMeta: ListMeta
  /** The client's includeObject (Tables only). */
  includeObject: string | null
  /** Plain JSON: the stored text, not re-encoded. */
  json: () => string
  /** The objects parsed, for Table and PartialObjectMetadata answers. */
  objects: () => unknown[]
}

/** Sends the answer in its negotiated representation and encoding; returns the HTTP status sent. */
function represent (res: ServerResponse, since: number, answer: CachedAnswer): number {
  if (answer.as === 'json' && answer.encoding === 'json') return sendJson(res, since, answer.json())
  const parsed = answer.objects()
  if (answer.as === 'table') {
    const table = toTable(parsed, answer.listMeta, answer.includeObject)
    return 'error' in table ? sendStatus(res, badRequest(table.error)) : sendJson(res, since, JSON.stringify(table))
  }
  const object = answer.as === 'partial-metadata'
    ? (answer.single ? toPartialObjectMetadata(parsed[0]) : toPartialObjectMetadataList(parsed, answer.listMeta))
    : (answer.single ? parsed[0] : { kind: answer.listType.kind, apiVersion: answer.listType.apiVersion, metadata: answer.listMeta, items: parsed })
  if (answer.encoding === 'json') return sendJson(res, since, JSON.stringify(object))
  const encoded = encodeObject(object as JsonObject)
  if (!encoded.ok) return sendStatus(res, cloudUnreachable(since, why.notProtobuf(encoded.message)))
  return send(res, since, PROTOBUF_MEDIA_TYPE, encoded.bytes)
}

/** The list as kube-apiserver writes it, items spliced in as stored (no re-encoding). */
function listBody (row: ListRow, listMeta: object, items: StoredObject[]): string {
  return `{"kind":${JSON.stringify(row.listKind)},"apiVersion":${JSON.stringify(row.apiVersion)},"metadata":${JSON.stringify(listMeta)},"items":[${items.map((i) => i.body).join(',')}]}\n`
}

function sendJson (res: ServerResponse, since: number, body: string): number {
  // kube-apiserver labels Table and PartialObjectMetadata answers plain application/json too.
  return send(res, since, 'application/json', Buffer.from(body.endsWith('\n') ? body : body + '\n'))
}

function send (res: ServerResponse, since: number, contentType: string, body: Buffer): number {
  res.writeHead(200, {
    'content-type': contentType,
    'cache-control': 'no-cache, private',
    warning: offlineWarning(since),
    'content-length': String(body.length),
  }).end(body)
  return 200
}

/**
 * Requests kube-apiserver validates in ways the cache does not reproduce (ListOptions validation,
 * HEAD handling): offline they get the 503 of an outage rather than an answer kube-apiserver might
 * refuse. Returns what is unusual, or undefined.
 */
function notAnsweredOffline (info: RequestInfo, query: URLSearchParams, method: string | undefined): string | undefined {
  if (method === 'HEAD') return 'HEAD requests'
  // kube-apiserver's router does not clean paths: `//api/...`, `/./`, a trailing slash are not the resource.
  if (/\/\/|\/\.\.?(\/|$)|.\/$/.test(info.path)) return `the path ${info.path} as it is`
  const rv = query.get('resourceVersion') ?? ''
  if (rv !== '' && !/^\d+$/.test(rv)) return `resourceVersion ${JSON.stringify(rv)}`
  if (info.verb === 'watch' && query.has('continue')) return 'continue on a watch'
  const match = query.get('resourceVersionMatch')
  // apimachinery's ValidateListOptions / validateWatchOptions, the rules it would refuse with 422.
  if (info.verb === 'watch') {
    if (query.has('sendInitialEvents') && match !== 'NotOlderThan') return 'sendInitialEvents without resourceVersionMatch=NotOlderThan'
    if (match !== null && !query.has('sendInitialEvents')) return 'resourceVersionMatch on a watch without sendInitialEvents'
    return undefined
  }
  if (match !== null && (query.get('resourceVersion') ?? '') === '') return 'resourceVersionMatch without resourceVersion'
  if (query.has('sendInitialEvents')) return `sendInitialEvents on a ${info.verb}`
  return undefined
}
