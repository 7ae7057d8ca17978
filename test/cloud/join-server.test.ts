// The join endpoint's refusals before any certificate is issued: a body that is not JSON, lacks a
// field, names no valid node, is too large, or carries a request whose signature does not verify —
// each one status and reason, never a 500, and nothing asked of kube-apiserver's CSR API.
import t from 'tap'
import { createPrivateKey, generateKeyPairSync } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { request } from 'node:https'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { JOIN_CERTIFICATES_PATH, JoinServer } from '../../src/cloud/join-server.js'
import { NodeCertificates } from '../../src/cloud/node-certificates.js'
import type { TokenReviewer } from '../../src/cloud/token-reviews.js'
import type { Upstream } from '../../src/cloud/upstream.js'
import type { JoinConfig } from '../../src/config/index.js'
import { BOOTSTRAPPERS_GROUP, nodeGroup } from '../../src/kube/bootstrap-token.js'
import { createCertificateRequest } from '../../src/pki/x509.js'
import { CertificateAuthority } from '../cluster/pki.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-join-server-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(dir, 'ca', 'tunnel-ca')
const shim = await ca.issue('shim', { cn: 'shim', usage: 'server', ipSans: ['127.0.0.1'] })
const caPem = await readFile(ca.certFile, 'utf8')
const config: JoinConfig = {
  enable: true, address: { host: '127.0.0.1', port: 0 }, tlsCaKeyFile: ca.keyFile, nodeCertificateLifetime: 3600_000,
  servingCertificateLifetime: 3600_000, servingIPAddresses: ['127.0.0.1'], servingDNSNames: [],
}
const TOKEN = 'abcdef.0123456789abcdef'
/** The token is always good and bound to node n1: what is refused here is refused for the body alone. */
const reviewer = {
  review: async () => ({ ok: true, user: { username: 'system:bootstrap:abcdef', uid: '', groups: [BOOTSTRAPPERS_GROUP, nodeGroup('n1')!], extra: {} } }),
} as unknown as TokenReviewer
const upstreamCalls: string[] = []
const upstream = { json: async (method: string, path: string) => { upstreamCalls.push(`${method} ${path}`); return { status: 500, body: {} } } } as unknown as Upstream
const issuer = new NodeCertificates({ config, tunnelCa: caPem, tunnelCaKey: createPrivateKey(await readFile(ca.keyFile)), clusterCa: caPem, upstream })
const server = new JoinServer({
  config, cert: await readFile(shim.certFile, 'utf8'), key: await readFile(shim.keyFile, 'utf8'), tunnelCa: caPem, tunnelPort: 1,
  issuer, reviewer, logger: pino({ level: 'silent' }),
})
const { port } = await server.listen()
t.teardown(() => server.close())

function post (body: string | Buffer, method = 'POST'): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: JOIN_CERTIFICATES_PATH, method, ca: caPem, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(body)
  })
}
const key = (): ReturnType<typeof generateKeyPairSync>['privateKey'] => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
const subject = { cn: 'system:node:n1', o: ['system:nodes'] }
const good = { token: TOKEN, nodeName: 'n1', tunnelCsr: createCertificateRequest(key(), subject), servingCsr: createCertificateRequest(key(), subject, { ips: ['127.0.0.1'], dns: [] }) }

t.test('malformed bodies: 400 with the reason, never a 500', async (t) => {
  t.match(await post('{"token":'), { status: 400, body: { kind: 'JoinError', reason: 'BadRequest', message: 'the body is not JSON' } })
  t.match(await post('null'), { status: 400, body: { reason: 'BadRequest', message: 'token must be a string' } })
  t.match(await post(JSON.stringify({ ...good, servingCsr: 7 })), { status: 400, body: { reason: 'BadRequest', message: 'servingCsr must be a string' } })
  t.match(await post(JSON.stringify({ ...good, nodeName: 'N1/../x' })), { status: 400, body: { reason: 'BadRequest', message: /is not a valid node name/ } })
  t.match(await post(JSON.stringify({ ...good, token: 'not-a-token' })), { status: 400, body: { reason: 'InvalidToken' } })
  t.match(await post('', 'GET'), { status: 405, body: { reason: 'MethodNotAllowed' } })
})

t.test('a body over the limit: 413, and the shim still answers the next join', async (t) => {
  t.match(await post(Buffer.alloc(256 * 1024, 0x20)), { status: 413, body: { reason: 'RequestTooLarge' } })
  t.match(await post('{}'), { status: 400, body: { reason: 'BadRequest' } }, 'served after the oversized one')
})

t.test('requests that are not PKCS#10, or whose signature does not verify: 400 BadCertificateRequest naming the field', async (t) => {
  t.match(await post(JSON.stringify({ ...good, tunnelCsr: 'not pem' })), { status: 400, body: { reason: 'BadCertificateRequest', message: /^tunnelCsr: / } })
  const der = Buffer.from(good.servingCsr.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  der[der.length - 5] ^= 0x01 // inside the signature
  const forged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`
  t.match(await post(JSON.stringify({ ...good, servingCsr: forged })), { status: 400, body: { reason: 'BadCertificateRequest', message: /^servingCsr: / } })
  const one = createCertificateRequest(key(), subject)
  t.match(await post(JSON.stringify({ ...good, tunnelCsr: one, servingCsr: one })), { status: 400, body: { reason: 'BadCertificateRequest', message: /two different keys/ } })
  t.same(upstreamCalls, [], 'no CSR was created for any of them')
})

t.test('a token bound to n1 asking for n2: 403 before any request is read', async (t) => {
  t.match(await post(JSON.stringify({ ...good, nodeName: 'n2' })), { status: 403, body: { reason: 'TokenForAnotherNode', message: /made for node n1, not n2/ } })
  t.same(upstreamCalls, [])
})
