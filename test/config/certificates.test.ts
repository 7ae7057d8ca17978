// check-config's certificate checks (src/config/certificates.ts) on real certificates (OpenSSL, the
// test bed's CA helper), with the clock given: dates, the node identity and its name, usages, the
// chain to the tunnel CA, the key, and the serving SANs each listener needs.
import t from 'tap'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { checkEdgeCertificates } from '../../src/config/certificates.js'
import { issueClientCertificate, newNodeKey } from '../../src/pki/x509.js'
import { parseConfigText, type EdgeConfig } from '../../src/config/index.js'
import { CertificateAuthority, type KeyPair } from '../cluster/pki.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-check-certs-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(dir, 'tunnel-ca', 'tunnel-ca')
const other = await CertificateAuthority.create(join(dir, 'other'), 'other-ca', 'other-ca')
const node = await ca.issue('node', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
const serving = await ca.issue('server', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', '169.254.30.10'] })
const files = new Map<string, string>()
for (const f of [ca.certFile, node.certFile, node.keyFile, serving.certFile, serving.keyFile]) files.set(f, await readFile(f, 'utf8'))
const add = async (p: KeyPair): Promise<KeyPair> => {
  for (const f of [p.certFile, p.keyFile]) files.set(f, await readFile(f, 'utf8'))
  return p
}
const RENEWED = { tunnel: join(dir, 'state', 'node.crt'), serving: join(dir, 'state', 'server.crt') }
const validity = new X509Certificate(files.get(node.certFile)!)
const from = Date.parse(validity.validFrom)
const to = Date.parse(validity.validTo)
const NOW = new Date(from + 60_000)

function config (o: { nodeName?: string, tunnel?: KeyPair, serving?: KeyPair, extra?: string[], gate?: boolean } = {}): EdgeConfig {
  const tunnel = o.tunnel ?? node
  const serve = o.serving ?? serving
  const r = parseConfigText([
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer', `nodeName: ${o.nodeName ?? 'edge-1'}`,
    ...(o.gate === false ? ['featureGates:', '  requireAuthorization: false'] : []),
    'modules:', '  metaServer:', `    tlsCertFile: ${serve.certFile}`, `    tlsPrivateKeyFile: ${serve.keyFile}`,
    ...(o.gate === false ? ['    dummyServer: ""'] : []), ...(o.extra ?? []),
    '  edgeHub:', '    server: cloud.example.com:10560',
    `    tlsCaFile: ${ca.certFile}`, `    tlsCertFile: ${tunnel.certFile}`, `    tlsPrivateKeyFile: ${tunnel.keyFile}`, '',
  ].join('\n'), 'edge.yaml', dir, { kind: 'EdgeMetaServer' })
  if (!r.ok) throw new Error(JSON.stringify(r.errors))
  return r.config as EdgeConfig
}
const check = (c: EdgeConfig, now = NOW, read: (p: string) => string | undefined = (p) => files.get(p)): ReturnType<typeof checkEdgeCertificates> =>
  checkEdgeCertificates(c, read, now, RENEWED)

t.test('a matching node certificate, key, chain and serving SANs: nothing to report', async (t) => {
  t.same(check(config()), [])
})

t.test('the node identity: another node name, not a node identity, no clientAuth, another CA', async (t) => {
  t.same(check(config({ nodeName: 'edge-2' })), [{
    keyPath: 'modules.edgeHub.tlsCertFile', severity: 'error',
    message: `names node "edge-1" (CN=system:node:edge-1), but nodeName is "edge-2": ${node.certFile}`,
  }])
  const plain = await add(await ca.issue('plain', { cn: 'edge-1', usage: 'client' }))
  t.match(check(config({ tunnel: plain })), [{ keyPath: 'modules.edgeHub.tlsCertFile', severity: 'error', message: /is not a node identity/ }])
  const serverOnly = await add(await ca.issue('server-only', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'server' }))
  t.same(check(config({ tunnel: serverOnly })), [{
    keyPath: 'modules.edgeHub.tlsCertFile', severity: 'error', message: `has no clientAuth extended key usage (the shim refuses it): ${serverOnly.certFile}`,
  }])
  const stranger = await add(await other.issue('stranger', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' }))
  t.same(check(config({ tunnel: stranger })), [{
    keyPath: 'modules.edgeHub.tlsCertFile', severity: 'error', message: `is not signed by the tunnel CA (modules.edgeHub.tlsCaFile ${ca.certFile}): ${stranger.certFile}`,
  }])
})

t.test('dates: not yet valid and expired are errors, under 10 % of life left a warning; a later renewal in stateDir turns them into warnings', async (t) => {
  const at = (share: number): Date => new Date(from + (to - from) * share)
  const before = check(config(), new Date(from - 1000))
  t.ok(before.length > 0 && before.every((f) => f.severity === 'error' && /^not valid before /.test(f.message)), 'every certificate not yet valid')
  const expired = check(config(), new Date(to + 1000))
  t.ok(expired.some((f) => f.keyPath === 'modules.edgeHub.tlsCertFile' && f.severity === 'error' && f.message === `expired at ${new Date(to).toISOString()}: ${node.certFile}`),
    'the expired node certificate, with its date and file')
  t.same(check(config(), at(0.85)), [], '15 % left: nothing (renewal runs at 80 %)')
  const late = check(config(), at(0.95)).filter((f) => f.keyPath === 'modules.edgeHub.tlsCertFile')
  t.equal(late.length, 1)
  t.match(late[0], { severity: 'warning', message: new RegExp(`^expires at ${new Date(to).toISOString()}, 5\\.0 % of its life left: `) })
  // The daemon prefers a renewal that lasts longer (certificate-files.ts): the configured file's age is then no failure.
  const renewal = issueClientCertificate({
    caCertPem: files.get(ca.certFile)!, caKey: createPrivateKey(await readFile(ca.keyFile, 'utf8')), subject: { cn: 'system:node:edge-1', o: ['system:nodes'] },
    publicKey: createPublicKey(newNodeKey()), notBefore: new Date(from), notAfter: new Date(to + 86_400_000),
  })
  const withRenewal = (p: string): string | undefined => p === RENEWED.tunnel ? renewal : files.get(p)
  const covered = check(config(), new Date(to + 1000), withRenewal).filter((f) => f.keyPath === 'modules.edgeHub.tlsCertFile')
  t.same(covered, [{
    keyPath: 'modules.edgeHub.tlsCertFile', severity: 'warning',
    message: `expired at ${new Date(to).toISOString()} (the daemon uses its renewal, valid until ${new Date(to + 86_400_000).toISOString()}): ${node.certFile}`,
  }], 'expired, but the renewal in stateDir is in use: a warning')
  t.same(check(config(), at(0.95), withRenewal).filter((f) => f.keyPath === 'modules.edgeHub.tlsCertFile'), [], 'near its end with a longer renewal in use: nothing')
})

t.test('the keys: a key that is not the certificate\'s, a file that is no key or no certificate', async (t) => {
  const swapped = { certFile: node.certFile, keyFile: serving.keyFile }
  t.same(check(config({ tunnel: swapped })), [{
    keyPath: 'modules.edgeHub.tlsPrivateKeyFile', severity: 'error', message: `is not the key of modules.edgeHub.tlsCertFile (${node.certFile}): ${serving.keyFile}`,
  }])
  const garbage = (p: string): string | undefined => p === node.certFile ? 'not a certificate' : p === serving.keyFile ? 'not a key' : files.get(p)
  const found = check(config(), NOW, garbage)
  t.match(found, [
    { keyPath: 'modules.edgeHub.tlsCertFile', severity: 'error', message: /^not a PEM certificate \(.*\): / },
    { keyPath: 'modules.metaServer.tlsPrivateKeyFile', severity: 'error', message: /^not a private key \(.*\): / },
  ])
})

t.test('serving SANs: the dummy address when on, the redirect ClusterIP when set, the listener\'s own IP; none with the gate off', async (t) => {
  const loopbackOnly = await add(await ca.issue('loopback', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1'] }))
  t.same(check(config({ serving: loopbackOnly })), [{
    keyPath: 'modules.metaServer.tlsCertFile', severity: 'error',
    message: `lacks the IP SANs pods dial: 169.254.30.10 (has IP Address:127.0.0.1): ${loopbackOnly.certFile}`,
  }])
  t.same(check(config({ serving: loopbackOnly, extra: ['    dummyServer: ""'] })), [], 'no dummy listener: loopback is enough')
  t.match(check(config({ extra: ['    redirect:', '      serviceClusterIP: 10.96.0.1'] })), [{ message: /^lacks the IP SANs pods dial: 10\.96\.0\.1 / }])
  t.match(check(config({ extra: ['    server: 10.1.2.3:10550'] })), [{ message: /^lacks the IP SANs pods dial: 10\.1\.2\.3 / }])
  const clientOnly = await add(await ca.issue('client-serving', { cn: 'edge-metaserver', usage: 'client', ipSans: ['127.0.0.1', '169.254.30.10'] }))
  t.match(check(config({ serving: clientOnly })), [{ keyPath: 'modules.metaServer.tlsCertFile', message: /^has no serverAuth extended key usage/ }])
  t.same(check(config({ serving: loopbackOnly, gate: false })), [], 'plain HTTP (gate off): the serving pair is not used, not checked')
})
