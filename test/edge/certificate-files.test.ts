// Certificates re-read from disk: of the configured pair and the daemon's renewed pair, the valid one
// that expires last is used; a renewed pair that is half-written, unparsable, for another key or for
// another node is passed over (the one in use stays) and picked up once whole.
import t from 'tap'
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { CertificateFiles, chooseCertificates, RENEWED, type CertificatePaths } from '../../src/edge/certificate-files.js'
import { issueClientCertificate, newNodeKey, privateKeyPem } from '../../src/pki/x509.js'
import { CertificateAuthority } from '../cluster/pki.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-certificate-files-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(join(dir, 'ca'), 'ca', 'tunnel-ca')
const caPem = await readFile(ca.certFile, 'utf8')
const caKey = createPrivateKey(await readFile(ca.keyFile))

/** A tunnel client pair for `node`, valid for `hours` from now. */
function pair (node: string, hours: number): { cert: string, key: string, keyObject: KeyObject } {
  const keyObject = newNodeKey()
  const cert = issueClientCertificate({
    caCertPem: caPem, caKey, subject: { cn: `system:node:${node}`, o: ['system:nodes'] }, publicKey: createPublicKey(keyObject),
    notBefore: new Date(Date.now() - 60_000), notAfter: new Date(Date.now() + hours * 3600_000),
  })
  return { cert, key: privateKeyPem(keyObject), keyObject }
}

async function setup (): Promise<{ files: CertificateFiles, used: string[], logs: Array<Record<string, any>>, renewed: (f: keyof typeof RENEWED) => string, paths: CertificatePaths }> {
  const base = await mkdtemp(join(dir, 'node-'))
  const paths: CertificatePaths = {
    tunnelCa: join(base, 'ca.crt'), tunnelCert: join(base, 'node.crt'), tunnelKey: join(base, 'node.key'),
    servingCert: undefined, servingKey: undefined, renewedDir: join(base, 'pki'),
  }
  await mkdir(paths.renewedDir)
  const configured = pair('n1', 10)
  await Promise.all([writeFile(paths.tunnelCa, caPem), writeFile(paths.tunnelCert, configured.cert), writeFile(paths.tunnelKey, configured.key)])
  const loaded = await chooseCertificates(paths, 'n1')
  if ('refused' in loaded.tunnel) throw new Error(loaded.tunnel.refused)
  if (loaded.tunnel.cert !== configured.cert) throw new Error('the configured pair is not the one loaded at start')
  const used: string[] = []
  const logs: Array<Record<string, any>> = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s)) } })
  const files = new CertificateFiles(paths, { tunnel: (c) => used.push(c.cert), serving: () => { throw new Error('no serving pair here') } },
    'n1', { tunnel: loaded.tunnel, serving: undefined }, logger)
  return { files, used, logs, renewed: (f) => join(paths.renewedDir, RENEWED[f]), paths }
}

t.test('a renewed pair half-written, then whole: passed over, then used', async (t) => {
  const { files, used, renewed } = await setup()
  const next = pair('n1', 20)
  await writeFile(renewed('tunnelKey'), next.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a key without its certificate: the configured pair stays')
  await writeFile(renewed('tunnelCert'), next.cert.slice(0, next.cert.length / 2))
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a half-written certificate: the configured pair stays')
  await writeFile(renewed('tunnelCert'), 'garbage\n')
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'an unparsable certificate: the configured pair stays')
  t.same(used, [], 'nothing handed to the tunnel')
  await writeFile(renewed('tunnelCert'), next.cert)
  t.same(await files.reload(), { tunnel: 'reloaded', serving: 'none' }, 'once whole, the renewal is used')
  t.same(used, [next.cert])
  t.equal(files.current.tunnelCert, next.cert, 'the renewal schedules itself from the new certificate')
})

t.test('a renewed pair passed over: another key, another node, an earlier expiry', async (t) => {
  const { files, used, renewed } = await setup()
  const a = pair('n1', 20)
  const b = pair('n1', 20)
  await writeFile(renewed('tunnelCert'), a.cert)
  await writeFile(renewed('tunnelKey'), b.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a key that is not the certificate\'s')
  const other = pair('n2', 20)
  await writeFile(renewed('tunnelCert'), other.cert)
  await writeFile(renewed('tunnelKey'), other.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a certificate for another node')
  const older = pair('n1', 5)
  await writeFile(renewed('tunnelCert'), older.cert)
  await writeFile(renewed('tunnelKey'), older.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a valid pair that expires before the configured one')
  t.same(used, [])
})

t.test('the only pair broken on disk: refused with the reason at warn, the one in use stays', async (t) => {
  const { files, used, logs, paths } = await setup()
  await writeFile(paths.tunnelCert, '-----BEGIN CERTIFICATE-----\nMIIB')
  const result = await files.reload()
  t.match(result.tunnel, { refused: new RegExp(`^${paths.tunnelCert}: unreadable`) })
  t.match(logs.find((l) => l.level === 40), { msg: /tunnel certificate files changed but cannot be used; keeping the current one/, reason: /unreadable/ })
  t.same(used, [])
})
