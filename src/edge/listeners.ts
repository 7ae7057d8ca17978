// The pod-facing listeners: plain node:https on `server` (127.0.0.1:10550) and `dummyServer`
// (169.254.30.10:10550), the same routes on both. Health is answered locally and without
// authentication; everything else goes to the request pipeline (pipeline.ts) with its body left
// unread (bodies are streamed, never buffered). /metrics is only on the loopback listener.
//
// No web framework: every byte a pod can send must end in a Kubernetes Status the edge composes
// (a framework answers malformed requests, oversized headers and odd targets with its own bodies),
// and the relay path does not need routing. The limits are kube-apiserver's (Go's net/http): up to
// 1 MiB of request line plus headers, any number of header fields, 32 s to send them.
import http, { type IncomingMessage, type ServerResponse } from 'node:http'
import https from 'node:https'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import type { Registry } from 'prom-client'
import type { HealthCheck } from '../obs/health.js'
import { renderHealth } from '../obs/health.js'
import { headersTooLarge, statusBody, type Status } from '../kube/status.js'
import { MAX_REQUEST_HEADER_BYTES } from '../tunnel/protocol.js'
import { edgeAnswers, sendStatus } from './answers.js'
import type { RequestPipeline } from './pipeline.js'
import { boundHalfClosed, lingerThenDestroy } from './linger.js'

export interface ListenerOptions {
  host: string
  port: number
  /** PEM serving certificate and key; plain HTTP when undefined (requireAuthorization off, loopback only). */
  tls: { cert: string, key: string } | undefined
  withMetrics: boolean
}

export interface ListenerDeps {
  /** Every request the listener does not answer itself (pipeline.ts). */
  pipeline: RequestPipeline
  health: { livez: HealthCheck[], readyz: HealthCheck[] }
  registry: Registry
}

export interface Listener {
  address: AddressInfo
  /** Stops accepting, closes idle keep-alive connections; in-flight requests are drained by the caller. */
  close: () => Promise<void>
  /** After the drain: cuts every connection still open (a half-sent request, an unread body), so close() resolves. */
  closeAllConnections: () => void
  /** A new serving certificate for new connections; open ones keep theirs (no-op on plain HTTP). */
  useCertificate: (tls: { cert: string, key: string }) => void
}

// kube-apiserver's ReadHeaderTimeout: a client that trickles its headers (slowloris) is cut then.
const HEADERS_TIMEOUT_MS = 32_000
const KEEP_ALIVE_TIMEOUT_MS = 65_000

export async function startListener (opts: ListenerOptions, deps: ListenerDeps): Promise<Listener> {
  const serverOptions: http.ServerOptions = {
    // Go's http.Server counts the request line and headers against MaxHeaderBytes (1 MiB, +4 KiB slack).
    maxHeaderSize: MAX_REQUEST_HEADER_BYTES,
    // Long watches must not be cut by the HTTP server; short requests have their own timeout in the relay.
    requestTimeout: 0,
    headersTimeout: HEADERS_TIMEOUT_MS,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    noDelay: true,
  }
  const server = opts.tls === undefined
    ? http.createServer(serverOptions)
    : https.createServer({ ...serverOptions, ...servingContext(opts.tls) })
  // Go has no limit on the number of header fields, only on their bytes (Node's default drops fields past 2 000).
  server.maxHeadersCount = 0
  server.on('request', (req: IncomingMessage, res: ServerResponse) => route(opts, deps, req, res))
  // Once the pod has ended its side, what the edge still owes it is bounded in time (linger.ts).
  const upgraded = new WeakSet<Duplex>()
  server.on(opts.tls === undefined ? 'connection' : 'secureConnection', (socket: Duplex) => boundHalfClosed(socket, (s) => upgraded.has(s)))
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    upgraded.add(socket)
    deps.pipeline.upgrade(req, socket, head).catch((err: Error) => {
      deps.pipeline.logger.error({ err }, 'upgrade relay failed')
      socket.destroy()
    })
  })
  // CONNECT is no Kubernetes verb; Node would otherwise drop the connection without an answer.
  server.on('connect', (_req: IncomingMessage, socket: Duplex) => {
    writeRawStatus(socket, edgeAnswers.connectNotAllowed())
  })
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => answerClientError(err, socket))
  server.on('tlsClientError', () => {}) // a failed handshake is the client's problem; nothing to answer

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.port, opts.host, () => { server.off('error', reject); resolve() })
  })
  server.on('error', (err) => deps.pipeline.logger.error({ err }, 'listener error'))
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve())
      server.closeIdleConnections()
    }),
    closeAllConnections: () => server.closeAllConnections(),
    useCertificate: (tls) => {
      if (server instanceof https.Server) server.setSecureContext(servingContext(tls))
    },
  }
}

function route (opts: ListenerOptions, deps: ListenerDeps, req: IncomingMessage, res: ServerResponse): void {
  const url = req.url ?? '/'
  const queryAt = url.indexOf('?')
  const path = queryAt === -1 ? url : url.slice(0, queryAt)
  if (req.method === 'GET' || req.method === 'HEAD') {
    const checks = path === '/livez'
      ? deps.health.livez
      : path === '/readyz' ? deps.health.readyz : path === '/healthz' ? [...deps.health.livez, ...deps.health.readyz] : undefined
    if (checks !== undefined) {
      const { code, body } = renderHealth(path.slice(1), checks, new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1)))
      res.writeHead(code, {
        'content-type': 'text/plain; charset=utf-8', 'x-content-type-options': 'nosniff', 'cache-control': 'no-cache, private',
      }).end(req.method === 'HEAD' ? undefined : body)
      req.resume()
      return
    }
    if (opts.withMetrics && path === '/metrics') {
      deps.registry.metrics().then((text) => { res.writeHead(200, { 'content-type': deps.registry.contentType }).end(text) },
        () => sendStatus(res, edgeAnswers.metricsFailed()))
      req.resume()
      return
    }
  }
  deps.pipeline.route(req, res).catch((err: Error) => {
    deps.pipeline.logger.error({ err }, 'relay failed')
    sendStatus(res, edgeAnswers.relayFailed())
  })
}

/**
 * A request Node's parser refused before there was a request object: malformed framing (400),
 * headers over the limit (431). Answered like kube-apiserver
 * would, but as a Status, then the connection is closed (its framing can no longer be trusted).
 * Headers that were too slow get no answer (as from kube-apiserver): the connection is just closed.
 */
function answerClientError (err: NodeJS.ErrnoException, socket: Duplex): void {
  // Go's server closes a connection whose headers did not arrive in time without an answer, too.
  // Node's own default does the same check: a response already under way on this connection
  // (pipelining) must not be followed by a second one. (TLS bytes make bytesWritten useless here.)
  const inFlight = (socket as { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (err.code === 'ECONNRESET' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable || inFlight?.headersSent === true) {
    socket.destroy()
    return
  }
  writeRawStatus(socket, err.code === 'HPE_HEADER_OVERFLOW'
    ? headersTooLarge(MAX_REQUEST_HEADER_BYTES)
    : edgeAnswers.malformedRequest(err.code))
}

function writeRawStatus (socket: Duplex, s: Status): void {
  const { code, headers, body } = statusBody(s)
  const head = [`HTTP/1.1 ${code} ${http.STATUS_CODES[code] ?? ''}`,
    ...Object.entries({ ...headers, connection: 'close' }).map(([k, v]) => `${k}: ${v}`)].join('\r\n')
  socket.end(`${head}\r\n\r\n${body}`)
  lingerThenDestroy(socket)
}

/** The pod listener's TLS context, at start and on every new certificate alike (setSecureContext forgets what it is not given). */
function servingContext (tls: { cert: string, key: string }): { cert: string, key: string, minVersion: 'TLSv1.2' } {
  return { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }
}
