// One tunnel stream = one pod request: authenticate (bearer or an anonymous discovery path),
// enforce node restriction, then execute it against kube-apiserver *as the pod* (its own token
// goes upstream) and stream the answer back untouched. Whatever the shim answers itself is a
// Status marked with x-ems-origin, so the edge can tell it from the apiserver's own answers.
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import { PassThrough } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Logger } from '../obs/logger.js'
import type { RequestMetrics } from '../obs/metrics.js'
import { isAnonymousPath } from '../kube/anonymous-paths.js'
import { bearerToken } from '../kube/bearer-token.js'
import { isLongRunning, requestInfo, requestInfoRefusal } from '../kube/request-info.js'
import { badRequest, internalError, notFound, serviceUnavailable, statusBody, tooManyRequests, unauthorized, type Status } from '../kube/status.js'
import {
  decodeHeaderEnvelope, endToEndHeaders, ERROR_BAD_REQUEST, HEADER_ENVELOPE, MAX_HEADER_ENVELOPE_BYTES, type HeaderEnvelope, ERROR_INTERNAL, ERROR_NO_CONTROL, ERROR_SHIM_BUSY, ERROR_UNAUTHENTICATED,
  ERROR_UPSTREAM_UNREACHABLE, HEADER_CLIENT_ADDRESS, HEADER_ERROR, HEADER_ORIGIN, HEADER_CONTROL, HEADER_RENEW, HEADER_UPGRADE, ORIGIN_SHIM,
} from '../tunnel/protocol.js'
import { chooseCoding, encodedHeaders, encoder, flushedLazily, HEADER_ACCEPT_CODING, type Coding } from '../tunnel/compression.js'
import type { ControlHub } from './control-hub.js'
import type { NodeRestriction } from './node-restriction.js'
import { renewalHandler } from './renewal.js'
import { relayUpgrade } from './upgrade.js'
import { isConnectivityError, type Upstream, type UpstreamResponse } from './upstream.js'
import type { SlotKind, UpstreamSlots } from './upstream-slots.js'

/** Marks a 429 of the shim's own limits: an answer, never a reason for the edge to serve its cache. */
const RETRY_AFTER_SECONDS = 1

export interface HandlerDeps {
  /** Serves edges' control streams (requireAuthorization); undefined when the gate is off. */
  control: ControlHub | undefined
  restriction: NodeRestriction
  upstream: Upstream
  /** Per-shim limits on relayed requests (kubeAPIConfig.maxLongRunningRequests / maxInflightRequests). */
  slots: UpstreamSlots
  logger: Logger
  metrics: RequestMetrics
  /** The edges' certificate renewals (renewal.ts); none: every renewal is refused. */
  renew?: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, node: string) => Promise<void>
  /** Codings the shim may compress answers with (modules.cloudHub.compression); none: never. */
  codings?: readonly Coding[]
}

export function createStreamHandler (deps: HandlerDeps) {
  return (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, node: string): void => {
    handle(deps, stream, headers, node).catch((err: Error) => {
      deps.logger.error({ node, err, path: headers[':path'] }, 'stream handler failed')
      if (!stream.headersSent && !stream.destroyed) respondStatus(stream, internalError('edge-metaserver cloud shim failed'), ERROR_INTERNAL)
      else stream.destroy()
    })
  }
}

async function handle (deps: HandlerDeps, stream: ServerHttp2Stream, headers: IncomingHttpHeaders, node: string): Promise<void> {
  // The edge's own control stream; a pod can never send this header (the edge strips x-ems-*).
  if (headers[HEADER_CONTROL] !== undefined) {
    if (deps.control === undefined) respondStatus(stream, notFound('requireAuthorization is off on this cloud shim'), ERROR_NO_CONTROL)
    else deps.control.attach(node, stream)
    return
  }
  // The edge renewing its own certificates: the node is the tunnel's, from its client certificate.
  if (headers[HEADER_RENEW] !== undefined) { await (deps.renew ?? renewalHandler(undefined, deps.logger))(stream, headers, node); return }
  let hasBody = !stream.endAfterHeaders
  if (headers[HEADER_ENVELOPE] !== undefined) {
    // Headers too large for an HTTP/2 header block came first in the body (tunnel/protocol.ts).
    const envelope = await readHeaderEnvelope(stream, Number(headers[HEADER_ENVELOPE]))
    if (envelope === undefined) { respondStatus(stream, badRequest('edge-metaserver: malformed header envelope'), ERROR_BAD_REQUEST); return }
    headers = envelope.headers as IncomingHttpHeaders
    hasBody = envelope.body
  }
  const method = String(headers[':method'])
  const path = String(headers[':path'])
  const parsed = requestInfo(method, path)
  if (!parsed.ok) { respondStatus(stream, requestInfoRefusal(parsed), ERROR_BAD_REQUEST); return }
  const verb = parsed.info.verb

  const upstreamHeaders = endToEndHeaders(headers)
  const token = bearerToken(typeof headers.authorization === 'string' ? headers.authorization : undefined)
  if (token === undefined) {
    // No bearer token (none, or one kube-apiserver would not read — src/kube/bearer-token.ts):
    // allowed only on discovery, version, openapi roots and health (DESIGN decision 4).
    // kube-apiserver grants discovery to authenticated users only, so these non-sensitive
    // documents are fetched as the shim.
    if (!isAnonymousPath(parsed.info.path) || method !== 'GET') {
      count(deps, verb, 401)
      respondStatus(stream, unauthorized(), ERROR_UNAUTHENTICATED)
      return
    }
    const own = deps.upstream.ownAuthorization()
    if (own !== undefined) upstreamHeaders.authorization = own
    else delete upstreamHeaders.authorization
  } else {
    let verdict
    try {
      verdict = await deps.restriction.check(token, node)
    } catch (err) {
      deps.logger.warn({ node, err }, 'token review failed')
      count(deps, verb, 503)
      respondStatus(stream, serviceUnavailable('edge-metaserver: kube-apiserver is unreachable from the cloud shim', 1), ERROR_UPSTREAM_UNREACHABLE)
      return
    }
    if (!verdict.ok) {
      deps.logger.info({ node, path: parsed.info.path, verb, reason: verdict.reason, message: verdict.status.message }, 'request denied')
      count(deps, verb, verdict.status.code)
      respondStatus(stream, verdict.status, verdict.reason)
      return
    }
  }

  const client = headers[HEADER_CLIENT_ADDRESS]
  if (typeof client === 'string') {
    upstreamHeaders['x-forwarded-for'] = [upstreamHeaders['x-forwarded-for'], client].filter(Boolean).join(', ')
  }
  // The edge may have gone while the token was being reviewed: a watch started now would run
  // against kube-apiserver for nobody (and hold the upstream pool open at shutdown).
  if (stream.closed || stream.destroyed) return
  const upgrade = headers[HEADER_UPGRADE]
  const longRunning = typeof upgrade === 'string' || isLongRunning(parsed.info)
  // Counted after authentication, like kube-apiserver's own inflight limits: a 401/403 stays one.
  const kind: SlotKind = longRunning ? 'longRunning' : 'short'
  const release = deps.slots.tryAcquire(kind)
  if (release === undefined) {
    count(deps, verb, 429)
    deps.logger.debug({ node, kind, limit: deps.slots.limit(kind) }, 'shim limit reached; answering 429')
    respondStatus(stream, tooManyRequests(`edge-metaserver cloud shim: too many ${longRunning ? 'long-running' : 'concurrent'} requests (limit ${deps.slots.limit(kind)}), please try again later`, RETRY_AFTER_SECONDS), ERROR_SHIM_BUSY)
    return
  }
  // The slot lives as long as the tunnel stream (or the relay, whichever ends first); so does the in-flight count.
  const inflightKind = longRunning ? 'long-running' : 'short'
  deps.metrics.inflight.inc({ kind: inflightKind })
  let counted = true
  const done = (): void => {
    release()
    if (counted) { counted = false; deps.metrics.inflight.dec({ kind: inflightKind }) }
  }
  stream.once('close', done)
  try {
    if (typeof upgrade === 'string') {
      const failed = await relayUpgrade(deps.upstream, stream, { method, path, headers: upstreamHeaders, upgrade })
      if (failed !== undefined) answerUpstreamFailure(deps, stream, failed, { verb, path })
      return
    }
    await forward(deps, stream, { method, path, verb, headers: upstreamHeaders, longRunning, hasBody, acceptCoding: headers[HEADER_ACCEPT_CODING] })
  } finally {
    done()
  }
}

async function forward (deps: HandlerDeps, stream: ServerHttp2Stream,
  req: { method: string, path: string, verb: string, headers: Record<string, string | string[]>, longRunning: boolean, hasBody: boolean, acceptCoding?: string | string[] }): Promise<void> {
  const abort = new AbortController()
  let complete = false
  // The edge cancelling the stream (client gone, watch ended) must end the upstream call too.
  // (Only then: aborting builds a DOMException, measurable on every request.)
  stream.once('close', () => { if (!complete) abort.abort() })
  let res
  const started = process.hrtime.bigint()
  try {
    res = await deps.upstream.forward({
      method: req.method, path: req.path, headers: req.headers,
      body: req.hasBody ? requestBody(stream) : null,
      signal: abort.signal,
      longRunning: req.longRunning,
    })
  } catch (err) {
    if (abort.signal.aborted) return
    answerUpstreamFailure(deps, stream, err, req)
    return
  }
  count(deps, req.verb, res.statusCode)
  // Time to kube-apiserver's response headers, as on the edge (a watch's lifetime is not a latency).
  if (!req.longRunning) deps.metrics.duration.observe({ verb: req.verb }, Number(process.hrtime.bigint() - started) / 1e9)
  if (stream.destroyed) { res.body.destroy(); return }
  res.body.once('end', () => { complete = true })
  if (String(res.headers.connection ?? '').toLowerCase() === 'close') {
    stream.respond({ ':status': res.statusCode, ...endToEndHeaders(res.headers) })
    await relayClosingAnswer(res.body, stream)
  } else {
    // Compressed on the tunnel when the edge asked for it (tunnel/compression.ts); a watch event
    // is flushed as it comes.
    const coding = chooseCoding(deps.codings ?? [], req.acceptCoding, req.method, res.statusCode, res.headers)
    const headers = endToEndHeaders(res.headers)
    stream.respond({ ':status': res.statusCode, ...(coding === undefined ? headers : encodedHeaders(headers, coding)) })
    const relayed = coding === undefined
      ? pipeline(res.body, stream)
      : pipeline(res.body, req.longRunning ? flushedLazily(coding) : encoder(coding, false), stream)
    await relayed.catch(() => {
      // Either side went away mid-body (watch closed by the client, tunnel lost): nothing to answer.
      if (!stream.destroyed) stream.destroy()
    })
  }
  // kube-apiserver answered before the whole request body came (an early refusal, a connection
  // it closed): the answer is complete, the edge may still be sending. RST_STREAM NO_ERROR tells
  // it to stop (RFC 9113 §8.1). Node does that itself only for a stream it never read; this one
  // fed undici, so without it both ends stayed half-open for good, each holding a stream of the
  // node's limit and up to a stream window of unread body here.
  if (req.hasBody) closeOnceAnswered(stream)
}

/** Resets a stream whose answer is complete but whose request body is not (see forward), once the answer is flushed. */
function closeOnceAnswered (stream: ServerHttp2Stream): void {
  const close = (): void => {
    if (stream.destroyed || stream.closed || stream.readableEnded) return
    // Drained too: a closed stream still holding unread data is never destroyed (see tunnel/streams.ts).
    stream.resume()
    stream.close(http2.constants.NGHTTP2_NO_ERROR)
  }
  if (stream.writableFinished) close()
  else if (stream.writableEnded) stream.once('finish', close)
}

// The largest answer kube-apiserver sends with Connection: close that the shim relays (they are
// early refusals: a few hundred bytes).
const MAX_CLOSING_ANSWER_BYTES = 1 << 20

/**
 * An answer after which kube-apiserver closes the connection (an early refusal of a request whose
 * body it did not read). undici 7 throws an uncatchable AssertionError — the whole shim goes down —
 * when the socket ends while such a response is paused by backpressure (nodejs/undici#5360, fixed in
 * undici 8, which needs Node 22.19). So its body is read without backpressure: in flowing mode, with
 * a bound, and written to the tunnel as it arrives.
 */
function relayClosingAnswer (body: UpstreamResponse['body'], stream: ServerHttp2Stream): Promise<void> {
  return new Promise((resolve) => {
    let size = 0
    body.on('data', (chunk: Buffer) => {
      size += chunk.length
      if (size > MAX_CLOSING_ANSWER_BYTES) { body.destroy(); stream.destroy(); return }
      if (!stream.destroyed) stream.write(chunk)
    })
    body.once('end', () => { if (!stream.destroyed) stream.end(); resolve() })
    body.once('error', () => { if (!stream.destroyed) stream.destroy(); resolve() })
    body.once('close', () => resolve())
  })
}

/**
 * Reads the `length` bytes of a header envelope from the start of the stream, leaving the rest (the
 * request body) unread in the stream. Undefined for a length out of bounds, a stream that ends
 * first, or bytes that are no envelope.
 */
function readHeaderEnvelope (stream: ServerHttp2Stream, length: number): Promise<HeaderEnvelope | undefined> {
  if (!Number.isInteger(length) || length <= 0 || length > MAX_HEADER_ENVELOPE_BYTES) return Promise.resolve(undefined)
  return new Promise((resolve) => {
    const chunks: Buffer[] = []
    let size = 0
    const done = (result: HeaderEnvelope | undefined): void => {
      stream.off('data', onData)
      stream.off('end', onEnd)
      stream.off('close', onEnd)
      resolve(result)
    }
    const onData = (chunk: Buffer): void => {
      chunks.push(chunk)
      size += chunk.length
      if (size < length) return
      stream.pause()
      const all = Buffer.concat(chunks)
      if (all.length > length) stream.unshift(all.subarray(length))
      done(decodeHeaderEnvelope(all.subarray(0, length)))
    }
    const onEnd = (): void => done(undefined)
    stream.on('data', onData)
    stream.once('end', onEnd)
    stream.once('close', onEnd)
  })
}

/**
 * The request body as its own readable: undici destroys a body stream once it has sent it, and the
 * tunnel stream must survive that to carry the response back.
 */
function requestBody (stream: ServerHttp2Stream): PassThrough {
  const body = new PassThrough()
  stream.pipe(body)
  return body
}

/** kube-apiserver could not be asked (or failed before answering): a Status, tagged so the edge knows an outage from an error. */
function answerUpstreamFailure (deps: HandlerDeps, stream: ServerHttp2Stream, err: unknown, req: { verb: string, path: string }): void {
  const connectivity = isConnectivityError(err)
  deps.logger.warn({ err, path: req.path, connectivity }, 'upstream request failed')
  count(deps, req.verb, connectivity ? 503 : 500)
  respondStatus(stream, connectivity
    ? serviceUnavailable('edge-metaserver: kube-apiserver is unreachable from the cloud shim', 1)
    : internalError(`upstream request failed: ${(err as Error).message}`),
  connectivity ? ERROR_UPSTREAM_UNREACHABLE : ERROR_INTERNAL)
}

function count (deps: HandlerDeps, verb: string, code: number): void {
  deps.metrics.requests.inc({ verb, code: String(code), source: 'cloud' })
}

export function respondStatus (stream: ServerHttp2Stream, s: Status, errorTag: string): void {
  if (stream.destroyed || stream.headersSent) return
  const { code, headers, body } = statusBody(s)
  stream.respond({ ':status': code, ...headers, [HEADER_ORIGIN]: ORIGIN_SHIM, [HEADER_ERROR]: errorTag })
  stream.end(body)
}
