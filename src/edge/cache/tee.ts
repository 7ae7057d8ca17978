// Fills the cache from answers the cloud gives anyway: GETs, LISTs (every chunk), WATCH events,
// the objects the pod's own writes returned, and discovery/openapi/version bodies. The client's
// bytes are never touched or delayed: the tee only listens to the same stream, and parsing and
// storing happen after the data has been passed on. Reading bodies is framing.ts's; what a list
// or a watch may claim is completeness.ts's. Anything it cannot follow exactly (a body over the
// bound, a torn event, an unknown framing) makes it stop following rather than claim more than it saw.
/* eslint-disable @typescript-eslint/no-explicit-any -- cached objects are untyped Kubernetes JSON; only metadata and selectable fields are read, each checked */
import type { IncomingHttpHeaders } from 'node:http2'
import type { Readable } from 'node:stream'
import type { RequestInfo } from '../../kube/request-info.js'
import type { Logger } from '../../obs/logger.js'
import { canBeCompleteAt, WatchClaim } from './completeness.js'
import { isDocumentPath } from './discovery-documents.js'
import { BodyCollector, isPlainJson, readWatchEvents, type BodyBounds } from './framing.js'
import { compileScope, resourceKey, rowCovers, scopeOf } from './scope.js'
import type { CacheStore, Scope } from './store.js'

/** Bodies over these bounds pass through uncached. */
export type TeeOptions = BodyBounds

interface PendingList { scope: Scope, kind: string, apiVersion: string, present: Set<string>, expires: number }

const WRITES = new Set(['create', 'update', 'patch', 'delete'])
const PENDING_LIST_TTL_MS = 5 * 60_000
const MAX_PENDING_LISTS = 256
const INITIAL_EVENTS_END = 'k8s.io/initial-events-end'

export class CacheTee {
  /** Chunked lists in progress, by the continue token their last chunk handed out. */
  private readonly pendingLists = new Map<string, PendingList>()
  private readonly bodies: BodyCollector

  constructor (private readonly store: CacheStore, private readonly logger: Logger, private readonly opts: TeeOptions) {
    this.bodies = new BodyCollector(opts)
  }

  /** Looks at a relayed 200 answer and, when it is something the cache keeps, follows its body. */
  observe (info: RequestInfo, url: string, headers: IncomingHttpHeaders, body: Readable): void {
    const code = Number(headers[':status'])
    const contentType = String(headers['content-type'] ?? '')
    const gzipped = headers['content-encoding'] === 'gzip'
    if (WRITES.has(info.verb)) {
      // The pod's own writes: what the apiserver answered is the object as of that write.
      if ((code === 200 || code === 201) && info.isResourceRequest && (info.subresource === '' || info.subresource === 'status') && isPlainJson(contentType)) {
        const resource = resourceKey(info)
        this.collect(body, gzipped, (bytes) => this.storeWritten(resource, info, bytes))
      }
      return
    }
    if (code !== 200) return
    if (!info.isResourceRequest) {
      if (info.verb !== 'get' || !isDocumentPath(info.path)) return
      const etag = String(headers.etag ?? '')
      this.collect(body, gzipped, (bytes) => this.store.enqueue(() => this.store.putDocument(info.path, contentType, etag, bytes)))
      return
    }
    // Only plain JSON is decoded; Tables, protobuf and partial metadata pass through uncached.
    if (info.subresource !== '' || !isPlainJson(contentType)) return
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length))
    const scope = scopeOf(info, query)
    if (info.verb === 'get') this.collect(body, gzipped, (bytes) => this.storeObject(scope, bytes))
    else if (info.verb === 'list' && query.get('resourceVersionMatch') !== 'Exact') {
      this.collect(body, gzipped, (bytes) => this.storeListChunk(scope, query.get('continue'), bytes))
    } else if (info.verb === 'watch' && !gzipped) this.followWatch(scope, query, body)
  }

  /** Follows an upstream watch body the edge itself opened (resuming a held watch). */
  followResumedWatch (scope: Scope, fromRv: string, body: Readable): void {
    this.followWatch(scope, new URLSearchParams({ resourceVersion: fromRv }), body)
  }

  /** Collects the body, then stores it; a body that is not what it claims is logged, never thrown. */
  private collect (body: Readable, gzipped: boolean, store: (bytes: Buffer) => void): void {
    this.bodies.collect(body, gzipped, (bytes) => {
      try { store(bytes) } catch (err) { this.logger.warn({ err }, 'edge cache could not store an answer') }
    })
  }

  private storeWritten (resource: string, info: RequestInfo, bytes: Buffer): void {
    const obj = JSON.parse(bytes.toString('utf8'))
    if (obj?.kind !== 'Status') { this.storeObject({ resource, namespace: info.namespace, labelSelector: '', fieldSelector: '' }, bytes); return }
    // A delete answered with a Status: gone now (its deletion version is not known, so no tombstone).
    if (info.verb === 'delete' && obj.status === 'Success') this.store.enqueue(() => this.store.dropObject(resource, info.namespace, info.name))
  }

  private storeObject (scope: Scope, bytes: Buffer): void {
    const obj = JSON.parse(bytes.toString('utf8'))
    const meta = obj?.metadata
    if (typeof meta?.name !== 'string' || typeof meta.resourceVersion !== 'string') return
    const body = bytes.toString('utf8').trimEnd()
    this.store.enqueue(() => this.store.putObject(scope.resource, meta.namespace ?? '', meta.name, meta.resourceVersion, body))
  }

  private storeListChunk (scope: Scope, continueToken: string | null, bytes: Buffer): void {
    const list = JSON.parse(bytes.toString('utf8'))
    if (!Array.isArray(list?.items) || typeof list.kind !== 'string' || !list.kind.endsWith('List')) return
    const rv = String(list.metadata?.resourceVersion ?? '')
    let pending: PendingList | undefined
    if (continueToken === null || continueToken === '') {
      pending = { scope, kind: list.kind.slice(0, -'List'.length), apiVersion: String(list.apiVersion), present: new Set(), expires: 0 }
    } else {
      pending = this.pendingLists.get(continueToken)
      this.pendingLists.delete(continueToken)
      if (pending === undefined) return // the first chunks went by before this daemon started, or expired
    }
    const { kind, apiVersion, present } = pending
    const items = (list.items as any[]).map((item) => typeMeta(item, kind, apiVersion))
    for (const item of items) present.add(`${item.metadata?.namespace ?? ''}/${item.metadata?.name}`)
    this.store.enqueue(() => {
      for (const item of items) this.putParsed(scope.resource, item)
    })
    const next = list.metadata?.continue
    if (typeof next === 'string' && next !== '') {
      this.rememberPending(next, pending)
      return
    }
    if (!canBeCompleteAt(rv)) return
    const inScope = (o: Parameters<typeof rowCovers>[1]): boolean => rowCovers(scope, o)
    this.store.enqueue(() => this.store.commitList({ ...scope, kind, apiVersion, rv }, present, inScope))
  }

  private rememberPending (token: string, pending: PendingList): void {
    const now = Date.now()
    for (const [k, p] of this.pendingLists) if (p.expires < now) this.pendingLists.delete(k)
    if (this.pendingLists.size >= MAX_PENDING_LISTS) this.pendingLists.delete(this.pendingLists.keys().next().value!)
    this.pendingLists.set(token, { ...pending, expires: now + PENDING_LIST_TTL_MS })
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
  private followWatch (scope: Scope, query: URLSearchParams, body: Readable): void {
    const startRv = query.get('resourceVersion') ?? ''
    const claim = new WatchClaim(startRv, query.get('sendInitialEvents') === 'true')
    const initial = { present: new Set<string>(), kind: '', apiVersion: '' }
    const selection = compileScope(scope)
    if (!selection.ok) return
    const apply = (event: any): void => {
      const obj = event?.object
      const rv = obj?.metadata?.resourceVersion
      if (typeof rv !== 'string') return
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
              this.store.commitList({ ...scope, kind, apiVersion, rv }, initial.present, (o) => rowCovers(scope, o))
              claim.initialStateCommitted()
            }
          } else if (claim.advances) {
            this.store.advanceList(scope, rv, false)
          }
          break
      }
    }
    readWatchEvents(body, this.opts.maxBodyBytes, (event) => {
      if (event?.type !== 'ERROR') this.store.enqueue(() => apply(event))
    }, (why) => {
      // What was applied stays true as of its version; the scope simply stops moving forward.
      this.logger.debug({ scope, why }, 'edge cache stopped following a watch')
    })
  }
}

/** List items come without kind/apiVersion; a cached object must be servable alone (GET) too. */
function typeMeta (item: any, kind: string, apiVersion: string): any {
  if (typeof item !== 'object' || item === null) return item
  if (item.kind !== undefined && item.apiVersion !== undefined) return item
  return { kind, apiVersion, ...item }
}
