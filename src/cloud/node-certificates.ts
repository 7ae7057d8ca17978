// Issues one node's two certificates from its two PKCS#10 requests: the tunnel client certificate
// (signed here by the tunnel CA; subject and usages chosen here, never by the requester) and the
// serving certificate (a kubelet-serving CSR approved only for exactly this node: serving-csr.ts).
// Who the node is has been settled by the caller: a bootstrap token bound to it (join-server.ts),
// or the tunnel's own client certificate (a renewal, renewal.ts).
import type { KeyObject } from 'node:crypto'
import type { JoinConfig } from '../config/index.js'
import type { Logger } from '../obs/logger.js'
import { issueClientCertificate, parseCertificateRequest, RequestError } from '../pki/x509.js'
import { requestServingCertificate } from './serving-csr.js'
import type { Upstream } from './upstream.js'

const SIGNER_TIMEOUT_MS = 30_000
/**
 * A certificate is valid from a little before now (the edge's clock may lag the shim's): 5 minutes,
 * or a tenth of a short lifetime, so that 80 % of the life still lies ahead when it is issued.
 */
const CLOCK_SKEW_MS = 5 * 60_000

/** A refusal as the edge reads it: an HTTP status, one reason code, one line for the operator. */
export class IssueError extends Error {
  constructor (readonly status: number, readonly reason: string, message: string) { super(message) }
}

export interface IssuedCertificates {
  tunnelCertificate: string
  tunnelCa: string
  servingCertificate: string
  clusterCa: string
}

export interface NodeCertificatesOptions {
  config: JoinConfig
  tunnelCa: string
  tunnelCaKey: KeyObject
  /** What pods verify with (their ca.crt): handed to the edge with its serving certificate. */
  clusterCa: string
  upstream: Upstream
}

export class NodeCertificates {
  constructor (private readonly opts: NodeCertificatesOptions) {}

  /** The serving SANs a request must carry exactly (the edge asks before it builds its request). */
  get servingSans (): { servingIPAddresses: readonly string[], servingDNSNames: readonly string[] } {
    return { servingIPAddresses: this.opts.config.servingIPAddresses, servingDNSNames: this.opts.config.servingDNSNames }
  }

  async issue (node: string, tunnelCsr: string, servingCsr: string, log: Logger): Promise<IssuedCertificates> {
    const { config } = this.opts
    const tunnelReq = parseRequest(tunnelCsr, 'tunnelCsr')
    const servingReq = parseRequest(servingCsr, 'servingCsr')
    if (tunnelReq.publicKey.equals(servingReq.publicKey)) {
      throw new IssueError(400, 'BadCertificateRequest', 'the tunnel and serving requests must use two different keys')
    }
    const serving = await requestServingCertificate(this.opts.upstream, node, servingCsr, servingReq, {
      ips: config.servingIPAddresses, dns: config.servingDNSNames, lifetimeMs: config.servingCertificateLifetime, timeoutMs: SIGNER_TIMEOUT_MS,
    })
    if (!serving.ok) {
      log.warn({ csr: serving.csrName, reason: serving.reason }, `certificates refused: ${serving.message}`)
      const status = { ServingCertificateDenied: 403, ServingCertificateFailed: 502, Timeout: 504, UpstreamError: 502 }[serving.reason]
      throw new IssueError(status, serving.reason, serving.message)
    }
    const now = Date.now()
    const tunnelCertificate = issueClientCertificate({
      caCertPem: this.opts.tunnelCa, caKey: this.opts.tunnelCaKey,
      subject: { cn: `system:node:${node}`, o: ['system:nodes'] }, publicKey: tunnelReq.publicKey,
      notBefore: new Date(now - Math.min(CLOCK_SKEW_MS, config.nodeCertificateLifetime / 10)), notAfter: new Date(now + config.nodeCertificateLifetime),
    })
    log.info({ csr: serving.csrName }, 'tunnel and serving certificates issued')
    return { tunnelCertificate, tunnelCa: this.opts.tunnelCa, servingCertificate: serving.certificate, clusterCa: this.opts.clusterCa }
  }
}

function parseRequest (pem: string, field: string): ReturnType<typeof parseCertificateRequest> {
  try {
    return parseCertificateRequest(pem)
  } catch (err) {
    if (err instanceof RequestError) throw new IssueError(400, 'BadCertificateRequest', `${field}: ${err.message}`)
    throw err
  }
}
