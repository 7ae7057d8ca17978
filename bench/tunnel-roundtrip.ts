// The tunnel's own cost per request, without any apiserver: an edge TunnelClient and a cloud
// TunnelServer in one process, the server answering a ConfigMap-sized body at once. Separates
// what our HTTP/2 mTLS hop costs from the cross-process hand-offs of the full path.
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { TunnelClient } from '../src/tunnel/client.js'
import { TunnelServer } from '../src/tunnel/server.js'
import { CertificateAuthority } from '../test/cluster/pki.js'

export async function tunnelRoundTrip (requests: number): Promise<{ p50: number, p99: number }> {
  const dir = await mkdtemp(join(tmpdir(), 'ems-tunnel-bench-'))
  const ca = await CertificateAuthority.create(dir, 'ca', 'bench-ca')
  const server = await ca.issue('server', { cn: 'cloud', usage: 'server', ipSans: ['127.0.0.1'] })
  const node = await ca.issue('node', { cn: 'system:node:bench', organizations: ['system:nodes'], usage: 'client' })
  const read = (f: string): Promise<string> => readFile(f, 'utf8')
  const logger = pino({ level: 'silent' })
  const body = JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', data: { payload: 'x'.repeat(1024) } })
  const cloud = new TunnelServer({
    host: '127.0.0.1', port: 0, ca: await read(ca.certFile), cert: await read(server.certFile), key: await read(server.keyFile),
    maxConcurrentStreamsPerNode: 1000, heartbeatPeriodMs: 15_000, logger,
    onStream: (stream) => { stream.respond({ ':status': 200, 'content-type': 'application/json' }); stream.end(body) },
  })
  const { port } = await cloud.listen()
  const edge = new TunnelClient({
    host: '127.0.0.1', port, ca: await read(ca.certFile), cert: await read(node.certFile), key: await read(node.keyFile),
    heartbeatPeriodMs: 15_000, heartbeatTimeoutMs: 10_000, connectTimeoutMs: 5000, backoffInitialMs: 100, backoffMaxMs: 1000, logger,
  })
  edge.start()
  await new Promise((resolve) => edge.once('connected', resolve))
  const once = (): Promise<void> => new Promise((resolve, reject) => {
    const stream = edge.open({ ':method': 'GET', ':path': '/api/v1/namespaces/a/configmaps/b' }, { endStream: true })
    stream.resume()
    stream.once('end', () => resolve())
    stream.once('error', reject)
  })
  for (let i = 0; i < 200; i++) await once()
  const latencies: number[] = []
  for (let i = 0; i < requests; i++) {
    const started = process.hrtime.bigint()
    await once()
    latencies.push(Number(process.hrtime.bigint() - started) / 1e6)
  }
  await edge.close(1000)
  await cloud.close(1000)
  await rm(dir, { recursive: true, force: true })
  latencies.sort((a, b) => a - b)
  return { p50: latencies[Math.floor(requests / 2)]!, p99: latencies[Math.floor(requests * 0.99)]! }
}
