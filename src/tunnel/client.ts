// The edge's end of the tunnel: one HTTP/2 connection over mutual TLS 1.3, dialled by the edge
// (edges sit behind NAT), one stream per pod request. Keepalive PINGs detect a dead path; a lost
// connection is redialled with capped exponential backoff and full jitter; a GOAWAY from the cloud
// (rolling update) moves new streams to a fresh connection while the old one drains.
import { EventEmitter } from 'node:events'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2'
import { isIP } from 'node:net'
import tls, { checkServerIdentity } from 'node:tls'
import type { Logger } from '../obs/logger.js'
import { fullJitterBackoff, type Backoff } from './backoff.js'
import { ALPN, HTTP2_HEADER_OPTIONS, MAX_HEADER_LIST_BYTES } from './protocol.js'

export interface TunnelClientOptions {
  host: string
  port: number
  /** TLS server name to verify; defaults to host. */
  serverName?: string
  ca: string
  cert: string
  key: string
  heartbeatPeriodMs: number
  heartbeatTimeoutMs: number
  connectTimeoutMs: number
  backoffInitialMs: number
  backoffMaxMs: number
  logger: Logger
}

export type TunnelState =
  | { connected: true, since: number }
  | { connected: false, since: number, lastError: string | undefined }

export class TunnelUnavailableError extends Error {
  constructor (readonly since: number, readonly lastError: string | undefined) {
    super(`tunnel to the cloud is down since ${new Date(since).toISOString()}${lastError === undefined ? '' : `: ${lastError}`}`)
    this.name = 'TunnelUnavailableError'
  }
}

// Bigger windows than HTTP/2's 64 KiB default: a LIST of a few MiB must not crawl over a
// high-latency link. Each stream still has its own window, so one slow watcher stalls only itself.
const STREAM_WINDOW = 1 << 20
const CONNECTION_WINDOW = 16 << 20

export class TunnelClient extends EventEmitter {
  private active: ClientHttp2Session | undefined
  private readonly draining = new Set<ClientHttp2Session>()
  private current: TunnelState = { connected: false, since: Date.now(), lastError: 'not connected yet' }
  private readonly backoff: Backoff
  private reconnectTimer: NodeJS.Timeout | undefined
  private closing = false
  private dialing = false
  /** The last-stream-id of each GOAWAY received: streams above it were never processed by the shim. */
  private readonly goaways = new WeakMap<http2.Http2Session, number>()

  constructor (private readonly opts: TunnelClientOptions) {
    super()
    this.backoff = fullJitterBackoff(opts.backoffInitialMs, opts.backoffMaxMs)
  }

  get state (): TunnelState { return this.current }

  start (): void {
    this.dial()
  }

  /** Opens a stream for one pod request; throws TunnelUnavailableError when there is no connection. */
  open (headers: OutgoingHttpHeaders, options: { endStream?: boolean } = {}): ClientHttp2Stream {
    const session = this.active
    if (session === undefined || session.closed || session.destroyed) {
      const s = this.current
      throw new TunnelUnavailableError(s.since, s.connected ? undefined : s.lastError)
    }
    return session.request(headers, { endStream: options.endStream ?? false })
  }

  /** True when the shim refused this stream by a GOAWAY before processing it (safe to answer elsewhere). */
  refusedByGoaway (stream: ClientHttp2Stream): boolean {
    const session = stream.session
    const last = session === undefined ? undefined : this.goaways.get(session)
    return last !== undefined && stream.id !== undefined && stream.id > last
  }

  /** Sends GOAWAY and waits up to graceMs for in-flight streams, then tears the connection down. */
  async close (graceMs: number): Promise<void> {
    this.closing = true
    clearTimeout(this.reconnectTimer)
    const sessions = [...this.draining, ...(this.active === undefined ? [] : [this.active])]
    this.active = undefined
    await Promise.all(sessions.map((s) => closeGracefully(s, graceMs)))
  }

  private dial (): void {
    if (this.closing || this.dialing) return
    this.dialing = true
    const { host, port, logger } = this.opts
    const authority = `https://${host.includes(':') ? `[${host}]` : host}:${port}`
    const tlsOptions = {
      host, port,
      ca: this.opts.ca,
      cert: this.opts.cert,
      key: this.opts.key,
      ...serverIdentity(host, this.opts.serverName ?? host),
      minVersion: 'TLSv1.3' as const,
      ALPNProtocols: [ALPN],
      // Each pod request is a few small frames: with Nagle they would wait for ACKs and every
      // request would pay milliseconds.
      noDelay: true,
    }
    const session = http2.connect(authority, {
      createConnection: () => tls.connect(tlsOptions),
      settings: { enablePush: false, initialWindowSize: STREAM_WINDOW, maxHeaderListSize: MAX_HEADER_LIST_BYTES },
      ...HTTP2_HEADER_OPTIONS,
    })
    const connectTimer = setTimeout(() => session.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`)),
      this.opts.connectTimeoutMs)
    let lastError: string | undefined
    session.on('error', (err: Error) => { lastError = err.message })
    session.once('connect', () => {
      clearTimeout(connectTimer)
      this.dialing = false
      if (this.closing) { session.close(); return }
      session.setLocalWindowSize(CONNECTION_WINDOW)
      this.active = session
      this.backoff.reset()
      this.current = { connected: true, since: Date.now() }
      logger.info({ server: authority }, 'tunnel connected')
      this.emit('connected')
      this.keepalive(session)
    })
    session.on('goaway', (errorCode: number, lastStreamID: number) => {
      this.goaways.set(session, lastStreamID)
      // The cloud is draining this connection: move new streams to a fresh one right away.
      logger.info({ errorCode }, 'tunnel received GOAWAY; redialling while in-flight streams drain')
      if (this.active === session) {
        this.active = undefined
        this.draining.add(session)
        this.markDown('cloud sent GOAWAY')
        this.dial()
      }
    })
    session.once('close', () => {
      clearTimeout(connectTimer)
      const wasDrainingOnly = this.draining.delete(session)
      if (wasDrainingOnly) return
      // Either the dial failed or the active connection died: count a failure and redial.
      if (this.active === session) this.active = undefined
      else this.dialing = false
      this.markDown(lastError ?? 'connection closed')
      this.scheduleReconnect()
    })
  }

  private markDown (reason: string): void {
    if (this.current.connected) {
      this.current = { connected: false, since: Date.now(), lastError: reason }
      this.opts.logger.warn({ reason }, 'tunnel disconnected')
      this.emit('disconnected', reason)
    } else {
      this.current = { connected: false, since: this.current.since, lastError: reason }
    }
  }

  private scheduleReconnect (): void {
    if (this.closing || this.active !== undefined) return
    clearTimeout(this.reconnectTimer)
    const delay = this.backoff.next()
    this.opts.logger.debug({ delayMs: delay }, 'tunnel reconnect scheduled')
    this.reconnectTimer = setTimeout(() => this.dial(), delay)
  }

  /** PING every heartbeat period; no answer within the timeout means the path is dead. */
  private keepalive (session: ClientHttp2Session): void {
    const timer = setInterval(() => {
      // 'close' comes a tick after destroy(): a PING on a destroyed session would throw.
      if (session.destroyed || session.closed) { clearInterval(timer); return }
      const deadline = setTimeout(() => session.destroy(new Error('heartbeat timeout')), this.opts.heartbeatTimeoutMs)
      const sent = session.ping((err) => {
        clearTimeout(deadline)
        if (err !== null) session.destroy(err)
      })
      if (!sent) clearTimeout(deadline)
    }, this.opts.heartbeatPeriodMs)
    session.once('close', () => clearInterval(timer))
  }
}

function isIp (host: string): boolean {
  return isIP(host) !== 0
}

/**
 * SNI must not carry an IP (RFC 6066), yet the certificate must still be checked against the
 * configured name, which may be an IP other than the dialled host.
 */
function serverIdentity (host: string, name: string): { servername?: string, checkServerIdentity?: typeof checkServerIdentity } {
  if (!isIp(name)) return { servername: name }
  if (name === host) return {}
  return { checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert) }
}

export async function closeGracefully (session: http2.Http2Session, graceMs: number): Promise<void> {
  if (session.destroyed) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { session.destroy(); resolve() }, graceMs)
    session.once('close', () => { clearTimeout(timer); resolve() })
    session.close()
  })
}
