// The hand-built PKCS#10 and X.509 encoders, checked by OpenSSL (an independent reader), and the
// request parser on what OpenSSL writes and on damaged input (a RequestError, never a crash).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { canonicalIp, createCertificateRequest, issueClientCertificate, parseCertificateRequest, publicKeyPin, RequestError } from '../../src/pki/x509.js'
import { prng } from '../helpers/prng.js'

const dir = mkdtempSync(join(tmpdir(), 'ems-x509-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const openssl = (...args: string[]): string => execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
const ec = (): ReturnType<typeof generateKeyPairSync>['privateKey'] => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
const subject = { cn: 'system:node:edge-1', o: ['system:nodes'] }
/** How the parser takes a text: 'accepted', 'RequestError', or another exception's name (a bug). */
function outcome (text: string): string {
  try { parseCertificateRequest(text); return 'accepted' } catch (err) { return err instanceof RequestError ? 'RequestError' : (err as Error).name }
}

t.test('a request OpenSSL reads and verifies, with the subject and SANs asked for', async (t) => {
  const csr = createCertificateRequest(ec(), subject, { ips: ['127.0.0.1', '169.254.30.10', 'fd00::1'], dns: ['kubernetes.default.svc'] })
  writeFileSync(join(dir, 'a.csr'), csr)
  const text = openssl('req', '-in', join(dir, 'a.csr'), '-noout', '-text', '-verify')
  t.match(text, /Subject: CN\s?=\s?system:node:edge-1, O\s?=\s?system:nodes/)
  t.match(text, /DNS:kubernetes\.default\.svc, IP Address:127\.0\.0\.1, IP Address:169\.254\.30\.10, IP Address:FD00:0:0:0:0:0:0:1/i)
  t.same(parseCertificateRequest(csr).sans, { dns: ['kubernetes.default.svc'], ips: ['127.0.0.1', '169.254.30.10', 'fd00::1'] })
})

t.test('the parser reads what OpenSSL writes (RSA and EC), other SAN kinds and subject attributes flagged', async (t) => {
  for (const [alg, opts] of [['rsa', ['-newkey', 'rsa:2048']], ['ec', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1']]] as const) {
    const out = join(dir, `${alg}.csr`)
    openssl('req', '-new', ...opts, '-nodes', '-keyout', join(dir, `${alg}.key`), '-out', out,
      '-subj', '/CN=system:node:x/O=system:nodes/OU=extra', '-addext', 'subjectAltName=IP:10.0.0.1,DNS:a.example,email:x@example.com,URI:spiffe://x')
    const req = parseCertificateRequest(readFileSync(out, 'utf8'))
    t.same(req.subject, { cn: 'system:node:x', o: ['system:nodes'] }, alg)
    t.same(req.otherSubjectAttributes, ['2.5.4.11'], `${alg}: OU is reported`)
    t.same(req.sans, { ips: ['10.0.0.1'], dns: ['a.example'] })
    t.same(req.otherSans, ['GeneralName [1]', 'GeneralName [6]'], `${alg}: email and URI SANs are reported`)
    t.equal(req.publicKey.asymmetricKeyType, alg)
  }
})

t.test('a request whose signature does not verify is refused', async (t) => {
  const csr = createCertificateRequest(ec(), subject)
  const der = Buffer.from(csr.replace(/-----[^-]+-----|\s/g, ''), 'base64')
  der[der.length - 5] ^= 0x01 // inside the signature
  const damaged = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`
  t.equal(outcome(damaged), 'RequestError')
})

t.test('damaged requests: a RequestError every time, never another exception', async (t) => {
  const random = prng(Number(process.env.X509_SEED ?? 12))
  const int = (n: number): number => Math.floor(random() * n)
  const der = Buffer.from(createCertificateRequest(ec(), subject, { ips: ['127.0.0.1'], dns: [] }).replace(/-----[^-]+-----|\s/g, ''), 'base64')
  let other = 0
  for (let i = 0; i < 500; i++) {
    const b = Buffer.from(der)
    if (i % 2 === 0) b[int(b.length)] = int(256)
    const cut = i % 3 === 0 ? b.subarray(0, int(b.length)) : b
    try {
      parseCertificateRequest(`-----BEGIN CERTIFICATE REQUEST-----\n${cut.toString('base64')}\n-----END CERTIFICATE REQUEST-----`)
    } catch (err) {
      if (!(err instanceof RequestError)) other++
    }
  }
  t.equal(other, 0, 'no exception other than RequestError (seed X509_SEED=12 by default)')
  t.equal(outcome('not pem'), 'RequestError')
})

t.test('a client certificate that OpenSSL verifies for client auth only, under the CA\'s exact issuer name', async (t) => {
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'ca.key'),
    '-out', join(dir, 'ca.crt'), '-subj', '/O=Example/CN=tunnel ca', '-days', '2', '-addext', 'basicConstraints=critical,CA:TRUE',
    '-addext', 'keyUsage=critical,keyCertSign')
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8')
  const key = ec()
  const now = Date.now()
  const pem = issueClientCertificate({
    caCertPem: caPem, caKey: createPrivateKey(readFileSync(join(dir, 'ca.key'))), subject, publicKey: parseCertificateRequest(createCertificateRequest(key, subject)).publicKey,
    notBefore: new Date(now - 60_000), notAfter: new Date(now + 3_600_000),
  })
  writeFileSync(join(dir, 'leaf.crt'), pem)
  t.match(openssl('verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslclient', join(dir, 'leaf.crt')), /: OK/)
  t.throws(() => openssl('verify', '-CAfile', join(dir, 'ca.crt'), '-purpose', 'sslserver', join(dir, 'leaf.crt')), 'not valid for server auth')
  const cert = new X509Certificate(pem)
  t.equal(cert.issuer, new X509Certificate(caPem).subject)
  t.equal(cert.subject, 'CN=system:node:edge-1\nO=system:nodes')
  t.ok(cert.checkPrivateKey(key))
  t.equal(cert.ca, false)
})

t.test('publicKeyPin is kubeadm\'s hash: sha256 of the DER SubjectPublicKeyInfo', async (t) => {
  const expected = execFileSync('sh', ['-c', `openssl x509 -in ${join(dir, 'ca.crt')} -pubkey -noout | openssl pkey -pubin -outform der | sha256sum`], { encoding: 'utf8' }).split(' ')[0]
  t.equal(publicKeyPin(readFileSync(join(dir, 'ca.crt'), 'utf8')), `sha256:${expected}`)
})

t.test('canonicalIp spells an address one way', async (t) => {
  t.equal(canonicalIp('FD00:0:0::1'), 'fd00::1')
  t.equal(canonicalIp('127.0.0.1'), '127.0.0.1')
})
