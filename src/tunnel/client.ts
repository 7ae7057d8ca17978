// The edge's end of the tunnel: one HTTP/2 connection over mutual TLS 1.3, dialled by the edge
// (edges sit behind NAT), one stream per pod request. Keepalive PINGs detect a dead path; a lost
// connection is redialled with capped exponential backoff and full jitter; a GOAWAY from the cloud
// (rolling update) moves new streams to a fresh connection while the old one drains.
//
// Several cloud shims (modules.edgeHub.server is a list, or a name with several addresses; see
// server-list.ts) without a load balancer in front: the edge keeps one active connection, to one
// shim, and stays there while it works. When that shim fails (the dial fails, a PING goes
// unanswered for heartbeatTimeout, it sends GOAWAY) the connection is destroyed — every stream on
// it ends, so held watches end cleanly and their clients re-watch, now through the next shim — and
// the next server of the list is dialled.
//
// Decisions:
// - One backoff across the whole list, not one per server: each failed dial is one more step,
//   whichever server it was, and the rotation moves on after every failure. An edge thus puts the
//   same load on the cloud during an outage as with a single server (one dial per backoff delay,
//   however long the list), and still finds a healthy replica within a few short delays, because
//   the backoff starts again from reconnectBackoffInitial once a connection has proven itself.
// - A connection proves itself by answering a PING (one is sent right after the handshake), not
//   by completing the handshake: a shim that accepts and then fails at once would otherwise reset
//   the backoff on every attempt and be hammered. For the same reason a GOAWAY is followed by an
//   immediate dial only on a connection that had proven itself.
// - The PING keepalive is the health check of the active server. Inactive servers are not probed:
//   each probe is a TLS handshake on a shared shim, multiplied by the fleet (thousands of edges
//   times every replica), and what a probe knows is stale by the time it is needed. At failover a
//   real dial finds the same thing out at the same cost, and refused/unreachable servers fail
//   fast; only a silent one costs connectTimeout before the rotation moves on.
import { X509Certificate } from 'node:crypto'
import { EventEmitter } from 'node:events'
import http2, { type ClientHttp2Session, type ClientHttp2Stream, type OutgoingHttpHeaders } from 'node:http2'
import { isIP } from 'node:net'
import tls, { checkServerIdentity } from 'node:tls'
import type { Logger } from '../obs/logger.js'
import { fullJitterBackoff, type Backoff } from './backoff.js'
import { ALPN, SUPERSEDED_GOAWAY } from './protocol.js'
import { closeGracefully, keepalive, openConnectionWindow, sessionOptions } from './session.js'
import { formatHostPort, ServerRotation, systemResolver, type Candidate, type Resolve, type ServerEntry } from './server-list.js'

/** Bytes of a GOAWAY's debug data logged: the shim's reasons are one short line. */
const MAX_GOAWAY_REASON = 256

export interface TunnelClientOptions {
  /** The cloud shims' tunnel addresses, in order of preference (modules.edgeHub.server). */
  servers?: readonly ServerEntry[]
  /** A single server: the same as `servers: [{ host, port }]` (kept for callers of the one-server API). */
  host?: string
  port?: number
  /** TLS server name to verify for every server; defaults to each server's configured host. */
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
  /** Name resolution (tests inject one); getaddrinfo bounded by connectTimeoutMs by default. */
  resolve?: Resolve
  /** Random source of the backoff jitter and of the order of a name's addresses (tests pin it). */
  random?: () => number
  /** While the tunnel is down, a failed dial is logged at warn the first time, then at most this often, with a count. Default 1 min. */
  dialFailureLogIntervalMs?: number
  /** Clock of that rate limit and of the down time (tests drive it). */
  now?: () => number
}

const DIAL_FAILURE_LOG_INTERVAL_MS = 60_000

export type TunnelState =
  | { connected: true, since: number, /** The server the active connection goes to. */ server: string }
  | { connected: false, since: number, lastError: string | undefined, /** The server that failed last. */ server?: string }

export class TunnelUnavailableError extends Error {
  constructor (readonly since: number, readonly lastError: string | undefined) {
    super(`tunnel to the cloud is down since ${new Date(since).toISOString()}${lastError === undefined ? '' : `: ${lastError}`}`)
    this.name = 'TunnelUnavailableError'
  }
}

// Streams kept free for short requests when long-running ones fill the shim's per-node limit.
const SHORT_REQUEST_HEADROOM = 50

export class TunnelClient extends EventEmitter {
  private active: ClientHttp2Session | undefined
  private readonly draining = new Set<ClientHttp2Session>()
  private connecting: ClientHttp2Session | undefined
  private current: TunnelState = { connected: false, since: Date.now(), lastError: 'not connected yet' }
  private readonly backoff: Backoff
  private readonly rotation: ServerRotation
  private reconnectTimer: NodeJS.Timeout | undefined
  private closing = false
  private dialing = false
  private streamsOpen = 0
  /** The last server that failed and why, until a connection succeeds (for the failover log line). */
  private failure: { server: string, reason: string } | undefined
  /** When the last active connection was lost: a connection after it reports how long failover took. */
  private lostAt: number | undefined
  /** The last-stream-id of each GOAWAY received: streams above it were never processed by the shim. */
  private readonly goaways = new WeakMap<http2.Http2Session, number>()
  /** Streams open per connection: a connection retired by a certificate change closes when it reaches 0. */
  private readonly sessionStreams = new WeakMap<http2.Http2Session, number>()
  /** The key material for the next dial (replaced by useCredentials). */
  private credentials: { ca: string, cert: string, key: string }
  /** Failed dials of the current outage: in all, not yet logged, and when the last warn line was. */
  private outage = { failedDials: 0, unlogged: 0, loggedAt: undefined as number | undefined }
  private readonly now: () => number

  constructor (private readonly opts: TunnelClientOptions) {
    super()
    this.now = opts.now ?? Date.now
    this.current = { connected: false, since: this.now(), lastError: 'not connected yet' }
    const servers = opts.servers ?? (opts.host !== undefined && opts.port !== undefined ? [{ host: opts.host, port: opts.port }] : [])
    const random = opts.random ?? Math.random
    this.backoff = fullJitterBackoff(opts.backoffInitialMs, opts.backoffMaxMs, random)
    this.rotation = new ServerRotation(servers, opts.resolve ?? systemResolver(opts.connectTimeoutMs), random)
    this.credentials = { ca: opts.ca, cert: opts.cert, key: opts.key }
  }

  /**
   * New key material (a renewed or operator-replaced certificate): the next connection uses it.
   * A live connection is kept until one with the new certificate is up; then new streams go to the
   * new one and the old one closes once its last stream (a long watch, say) has ended — nothing in
   * flight is cut. Without a live connection the edge dials now: the old certificate may be why.
   */
  useCredentials (credentials: { ca: string, cert: string, key: string }): void {
    this.credentials = credentials
    if (this.closing) return
    if (this.active === undefined) {
      clearTimeout(this.reconnectTimer)
      this.backoff.reset()
      void this.dial()
      return
    }
    this.replacing = true
    void this.dial()
  }

  private replacing = false
  /** A connection with new credentials that is up but not yet proven: activating it retires the active one. */
  private pendingReplacement: { session: ClientHttp2Session, activate: () => void } | undefined
  /**
   * The last connection was superseded by another one with this node's identity (another edge with
   * a copy of the certificate): until a connection ends for another reason, a proven connection
   * does not reset the backoff, so two such edges take turns ever more slowly instead of at once.
   */
  private superseded = false

  /** Retires a connection: no new streams; closed (GOAWAY, no error) when its last stream ends. */
  private retire (session: ClientHttp2Session): void {
    this.draining.add(session)
    const idle = (): void => { if ((this.sessionStreams.get(session) ?? 0) === 0 && !session.closed) session.close() }
    session.on('stream-count', idle)
    idle()
  }

  get state (): TunnelState { return this.current }

  start (): void {
    void this.dial()
  }

  /** Opens a stream for one pod request; throws TunnelUnavailableError when there is no connection. */
  open (headers: OutgoingHttpHeaders, options: { endStream?: boolean } = {}): ClientHttp2Stream {
    const session = this.active
    if (session === undefined || session.closed || session.destroyed) {
      const s = this.current
      throw new TunnelUnavailableError(s.since, s.connected ? undefined : s.lastError)
    }
    const stream = session.request(headers, { endStream: options.endStream ?? false })
    this.streamsOpen++
    this.sessionStreams.set(session, (this.sessionStreams.get(session) ?? 0) + 1)
    stream.once('close', () => {
      this.streamsOpen--
      this.sessionStreams.set(session, (this.sessionStreams.get(session) ?? 1) - 1)
      session.emit('stream-count')
    })
    return stream
  }

  /**
   * False when the active connection already carries as many streams as the shim allows: HTTP/2
   * would queue another one silently (no answer, no error), so the caller refuses it instead.
   * Short requests keep headroom: only long-running ones are checked against this.
   */
  hasStreamCapacity (): boolean {
    const session = this.active
    if (session === undefined || session.destroyed) return true // open() will report the outage
    const limit = session.remoteSettings.maxConcurrentStreams ?? Number.POSITIVE_INFINITY
    return this.streamsOpen < limit - SHORT_REQUEST_HEADROOM
  }

  /** Streams opened and not yet closed, on any connection: a stream that never emits 'close' is a leak this shows. */
  get openStreams (): number { return this.streamsOpen }

  /**
   * The active connection's flow-control state (nghttp2's): how many bytes the edge may still send
   * on the connection, and frames queued for sending. A send window stuck at zero stalls every
   * request body; a growing queue is a peer that stopped reading.
   */
  get flowControl (): { sendWindow: number, outboundQueue: number } | undefined {
    const session = this.active
    if (session === undefined || session.destroyed) return undefined
    const state = session.state
    return { sendWindow: state.remoteWindowSize ?? 0, outboundQueue: state.outboundQueueSize ?? 0 }
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
    this.connecting?.destroy()
    const sessions = [...this.draining, ...(this.active === undefined ? [] : [this.active])]
    this.active = undefined
    await Promise.all(sessions.map((s) => closeGracefully(s, graceMs)))
  }

  private async dial (): Promise<void> {
    if (this.closing || this.dialing) return
    this.dialing = true
    const picked = await this.rotation.next()
    if (this.closing) { this.dialing = false; return }
    if (!picked.ok) {
      this.dialing = false
      this.failed(undefined, picked.error, true)
      return
    }
    for (const u of picked.unresolved) this.opts.logger.warn({ server: u.entry, err: u.error }, 'tunnel server name does not resolve; trying the others')
    try {
      this.connect(picked.candidate)
    } catch (err) {
      // A dial that throws (bad address or key material) is a failed dial like any other, never an
      // unhandled rejection that ends the daemon.
      this.connecting = undefined
      this.dialing = false
      this.failed(picked.candidate.label, (err as Error).message, true)
    }
  }

  private connect (target: Candidate): void {
    const { logger } = this.opts
    const servers = this.rotation.servers
    if (this.failure !== undefined && servers.length > 1) {
      logger.warn({ reason: this.failure.reason, from: this.failure.server, to: target.label, servers }, 'tunnel failing over to the next server')
    } else if (this.failure !== undefined) {
      logger.debug({ reason: this.failure.reason, server: target.label }, 'tunnel redialling')
    }
    const name = this.opts.serverName ?? target.name
    const tlsOptions = {
      host: target.address, port: target.port,
      ...this.credentials,
      ...serverIdentity(target.address, name),
      minVersion: 'TLSv1.3' as const,
      ALPNProtocols: [ALPN],
      // Each pod request is a few small frames: with Nagle they would wait for ACKs and every
      // request would pay milliseconds.
      noDelay: true,
    }
    const session = http2.connect(`https://${formatHostPort(target.name, target.port)}`, {
      createConnection: () => tls.connect(tlsOptions),
      ...sessionOptions(),
    })
    this.connecting = session
    const connectTimer = setTimeout(() => session.destroy(new Error(`connect timeout after ${this.opts.connectTimeoutMs} ms`)),
      this.opts.connectTimeoutMs)
    let lastError: string | undefined
    /** The shim's own reason, when it gave one: it outranks the session error that follows it. */
    let refusedBecause: string | undefined
    let proven = false
    session.on('error', (err: Error) => { lastError = err.message })
    session.once('connect', () => {
      clearTimeout(connectTimer)
      this.connecting = undefined
      if (this.closing) { this.dialing = false; session.close(); return }
      openConnectionWindow(session)
      // A connection with a new certificate replaces a working one only once the shim has answered
      // a PING on it: under TLS 1.3 the shim refuses a client certificate after the client thinks
      // the handshake is done, and the working connection must not be given up for that.
      const replacing = this.active !== undefined && this.active !== session
      // A fresh dial counts as in progress until the connection is proven (no second dial meanwhile).
      if (replacing) this.dialing = false
      const activate = (): void => {
        const previous = this.active
        this.dialing = false
        this.replacing = false
        if (this.pendingReplacement?.session === session) this.pendingReplacement = undefined
        if (previous !== undefined && previous !== session) {
          logger.info({ server: target.label }, 'tunnel connected with the new certificate; the old connection closes when its streams end')
          this.retire(previous)
        }
        this.active = session
        this.failure = undefined
        // Connected throughout: no state change; long-lived streams (the control stream) move over.
        if (previous !== undefined) { this.emit('replaced'); return }
        const failoverMs = this.lostAt === undefined ? undefined : Date.now() - this.lostAt
        // How long the edge was without a tunnel (since start, for the first connection) and how many dials failed meanwhile.
        const downSeconds = Math.round((this.now() - this.current.since) / 100) / 10
        const failedDials = this.outage.failedDials
        this.outage = { failedDials: 0, unlogged: 0, loggedAt: undefined }
        this.current = { connected: true, since: this.now(), server: target.label }
        this.lostAt = undefined
        logger.info({ server: target.label, downSeconds, failedDials, ...(failoverMs === undefined ? {} : { failoverMs }) }, 'tunnel connected')
        this.emit('connected')
      }
      // Every connection becomes active only once the shim has answered a PING (one RTT after the
      // handshake): under TLS 1.3 a refused client certificate (expired, revoked, unknown CA) shows
      // only after the edge's handshake is done, and such a connection must count as a failed dial
      // (backoff, one rate-limited warn line), not as "connected" then "disconnected" every time.
      if (replacing) this.pendingReplacement = { session, activate }
      // A PING unanswered within heartbeatTimeout destroys the session, which ends every stream on
      // it and sends the edge to the next server.
      keepalive(session, {
        periodMs: this.opts.heartbeatPeriodMs,
        timeoutMs: this.opts.heartbeatTimeoutMs,
        onFirstAnswer: () => {
          // The shim is really there, so the next failure starts a fresh backoff.
          proven = true
          if (!this.superseded) this.backoff.reset()
          if (session.destroyed || this.closing) return
          if (!replacing || this.pendingReplacement?.session === session) activate()
        },
        onDead: (err) => session.destroy(err),
      })
    })
    session.on('goaway', (errorCode: number, lastStreamID: number, opaqueData?: Buffer) => {
      this.goaways.set(session, lastStreamID)
      // The shim refusing this connection says why (a revoked node, no Node object): the reason of
      // the failed dial (warn line, tunnel state), rather than "connection closed".
      const refusal = errorCode !== http2.constants.NGHTTP2_NO_ERROR && opaqueData !== undefined && opaqueData.length > 0
        ? opaqueData.subarray(0, MAX_GOAWAY_REASON).toString()
        : undefined
      if (refusal !== undefined) refusedBecause = `the shim closed the connection: ${refusal}`
      if (this.active !== session) return // Node reports a GOAWAY again when the session closes
      const superseded = opaqueData?.toString() === SUPERSEDED_GOAWAY
      const pending = this.pendingReplacement
      if (superseded && pending !== undefined && !pending.session.destroyed) {
        // Our own new connection (new certificate) superseded this one: the shim accepted it, so it
        // is proven; it takes over now, and this one drains its streams.
        pending.activate()
        return
      }
      if (superseded) {
        logger.warn({ server: target.label }, 'the shim replaced this tunnel connection by a newer one with the same node identity: is another edge using this node\'s certificate?')
        this.superseded = true
        proven = false // redial after a backoff delay, not at once
      }
      if (refusal !== undefined) {
        // The shim closed this live connection on purpose and said why (a revoked node, a deleted
        // Node): worth a warn line, and a redial after a backoff delay, not at once.
        logger.warn({ server: target.label, errorCode, reason: refusal }, 'the shim closed this tunnel connection')
        proven = false
      }
      // The cloud is draining this connection: move new streams to a fresh one while these drain.
      logger.info({ errorCode, server: target.label }, 'tunnel received GOAWAY; dialling the next server while in-flight streams drain')
      this.active = undefined
      this.draining.add(session)
      this.failure = { server: target.label, reason: 'cloud sent GOAWAY' }
      this.lostAt = Date.now()
      this.markDown('cloud sent GOAWAY', target.label)
      if (proven) void this.dial()
      else this.scheduleReconnect()
    })
    session.once('close', () => {
      clearTimeout(connectTimer)
      if (this.connecting === session) this.connecting = undefined
      if (this.pendingReplacement?.session === session) this.pendingReplacement = undefined
      if (this.draining.delete(session)) return
      if (this.replacing && this.active !== undefined && this.active !== session) {
        // The dial with a new certificate failed: the working connection stays (and is retried on the next change).
        this.replacing = false
        this.dialing = false
        logger.warn({ server: target.label, reason: lastError ?? 'connection closed' }, 'tunnel dial with the new certificate failed; keeping the current connection')
        return
      }
      // Either the dial failed or the active connection died: count a failure and go on to the next server.
      const wasActive = this.active === session
      this.superseded = false
      if (wasActive) {
        this.active = undefined
        this.lostAt = Date.now()
      } else {
        this.dialing = false
      }
      this.failed(target.label, refusedBecause ?? lastError ?? 'connection closed', !wasActive)
    })
  }

  /** `dial`: a dial that failed (rather than a connection that was up and died, which markDown reports). */
  private failed (server: string | undefined, failure: string, dial: boolean): void {
    // The shim's TLS alert alone ("certificate expired", "bad certificate") does not say when: the
    // operator needs the date to tell a stopped renewal from a wrong clock.
    const dates = dial ? certificateDateProblem(this.credentials.cert, this.now()) : undefined
    const reason = dates === undefined ? failure : `${dates} (${failure})`
    this.failure = { server: server ?? '(none)', reason }
    this.markDown(reason, server)
    if (dial && !this.closing) this.dialFailed(reason, server)
    this.scheduleReconnect()
  }

  // Rate-limited: the first failed dial of an outage at warn with its reason (a wrong CA or
  // certificate shows here at start), then one line per interval with the count, never one per dial.
  private dialFailed (reason: string, server: string | undefined): void {
    const o = this.outage
    o.failedDials++
    o.unlogged++
    const now = this.now()
    const interval = this.opts.dialFailureLogIntervalMs ?? DIAL_FAILURE_LOG_INTERVAL_MS
    if (o.loggedAt !== undefined && now - o.loggedAt < interval) return
    const downSeconds = Math.round((now - this.current.since) / 100) / 10
    const fields = { reason, ...(server === undefined ? {} : { server }), failedDials: o.unlogged, downSeconds }
    this.opts.logger.warn(fields, o.loggedAt === undefined ? 'tunnel dial failed' : 'tunnel still down: dials keep failing')
    o.loggedAt = now
    o.unlogged = 0
  }

  private markDown (reason: string, server: string | undefined): void {
    const where = server === undefined ? {} : { server }
    if (this.current.connected) {
      this.current = { connected: false, since: this.now(), lastError: reason, ...where }
      this.opts.logger.warn({ reason, ...where }, 'tunnel disconnected')
      this.emit('disconnected', reason)
    } else {
      this.current = { connected: false, since: this.current.since, lastError: reason, ...where }
    }
  }

  private scheduleReconnect (): void {
    if (this.closing || this.active !== undefined || this.dialing) return
    clearTimeout(this.reconnectTimer)
    const delay = this.backoff.next()
    this.opts.logger.debug({ delayMs: delay }, 'tunnel reconnect scheduled')
    this.reconnectTimer = setTimeout(() => { void this.dial() }, delay)
  }
}

/** "client certificate expired at …" / "… not valid before …" when the clock is outside its dates. */
function certificateDateProblem (cert: string, now: number): string | undefined {
  let x: X509Certificate
  try { x = new X509Certificate(cert) } catch { return undefined } // a bad file fails the dial with its own message
  const notAfter = Date.parse(x.validTo)
  const notBefore = Date.parse(x.validFrom)
  if (now > notAfter) return `client certificate expired at ${new Date(notAfter).toISOString()}`
  if (now < notBefore) return `client certificate not valid before ${new Date(notBefore).toISOString()}`
  return undefined
}

function isIp (host: string): boolean {
  return isIP(host) !== 0
}

/**
 * SNI must not carry an IP (RFC 6066), yet the certificate must still be checked against the
 * configured name, which may be an IP other than the dialled address (a name resolved to it, or
 * serverName set explicitly).
 */
function serverIdentity (host: string, name: string): { servername?: string, checkServerIdentity?: typeof checkServerIdentity } {
  if (!isIp(name)) return { servername: name }
  if (name === host) return {}
  return { checkServerIdentity: (_host, cert) => checkServerIdentity(name, cert) }
}
