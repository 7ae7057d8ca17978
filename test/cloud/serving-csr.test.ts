// The serving approver's verdict: exactly the node's CN, O=system:nodes and the configured SANs.
import t from 'tap'
import { generateKeyPairSync } from 'node:crypto'
import { servingDenial } from '../../src/cloud/serving-csr.js'
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
