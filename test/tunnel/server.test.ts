import t from 'tap'
import http2 from 'node:http2'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import net from 'node:net'
import tls from 'node:tls'
import { pino } from 'pino'
import { TunnelServer } from '../../src/tunnel/server.js'
import { ALPN } from '../../src/tunnel/protocol.js'
import { CertificateAuthority } from '../cluster/pki.js'

t.test('an edge that dies with a stream in flight (connection reset) does not take the cloud shim down', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ems-tunnel-server-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const ca = await CertificateAuthority.create(dir, 'ca', 'test-ca')
  const server = await ca.issue('server', { cn: 'cloud', usage: 'server', ipSans: ['127.0.0.1'] })
  const node = await ca.issue('node', { cn: 'system:node:dying', organizations: ['system:nodes'], usage: 'client' })
  const read = (f: string): Promise<string> => readFile(f, 'utf8')
  let received: http2.ServerHttp2Stream | undefined
  // Like the shim's handler while it waits for kube-apiserver: no answer yet, no listener of its own.
  const cloud = new TunnelServer({
    host: '127.0.0.1', port: 0, ca: await read(ca.certFile), cert: await read(server.certFile), key: await read(server.keyFile),
    maxConcurrentStreamsPerNode: 10, heartbeatPeriodMs: 15_000, logger: pino({ level: 'silent' }),
    onStream: (stream, headers) => {
      if (headers[':path'] === '/ping') { stream.respond({ ':status': 200 }); stream.end('pong'); return }
      received = stream
    },
  })
  const { port } = await cloud.listen()
  t.teardown(() => cloud.close(100))

  const tcp = net.connect(port, '127.0.0.1')
  await new Promise((resolve) => tcp.once('connect', resolve))
  const tlsOptions = { socket: tcp, ca: await read(ca.certFile), cert: await read(node.certFile), key: await read(node.keyFile), ALPNProtocols: [ALPN], servername: '127.0.0.1' }
  const session = http2.connect(`https://127.0.0.1:${port}`, { createConnection: () => tls.connect(tlsOptions) })
  session.on('error', () => {})
  const stream = session.request({ ':method': 'POST', ':path': '/api/v1/namespaces/a/configmaps' })
  stream.on('error', () => {})
  stream.write('{"partial":') // a body the shim is still reading
  // eslint-disable-next-line no-unmodified-loop-condition -- set by the server's stream handler, between awaits
  while (received === undefined) await new Promise((resolve) => setTimeout(resolve, 10))

  // What kill -9 looks like from the cloud: a TCP reset, no GOAWAY.
  tcp.resetAndDestroy()
  await new Promise((resolve) => received!.once('close', resolve))
  t.ok(received.destroyed, 'the stream was torn down')
  // An unhandled 'error' would have ended this process; the server also keeps serving other edges.
  const again = http2.connect(`https://127.0.0.1:${port}`, { ca: tlsOptions.ca, cert: tlsOptions.cert, key: tlsOptions.key, ALPNProtocols: [ALPN] })
  t.teardown(() => again.close())
  const pong = await new Promise<string>((resolve, reject) => {
    const req = again.request({ ':method': 'GET', ':path': '/ping' })
    let body = ''
    req.setEncoding('utf8').on('data', (d: string) => { body += d }).once('end', () => resolve(body)).once('error', reject)
  })
  t.equal(pong, 'pong', 'a new connection is served after the reset')
})
