// `join` against a shim that answers its info and then fails mid-way (gone, no JSON, certificates
// for other keys): one line, its exit code, and nothing written.
import t from 'tap'
import { createServer, type Server } from 'node:https'
import { once } from 'node:events'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { JOIN_EXIT, JoinFailure, joinNode } from '../../src/edge/join.js'
import { publicKeyPin } from '../../src/pki/x509.js'
import { CertificateAuthority } from '../cluster/pki.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-join-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(join(dir, 'ca'), 'ca', 'tunnel-ca')
const shim = await ca.issue('shim', { cn: 'shim', usage: 'server', ipSans: ['127.0.0.1'] })
const other = await ca.issue('other', { cn: 'system:node:n1', organizations: ['system:nodes'], usage: 'client' })
const caPem = await readFile(ca.certFile, 'utf8')
const otherPem = await readFile(other.certFile, 'utf8')

/** A join endpoint whose info is right and whose POST does `post`. */
async function shimThat (post: (res: import('node:http').ServerResponse) => void): Promise<Server> {
  const server = createServer({ cert: await readFile(shim.certFile), key: await readFile(shim.keyFile) }, (req, res) => {
    if (req.method === 'GET') {
      res.writeHead(200, { 'content-type': 'application/json' })
      res.end(JSON.stringify({ kind: 'JoinInfo', tunnelCa: caPem, tunnelPort: 1, servingIPAddresses: ['127.0.0.1'], servingDNSNames: [] }))
      return
    }
    req.resume()
    post(res)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return server
}

const cases: Array<{ name: string, post: (res: import('node:http').ServerResponse) => void, code: number, message: RegExp }> = [
  { name: 'the shim gone between info and join', post: (res) => res.socket?.destroy(), code: JOIN_EXIT.wrongServer, message: /^the join request to 127\.0\.0\.1:\d+ failed: ECONNRESET$/ },
  { name: 'an answer without JSON', post: (res) => { res.writeHead(502); res.end('bad gateway') }, code: JOIN_EXIT.failed, message: /^the shim refused the join: HTTP 502$/ },
  {
    name: 'certificates for other keys',
    post: (res) => { res.writeHead(200); res.end(JSON.stringify({ kind: 'JoinResult', tunnelCertificate: otherPem, tunnelCa: caPem, servingCertificate: otherPem, clusterCa: caPem })) },
    code: JOIN_EXIT.failed, message: /^the shim answered with a tunnel certificate for another key$/,
  },
]
for (const c of cases) {
  t.test(`${c.name}: exit code ${c.code}, one line, no file written`, async (t) => {
    const server = await shimThat(c.post)
    const out = await mkdtemp(join(dir, 'node-'))
    const err = await joinNode({
      server: `127.0.0.1:${(server.address() as AddressInfo).port}`, token: 'abcdef.0123456789abcdef', caCertHash: publicKeyPin(caPem),
      nodeName: 'n1', dir: out, configFile: join(out, 'config.yaml'),
    }).then(() => undefined, (e: unknown) => e)
    t.ok(err instanceof JoinFailure, 'a JoinFailure')
    t.match(err, { exitCode: c.code, message: c.message })
    t.same(await readdir(out), [], 'nothing written')
  })
}
