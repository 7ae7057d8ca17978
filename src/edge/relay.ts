// Relays one admitted pod request over the tunnel and streams the answer back byte for byte
// (DESIGN decision 7): no decoding, no re-encoding. Stages 5 and 6 of the pipeline (pipeline.ts):
// relay over the tunnel | offline answer (cache/offline.ts) → tee (cache/tee.ts).
// Bodies are read under flow control and bounded, short requests time out, watches run until
// either side ends them, and a client that goes away cancels its stream upstream.
//
// The cache answers only what the edge itself authorized, and only when the cloud is unreachable
// (DESIGN decision 11): the tunnel is down, the shim refused the stream before processing it
// (REFUSED_STREAM, or GOAWAY below its id), the tunnel was lost during a read, or the shim says it
// cannot reach kube-apiserver. Any other failure is an honest Status (413, 431, 502, 503, 504).
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http'
import http2, { type ClientHttp2Stream, type IncomingHttpHeaders as H2Headers } from 'node:http2'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { EdgeRequestMetrics } from '../obs/metrics.js'
import type { RequestInfo } from '../kube/request-info.js'
import { tooLarge, type Status } from '../kube/status.js'
import { cancelStream } from '../tunnel/streams.js'
import { acceptCodingHeader, announcedCoding, decodedLength, decoder, HEADER_ACCEPT_CODING, HEADER_CODING, type Coding } from '../tunnel/compression.js'
import { TunnelUnavailableError, type TunnelClient } from '../tunnel/client.js'
import { encodeHeaderEnvelope, endToEndHeaders, ERROR_UPSTREAM_UNREACHABLE, HEADER_ENVELOPE, HEADER_ERROR, headersFitTunnel } from '../tunnel/protocol.js'
import type { AdmissionDeps, AdmissionRefusal, AdmittedRequest } from './admission.js'
import { edgeAnswers, RETRY_AFTER_SECONDS, sendStatus } from './answers.js'
import type { CacheTee } from './cache/tee.js'
import type { CloudReachability } from './reachability.js'

/** Answers a request from the cache while the cloud is unreachable; returns the HTTP status sent. */
export interface OfflineAnswers {
  serve: (info: RequestInfo, url: string, headers: IncomingHttpHeaders, res: ServerResponse, since: number) => number
}

export interface RelayDeps extends AdmissionDeps {
  tunnel: TunnelClient
  metrics: EdgeRequestMetrics
  requestTimeoutMs: number
  reachability: CloudReachability
  /** The edge cache; undefined when it is off (then a connectivity failure is a plain 503). */
  cache: { tee: CacheTee, offline: OfflineAnswers } | undefined
  /** Codings the edge decodes on answers (modules.edgeHub.compression); none: answers cross uncompressed. */
  codings?: readonly Coding[]
}

export { RETRY_AFTER_SECONDS, sendStatus }

const READ_VERBS = new Set(['get', 'list', 'watch'])
const skipping = new WeakSet<IncomingMessage>()
// How long an unread request body is skipped after an early answer before the connection is cut.
const SKIP_TIMEOUT_MS = 10_000

/** A request admission refused (stages 1–4): its Status, counted, with the unread body skipped. */
export function refuseRequest (deps: RelayDeps, req: IncomingMessage, res: ServerResponse, refusal: AdmissionRefusal): void {
  deps.metrics.requests.inc({ verb: refusal.verb, code: String(refusal.status.code), source: 'edge' })
  skipUnreadBody(req, 2 * deps.limits.maxRequestBodyBytes)
  sendStatus(res, refusal.status)
}

/** Stages 5 and 6 for an admitted request: relay over the tunnel | offline answer, then tee. */
export async function relayRequest (deps: RelayDeps, admitted: AdmittedRequest, req: IncomingMessage, res: ServerResponse): Promise<void> {
  // An early answer skips up to twice the body limit of unread body (a body just over the limit still gets its 413).
  const skipLimit = 2 * deps.limits.maxRequestBodyBytes
  const { info, url, longRunning, hasBody, mayUseCache } = admitted
  // The codings the edge decodes: the shim may compress the answer (tunnel/compression.ts).
  const acceptCoding = acceptCodingHeader(deps.codings ?? [])
  const forwarded = acceptCoding === undefined ? admitted.forwarded : { ...admitted.forwarded, [HEADER_ACCEPT_CODING]: acceptCoding }
  const answer = (s: Status): void => {
    deps.metrics.requests.inc({ verb: info.verb, code: String(s.code), source: 'edge' })
    sendStatus(res, s)
  }
  const offline = mayUseCache ? deps.cache?.offline : undefined
  const unreachable = (why: string): void => {
    skipUnreadBody(req, skipLimit)
    if (offline === undefined) {
      // With the cache on, a request it may not answer (not authorized here) is a miss too.
      if (deps.cache !== undefined) deps.metrics.cacheRequests.inc({ verb: info.verb, result: 'miss' })
      answer(edgeAnswers.unreachable(why))
      return
    }
    const code = offline.serve(info, url, req.headers, res, deps.reachability.since)
    deps.metrics.requests.inc({ verb: info.verb, code: String(code), source: 'cache' })
    // Any answer but the outage's 503 came from the cache (a 404 or 410 from it is an answer too).
    deps.metrics.cacheRequests.inc({ verb: info.verb, result: code === 503 ? 'miss' : 'hit' })
  }
  const resource = resourceLabel(info)

  let stream: ClientHttp2Stream
  try {
    // Headers within kube-apiserver's limit but too large for an HTTP/2 header block go in an
    // envelope at the start of the stream's body (the listener already bounded them to 1 MiB).
    const envelope = headersFitTunnel(forwarded) ? undefined : encodeHeaderEnvelope({ headers: forwarded, body: hasBody })
    stream = envelope === undefined
      ? deps.tunnel.open(forwarded, { endStream: !hasBody })
      : deps.tunnel.open({ ':method': forwarded[':method']!, ':path': '/', [HEADER_ENVELOPE]: String(envelope.length) })
    if (envelope !== undefined) {
      stream.write(envelope)
      if (!hasBody) stream.end()
    }
  } catch (err) {
    if (!(err instanceof TunnelUnavailableError)) throw err
    unreachable(edgeAnswers.tunnelDown(err.message))
    return
  }
  const session = stream.session
  let headerBlockRefused = false
  let answered = false
  let bodyTooLarge = false
  let cancelled = false
  let decoded: Readable | undefined
  const cancel = (): void => { cancelled = true; stopBody(); cancelStream(stream) }

  const started = process.hrtime.bigint()
  // A short request's timeout runs until the pod has the whole answer, as kube-apiserver's timeout
  // filter covers the handler's writes: a pod that stops reading mid-answer is cut then, instead of
  // holding its in-flight slot, its connection and a tunnel stream (flow control keeps the shim's
  // end open) for as long as it likes. Only the response's 'close' (finished or gone) clears it.
  let timer: NodeJS.Timeout | undefined
  if (!longRunning) {
    timer = setTimeout(() => {
      cancel()
      if (!res.headersSent) answer(edgeAnswers.timeout(deps.requestTimeoutMs))
      else res.destroy()
    }, deps.requestTimeoutMs)
  }
  // The client going away (watch stopped, kubectl interrupted) cancels the stream and the upstream call.
  res.once('close', () => {
    clearTimeout(timer)
    if (!res.writableFinished) cancel()
  })

  const stopBody = hasBody
    ? forwardBody(req, stream, deps.limits.maxRequestBodyBytes, deps.metrics.relayedBytes.labels({ resource, direction: 'request' }), () => {
      // Detected while streaming (chunked, or a lying Content-Length): nothing may reach kube-apiserver.
      bodyTooLarge = true
      cancel()
      answer(tooLarge(deps.limits.maxRequestBodyBytes))
    }, () => skipUnreadBody(req, skipLimit))
    : () => {}

  stream.once('frameError', () => { headerBlockRefused = true })
  stream.on('error', (err: Error) => {
    deps.logger.debug({ verb: info.verb, path: info.path, err, rstCode: stream.rstCode }, 'tunnel stream error')
  })
  stream.once('response', (headers: H2Headers) => {
    answered = true
    if (headers[HEADER_ERROR] === ERROR_UPSTREAM_UNREACHABLE) {
      deps.reachability.upstreamUnreachable()
      cancel()
      if (!res.headersSent && !res.destroyed) unreachable(edgeAnswers.shimCannotReachApiserver)
      return
    }
    deps.reachability.upstreamAnswered()
    const code = Number(headers[':status'])
    if (!longRunning) deps.metrics.duration.observe({ verb: info.verb }, Number(process.hrtime.bigint() - started) / 1e9)
    deps.metrics.requests.inc({ verb: info.verb, code: String(code), source: 'cloud' })
    if (res.headersSent || res.destroyed) { cancel(); return }
    const received = deps.metrics.relayedBytes.labels({ resource, direction: 'response' })
    stream.on('data', (chunk: Buffer) => { received.inc(chunk.length) })
    // Once the answer is complete, the rest of a body kube-apiserver did not read is not sent, and
    // the stream is reset: its sending side would otherwise stay open for good — the shim has read
    // part of the body, so Node does not close its end either — and every such stream held a slot
    // of the shim's per-node stream limit and up to a stream window of body in its buffers, for
    // the tunnel's life (the 40 000-case soak stalled on them).
    stream.once('end', () => {
      stopBody()
      if (!stream.writableEnded) cancelStream(stream)
    })
    const deliver = (body: Readable, length?: number): void => {
      const head = endToEndHeaders(headers)
      res.writeHead(code, length === undefined ? head : { ...head, 'content-length': String(length) })
      // The cache sees the answer as the pod does: decoded.
      deps.cache?.tee.observe(info, url, req.headers.accept, headers, body)
      // Long-running clients (watch, log -f) must see the headers at once, before the first bytes.
      if (longRunning) res.flushHeaders()
      if (info.verb !== 'watch') {
        pipeline(body, res).catch(() => { if (!res.destroyed) res.destroy() })
        return
      }
      // A watch cut by a lost tunnel ends cleanly, so the client re-watches from its last
      // resourceVersion (then from the cache) instead of seeing a broken response.
      body.pipe(res)
    }
    const coding = announcedCoding(deps.codings ?? [], headers[HEADER_CODING])
    if (coding === undefined) { deliver(stream); return }
    if (coding === 'unknown') { cancel(); answer(edgeAnswers.undecodable(`unknown coding ${String(headers[HEADER_CODING])}`)); return }
    decoded = decodeAnswer(stream, coding, headers, longRunning, deliver, (err) => {
      // A watch whose tunnel stream was cut ends mid-frame: it ends cleanly, like an uncompressed one (below).
      if (info.verb === 'watch' && res.headersSent && stream.closed && !cancelled) { decoded?.unpipe(res); res.end(); return }
      deps.logger.warn({ verb: info.verb, path: info.path, coding, err }, 'tunnel answer did not decode')
      cancel()
      if (!res.headersSent) answer(edgeAnswers.undecodable(err.message))
      else res.destroy()
    })
  })
  stream.once('close', () => {
    if (answered) {
      // Cut mid-answer: what the decoder holds is not a whole answer (a watch ends cleanly below).
      if (decoded !== undefined && !stream.readableEnded) {
        decoded.unpipe(res)
        decoded.destroy(info.verb === 'watch' || cancelled ? undefined : new Error('the tunnel stream ended mid-answer'))
      }
      // A cancelled stream ends nothing: its client is gone, or the cache answers it now (held watch).
      // A compressed watch that ended normally ends through its decoder.
      if (info.verb === 'watch' && !cancelled && !res.writableEnded && (decoded === undefined || !stream.readableEnded)) res.end()
      return
    }
    if (cancelled || bodyTooLarge || res.headersSent || res.destroyed) return
    stopBody()
    const failure = streamFailure(stream, session, headerBlockRefused, deps.tunnel)
    deps.logger.debug({ verb: info.verb, path: info.path, failure, rstCode: stream.rstCode }, 'tunnel stream ended without an answer')
    switch (failure) {
      case 'header-block-too-large':
        skipUnreadBody(req, skipLimit)
        answer(edgeAnswers.headersTooLargeForTunnel())
        return
      case 'refused':
        unreachable(edgeAnswers.refusedByShim)
        return
      case 'tunnel-lost':
        // Nothing came back, but the shim may have started it: only a read is safe to answer locally.
        if (READ_VERBS.has(info.verb)) { unreachable(edgeAnswers.tunnelLostDuringRead); return }
        skipUnreadBody(req, skipLimit)
        answer(edgeAnswers.tunnelLostDuringWrite())
        return
      default:
        skipUnreadBody(req, skipLimit)
        answer(edgeAnswers.streamReset(stream.rstCode))
    }
  })
}

/**
 * Decodes a compressed answer from the shim, then hands it to `deliver`: a long-running one at
 * once (its headers must reach the client before any event), a short one at its first decoded
 * bytes, so that a body that does not decode is still answered with a Status.
 */
function decodeAnswer (stream: ClientHttp2Stream, coding: Coding, headers: H2Headers, longRunning: boolean,
  deliver: (body: Readable, length?: number) => void, failed: (err: Error) => void): Readable {
  // kube-apiserver's Content-Length, restored for the pod, and the bound of what may decode.
  const length = decodedLength(headers)
  const decoded = stream.pipe(decoder(coding, length))
  decoded.once('error', failed)
  decoded.on('error', () => {}) // only the first error decides; a later one (destroyed meanwhile) says nothing new
  if (longRunning) { deliver(decoded, length); return decoded }
  const first = (chunk?: Buffer): void => {
    decoded.off('data', first)
    decoded.off('end', first)
    if (chunk !== undefined) { decoded.pause(); decoded.unshift(chunk) }
    deliver(decoded, length)
  }
  decoded.on('data', first)
  decoded.once('end', first)
  return decoded
}

// The resource label's values: a pod may name any resource (RBAC wildcards), so the set is capped;
// past it, new resources count as "other" (a Prometheus series per name would grow without bound).
const MAX_RESOURCE_LABELS = 256
const resourceLabels = new Set<string>()

/** `group/resource` (`configmaps` in the core group), "other" for non-resource paths; never names or namespaces. */
export function resourceLabel (info: RequestInfo): string {
  if (!info.isResourceRequest || info.resource === '') return 'other'
  const label = info.apiGroup === '' ? info.resource : `${info.apiGroup}/${info.resource}`
  if (resourceLabels.has(label)) return label
  if (resourceLabels.size >= MAX_RESOURCE_LABELS) return 'other'
  resourceLabels.add(label)
  return label
}

type StreamFailure = 'header-block-too-large' | 'refused' | 'tunnel-lost' | 'reset'

/**
 * Why a tunnel stream closed without an answer. Only `refused` (the shim never processed it) and
 * `tunnel-lost` (the connection itself is gone) are connectivity failures.
 */
function streamFailure (stream: ClientHttp2Stream, session: http2.Http2Session | undefined,
  headerBlockRefused: boolean, tunnel: TunnelClient): StreamFailure {
  // Node refuses locally (REFUSED_STREAM, after a frameError) a header block it may not send.
  if (headerBlockRefused) return 'header-block-too-large'
  if (stream.rstCode === http2.constants.NGHTTP2_REFUSED_STREAM || tunnel.refusedByGoaway(stream)) return 'refused'
  if (session === undefined || session.destroyed || session.closed) return 'tunnel-lost'
  return 'reset'
}

/**
 * Forwards the request body under flow control: the pod's socket is paused while the tunnel
 * stream's window is full. Past `limit` bytes it stops and calls `onTooLarge`. Returns `stop`:
 * from then on nothing more is written, and `skipRest` takes care of the rest of the body.
 */
function forwardBody (req: IncomingMessage, stream: ClientHttp2Stream, limit: number, sent: { inc: (bytes: number) => void },
  onTooLarge: () => void, skipRest: () => void): () => void {
  let seen = 0
  let stopped = false
  const onDrain = (): void => { req.resume() }
  const onData = (chunk: Buffer): void => {
    seen += chunk.length
    if (seen > limit) { stop(); onTooLarge(); return }
    if (stream.destroyed || stream.closed) return
    sent.inc(chunk.length)
    if (!stream.write(chunk)) req.pause()
  }
  const stop = (): void => {
    if (stopped) return
    stopped = true
    req.off('data', onData)
    stream.off('drain', onDrain)
    skipRest()
  }
  req.on('data', onData)
  req.once('end', () => { if (!stopped && !stream.destroyed && !stream.closed) stream.end() })
  stream.on('drain', onDrain)
  return stop
}

/**
 * After an answer given without reading the whole request body: the rest of the body is read and
 * dropped, so the answer reaches the client — closing a connection with unread data makes the
 * kernel send a reset that can discard the answer before the client reads it (Go's server lingers
 * for the same reason). Bounded: past `limitBytes` more, or SKIP_TIMEOUT_MS, the connection is cut.
 */
function skipUnreadBody (req: IncomingMessage, limitBytes: number): void {
  if (req.complete || skipping.has(req)) return
  skipping.add(req)
  let skipped = 0
  const socket = req.socket
  const timer = setTimeout(() => { if (!req.complete) socket.destroy() }, SKIP_TIMEOUT_MS)
  // The connection outlives the request when the body ends (keep-alive): its listener goes with
  // the request, or every skipped body would leave one more on the socket for good.
  const done = (): void => { clearTimeout(timer); socket.off('close', done) }
  req.on('data', (chunk: Buffer) => {
    skipped += chunk.length
    if (skipped > limitBytes) socket.destroy()
  })
  req.once('end', done)
  socket.once('close', done)
  req.resume()
}
