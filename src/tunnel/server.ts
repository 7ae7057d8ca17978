// The cloud's end of the tunnel: an HTTP/2 TLS 1.3 listener that demands a client certificate from
// the tunnel CA (a stranger fails the handshake) and names each connection's node from that
// certificate only — never from a header or body.
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { once } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Logger } from '../obs/logger.js'
import { ALPN, impersonationHeaders, nodeNameFromSubject, SUPERSEDED_GOAWAY } from './protocol.js'
import { closeGracefully, keepalive, openConnectionWindow, sessionOptions } from './session.js'

export interface TunnelServerOptions {
  host: string
  port: number
  ca: string
  cert: string
  key: string
  maxConcurrentStreamsPerNode: number
  heartbeatPeriodMs: number
  logger: Logger
  onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, nodeName: string) => void
  /** Counts refused TLS handshakes (wrong CA, no certificate): a probe or a misconfigured edge. */
  onHandshakeFailure?: () => void
  /** Why a node's connection must be refused (a revoked node, no Node object), or undefined to accept it. */
  refuseNode?: (node: string) => NodeRefusal | undefined
  /** Counts connections the server closed itself after the handshake (see RefusalReason). */
  onConnectionRefused?: (reason: RefusalReason) => void
}

/**
 * Why the server closed a connection itself: `not-a-node` (certificate from the tunnel CA but not
 * a node identity), `protocol-error` (the session failed: bad frames, flow-control or compression
 * errors), `peer-goaway` (the edge sent GOAWAY with an error code), `half-closed` (the edge closed
 * its sending side without a GOAWAY), `heartbeat-timeout` (a PING went unanswered for a whole
 * heartbeat period: a dead peer, or a session nghttp2 has stopped reading after its own GOAWAY),
 * `revoked` (a node identity on a deny list: refuseNode), `no-node-object` (a node without a Node
 * object, when that is required: refuseNode).
 */
export type RefusalReason = 'not-a-node' | 'protocol-error' | 'peer-goaway' | 'half-closed' | 'heartbeat-timeout' | 'revoked' | 'no-node-object'

/** refuseNode's answer: the counter's label, and the reason logged and sent to the edge. */
export interface NodeRefusal {
  reason: 'revoked' | 'no-node-object'
  message: string
}

const REFUSAL_LOG: Record<NodeRefusal['reason'], string> = { revoked: 'node revoked', 'no-node-object': 'no Node object' }

/**
 * After the edge's own GOAWAY (it is shutting down or moving to another replica), its streams may
 * finish for this long; then the connection is cut. Longer than the edge's shutdownGracePeriod
 * default (30 s): the edge, not the shim, decides how long a graceful close takes.
 */
const PEER_GOAWAY_GRACE_MS = 60_000
/**
 * A connection a newer one superseded (see supersede) answers our GOAWAY with its own (Node closes a
 * session on a GOAWAY without error), but its open streams are watches the edge keeps until they end:
 * kube-apiserver ends a watch within twice --min-request-timeout (1800 s by default). They may run that
 * long; a peer that is gone meanwhile holds them no longer than this.
 */
const SUPERSEDED_GRACE_MS = 3_600_000
/** After a refusal, how long the socket may take to flush the session's last frames before it is cut. */
const REFUSED_SOCKET_GRACE_MS = 1000

export class TunnelServer {
  private readonly server: http2.Http2SecureServer
  private readonly sessions = new Map<ServerHttp2Session, string>()
  private readonly sockets = new Set<Socket>()
  private readonly refused = new WeakSet<ServerHttp2Session>()
  /** Each node's newest connection: a newer one with the same identity supersedes it. */
  private readonly newest = new Map<string, ServerHttp2Session>()
  private readonly superseded = new WeakSet<ServerHttp2Session>()

  constructor (private readonly opts: TunnelServerOptions) {
    this.server = http2.createSecureServer({
      ...tunnelContext(opts),
      requestCert: true,
      rejectUnauthorized: true,
      ALPNProtocols: [ALPN],
      allowHTTP1: false,
      ...sessionOptions(opts.maxConcurrentStreamsPerNode),
    })
    // Small frames must not wait for ACKs (Nagle): see client.ts. Every connection is tracked, with
    // or without a session, so close() can end the ones that never finish on their own.
    this.server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true)
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    this.server.on('session', (session) => this.accept(session))
    this.server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]) => {
      // An edge that dies (kill -9, power cut) resets every stream it had open, possibly while the
      // handler still waits for kube-apiserver: that must never be an unhandled 'error' event.
      stream.on('error', (err: Error) => opts.logger.debug({ err }, 'tunnel stream error'))
      const node = this.sessions.get(stream.session as ServerHttp2Session)
      if (node === undefined) { stream.close(http2.constants.NGHTTP2_REFUSED_STREAM); return }
      opts.onStream(stream, { ...headers, ...impersonationHeaders(rawHeaders) }, node)
    })
    this.server.on('tlsClientError', (err, socket) => {
      opts.onHandshakeFailure?.()
      opts.logger.warn({ err, remote: socket.remoteAddress }, 'tunnel TLS handshake refused')
    })
  }

  /**
   * TLS material for the connections accepted from now on (a renewed certificate, a rotated CA
   * bundle); live sessions keep the TLS they were opened with. The listener's own options
   * (client certificate required, ALPN) stay; minVersion belongs to the context and must be given
   * again (left out, the new context accepts TLS 1.2: tried on Node 24).
   */
  useCredentials (material: { ca: string, cert: string, key: string }): void {
    this.server.setSecureContext(tunnelContext(material))
  }

  async listen (): Promise<AddressInfo> {
    this.server.listen(this.opts.port, this.opts.host)
    await once(this.server, 'listening')
    return this.server.address() as AddressInfo
  }

  /** TCP connections the server holds (with or without a session): a leak shows here. */
  openConnections (): number {
    return this.sockets.size
  }

  /** Nodes with a live tunnel (for /readyz and metrics). */
  connectedNodes (): string[] {
    return [...new Set(this.sessions.values())]
  }

  /** GOAWAY to every edge (they redial, possibly to another replica); wait for streams up to graceMs. */
  async close (graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    await Promise.all([...this.sessions.keys()].map((s) => closeGracefully(s, graceMs)))
    // What is left (a handshake that never completed, a session the peer never closed) is cut:
    // a rolling update must not wait for a dead edge.
    if (this.sockets.size > 0) this.opts.logger.info({ connections: this.sockets.size }, 'closing tunnel connections that did not drain')
    for (const socket of this.sockets) socket.destroy()
    // The server's own 'close' follows its connection count; never let a miscount hold a shutdown.
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 1000).unref())])
  }

  private accept (session: ServerHttp2Session): void {
    const socket = session.socket as TLSSocket
    const node = nodeNameFromSubject(socket.getPeerCertificate()?.subject)
    if (node === undefined) {
      // Signed by the tunnel CA but not a node identity (CN=system:node:<name>, O=system:nodes).
      this.opts.logger.warn({ remote: socket.remoteAddress, subject: socket.getPeerCertificate()?.subject },
        'tunnel client certificate is not a node identity; closing')
      this.refuse(session, 'not-a-node')
      return
    }
    const refusal = this.opts.refuseNode?.(node)
    if (refusal !== undefined) {
      // Before the session is registered: no stream of a revoked node is ever served. The edge sees
      // its connection close before its first PING is answered, a failed dial (it backs off).
      this.opts.logger.warn({ node, remote: remoteOf(session), reason: refusal.message }, `tunnel connection refused: ${REFUSAL_LOG[refusal.reason]}`)
      this.refuseWithReason(session, refusal)
      return
    }
    this.sessions.set(session, node)
    openConnectionWindow(session)
    const log = this.opts.logger.child({ node })
    this.supersede(node, session)
    // The serial tells a renewed or replaced certificate from the old one in the log.
    log.info({ remote: socket.remoteAddress, serial: socket.getPeerCertificate()?.serialNumber }, 'edge connected')
    // Our own keepalive: a dead edge behind NAT would otherwise hold its streams (watches) forever.
    // It is also what catches a session nghttp2 gave up on (see keepalive). A PING may go unanswered
    // for one heartbeat period.
    keepalive(session, {
      periodMs: this.opts.heartbeatPeriodMs,
      timeoutMs: this.opts.heartbeatPeriodMs,
      onDead: () => this.refuse(session, 'heartbeat-timeout'),
    })
    session.on('error', (err) => {
      log.debug({ err }, 'edge session error')
      this.refuse(session, 'protocol-error')
    })
    session.on('goaway', (code: number) => {
      if (code !== http2.constants.NGHTTP2_NO_ERROR) { this.refuse(session, 'peer-goaway'); return }
      // A graceful close by the edge: Node stops new streams; the open ones get a bounded grace.
      const grace = this.superseded.has(session) ? SUPERSEDED_GRACE_MS : PEER_GOAWAY_GRACE_MS
      setTimeout(() => { if (!session.destroyed) session.destroy() }, grace).unref()
    })
    // The edge's FIN without a GOAWAY: it sends nothing more, so nothing it asked can be answered
    // usefully either; a half-open connection would only hold its streams and the socket.
    socket.once('end', () => { if (!session.destroyed && !session.closed) this.refuse(session, 'half-closed') })
    session.once('close', () => {
      this.sessions.delete(session)
      if (this.newest.get(node) === session) this.newest.delete(node)
      log.info('edge disconnected')
    })
  }

  /**
   * Asks refuseNode again for every live connection (a deny list or the Node objects changed): one
   * now refused is told why (GOAWAY with an error code, the reason in its debug data) and closed at
   * once, its streams (watches) cut — a revoked node keeps nothing open.
   */
  recheck (): void {
    for (const [session, node] of this.sessions) {
      if (this.refused.has(session) || session.destroyed) continue
      const refusal = this.opts.refuseNode?.(node)
      if (refusal === undefined) continue
      this.opts.logger.warn({ node, remote: remoteOf(session), reason: refusal.message }, `tunnel connection closed: ${REFUSAL_LOG[refusal.reason]}`)
      this.refuseWithReason(session, refusal)
    }
  }

  /** Tells the edge why (GOAWAY with an error code, the reason as its debug data), then refuses. */
  private refuseWithReason (session: ServerHttp2Session, refusal: NodeRefusal): void {
    // Submitted before destroy(), which flushes the session's last writes (see refuse).
    if (!session.closed && !session.destroyed) session.goaway(http2.constants.NGHTTP2_REFUSED_STREAM, session.state.lastProcStreamID ?? 0, Buffer.from(refusal.message))
    this.refuse(session, refusal.reason)
  }

  /**
   * Two connections with one node identity: the newer one wins. The edge's own certificate
   * replacement dials a second connection before it lets the first one go, so "older wins" would
   * refuse every renewal. The older connection is told why (a GOAWAY with no error, naming the
   * reason in its debug data) and its open streams (held watches) may finish: no new stream is
   * accepted on it. An edge that is replacing its certificate moves to its new connection at once;
   * another edge holding a copy of the certificate learns it was superseded (see client.ts).
   */
  private supersede (node: string, session: ServerHttp2Session): void {
    const previous = this.newest.get(node)
    this.newest.set(node, session)
    if (previous === undefined || previous.closed || previous.destroyed) return
    this.opts.logger.warn({ node, remote: remoteOf(session), previousRemote: remoteOf(previous) },
      'a second tunnel connection with the same node identity: the newer one wins, the older one is told to go away')
    this.superseded.add(previous)
    previous.goaway(http2.constants.NGHTTP2_NO_ERROR, previous.state.lastProcStreamID ?? 0, Buffer.from(SUPERSEDED_GOAWAY))
  }

  /** Closes a connection the server gave up on, now, and counts it once. */
  private refuse (session: ServerHttp2Session, reason: RefusalReason): void {
    if (this.refused.has(session)) return
    this.refused.add(session)
    this.opts.onConnectionRefused?.(reason)
    this.opts.logger.debug({ reason, node: this.sessions.get(session) }, 'closing tunnel connection')
    if (session.destroyed) return
    // destroy() also ends the socket, even when nghttp2 no longer reads it (measured: CLOSE-WAIT gone),
    // but only once its last write is flushed: to a peer that is gone that may never happen, and the
    // socket would stay open for good (seen under load in test/tunnel/server-fuzz.test.ts). Bounded.
    // The TCP socket under the TLS one: session.socket is a proxy that throws once the session let go of it.
    const tcp = (session.socket as TLSSocket & { _parent?: Socket | null })._parent ?? undefined
    session.destroy()
    if (tcp !== undefined) setTimeout(() => { if (!tcp.destroyed) tcp.destroy() }, REFUSED_SOCKET_GRACE_MS).unref()
  }
}

/** `address:port` of a session's peer, for log lines that must tell two peers apart. */
function remoteOf (session: ServerHttp2Session): string | undefined {
  const socket = session.socket as TLSSocket | undefined
  if (socket?.remoteAddress === undefined) return undefined
  return `${socket.remoteAddress.includes(':') ? `[${socket.remoteAddress}]` : socket.remoteAddress}:${socket.remotePort}`
}

/** The tunnel's TLS context, at start and on every reload alike (a reload that left out minVersion accepted TLS 1.2). */
function tunnelContext (material: { ca: string, cert: string, key: string }): { ca: string, cert: string, key: string, minVersion: 'TLSv1.3' } {
  return { ca: material.ca, cert: material.cert, key: material.key, minVersion: 'TLSv1.3' }
}
