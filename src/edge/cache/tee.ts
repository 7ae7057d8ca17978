// Fills the cache from answers the cloud gives anyway: GETs, LISTs (every chunk), WATCH events,
// the objects the pod's own writes returned, and discovery/openapi/version bodies. The client's
// bytes are never touched or delayed: the tee only listens to the same stream, and parsing and
// storing happen after the data has been passed on. Reading bodies is framing.ts's; what a list
// or a watch may claim is completeness.ts's. Anything it cannot follow exactly (a body over the
// bound, a torn event, an unknown framing) makes it stop following rather than claim more than it saw.
/* eslint-disable @typescript-eslint/no-explicit-any -- cached objects are untyped Kubernetes JSON; only metadata and selectable fields are read, each checked */
import type { IncomingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import { LRUCache } from 'lru-cache'
import type { RequestInfo } from '../../kube/request-info.js'
import type { Logger } from '../../obs/logger.js'
import { canBeCompleteAt, WatchClaim } from './completeness.js'
import { isDocumentPath, kindFromDiscovery } from './discovery-documents.js'
import { answerEncoding, BodyCollector, parseBody, readWatchEvents, type BodyBounds, type BodyEncoding } from './framing.js'
import { negotiateWatch, type Representation } from '../../kube/media-type.js'
import { hasProtobufSchema } from '../../kube/protobuf/codec.js'
import { compileScope, inView, protobufObjects, resourceOfKey, rowCovers, scopeOf, type View } from './scope.js'
import type { CacheStore, Scope } from './store.js'

/** Bodies over these bounds pass through uncached. */
export type TeeOptions = BodyBounds

type ParsedBody = NonNullable<ReturnType<typeof parseBody>>

interface PendingList { scope: Scope, kind: string, listKind: string, apiVersion: string, present: Set<string> }

const WRITES = new Set(['create', 'update', 'patch', 'delete'])
const PENDING_LIST_TTL_MS = 5 * 60_000
const MAX_PENDING_LISTS = 256
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end'

export class CacheTee {
  /** Chunked lists in progress, by the continue token their last chunk handed out. */
  private readonly pendingLists = new LRUCache<string, PendingList>({ max: MAX_PENDING_LISTS, ttl: PENDING_LIST_TTL_MS })
  private readonly bodies: BodyCollector

  constructor (private readonly store: CacheStore, private readonly logger: Logger, private readonly opts: TeeOptions) {
    this.bodies = new BodyCollector(opts)
  }

  /**
   * Looks at a relayed 200 answer and, when it is something the cache keeps, follows its body.
   * `accept` is the request's Accept header: a watch's events carry the representation it asked for.
   */
  observe (info: RequestInfo, url: string, accept: string | undefined, headers: IncomingHttpHeaders, body: Readable): void {
    const code = Number(headers[':status'])
    const contentType = String(headers['content-type'] ?? '')
    const gzipped = headers['content-encoding'] === 'gzip'
    const encoding = answerEncoding(contentType)
    if (WRITES.has(info.verb)) {
      // The pod's own writes: what the apiserver answered is the object as of that write.
      if ((code === 200 || code === 201) && info.isResourceRequest && (info.subresource === '' || info.subresource === 'status') && encoding !== undefined) {
        const scope = { ...scopeOf(info, new URLSearchParams()), labelSelector: '', fieldSelector: '' }
        this.collect(body, gzipped, encoding, (answer) => this.storeWritten(scope, info, answer))
      }
      return
    }
    if (code !== 200) return
    if (!info.isResourceRequest) {
      if (info.verb !== 'get' || !isDocumentPath(info.path)) return
      const etag = String(headers.etag ?? '')
      this.bodies.collect(body, gzipped, (bytes) => this.store.enqueue(() => this.store.putDocument(info.path, contentType, etag, bytes)))
      return
    }
    // JSON and protobuf are decoded (into one JSON truth per object); anything else passes
    // through uncached. Which view an answer fills (whole objects, metadata only, or none for
    // Tables) is read from the objects it carries.
    if (info.subresource !== '' || encoding === undefined) return
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length))
    const scope = scopeOf(info, query)
    if (info.verb === 'get') this.collect(body, gzipped, encoding, (answer) => this.storeObject(scope, answer))
    else if (info.verb === 'list' && query.get('resourceVersionMatch') !== 'Exact') {
      this.collect(body, gzipped, encoding, (answer) => this.storeListChunk(scope, query.get('continue'), answer.object))
    } else if (info.verb === 'watch') {
      // A watch's events carry what its Accept header asked for; each event is checked against it.
      const view = viewForAnswer(negotiateWatch(accept, protobufObjects(info))?.as)
      if (view !== undefined) this.followWatch(inView(scope, view), query, encoding, body, gzipped)
    }
  }

  /** Follows an upstream watch body the edge itself opened (resuming a held watch); `scope` is in the view it asked for. */
  followResumedWatch (scope: Scope, fromRv: string, encoding: BodyEncoding, body: Readable): void {
    this.followWatch(scope, new URLSearchParams({ resourceVersion: fromRv }), encoding, body)
  }

  /** Collects and decodes the body, then stores it; a body that is not what it claims is logged, never thrown. */
  private collect (body: Readable, gzipped: boolean, encoding: BodyEncoding, store: (answer: ParsedBody) => void): void {
    this.bodies.collect(body, gzipped, (bytes) => {
      const answer = parseBody(bytes, encoding)
      if (answer === undefined) { this.logger.warn({ encoding }, 'edge cache could not decode an answer'); return }
      try { store(answer) } catch (err) { this.logger.warn({ err }, 'edge cache could not store an answer') }
    })
  }

  private storeWritten (scope: Scope, info: RequestInfo, answer: ParsedBody): void {
    const obj = answer.object
    if (obj?.kind !== 'Status') { this.storeObject(scope, answer); return }
    // A delete answered with a Status: gone now (its deletion version is not known, so no tombstone).
    if (info.verb === 'delete' && obj.status === 'Success') {
      for (const view of ['objects', 'metadata'] as const) this.store.enqueue(() => this.store.dropObject(inView(scope, view).resource, info.namespace, info.name))
    }
  }

  private storeObject (scope: Scope, answer: ParsedBody): void {
    const obj = answer.object
    const meta = obj?.metadata
    const view = viewOfObject(obj)
    if (view === undefined || typeof meta?.name !== 'string' || typeof meta.resourceVersion !== 'string') return
    const body = answer.text
    const resource = inView(scope, view).resource
    this.store.enqueue(() => this.store.putObject(resource, meta.namespace ?? '', meta.name, meta.resourceVersion, body))
  }

  private storeListChunk (requested: Scope, continueToken: string | null, list: any): void {
    if (!Array.isArray(list?.items) || typeof list.kind !== 'string' || list.kind === '') return
    const rv = String(list.metadata?.resourceVersion ?? '')
    let pending: PendingList | undefined
    if (continueToken === null || continueToken === '') {
      const metadataOnly = viewOfObject({ kind: list.kind.replace(/List$/, ''), apiVersion: list.apiVersion })
      if (metadataOnly === undefined) return
      const kind = metadataOnly === 'metadata' ? 'PartialObjectMetadata' : this.itemKind(requested, list)
      if (kind === undefined) return
      pending = { scope: inView(requested, metadataOnly), kind, listKind: list.kind, apiVersion: String(list.apiVersion), present: new Set() }
    } else {
      pending = this.pendingLists.get(continueToken)
      this.pendingLists.delete(continueToken)
      if (pending === undefined) return // the first chunks went by before this daemon started, or expired
    }
    const { scope, kind, listKind, apiVersion, present } = pending
    const items = (list.items as any[]).map((item) => typeMeta(item, kind, apiVersion))
    for (const item of items) present.add(`${item.metadata?.namespace ?? ''}/${item.metadata?.name}`)
    this.store.enqueue(() => {
      for (const item of items) this.putParsed(scope.resource, item)
    })
    const next = list.metadata?.continue
    if (typeof next === 'string' && next !== '') {
      this.pendingLists.set(next, pending)
      return
    }
    if (!canBeCompleteAt(rv)) return
    const inScope = (o: Parameters<typeof rowCovers>[1]): boolean => rowCovers(scope, o)
    this.store.enqueue(() => this.store.commitList({ ...scope, kind, listKind, apiVersion, rv }, present, inScope))
  }

  /**
   * The kind of a list's items: what the items say (custom resources carry it); for built-in APIs
   * the list kind without its List suffix (always so, and no discovery parsing on every LIST);
   * else what the cached discovery says (an empty custom-resource list), else the suffix rule.
   */
  private itemKind (scope: Scope, list: any): string | undefined {
    const carried = list.items.find((i: any) => typeof i?.kind === 'string' && i.kind !== '')?.kind
    if (carried !== undefined) return carried
    const suffixed = list.kind.endsWith('List') ? list.kind.slice(0, -'List'.length) : undefined
    if (suffixed !== undefined && hasProtobufSchema(String(list.apiVersion))) return suffixed
    const { group, version, resource } = resourceOfKey(scope.resource)
    return kindFromDiscovery((path) => this.store.documents(path), group, version, resource) ?? suffixed
  }

  private putParsed (resource: string, obj: any): void {
    const meta = obj.metadata
    if (typeof meta?.name !== 'string' || typeof meta.resourceVersion !== 'string') return
    this.store.putObject(resource, meta.namespace ?? '', meta.name, meta.resourceVersion, () => JSON.stringify(obj))
  }

  /**
   * Applies watch events as they pass. The scope's list row moves forward only while the cache
   * provably saw every event since what it knows (completeness.ts): the watch continues the row
   * (or delivered a complete initial state), and no event was lost since.
   */
  private followWatch (scope: Scope, query: URLSearchParams, encoding: BodyEncoding, body: Readable, gzipped = false): void {
    const startRv = query.get('resourceVersion') ?? ''
    const claim = new WatchClaim(startRv, query.get('sendInitialEvents') === 'true')
    const initial = { present: new Set<string>(), kind: '', apiVersion: '' }
    const selection = compileScope(scope)
    if (!selection.ok) return
    const view = resourceOfKey(scope.resource).view
    let stopped = false
    const apply = (event: any): void => {
      const obj = event?.object
      const rv = obj?.metadata?.resourceVersion
      if (stopped || typeof rv !== 'string') return
      if (viewOfObject(obj) !== view) {
        // Not what the Accept header promised: nothing after it can be trusted to continue the scope.
        stopped = true
        this.logger.debug({ scope, kind: obj?.kind }, 'edge cache stopped following a watch: unexpected object kind')
        return
      }
      // Applied in the write queue, so the row it is decided against has every earlier write in.
      claim.decide(() => this.store.getList(scope))
      switch (event.type) {
        case 'ADDED':
        case 'MODIFIED':
          this.putParsed(scope.resource, obj)
          if (claim.collectingInitialState) {
            initial.present.add(`${obj.metadata.namespace ?? ''}/${obj.metadata.name}`)
            initial.kind = obj.kind ?? initial.kind
            initial.apiVersion = obj.apiVersion ?? initial.apiVersion
          }
          if (claim.advances) this.store.advanceList(scope, rv, true)
          break
        case 'DELETED':
          // Under a selector, DELETED also means "no longer selected": the object then still exists.
          if (selection.match(obj)) this.store.deleteObject(scope.resource, obj.metadata.namespace ?? '', obj.metadata.name, rv)
          else this.putParsed(scope.resource, obj)
          if (claim.advances) this.store.advanceList(scope, rv, true)
          break
        case 'BOOKMARK':
          if (claim.collectingInitialState && obj.metadata.annotations?.[INITIAL_EVENTS_END] === 'true') {
            const kind = initial.kind !== '' ? initial.kind : String(obj.kind ?? '')
            const apiVersion = initial.apiVersion !== '' ? initial.apiVersion : String(obj.apiVersion ?? '')
            if (kind !== '' && canBeCompleteAt(rv)) {
              // A watch does not say the list kind: a LIST of the resource seen before does.
              const listKind = this.store.listsOf(scope.resource).find((r) => r.kind === kind)?.listKind
              this.store.commitList({ ...scope, kind, listKind, apiVersion, rv }, initial.present, (o) => rowCovers(scope, o))
              claim.initialStateCommitted()
            }
          } else if (claim.advances) {
            this.store.advanceList(scope, rv, false)
          }
          break
      }
    }
    readWatchEvents(body, encoding, this.opts.maxBodyBytes, (event) => {
      if (event?.type !== 'ERROR') this.store.enqueue(() => apply(event))
    }, (why) => {
      // What was applied stays true as of its version; the scope simply stops moving forward.
      this.logger.debug({ scope, why }, 'edge cache stopped following a watch')
    }, gzipped)
  }
}

const META_GROUP = /^meta\.k8s\.io\/v1(beta1)?$/

/**
 * Which view an object fills: a PartialObjectMetadata only the metadata view; a Table (or a List of
 * them) none; anything else is the object itself. Bookmarks carry the kind the watch delivers.
 */
function viewOfObject (obj: any): View | undefined {
  if (typeof obj?.apiVersion !== 'string' || !META_GROUP.test(obj.apiVersion)) return 'objects'
  if (obj.kind === 'PartialObjectMetadata') return 'metadata'
  return obj.kind === 'Table' ? undefined : 'objects'
}

/** The view a representation of a watch fills (none for Tables). */
function viewForAnswer (as: Representation | undefined): View | undefined {
  if (as === 'partial-metadata') return 'metadata'
  return as === 'json' ? 'objects' : undefined
}

/** List items come without kind/apiVersion; a cached object must be servable alone (GET) too. */
function typeMeta (item: any, kind: string, apiVersion: string): any {
  if (typeof item !== 'object' || item === null) return item
  if (item.kind !== undefined && item.apiVersion !== undefined) return item
  return { kind, apiVersion, ...item }
}
