// The serving approver's verdict: exactly the node's CN, O=system:nodes and the configured SANs; and
// what requestServingCertificate makes of the CSR API's answers (denied, failed, never signed).
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { requestServingCertificate, servingDenial } from '../../src/cloud/serving-csr.js'
import type { Upstream } from '../../src/cloud/upstream.js'
import { createCertificateRequest, parseCertificateRequest, type Sans, type Subject } from '../../src/pki/x509.js'

const key = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
const policy = { ips: ['127.0.0.1', '169.254.30.10', '10.0.0.1'], dns: ['kubernetes.default.svc'] }
const ok: Sans = { ips: ['10.0.0.1', '127.0.0.1', '169.254.30.10'], dns: ['kubernetes.default.svc'] }
const node: Subject = { cn: 'system:node:n1', o: ['system:nodes'] }
const verdict = (subject: Subject, sans: Sans): string | undefined =>
  servingDenial(parseCertificateRequest(createCertificateRequest(key, subject, sans)), 'n1', policy)?.reason

t.test('approved: exactly the configured set, in any order', async (t) => {
  t.equal(verdict(node, ok), undefined)
})

t.test('denied, with the reason', async (t) => {
  t.equal(verdict({ ...node, cn: 'system:node:n2' }, ok), 'WrongCommonName', 'another node')
  t.equal(verdict({ ...node, cn: 'n1' }, ok), 'WrongCommonName', 'not a node CN')
  t.equal(verdict({ ...node, o: ['system:nodes', 'system:masters'] }, ok), 'WrongSubject', 'an extra organization')
  t.equal(verdict({ ...node, o: [] }, ok), 'WrongSubject', 'no organization')
  t.equal(verdict(node, { ...ok, ips: [...ok.ips, '10.9.9.9'] }), 'WrongSANs', 'an extra IP')
  t.equal(verdict(node, { ...ok, ips: ['127.0.0.1'] }), 'WrongSANs', 'missing IPs')
  t.equal(verdict(node, { ...ok, dns: [...ok.dns, 'kubernetes'] }), 'WrongSANs', 'an extra name')
  t.equal(verdict(node, { ...ok, ips: [...ok.ips, '127.0.0.1'] }), 'WrongSANs', 'a duplicate is not the configured set')
})

t.test('denied: every field the approver checks, each on its own', async (t) => {
  t.equal(verdict({ ...node, o: ['system:masters'] }, ok), 'WrongSubject', 'one organization, the wrong one')
  t.equal(verdict(node, { ...ok, dns: [] }), 'WrongSANs', 'a missing name')
  t.equal(verdict(node, { ...ok, dns: ['kubernetes.default.svc.'] }), 'WrongSANs', 'a name spelled otherwise')
  // Subject attributes and SAN kinds the encoder here cannot write: OpenSSL writes them.
  const dir = mkdtempSync(join(tmpdir(), 'ems-serving-csr-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const fromOpenssl = (subj: string, san: string): string | undefined => {
    const out = join(dir, 'r.csr')
    execFileSync('openssl', ['req', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', join(dir, 'r.key'),
      '-out', out, '-subj', subj, '-addext', `subjectAltName=${san}`], { stdio: 'ignore' })
    return servingDenial(parseCertificateRequest(readFileSync(out, 'utf8')), 'n1', policy)?.reason
  }
  const sans = 'IP:10.0.0.1,IP:127.0.0.1,IP:169.254.30.10,DNS:kubernetes.default.svc'
  t.equal(fromOpenssl('/CN=system:node:n1/O=system:nodes', sans), undefined, 'OpenSSL\'s exact request is approved (the control)')
  t.equal(fromOpenssl('/CN=system:node:n1/O=system:nodes/OU=extra', sans), 'WrongSubject', 'an extra subject attribute')
  t.equal(fromOpenssl('/CN=system:node:n1/O=system:nodes', `${sans},email:x@example.com`), 'WrongSANs', 'an email SAN')
  t.equal(fromOpenssl('/CN=system:node:n1/O=system:nodes', `${sans},URI:spiffe://x`), 'WrongSANs', 'a URI SAN')
})

/** kube-apiserver's CSR API as requestServingCertificate uses it: the CSR it creates, the decision it PUTs, then what GET answers. */
function csrApi (afterApproval: Record<string, unknown>): { upstream: Upstream, calls: Array<{ method: string, path: string, body?: any }> } {
  const calls: Array<{ method: string, path: string, body?: any }> = []
  const json = async (method: string, path: string, body?: any): Promise<{ status: number, body: unknown }> => {
    calls.push({ method, path, body })
    if (method === 'POST') return { status: 201, body: { ...body, metadata: { ...body.metadata, name: 'csr-1' } } }
    if (method === 'PUT') return { status: 200, body }
    return { status: 200, body: { status: afterApproval } }
  }
  return { upstream: { json } as unknown as Upstream, calls }
}
const servingPolicy = { ...policy, lifetimeMs: 3600_000, timeoutMs: 600 }
const request = (subject: Subject): [string, ReturnType<typeof parseCertificateRequest>] => {
  const pem = createCertificateRequest(key, subject, ok)
  return [pem, parseCertificateRequest(pem)]
}

t.test('a CSR approved but never signed: Timeout naming the CSR, after the policy\'s wait', async (t) => {
  const { upstream, calls } = csrApi({ conditions: [{ type: 'Approved', status: 'True' }] })
  const result = await requestServingCertificate(upstream, 'n1', ...request(node), servingPolicy)
  t.match(result, { ok: false, reason: 'Timeout', csrName: 'csr-1', message: /csr-1 was approved but not signed within 0\.6s/ })
  t.match(calls[1], { method: 'PUT', path: /csr-1\/approval$/, body: { status: { conditions: [{ type: 'Approved', status: 'True' }] } } })
  t.ok(calls.filter((c) => c.method === 'GET').length >= 1, 'the CSR was polled')
})

t.test('a CSR the signer marks Failed: ServingCertificateFailed with the signer\'s message', async (t) => {
  const { upstream } = csrApi({ conditions: [{ type: 'Failed', status: 'True', message: 'signer is out of order' }] })
  const result = await requestServingCertificate(upstream, 'n1', ...request(node), servingPolicy)
  t.match(result, { ok: false, reason: 'ServingCertificateFailed', csrName: 'csr-1', message: /signer is out of order/ })
})

t.test('a CSR for another node: denied on the CSR with the reason, never polled', async (t) => {
  const { upstream, calls } = csrApi({ certificate: Buffer.from('must not be read').toString('base64') })
  const result = await requestServingCertificate(upstream, 'n1', ...request({ ...node, cn: 'system:node:n2' }), servingPolicy)
  t.match(result, { ok: false, reason: 'ServingCertificateDenied', csrName: 'csr-1' })
  t.match(calls[1]?.body.status.conditions, [{ type: 'Denied', status: 'True', reason: 'WrongCommonName', message: /system:node:n2/ }])
  t.equal(calls.length, 2, 'create and deny only')
  t.same(calls[0]?.body.spec.usages, ['digital signature', 'server auth'], 'the shim\'s usages for an EC key')
})
