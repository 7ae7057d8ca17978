// Watches while the cloud is unreachable. Ending them would make every client re-watch in a loop
// (the offline watch flood YurtHub documents); faking events would be lying. So a watch is held
// open at the last version the cache knows, with BOOKMARKs for clients that asked for them, until
// its randomised deadline (spreads the re-watches) — and resumed upstream from that version the
// moment the cloud is back, so the missed events arrive in order. If kube-apiserver can no longer
// serve that version it says 410, and the client gets exactly that as an ERROR event and re-lists.
// "The cloud is back" is either the tunnel reconnecting or, with the tunnel up, kube-apiserver
// answering again after the shim said it could not reach it; a periodic retry is the backstop.
// Every upstream stream a held watch gives up on is cancelled *and freed* (cancelStream): a stream
// cancelled with its body unread never emits 'close', and the watch would wait on it forever.
import type { IncomingHttpHeaders, ServerResponse } from 'node:http'
import type { ClientHttp2Stream, IncomingHttpHeaders as H2Headers } from 'node:http2'
import { negotiateWatch, type Encoding, type Representation } from '../../kube/media-type.js'
import { encodeWatchEvent, PROTOBUF_MEDIA_TYPE, type JsonObject } from '../../kube/protobuf/codec.js'
import { queryBool, type RequestInfo } from '../../kube/request-info.js'
import { badRequest, type Status } from '../../kube/status.js'
import { toPartialObjectMetadata } from '../../kube/table.js'
import type { Logger } from '../../obs/logger.js'
import { TunnelUnavailableError, type TunnelClient } from '../../tunnel/client.js'
import { endToEndHeaders, ERROR_UPSTREAM_UNREACHABLE, HEADER_ERROR } from '../../tunnel/protocol.js'
import { cancelStream } from '../../tunnel/streams.js'
import { cloudUnreachable, offlineAnswers, offlineWarning, sendStatus } from '../answers.js'
import type { CloudReachability } from '../reachability.js'
import { watchResumesAt } from './completeness.js'
import { answerEncoding, parseBody } from './framing.js'
import { answeringList, inView, protobufObjects, scopeOf, selectObjects, type View } from './scope.js'
import type { CacheStore, ListRow, Scope } from './store.js'
import type { CacheTee } from './tee.js'

export interface HeldWatchOptions {
  store: CacheStore
  tee: CacheTee
  tunnel: TunnelClient
  /** Told when the shim says kube-apiserver is unreachable or a resume got through; says when kube-apiserver is back. */
  reachability: CloudReachability
  logger: Logger
  bookmarkIntervalMs: number
  /** Held watches end after a random time in [timeout, 2 × timeout] unless the client set timeoutSeconds. */
  timeoutMs: number
  /** While the tunnel is up but kube-apiserver was unreachable, how often a held watch tries again. */
  retryMs: number
}

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end'
const MAX_ERROR_BODY_BYTES = 64 * 1024

export class HeldWatches {
  private readonly held = new Set<HeldWatch>()

  constructor (private readonly opts: HeldWatchOptions) {
    const resumeAll = (): void => { for (const watch of this.held) watch.resumeSoon() }
    opts.tunnel.on('connected', resumeAll)
    opts.reachability.on('upstream-back', resumeAll)
  }

  /** Watches answered from the cache that have not (yet) been resumed upstream. */
  get count (): number {
    let n = 0
    for (const watch of this.held) if (!watch.isResumed) n++
    return n
  }

  /** Every watch this edge answered offline and still serves, resumed upstream or not. */
  get total (): number { return this.held.size }

  /** Starts answering a watch from the cache; returns the HTTP status sent. */
  hold (info: RequestInfo, url: string, headers: IncomingHttpHeaders, res: ServerResponse, since: number): number {
    const query = new URLSearchParams(url.slice(url.indexOf('?') + 1 || url.length))
    const negotiated = negotiateWatch(headers.accept, protobufObjects(info))
    if (negotiated === undefined) return sendStatus(res, offlineAnswers.watchNotAcceptable())
    const { as, encoding } = negotiated
    if (as === 'table') return sendStatus(res, cloudUnreachable(since, offlineAnswers.why.tableWatch))
    const found = answeringList(this.opts.store, scopeOf(info, query), as, info.path)
    if (!found.ok) return sendStatus(res, found.refused ? badRequest(found.message) : cloudUnreachable(since, `and ${found.message}${offlineAnswers.why.toWatchFrom}`))
    const { scope, selection, row } = found
    const events = new WatchEvents({ as, encoding }, row)

    res.writeHead(200, { 'content-type': events.contentType, 'cache-control': 'no-cache, private', warning: offlineWarning(since) })
    res.flushHeaders()
    const clientRv = query.get('resourceVersion') ?? ''
    const fromScratch = clientRv === '' || clientRv === '0' || query.get('sendInitialEvents') === 'true'
    let at: string | undefined
    if (fromScratch) {
      const objects = selectObjects(this.opts.store.scopeObjects(scope.resource, scope.namespace), selection.match)
      for (const o of objects) writeEvent(res, events.added(o.body))
      at = row.rv
      if (query.get('sendInitialEvents') === 'true') writeEvent(res, events.bookmark(at, true))
    } else {
      at = watchResumesAt(row, clientRv)
      // The cache cannot replay what happened between the client's version and its own.
      if (at === undefined) { writeEvent(res, events.error(offlineAnswers.tooOld(clientRv, row.rv))); res.end(); return 200 }
    }

    // An initial event with no form in the asked encoding ends the response (writeEvent), and a client
    // may be gone already: a 'close' that has fired will not fire again, so never start timers then.
    if (res.writableEnded || res.destroyed) return 200
    const watch = new HeldWatch(this.opts, { info, url, query, headers, events, scope: inView(scope, viewOf(as)), row, at, res })
    this.held.add(watch)
    res.once('close', () => { this.held.delete(watch); watch.stop() })
    return 200
  }
}

interface WatchRequest {
  info: RequestInfo
  url: string
  query: URLSearchParams
  headers: IncomingHttpHeaders
  /** Whole objects or their metadata, in JSON or protobuf: what the client asked for, and what the resumed watch asks upstream. */
  events: WatchEvents
  /** The scope, in the view the resumed watch fills. */
  scope: Scope
  /** The complete list the watch is answered from. */
  row: ListRow
  /** The version the watch is held at, and resumed upstream from. */
  at: string
  res: ServerResponse
}

class HeldWatch {
  private readonly timers: NodeJS.Timeout[] = []
  private resumeTimer: NodeJS.Timeout | undefined
  private upstream: ClientHttp2Stream | undefined
  private resumed = false
  private readonly deadline: number

  constructor (private readonly opts: HeldWatchOptions, private readonly request: WatchRequest) {
    const timeoutMs = heldWatchTimeoutMs(request.query.get('timeoutSeconds'), opts.timeoutMs)
    this.deadline = Date.now() + timeoutMs
    this.timers.push(setTimeout(() => request.res.end(), timeoutMs))
    if (queryBool(request.query.getAll('allowWatchBookmarks'))) {
      this.timers.push(setInterval(() => { if (!this.resumed) writeEvent(request.res, request.events.bookmark(request.at, false)) }, opts.bookmarkIntervalMs))
    }
    this.timers.push(setInterval(() => { if (opts.tunnel.state.connected) this.resume() }, opts.retryMs))
    if (opts.tunnel.state.connected) this.resumeSoon()
  }

  /** Spread over half a second, so a returning tunnel is not hit by every held watch at once. */
  resumeSoon (): void {
    if (this.resumed || this.upstream !== undefined) return
    clearTimeout(this.resumeTimer)
    this.resumeTimer = setTimeout(() => this.resume(), Math.random() * 500)
  }

  stop (): void {
    for (const t of this.timers) clearTimeout(t)
    clearTimeout(this.resumeTimer)
    if (this.upstream !== undefined) cancelStream(this.upstream)
  }

  get isResumed (): boolean { return this.resumed }

  private resume (): void {
    if (this.resumed || this.upstream !== undefined || this.request.res.destroyed) return
    const query = new URLSearchParams(this.request.query)
    query.set('resourceVersion', this.request.at)
    query.delete('sendInitialEvents')
    query.delete('resourceVersionMatch')
    query.set('timeoutSeconds', String(Math.max(1, Math.round((this.deadline - Date.now()) / 1000))))
    const queryAt = this.request.url.indexOf('?')
    const path = (queryAt === -1 ? this.request.url : this.request.url.slice(0, queryAt)) + '?' + query.toString()
    let stream: ClientHttp2Stream
    try {
      stream = this.opts.tunnel.open({ ...endToEndHeaders(this.request.headers), accept: this.request.events.upstreamAccept, ':method': 'GET', ':path': path }, { endStream: true })
    } catch (err) {
      if (err instanceof TunnelUnavailableError) return
      throw err
    }
    this.upstream = stream
    stream.on('error', () => {}) // 'close' follows and decides
    stream.once('close', () => {
      if (!this.resumed) this.upstream = undefined // still held: the next attempt retries
      else if (!this.request.res.writableEnded) this.request.res.end()
    })
    stream.once('response', (headers: H2Headers) => {
      if (headers[HEADER_ERROR] === ERROR_UPSTREAM_UNREACHABLE) {
        this.opts.reachability.upstreamUnreachable()
        cancelStream(stream) // 'close' follows and clears this.upstream for the next attempt
        return
      }
      this.opts.reachability.upstreamAnswered() // the other held watches need not wait for their retry
      const code = Number(headers[':status'])
      if (code === 429) {
        // kube-apiserver is back but not ready to serve this watch yet (its watch cache initialising
        // after a restart): the client is held anyway, so it waits here instead of getting an ERROR.
        cancelStream(stream)
        this.retryAfter(Number(headers['retry-after']))
        return
      }
      this.resumed = true
      if (code !== 200) { this.endWithUpstreamError(stream, headers, code); return }
      this.opts.logger.debug({ path: this.request.info.path, from: this.request.at }, 'held watch resumed upstream')
      this.opts.tee.followResumedWatch(this.request.scope, this.request.at, this.request.events.encoding, stream)
      stream.pipe(this.request.res)
    })
  }

  private retryAfter (seconds: number): void {
    const ms = Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000
    clearTimeout(this.resumeTimer)
    this.resumeTimer = setTimeout(() => this.resume(), Math.min(Math.max(ms, 200), this.opts.retryMs))
  }

  /** kube-apiserver refused to resume (410, 401 for an expired token, ...): the client gets its Status as an ERROR event. */
  private endWithUpstreamError (stream: ClientHttp2Stream, headers: H2Headers, code: number): void {
    const chunks: Buffer[] = []
    let size = 0
    stream.on('data', (c: Buffer) => { size += c.length; if (size <= MAX_ERROR_BODY_BYTES) chunks.push(c) })
    stream.once('end', () => {
      const encoding = answerEncoding(String(headers['content-type'] ?? ''))
      let s: Status | undefined = encoding === undefined ? undefined : parseBody(Buffer.concat(chunks), encoding)?.object
      if (s?.kind !== 'Status') s = offlineAnswers.resumeFailed(code)
      writeEvent(this.request.res, this.request.events.error(s))
      this.request.res.end()
    })
  }
}

/**
 * How long a held watch lasts: the client's timeoutSeconds when it set one, else a random time in
 * [base, 2 × base) — kube-apiserver's own spread — so the watches of a node do not all end together.
 */
export function heldWatchTimeoutMs (timeoutSeconds: string | null, baseMs: number, random: () => number = Math.random): number {
  const seconds = Number(timeoutSeconds ?? '')
  return seconds > 0 ? seconds * 1000 : baseMs * (1 + random())
}

type WatchedAs = Exclude<Representation, 'table'>

function viewOf (as: WatchedAs): View {
  return as === 'partial-metadata' ? 'metadata' : 'objects'
}

/**
 * A held watch's events as the client asked for them: whole objects or their metadata, as JSON
 * lines or protobuf frames — the same the resumed upstream watch will deliver, since it asks
 * kube-apiserver for exactly that.
 */
class WatchEvents {
  readonly encoding: Encoding
  readonly contentType: string
  readonly upstreamAccept: string

  constructor (private readonly shape: { as: WatchedAs, encoding: Encoding }, private readonly row: ListRow) {
    this.encoding = shape.encoding
    const media = shape.encoding === 'json' ? 'application/json' : PROTOBUF_MEDIA_TYPE
    this.contentType = shape.encoding === 'json' ? media : `${media};stream=watch`
    this.upstreamAccept = shape.as === 'partial-metadata' ? `${media};as=PartialObjectMetadata;g=meta.k8s.io;v=v1` : media
  }

  /** An ADDED event for a stored object. */
  added (body: string): string | Buffer | undefined {
    // Whole objects in JSON: the stored text as it is, never re-encoded.
    if (this.shape.as === 'json' && this.encoding === 'json') return `{"type":"ADDED","object":${body}}\n`
    const object = JSON.parse(body)
    return this.event('ADDED', this.shape.as === 'partial-metadata' ? toPartialObjectMetadata(object) : object)
  }

  /** A bookmark as kube-apiserver sends it: an object of the watched kind (or a PartialObjectMetadata) with only its version. */
  bookmark (rv: string, initialEventsEnd: boolean): string | Buffer | undefined {
    const metadata = initialEventsEnd ? { resourceVersion: rv, annotations: { [INITIAL_EVENTS_END]: 'true' } } : { resourceVersion: rv }
    if (this.shape.as === 'partial-metadata') return this.event('BOOKMARK', { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { ...metadata, creationTimestamp: null } })
    return this.event('BOOKMARK', { kind: this.row.kind, apiVersion: this.row.apiVersion, metadata })
  }

  error (s: Status): string | Buffer | undefined {
    return this.event('ERROR', s)
  }

  /** undefined: the object has no protobuf form here (a kind newer than the schema); the caller ends the watch. */
  private event (type: string, object: unknown): string | Buffer | undefined {
    if (this.encoding === 'json') return `{"type":"${type}","object":${JSON.stringify(object)}}\n`
    const encoded = encodeWatchEvent({ type, object: object as JsonObject })
    return encoded.ok ? encoded.bytes : undefined
  }
}

/**
 * Writes one event; one that cannot be written ends the watch: the client re-watches (and gets a
 * 503 or its answer then) rather than a frame it cannot decode or a daemon that throws in a timer.
 */
function writeEvent (res: ServerResponse, event: string | Buffer | undefined): void {
  if (res.writableEnded) return
  if (event === undefined) res.end()
  else res.write(event)
}
