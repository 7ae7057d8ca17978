// A pod listener and relay wired to a real TunnelClient, facing a scriptable cloud shim: a real
// HTTP/2 mutual-TLS server in the same process whose stream handler each test sets. For unit
// tests of what the edge decides when the tunnel answers, refuses, resets or vanishes — the
// end-to-end behaviour against kube-apiserver is proven in test/e2e/.
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { IncomingHttpHeaders as H1Headers, ServerResponse } from 'node:http'
import type { Readable } from 'node:stream'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import type { GateVerdict } from '../../src/edge/gate.js'
import { InflightTracker } from '../../src/edge/inflight.js'
import { startListener, type Listener } from '../../src/edge/listeners.js'
import { CloudReachability } from '../../src/edge/reachability.js'
import { requestPipeline, type PipelineParts } from '../../src/edge/pipeline.js'
import { sendStatus } from '../../src/edge/relay.js'
import type { RequestInfo } from '../../src/kube/request-info.js'
import { status } from '../../src/kube/status.js'
import { createRegistry, edgeRequestMetrics } from '../../src/obs/metrics.js'
import { TunnelClient } from '../../src/tunnel/client.js'
import { TunnelServer } from '../../src/tunnel/server.js'
import { CertificateAuthority } from '../cluster/pki.js'

export type ShimBehaviour = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void

export interface RelayBench {
  /** The edge's pod listener (plain HTTP, loopback). */
  port: number
  tunnel: TunnelClient
  inflight: InflightTracker
  /** Requests the offline stand-in was asked to answer (only connectivity failures of authorized requests may land here). */
  offlineCalls: RequestInfo[]
  /** What the next requests' gate verdict is. */
  verdict: GateVerdict
  /** How the scripted shim treats each stream. */
  shim: ShimBehaviour
  /** With `recordTee`: each body the cache tee was handed, as it saw it, once it ended. */
  teed: Buffer[]
  close: () => Promise<void>
}

export interface RelayBenchOptions {
  maxRequestBodyBytes?: number
  requestTimeoutMs?: number
  maxInflight?: number
  maxLongRunning?: number
  connectTunnel?: boolean
  /** Codings the edge accepts on answers (none by default). */
  codings?: PipelineParts['codings']
  /** Records what the cache tee sees (bench.teed). */
  recordTee?: boolean
}

export async function startRelayBench (opts: RelayBenchOptions = {}): Promise<RelayBench> {
  const dir = await mkdtemp(join(tmpdir(), 'ems-relay-'))
  const ca = await CertificateAuthority.create(dir, 'ca', 'test-ca')
  const server = await ca.issue('server', { cn: 'cloud', usage: 'server', ipSans: ['127.0.0.1'] })
  const node = await ca.issue('node', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
  const read = (f: string): Promise<string> => readFile(f, 'utf8')
  const logger = pino({ level: 'silent' })

  const bench: RelayBench = {
    port: 0,
    tunnel: undefined as unknown as TunnelClient,
    inflight: undefined as unknown as InflightTracker,
    offlineCalls: [],
    teed: [],
    verdict: { ok: true, authorizedHere: true },
    shim: (stream) => { stream.respond({ ':status': 200, 'content-type': 'application/json' }); stream.end('{}') },
    close: async () => {},
  }
  const cloud = new TunnelServer({
    host: '127.0.0.1', port: 0, ca: await read(ca.certFile), cert: await read(server.certFile), key: await read(server.keyFile),
    maxConcurrentStreamsPerNode: 100, heartbeatPeriodMs: 15_000, logger,
    onStream: (stream, headers) => bench.shim(stream, headers),
  })
  const { port: tunnelPort } = await cloud.listen()
  const tunnel = new TunnelClient({
    host: '127.0.0.1', port: tunnelPort, ca: await read(ca.certFile), cert: await read(node.certFile), key: await read(node.keyFile),
    heartbeatPeriodMs: 15_000, heartbeatTimeoutMs: 10_000, connectTimeoutMs: 5_000, backoffInitialMs: 50, backoffMaxMs: 200, logger,
  })
  if (opts.connectTunnel !== false) {
    const connected = new Promise((resolve) => tunnel.once('connected', resolve))
    tunnel.start()
    await connected
  }
  const registry = createRegistry('edge')
  const metrics = edgeRequestMetrics(registry, 'edge_metaserver')
  const inflight = new InflightTracker(metrics.inflight)
  const pipeline = requestPipeline({
    tunnel, logger, metrics, inflight, codings: opts.codings,
    requestTimeoutMs: opts.requestTimeoutMs ?? 10_000,
    limits: { maxRequestBodyBytes: opts.maxRequestBodyBytes ?? 1 << 20, maxInflight: opts.maxInflight ?? 400, maxLongRunning: opts.maxLongRunning ?? 3000 },
    gate: async () => bench.verdict,
    reachability: new CloudReachability(tunnel),
    cache: {
      tee: { observe: opts.recordTee === true ? recordBody(bench.teed) : () => {} } as unknown as NonNullable<PipelineParts['cache']>['tee'],
      offline: {
        serve: (info: RequestInfo, _url: string, _headers: H1Headers, res: ServerResponse) => {
          bench.offlineCalls.push(info)
          return sendStatus(res, status('ServiceUnavailable', 'offline stand-in'), { 'x-offline-stand-in': 'yes' })
        },
      },
    },
  })
  const listener: Listener = await startListener({ host: '127.0.0.1', port: 0, tls: undefined, withMetrics: false },
    { pipeline, health: { livez: [], readyz: [] }, registry })
  bench.port = listener.address.port
  bench.tunnel = tunnel
  bench.inflight = inflight
  bench.close = async () => {
    await listener.close()
    await tunnel.close(100)
    await cloud.close(100)
    await rm(dir, { recursive: true, force: true })
  }
  return bench
}

/** A tee stand-in that keeps each whole body it is handed. */
function recordBody (bodies: Buffer[]) {
  return (_info: RequestInfo, _url: string, _accept: string | undefined, _headers: IncomingHttpHeaders, body: Readable): void => {
    const chunks: Buffer[] = []
    body.on('data', (chunk: Buffer) => chunks.push(chunk))
    body.once('end', () => bodies.push(Buffer.concat(chunks)))
  }
}

export const REFUSED_STREAM = http2.constants.NGHTTP2_REFUSED_STREAM
export const ENHANCE_YOUR_CALM = http2.constants.NGHTTP2_ENHANCE_YOUR_CALM
