// The edge's serving certificate (what pods verify with their ca.crt): a kubernetes.io/kubelet-serving
// CertificateSigningRequest the shim creates for the joining node, approves only when it asks for
// exactly what this node may have, and otherwise denies with the reason on the CSR itself. The
// controller manager's kubelet-serving signer then signs it with the cluster CA.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are checked */
import { setTimeout as sleep } from 'node:timers/promises'
import { canonicalIp, type CertificateRequest } from '../pki/x509.js'
import type { Upstream } from './upstream.js'

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests'
const SIGNER = 'kubernetes.io/kubelet-serving'
/** Set on every CSR the shim creates, so an operator (and the tests) can find a node's requests. */
export const NODE_ANNOTATION = 'edge-metaserver.io/node'
const POLL_MS = 200

export interface ServingPolicy {
  ips: readonly string[]
  dns: readonly string[]
  lifetimeMs: number
  /** How long to wait for the signer. */
  timeoutMs: number
}

export type ServingResult =
  | { ok: true, certificate: string, csrName: string }
  | { ok: false, reason: 'ServingCertificateDenied' | 'ServingCertificateFailed' | 'Timeout' | 'UpstreamError', message: string, csrName?: string }

/** Why the request must be denied, or undefined when it is exactly what `node` may have. */
export function servingDenial (req: CertificateRequest, node: string, policy: Pick<ServingPolicy, 'ips' | 'dns'>): { reason: string, message: string } | undefined {
  const cn = `system:node:${node}`
  if (req.subject.cn !== cn) return { reason: 'WrongCommonName', message: `CN is "${req.subject.cn}", must be "${cn}"` }
  if (req.subject.o.length !== 1 || req.subject.o[0] !== 'system:nodes' || req.otherSubjectAttributes.length > 0) {
    return { reason: 'WrongSubject', message: 'the subject must be exactly CN=system:node:<node>, O=system:nodes' }
  }
  if (req.otherSans.length > 0) return { reason: 'WrongSANs', message: `unexpected ${req.otherSans.join(', ')}` }
  const want = [...policy.ips.map((ip) => `IP:${canonicalIp(ip)}`), ...policy.dns.map((d) => `DNS:${d}`)].sort()
  const got = [...req.sans.ips.map((ip) => `IP:${ip}`), ...req.sans.dns.map((d) => `DNS:${d}`)].sort()
  if (want.join(',') !== got.join(',')) {
    return { reason: 'WrongSANs', message: `SANs are [${got.join(', ')}], must be exactly [${want.join(', ')}]` }
  }
  return undefined
}

/** Creates the CSR for `node`, approves or denies it, and waits for the signed certificate. */
export async function requestServingCertificate (upstream: Upstream, node: string, csrPem: string, req: CertificateRequest,
  policy: ServingPolicy): Promise<ServingResult> {
  // What kube-apiserver requires of a kubelet-serving request: server auth and digital signature,
  // plus key encipherment for RSA keys only. The shim decides the usages, never the requester.
  const usages = req.publicKey.asymmetricKeyType === 'rsa'
    ? ['digital signature', 'key encipherment', 'server auth']
    : ['digital signature', 'server auth']
  const created = await upstream.json<any>('POST', CSRS, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { generateName: `edge-metaserver-serving-${node.slice(0, 200)}-`, annotations: { [NODE_ANNOTATION]: node } },
    spec: {
      request: Buffer.from(csrPem).toString('base64'),
      signerName: SIGNER,
      usages,
      expirationSeconds: Math.floor(policy.lifetimeMs / 1000),
    },
  })
  if (created.status !== 201) {
    return { ok: false, reason: 'UpstreamError', message: `creating the CertificateSigningRequest failed (HTTP ${created.status}): ${created.body?.message ?? ''}` }
  }
  const csr = created.body
  const name = String(csr.metadata.name)
  const denial = servingDenial(req, node, policy)
  const condition = denial === undefined
    ? { type: 'Approved', status: 'True', reason: 'EdgeMetaServerJoin', message: `serving certificate for node ${node} with the configured SANs` }
    : { type: 'Denied', status: 'True', reason: denial.reason, message: denial.message }
  const decided = await upstream.json<any>('PUT', `${CSRS}/${name}/approval`, { ...csr, status: { conditions: [condition] } })
  if (decided.status !== 200) {
    return { ok: false, reason: 'UpstreamError', csrName: name, message: `${condition.type === 'Approved' ? 'approving' : 'denying'} ${name} failed (HTTP ${decided.status}): ${decided.body?.message ?? ''}` }
  }
  if (denial !== undefined) return { ok: false, reason: 'ServingCertificateDenied', csrName: name, message: `${name} denied: ${denial.message}` }

  const deadline = Date.now() + policy.timeoutMs
  while (Date.now() < deadline) {
    const res = await upstream.json<any>('GET', `${CSRS}/${name}`)
    if (res.status !== 200) return { ok: false, reason: 'UpstreamError', csrName: name, message: `reading ${name} failed (HTTP ${res.status})` }
    const failed = (res.body?.status?.conditions ?? []).find((c: any) => c?.type === 'Failed' && c?.status === 'True')
    if (failed !== undefined) return { ok: false, reason: 'ServingCertificateFailed', csrName: name, message: `the signer refused ${name}: ${failed.message ?? failed.reason ?? ''}` }
    const cert = res.body?.status?.certificate
    if (typeof cert === 'string' && cert !== '') return { ok: true, certificate: Buffer.from(cert, 'base64').toString('utf8'), csrName: name }
    await sleep(POLL_MS)
  }
  return { ok: false, reason: 'Timeout', csrName: name, message: `${name} was approved but not signed within ${policy.timeoutMs / 1000}s (is kube-controller-manager's csrsigning controller running?)` }
}
