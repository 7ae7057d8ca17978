// The cloud's end of the tunnel: an HTTP/2 TLS 1.3 listener that demands a client certificate from
// the tunnel CA (a stranger fails the handshake) and names each connection's node from that
// certificate only — never from a header or body.
import http2, { type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import { once } from 'node:events'
import type { AddressInfo, Socket } from 'node:net'
import type { TLSSocket } from 'node:tls'
import type { Logger } from '../obs/logger.js'
import { closeGracefully } from './client.js'
import { ALPN, HTTP2_HEADER_OPTIONS, MAX_HEADER_LIST_BYTES, nodeNameFromSubject } from './protocol.js'

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
}

const STREAM_WINDOW = 1 << 20
const CONNECTION_WINDOW = 16 << 20

export class TunnelServer {
  private readonly server: http2.Http2SecureServer
  private readonly sessions = new Map<ServerHttp2Session, string>()
  private readonly sockets = new Set<Socket>()

  constructor (private readonly opts: TunnelServerOptions) {
    this.server = http2.createSecureServer({
      ca: opts.ca,
      cert: opts.cert,
      key: opts.key,
      requestCert: true,
      rejectUnauthorized: true,
      minVersion: 'TLSv1.3',
      ALPNProtocols: [ALPN],
      allowHTTP1: false,
      settings: {
        maxConcurrentStreams: opts.maxConcurrentStreamsPerNode, initialWindowSize: STREAM_WINDOW, enablePush: false, maxHeaderListSize: MAX_HEADER_LIST_BYTES,
      },
      ...HTTP2_HEADER_OPTIONS,
    })
    // Small frames must not wait for ACKs (Nagle): see client.ts. Every connection is tracked, with
    // or without a session, so close() can end the ones that never finish on their own.
    this.server.on('connection', (socket: Socket) => {
      socket.setNoDelay(true)
      this.sockets.add(socket)
      socket.once('close', () => this.sockets.delete(socket))
    })
    this.server.on('session', (session) => this.accept(session))
    this.server.on('stream', (stream, headers) => {
      // An edge that dies (kill -9, power cut) resets every stream it had open, possibly while the
      // handler still waits for kube-apiserver: that must never be an unhandled 'error' event.
      stream.on('error', (err) => opts.logger.debug({ err: err.message }, 'tunnel stream error'))
      const node = this.sessions.get(stream.session as ServerHttp2Session)
      if (node === undefined) { stream.close(http2.constants.NGHTTP2_REFUSED_STREAM); return }
      opts.onStream(stream, headers, node)
    })
    this.server.on('tlsClientError', (err, socket) => {
      opts.onHandshakeFailure?.()
      opts.logger.warn({ err: err.message, remote: socket.remoteAddress }, 'tunnel TLS handshake refused')
    })
  }

  async listen (): Promise<AddressInfo> {
    this.server.listen(this.opts.port, this.opts.host)
    await once(this.server, 'listening')
    return this.server.address() as AddressInfo
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
      session.destroy()
      return
    }
    this.sessions.set(session, node)
    session.setLocalWindowSize(CONNECTION_WINDOW)
    const log = this.opts.logger.child({ node })
    log.info({ remote: socket.remoteAddress }, 'edge connected')
    // Our own keepalive: a dead edge behind NAT would otherwise hold its streams (watches) forever.
    const timer = setInterval(() => {
      if (session.destroyed || session.closed) { clearInterval(timer); return } // see client.ts
      session.ping((err) => { if (err !== null) session.destroy(err) })
    }, this.opts.heartbeatPeriodMs)
    session.on('error', (err) => log.debug({ err: err.message }, 'edge session error'))
    session.once('close', () => {
      clearInterval(timer)
      this.sessions.delete(session)
      log.info('edge disconnected')
    })
  }
}
