// The shim's connections to kube-apiserver (undici), in three pools so that no kind of request can
// queue behind another (issue 16: with one HTTP/1.1 pool of 128 connections, every relayed watch
// held a connection for its whole life and the 124th watch, every short request and every
// TokenReview queued behind them — for the whole fleet):
//
// - `watches`: long-running GETs without a body (watches, log follows, proxy GETs) and the shim's
//   own reflector watches, as HTTP/2 streams, `streamsPerConnection` per connection. kube-apiserver
//   1.34 advertises SETTINGS_MAX_CONCURRENT_STREAMS = 100 when --http2-max-streams-per-connection
//   is 0 (its default; measured on the test bed with node:http2's remoteSettings), so 5 000 watches
//   take 50 TLS connections instead of 5 000. undici schedules HTTP/2 streams by its `pipelining`
//   count, not by the peer's SETTINGS (it would open more streams than the peer allows and nghttp2
//   would queue the excess silently: a hang), so `pipelining` is set to `streamsPerConnection`,
//   which must not exceed the apiserver's limit. Only body-less requests go here: undici holds a
//   request with a streamed body or a non-idempotent method on an HTTP/2 connection until every
//   other stream of that connection has ended, i.e. behind watches, forever.
// - `requests`: everything else the pods send (short requests, bodies), HTTP/1.1 keep-alive,
//   `maxConnections` connections. HTTP/1.1 on purpose: for the same reason as above, POST/PUT/PATCH
//   bodies would serialise on an HTTP/2 connection anyway.
// - `own`: the shim's own short calls (TokenReviews, pod lookups, lists, JWKS, /readyz), a small
//   HTTP/1.1 pool of its own, so authentication never waits behind pod traffic.
//
// The caller (handler.ts) bounds what enters the first two pools (UpstreamSlots): a request beyond
// the limits gets a 429 instead of waiting in a queue.
import { Agent, buildConnector, errors as undiciErrors, type Dispatcher } from 'undici'
import type { TLSSocket } from 'node:tls'
import type { Readable } from 'node:stream'
import type { KubeCredentials } from './kube-credentials.js'

export interface UpstreamOptions {
  credentials: KubeCredentials
  timeoutMs: number
  /** HTTP/1.1 connections for the pods' short requests. */
  maxConnections: number
  /** Long-running streams the shim relays at most (sizes the HTTP/2 pool). */
  maxLongRunning: number
  /** HTTP/2 streams per connection to kube-apiserver; at most its --http2-max-streams-per-connection. */
  streamsPerConnection: number
}

export interface UpstreamResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Readable & { dump: () => Promise<void> }
}

/** Connections of the shim's own pool: TokenReviews and pod lookups are short and cached. */
const OWN_CONNECTIONS = 32
/** HTTP/2 connections kept beyond what maxLongRunning needs: the shim's own reflector watches. */
const SPARE_H2_CONNECTIONS = 1

export class Upstream {
  readonly origin: string
  private readonly watches: Agent
  private readonly requests: Agent
  private readonly own: Agent

  constructor (private readonly opts: UpstreamOptions) {
    this.origin = opts.credentials.server.origin
    const tls = { ca: opts.credentials.ca, cert: opts.credentials.cert, key: opts.credentials.key }
    const common = {
      // Watches are long-lived: their bodies must not time out; short requests get `signal`-based timeouts.
      bodyTimeout: 0,
      headersTimeout: opts.timeoutMs,
      keepAliveTimeout: 30_000,
    }
    this.requests = new Agent({ ...common, connections: opts.maxConnections, connect: tls })
    this.own = new Agent({ ...common, connections: OWN_CONNECTIONS, connect: tls })
    this.watches = new Agent({
      ...common,
      allowH2: true,
      pipelining: opts.streamsPerConnection,
      connections: Math.ceil(opts.maxLongRunning / opts.streamsPerConnection) + SPARE_H2_CONNECTIONS,
      connect: h2OnlyConnector(tls),
    })
  }

  /**
   * Streams one request through as-is. `signal` aborts it (client went away, or timeout).
   * `longRunning` requests without a body go over HTTP/2; the caller has already counted them.
   */
  forward (req: { method: string, path: string, headers: Record<string, string | string[]>, body: Readable | null, signal: AbortSignal, longRunning: boolean }): Promise<UpstreamResponse> {
    // A large header block on the shared HTTP/2 connection would end it for every watch on it
    // (Node's HTTP/2 refuses to send more than 64 KiB of header block and tears the session down):
    // such a request takes an HTTP/1.1 connection of its own instead.
    // So does a repeated header (Impersonate-Group: two groups): over HTTP/2 undici would send the
    // values joined into one, which kube-apiserver reads as a single group.
    const shared = req.longRunning && req.body === null && (req.method === 'GET' || req.method === 'HEAD') &&
      headerBytes(req.headers) + req.path.length <= MAX_SHARED_HEADER_BYTES &&
      !Object.values(req.headers).some((v) => Array.isArray(v) && v.length > 1)
    const pool = shared ? this.watches : this.requests
    return pool.request({
      origin: this.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body,
      signal: req.signal,
    }) as Promise<UpstreamResponse>
  }

  /**
   * Each pool's connections and requests right now (undici's pool stats): `queued` requests wait
   * for a connection — a pool whose connections are all held by requests that never finish
   * queues every later one.
   */
  poolStats (): Array<{ pool: string, connected: number, running: number, queued: number }> {
    return Object.entries({ watches: this.watches, requests: this.requests, own: this.own }).map(([pool, agent]) => {
      const stats = Object.values(agent.stats) as Array<{ connected?: number, running?: number, queued?: number }>
      const sum = (k: 'connected' | 'running' | 'queued'): number => stats.reduce((n, s) => n + (s[k] ?? 0), 0)
      return { pool, connected: sum('connected'), running: sum('running'), queued: sum('queued') }
    })
  }

  /** The shim's own Authorization header (for anonymous discovery requests and its own calls). */
  ownAuthorization (): string | undefined {
    const token = this.opts.credentials.token()
    return token === undefined ? undefined : `Bearer ${token}`
  }

  private ownHeaders (accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'user-agent': 'edge-metaserver-cloud' }
    const authorization = this.ownAuthorization()
    if (authorization !== undefined) headers.authorization = authorization
    return headers
  }

  /** A streamed call with the shim's own identity (its watches: HTTP/2 streams, never a connection each). */
  ownStream (method: Dispatcher.HttpMethod, path: string, signal: AbortSignal): Promise<UpstreamResponse> {
    return this.watches.request({ origin: this.origin, method, path, headers: this.ownHeaders('application/json'), signal }) as Promise<UpstreamResponse>
  }

  /** A JSON call with the shim's own identity. */
  async json<T> (method: Dispatcher.HttpMethod, path: string, body?: unknown, accept = 'application/json', contentType = 'application/json'): Promise<{ status: number, body: T }> {
    const headers = this.ownHeaders(accept)
    if (body !== undefined) headers['content-type'] = contentType
    const res = await this.own.request({
      origin: this.origin, method, path, headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    })
    const text = await res.body.text()
    // Health endpoints answer plain "ok"; only JSON bodies are parsed.
    const isJson = String(res.headers['content-type'] ?? '').includes('json')
    return { status: res.statusCode, body: (isJson && text !== '' ? JSON.parse(text) : undefined) as T }
  }

  /** TLS settings for the few calls that cannot go through undici (HTTP/1.1 upgrades). */
  tlsOptions (): { ca?: string, cert?: string, key?: string } {
    const { ca, cert, key } = this.opts.credentials
    return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) }
  }

  /** Called once the tunnel is closed: whatever still runs upstream answers nobody, so it is cut, not awaited. */
  async close (): Promise<void> {
    await Promise.all([this.watches.destroy(), this.requests.destroy(), this.own.destroy()])
  }
}

/**
 * undici's TLS connector, but a connection that did not negotiate HTTP/2 is refused: on HTTP/1.1
 * the `pipelining` count of the watch pool would queue watches behind watches (a hang). An apiserver
 * (or a proxy in front of it) without HTTP/2 therefore fails loudly, as a connection error.
 */
function h2OnlyConnector (tls: { ca?: string, cert?: string, key?: string }): buildConnector.connector {
  const connect = buildConnector({ ...tls, allowH2: true })
  return (options, callback) => connect(options, (err, socket) => {
    if (err !== null) { callback(err, null); return }
    const alpn = (socket as TLSSocket).alpnProtocol
    if (alpn !== 'h2') {
      socket.destroy()
      callback(new undiciErrors.SocketError(`kube-apiserver did not negotiate HTTP/2 (ALPN ${String(alpn)}); the watch pool needs it`), null)
      return
    }
    callback(null, socket)
  })
}

/**
 * True when the error means kube-apiserver could not be reached at all (refused, reset, DNS,
 * TLS, timeout before headers): a connectivity failure, which the edge may answer from its cache.
 */
export function isConnectivityError (err: unknown): boolean {
  if (err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.SocketError) return true
  const code = (err as { code?: string, cause?: { code?: string } })?.code ?? (err as { cause?: { code?: string } })?.cause?.code
  return code !== undefined && /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR_CONNECT_TIMEOUT|UND_ERR_SOCKET|UND_ERR_HEADERS_TIMEOUT|ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT)$/.test(code)
}

// Well below Node's 64 KiB default for a header block sent over HTTP/2 (HPACK may not shrink it).
const MAX_SHARED_HEADER_BYTES = 32 * 1024

function headerBytes (headers: Record<string, string | string[]>): number {
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) bytes += name.length + Buffer.byteLength(v) + 4
  }
  return bytes + 256 // the request line's pseudo-headers
}
