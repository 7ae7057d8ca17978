// The cloud shim's stream handler (src/cloud/handler.ts) behind a real HTTP/2 server on loopback,
// with scriptable stand-ins for what it depends on: node restriction (the token review), the
// upstream to kube-apiserver and the control hub. For unit tests of what the shim answers by
// itself; the same handler against a real kube-apiserver is proven in test/e2e/.
// (The stand-ins are shaped like the real classes' public surface, hence the casts in startShimBench.)
import http2, { type ClientHttp2Session, type IncomingHttpHeaders, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import type { ControlHub } from '../../src/cloud/control-hub.js'
import { createStreamHandler } from '../../src/cloud/handler.js'
import type { Coding } from '../../src/tunnel/compression.js'
import type { NodeRestriction, Verdict } from '../../src/cloud/node-restriction.js'
import type { Upstream, UpstreamResponse } from '../../src/cloud/upstream.js'
import { UpstreamSlots, type SlotLimits } from '../../src/cloud/upstream-slots.js'
import { createRegistry, requestMetrics } from '../../src/obs/metrics.js'
import type { Registry } from 'prom-client'

/** What the handler asked the upstream for. */
export interface ForwardCall {
  method: string
  path: string
  headers: Record<string, string | string[]>
  longRunning: boolean
  signal: AbortSignal
  /** The request body as the upstream read it; null when the request had none. */
  body: string | null
}

export const SHIM_OWN_AUTHORIZATION = 'Bearer shim-own-token'
export const NODE = 'edge-1'

export interface ShimBench {
  port: number
  slots: UpstreamSlots
  registry: Registry
  /** Token reviews asked for, as [token, node]. */
  reviews: Array<[string, string]>
  /** The next review's outcome (a promise the test may hold to keep the review pending). */
  review: (token: string, node: string) => Promise<Verdict>
  forwards: ForwardCall[]
  /** How the fake upstream answers a forward. */
  upstream: (call: ForwardCall) => Promise<UpstreamResponse>
  /** How the fake upstream reads a request body before answering (default: all of it). */
  readBody: (body: Readable) => Promise<string>
  /** Control streams attached, by node; undefined when the bench runs without a control hub. */
  controlAttached: string[] | undefined
  /** Tunnel streams the server saw (to wait for the edge's close to arrive). */
  serverStreams: ServerHttp2Stream[]
  /** One request over a fresh session; the whole answer. */
  request: (headers: OutgoingHttpHeaders, body?: string) => Promise<Answer>
  /** A request whose stream the test controls (to cancel it, or to send a body); without a body unless `body`. */
  open: (headers: OutgoingHttpHeaders, opts?: { body: boolean }) => http2.ClientHttp2Stream
  close: () => Promise<void>
}

export interface Answer {
  status: number
  headers: IncomingHttpHeaders
  body: string
}

/** An upstream response with the given status, headers and body (a Readable with undici's dump()). */
export function upstreamResponse (statusCode: number, headers: Record<string, string>, body: string | Readable): UpstreamResponse {
  const readable = (typeof body === 'string' ? Readable.from([Buffer.from(body)]) : body) as UpstreamResponse['body']
  readable.dump = async () => { readable.destroy() }
  return { statusCode, headers, body: readable }
}

export async function startShimBench (opts: { limits?: Partial<SlotLimits>, control?: boolean, codings?: readonly Coding[] } = {}): Promise<ShimBench> {
  const registry = createRegistry('cloud')
  const slots = new UpstreamSlots({ longRunning: opts.limits?.longRunning ?? 100, short: opts.limits?.short ?? 100 })
  const sessions = new Set<ClientHttp2Session>()
  const bench: ShimBench = {
    port: 0,
    slots,
    registry,
    reviews: [],
    review: async () => { throw new Error('no review scripted') },
    forwards: [],
    upstream: async () => upstreamResponse(200, { 'content-type': 'application/json' }, '{}'),
    readBody: async (body) => Buffer.concat(await body.toArray() as Buffer[]).toString('utf8'),
    controlAttached: opts.control === true ? [] : undefined,
    serverStreams: [],
    request: async () => { throw new Error('not started') },
    open: () => { throw new Error('not started') },
    close: async () => {},
  }
  const restriction = {
    check: async (token: string, node: string): Promise<Verdict> => {
      bench.reviews.push([token, node])
      return await bench.review(token, node)
    },
  } as unknown as NodeRestriction
  const upstream = {
    ownAuthorization: () => SHIM_OWN_AUTHORIZATION,
    forward: async (req: Omit<ForwardCall, 'body'> & { body: Readable | null }) => {
      const body = req.body === null ? null : await bench.readBody(req.body)
      const call = { method: req.method, path: req.path, headers: req.headers, longRunning: req.longRunning, signal: req.signal, body }
      bench.forwards.push(call)
      return await bench.upstream(call)
    },
  } as unknown as Upstream
  const control = opts.control === true
    ? {
        attach: (node: string, stream: ServerHttp2Stream) => {
          bench.controlAttached!.push(node)
          stream.respond({ ':status': 200 })
          stream.end()
        },
      } as unknown as ControlHub
    : undefined
  const handler = createStreamHandler({
    control, restriction, upstream, slots, logger: pino({ level: 'silent' }), metrics: requestMetrics(registry, 'edge_metaserver_cloud'), codings: opts.codings,
  })
  // Plain HTTP/2 on loopback: the tunnel's TLS and node identity are the tunnel server's concern
  // (test/tunnel/); the handler receives the node name the certificate proved.
  const server = http2.createServer()
  server.on('stream', (stream, headers) => {
    bench.serverStreams.push(stream)
    stream.on('error', () => {})
    handler(stream, headers, NODE)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  bench.port = (server.address() as AddressInfo).port

  const connect = (): ClientHttp2Session => {
    const session = http2.connect(`http://127.0.0.1:${bench.port}`)
    session.on('error', () => {})
    sessions.add(session)
    session.once('close', () => sessions.delete(session))
    return session
  }
  bench.open = (headers, opts) => connect().request(headers, { endStream: opts?.body !== true })
  bench.request = async (headers, body) => {
    const session = connect()
    try {
      const req = session.request(headers, { endStream: body === undefined })
      if (body !== undefined) req.end(body)
      const [answerHeaders] = await new Promise<[IncomingHttpHeaders]>((resolve, reject) => {
        req.once('response', (h) => resolve([h]))
        req.once('error', reject)
      })
      const chunks: Buffer[] = []
      for await (const chunk of req) chunks.push(chunk as Buffer)
      return { status: Number(answerHeaders[':status']), headers: answerHeaders, body: Buffer.concat(chunks).toString('utf8') }
    } finally {
      session.close()
    }
  }
  bench.close = async () => {
    for (const s of sessions) s.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  return bench
}

/** The request counter's value for a code (source cloud), summed over verbs. */
export async function countedRequests (registry: Registry, code: number): Promise<number> {
  const metric = await registry.getSingleMetric('edge_metaserver_cloud_requests_total')?.get()
  return (metric?.values ?? []).filter((v) => v.labels.code === String(code)).reduce((sum, v) => sum + v.value, 0)
}
