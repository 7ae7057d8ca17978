// Relays one pod request over the tunnel and streams the answer back byte for byte (DESIGN
// decision 7): no decoding, no re-encoding. Bodies are bounded, short requests time out, watches
// run until either side ends them, and a client that goes away cancels its stream upstream.
// Answers are teed into the edge cache; a connectivity failure — and only that, never an answer
// of kube-apiserver's — hands the request to the cache (DESIGN decision 6).
import type { IncomingMessage, ServerResponse } from 'node:http'
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders as H2Headers } from 'node:http2'
import { Transform, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '../obs/logger.js'
import type { RequestMetrics } from '../obs/metrics.js'
import { isLongRunning, requestInfo, type RequestInfo } from '../kube/request-info.js'
import { badRequest, gatewayTimeout, serviceUnavailable, statusBody, tooLarge, tooManyRequests, type Status } from '../kube/status.js'
import { TunnelUnavailableError, type TunnelClient } from '../tunnel/client.js'
import { endToEndHeaders, ERROR_UPSTREAM_UNREACHABLE, HEADER_CLIENT_ADDRESS, HEADER_ERROR } from '../tunnel/protocol.js'
import type { OfflineServer } from './cache/offline.js'
import type { CacheTee } from './cache/tee.js'
import type { GateVerdict } from './gate.js'
import type { InflightTracker } from './inflight.js'
import type { CloudReachability } from './reachability.js'

export interface RelayDeps {
  tunnel: TunnelClient
  logger: Logger
  metrics: RequestMetrics
  inflight: InflightTracker
  maxRequestBodyBytes: number
  requestTimeoutMs: number
  /** Short requests in flight at once (kube-apiserver's --max-requests-inflight); watches don't count. */
  maxInflight: number
  /** requireAuthorization: authenticate and authorize before relaying; undefined when the gate is off. */
  gate: ((info: RequestInfo, headers: IncomingMessage['headers']) => Promise<GateVerdict>) | undefined
  reachability: CloudReachability
  /** The edge cache; undefined when it is off (then a connectivity failure is a plain 503). */
  cache: { tee: CacheTee, offline: OfflineServer } | undefined
}

/** What every 429/503 of the edge tells clients (client-go honours it, up to 10 retries). */
export const RETRY_AFTER_SECONDS = 1

export async function relayRequest (deps: RelayDeps, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const method = req.method ?? 'GET'
  const url = req.url ?? '/'
  const parsed = requestInfo(method, url)
  if (!parsed.ok) { sendStatus(res, badRequest(parsed.message)); return }
  const info = parsed.info
  const longRunning = isLongRunning(info)
  if (!longRunning && deps.inflight.shortCount >= deps.maxInflight) {
    deps.metrics.requests.inc({ verb: info.verb, code: '429', source: 'edge' })
    sendStatus(res, tooManyRequests('Too many requests, please try again later.', RETRY_AFTER_SECONDS))
    req.resume()
    return
  }
  const done = deps.inflight.begin(res, longRunning)
  res.once('close', done)
  const answer = (s: Status): void => {
    deps.metrics.requests.inc({ verb: info.verb, code: String(s.code), source: 'edge' })
    sendStatus(res, s)
  }

  const declaredLength = Number(req.headers['content-length'] ?? 0)
  if (declaredLength > deps.maxRequestBodyBytes) { answer(tooLarge(deps.maxRequestBodyBytes)); req.resume(); return }
  const hasBody = declaredLength > 0 || req.headers['transfer-encoding'] !== undefined

  if (deps.gate !== undefined) {
    const verdict = await deps.gate(info, req.headers)
    if (!verdict.admitted) {
      deps.logger.debug({ verb: info.verb, path: info.path, why: verdict.why, code: verdict.status.code }, 'refused at the edge')
      answer(verdict.status)
      req.resume()
      return
    }
  }

  // The cloud cannot be reached: the cache answers what it can, the rest is a 503 Status.
  const fallBack = (why: string): void => {
    req.resume()
    if (deps.cache === undefined) { answer(serviceUnavailable(`edge-metaserver: ${why}`, RETRY_AFTER_SECONDS)); return }
    const code = deps.cache.offline.serve(info, url, req.headers, res, deps.reachability.since)
    deps.metrics.requests.inc({ verb: info.verb, code: String(code), source: 'cache' })
  }

  let stream: ClientHttp2Stream
  try {
    stream = deps.tunnel.open({
      ...endToEndHeaders(req.headers),
      ':method': method,
      ':path': url,
      [HEADER_CLIENT_ADDRESS]: req.socket.remoteAddress ?? '',
    }, { endStream: !hasBody })
  } catch (err) {
    if (!(err instanceof TunnelUnavailableError)) throw err
    fallBack(`the cloud is unreachable (${err.message})`)
    return
  }

  const started = process.hrtime.bigint()
  let timer: NodeJS.Timeout | undefined
  if (!longRunning) {
    timer = setTimeout(() => {
      stream.close(http2.constants.NGHTTP2_CANCEL)
      if (!res.headersSent) answer(gatewayTimeout(`edge-metaserver: the request did not complete within ${deps.requestTimeoutMs / 1000}s`))
      else res.destroy()
    }, deps.requestTimeoutMs)
  }
  // The client going away (watch stopped, kubectl interrupted) cancels the stream and the upstream call.
  res.once('close', () => {
    clearTimeout(timer)
    if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
  })

  if (hasBody) {
    pipeline(req, byteLimit(deps.maxRequestBodyBytes), stream).catch((err: Error) => {
      if (err instanceof BodyTooLargeError) {
        stream.close(http2.constants.NGHTTP2_CANCEL)
        answer(tooLarge(deps.maxRequestBodyBytes))
      }
    })
  }

  stream.once('response', (headers: H2Headers) => {
    if (!longRunning) clearTimeout(timer)
    if (headers[HEADER_ERROR] === ERROR_UPSTREAM_UNREACHABLE) {
      deps.reachability.upstreamUnreachable()
      stream.close(http2.constants.NGHTTP2_CANCEL)
      if (!res.headersSent && !res.destroyed) fallBack('the cloud shim cannot reach kube-apiserver')
      return
    }
    deps.reachability.upstreamAnswered()
    const code = Number(headers[':status'])
    if (!longRunning) deps.metrics.duration.observe({ verb: info.verb }, Number(process.hrtime.bigint() - started) / 1e9)
    deps.metrics.requests.inc({ verb: info.verb, code: String(code), source: 'cloud' })
    if (res.headersSent || res.destroyed) return
    res.writeHead(code, endToEndHeaders(headers))
    deps.cache?.tee.observe(info, url, headers, stream)
    // Long-running clients (watch, log -f) must see the headers at once, before the first bytes.
    if (longRunning) res.flushHeaders()
    if (info.verb !== 'watch') {
      pipeline(stream, res).catch(() => { if (!res.destroyed) res.destroy() })
      return
    }
    // A watch cut by a lost tunnel ends cleanly, so the client re-watches from its last
    // resourceVersion (then from the cache) instead of seeing a broken response.
    stream.pipe(res)
    stream.once('close', () => { if (!res.writableEnded) res.end() })
  })
  stream.once('error', (err: Error) => {
    // The stream died before any answer (tunnel lost mid-request): a connectivity failure.
    if (!res.headersSent) fallBack(`the tunnel to the cloud failed during the request (${err.message})`)
    else if (info.verb !== 'watch' && !res.destroyed) res.destroy()
    logRelayError(deps.logger, info, err)
  })
}

function logRelayError (logger: Logger, info: RequestInfo, err: Error): void {
  logger.debug({ verb: info.verb, path: info.path, err: err.message }, 'tunnel stream error')
}

/** Answers with a Status (plus `extraHeaders`, e.g. the offline Warning); returns its HTTP code. */
export function sendStatus (res: ServerResponse, s: Status, extraHeaders: Record<string, string> = {}): number {
  const { code, headers, body } = statusBody(s)
  if (!res.headersSent && !res.destroyed) res.writeHead(code, { ...headers, ...extraHeaders }).end(body)
  return code
}

class BodyTooLargeError extends Error {}

/** Passes bytes through until `limit`, then fails: bodies are bounded even without Content-Length. */
function byteLimit (limit: number): Transform {
  let seen = 0
  return new Transform({
    transform (chunk: Buffer, _enc, cb: TransformCallback) {
      seen += chunk.length
      if (seen > limit) cb(new BodyTooLargeError(`body exceeds ${limit} bytes`))
      else cb(null, chunk)
    },
  })
}
