// The shim's tunnel CA, certificate and key re-read from disk: a changed set is applied only when
// whole (every CA block a CA, the key the certificate's, not expired); otherwise the set in use
// stays and the reason is logged at warn once, not at every check.
import t from 'tap'
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { judgeTunnelMaterial, TunnelCertificates, type TunnelMaterial } from '../../src/cloud/tunnel-certificates.js'
import { issueClientCertificate, newNodeKey, privateKeyPem } from '../../src/pki/x509.js'
import { CertificateAuthority } from '../cluster/pki.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-tunnel-certificates-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(join(dir, 'ca'), 'ca', 'tunnel-ca')
const ca2 = await CertificateAuthority.create(join(dir, 'ca2'), 'ca2', 'tunnel-ca-2')
const caPem = await readFile(ca.certFile, 'utf8')
const ca2Pem = await readFile(ca2.certFile, 'utf8')
const pair = async (name: string, days = 2): Promise<{ cert: string, key: string }> => {
  const p = await ca.issue(name, { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], days })
  return { cert: await readFile(p.certFile, 'utf8'), key: await readFile(p.keyFile, 'utf8') }
}
const first = await pair('first')
const inUse: TunnelMaterial = { ca: caPem, ...first }
const paths = { ca: '/etc/shim/ca.crt', cert: '/etc/shim/tls.crt', key: '/etc/shim/tls.key' }
const now = Date.now()

t.test('judge: what replaces the set in use, and why not', async (t) => {
  t.same(judgeTunnelMaterial(paths, inUse, inUse, now), { unchanged: true }, 'the same texts: nothing to do')
  const next = await pair('next', 3)
  t.same(judgeTunnelMaterial(paths, { ca: caPem, ...next }, inUse, now), { use: { ca: caPem, ...next } }, 'a valid newer pair is used')
  t.same(judgeTunnelMaterial(paths, { ca: caPem + ca2Pem, ...first }, inUse, now), { use: { ca: caPem + ca2Pem, ...first } }, 'a bundle of the old and a new CA is used')

  t.match(judgeTunnelMaterial(paths, { ca: caPem, cert: next.cert.slice(0, next.cert.length / 2), key: next.key }, inUse, now),
    { refused: /^\/etc\/shim\/tls\.crt \/ \/etc\/shim\/tls\.key: unreadable/ }, 'a half-written certificate is refused')
  t.match(judgeTunnelMaterial(paths, { ca: caPem, cert: next.cert, key: first.key }, inUse, now),
    { refused: '/etc/shim/tls.crt / /etc/shim/tls.key: the key file does not hold this certificate\'s key' }, 'a certificate with another key is refused')
  t.match(judgeTunnelMaterial(paths, { ca: caPem, cert: next.cert, key: '' }, inUse, now), { refused: /tls\.key: unreadable/ }, 'an empty key file is refused')
  t.match(judgeTunnelMaterial(paths, { ca: caPem + ca2Pem.slice(0, 100), ...first }, inUse, now),
    { refused: '/etc/shim/ca.crt: tunnel CA unreadable (a certificate block is cut short)' }, 'a bundle whose second CA is half-written is refused')
  t.match(judgeTunnelMaterial(paths, { ca: 'garbage', ...first }, inUse, now), { refused: /^\/etc\/shim\/ca\.crt: tunnel CA unreadable/ }, 'a CA file with no certificate is refused')
  t.match(judgeTunnelMaterial(paths, { ca: first.cert, ...first }, inUse, now),
    { refused: '/etc/shim/ca.crt: the tunnel CA file holds no CA certificate' }, 'a leaf certificate as the CA is refused')
  t.match(judgeTunnelMaterial(paths, { ca: caPem + first.cert, ...first }, inUse, now),
    { refused: '/etc/shim/ca.crt: certificate 2 of the tunnel CA file is not a CA' }, 'a bundle with a leaf in it is refused')

  const key = newNodeKey()
  const expired = issueClientCertificate({
    caCertPem: caPem, caKey: createPrivateKey(await readFile(ca.keyFile)), subject: { cn: 'edge-metaserver-cloud', o: [] }, publicKey: createPublicKey(key),
    notBefore: new Date(now - 7200_000), notAfter: new Date(now - 3600_000),
  })
  t.match(judgeTunnelMaterial(paths, { ca: caPem, cert: expired, key: privateKeyPem(key) }, inUse, now),
    { refused: /^\/etc\/shim\/tls\.crt: expired at / }, 'an expired certificate is refused (the one in use may still be valid)')
})

t.test('the reloader: a broken set keeps the one in use and is logged once; a whole one is applied', async (t) => {
  const files = { ca: join(dir, 'ca.crt'), cert: join(dir, 'tls.crt'), key: join(dir, 'tls.key') }
  await Promise.all([writeFile(files.ca, caPem), writeFile(files.cert, first.cert), writeFile(files.key, first.key)])
  const applied: TunnelMaterial[] = []
  const logs: Array<Record<string, any>> = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s)) } })
  const certificates = new TunnelCertificates(files, { ...inUse }, (m) => applied.push(m), logger)
  t.equal(await certificates.reload(), 'unchanged', 'the files as started: nothing applied')

  const next = await pair('reloaded', 3)
  await writeFile(files.cert, next.cert)
  const refused = await certificates.reload()
  t.match(refused, { refused: /the key file does not hold this certificate's key/ }, 'the new certificate before its key: refused')
  t.match(await certificates.reload(), refused, 'checked again: still refused')
  const warns = logs.filter((l) => l.level === 40)
  t.equal(warns.length, 1, 'the same problem is logged once, not at every check')
  t.match(warns[0], { msg: 'tunnel certificate files changed but cannot be used; keeping the current ones', reason: /tls\.crt \/ .*tls\.key: the key file/ })
  t.same(applied, [], 'nothing applied')
  t.equal(certificates.current.cert, first.cert, 'the set in use stays (the expiry gauge reads it)')

  await writeFile(files.key, next.key)
  t.equal(await certificates.reload(), 'reloaded', 'once the key is there too: applied')
  t.same(applied, [{ ca: caPem, ...next }])
  t.equal(certificates.current.cert, next.cert)
  const info = logs.find((l) => l.msg === 'tunnel certificate files reloaded: new edge connections use them; open tunnels keep theirs')
  t.same(info?.certificate, { serial: new X509Certificate(next.cert).serialNumber, validTo: new Date(new X509Certificate(next.cert).validTo).toISOString() }, 'the info line names the new serial and expiry')
  t.notMatch(JSON.stringify(logs), /PRIVATE KEY/, 'no key material in any line')

  await writeFile(files.key, first.key)
  await certificates.reload()
  t.equal(logs.filter((l) => l.level === 40).length, 2, 'after a good set, the same kind of problem is logged again')
  await rm(files.key)
  t.match(await certificates.reload(), { refused: /ENOENT/ }, 'a missing file: refused with the reason')
  t.equal(certificates.current.cert, next.cert, 'the set in use stays')
})
