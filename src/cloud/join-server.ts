// The join endpoint: where `edge-metaserver join` trades a bootstrap token for a node's
// certificates. A listener of its own (HTTPS, no client certificate), so the tunnel listener stays
// mTLS-only. Two calls:
//   GET  /join/v1/info          the tunnel CA (the edge pins it by hash before it sends its token),
//                               the tunnel port and the serving SANs the shim will approve
//   POST /join/v1/certificates  token + two PKCS#10 requests → tunnel client certificate (signed here
//                               by the tunnel CA) + serving certificate (kubelet-serving CSR) + cluster CA
// The shim picks every subject and usage itself; the token decides the node name (see
// src/kube/bootstrap-token.ts), and a token bound to one node never gets another node's certificates.
import https from 'node:https'
import { once } from 'node:events'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { JoinConfig } from '../config/index.js'
import { BOOTSTRAPPERS_GROUP, BOOTSTRAP_TOKEN, boundNodes, isBootstrapIdentity } from '../kube/bootstrap-token.js'
import type { Logger } from '../obs/logger.js'
import { readBounded } from '../util/bounded-body.js'
import { IssueError, type NodeCertificates } from './node-certificates.js'
import type { TokenReviewer } from './token-reviews.js'

export const JOIN_INFO_PATH = '/join/v1/info'
export const JOIN_CERTIFICATES_PATH = '/join/v1/certificates'
const MAX_BODY_BYTES = 64 * 1024
/** Joins handled at once; more get 429 (each costs a TokenReview and a CSR round trip). */
const MAX_IN_FLIGHT = 16
/** Long enough for a TokenReview and the kubelet-serving signer (node-certificates.ts waits 30 s for it). */
const REQUEST_TIMEOUT_MS = 45_000
const NODE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

export interface JoinServerOptions {
  config: JoinConfig
  /** The shim's serving certificate and key (the tunnel listener's). */
  cert: string
  key: string
  tunnelCa: string
  tunnelPort: number
  issuer: NodeCertificates
  reviewer: TokenReviewer
  logger: Logger
}

/** A refused join, as the edge reads it (the same shape as a refused issue). */
const JoinError = IssueError

interface JoinRequest { token: string, nodeName: string, tunnelCsr: string, servingCsr: string }

export class JoinServer {
  private readonly server: https.Server
  private inFlight = 0

  constructor (private readonly opts: JoinServerOptions) {
    this.server = https.createServer(joinContext(opts), (req, res) => { void this.handle(req, res) })
    this.server.headersTimeout = 10_000
    this.server.requestTimeout = REQUEST_TIMEOUT_MS
    this.server.on('tlsClientError', (err) => opts.logger.debug({ err }, 'join TLS handshake failed'))
  }

  /** The shim's renewed serving certificate, for join connections opened from now on. */
  useCertificate (tls: { cert: string, key: string }): void {
    this.server.setSecureContext(joinContext(tls))
  }

  async listen (): Promise<AddressInfo> {
    this.server.listen(this.opts.config.address.port, this.opts.config.address.host)
    await once(this.server, 'listening')
    return this.server.address() as AddressInfo
  }

  async close (): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
    this.server.closeAllConnections()
    await closed
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '').split('?')[0]
    try {
      if (path === JOIN_INFO_PATH && req.method === 'GET') {
        send(res, 200, {
          kind: 'JoinInfo', tunnelCa: this.opts.tunnelCa, tunnelPort: this.opts.tunnelPort, ...this.opts.issuer.servingSans,
        })
        return
      }
      if (path !== JOIN_CERTIFICATES_PATH) throw new JoinError(404, 'NotFound', `no such join endpoint: ${req.method} ${path}`)
      if (req.method !== 'POST') throw new JoinError(405, 'MethodNotAllowed', `${JOIN_CERTIFICATES_PATH} takes POST`)
      if (this.inFlight >= MAX_IN_FLIGHT) throw new JoinError(429, 'TooManyRequests', 'too many joins at once; retry shortly')
      this.inFlight++
      try {
        const body = await readBounded(req, MAX_BODY_BYTES)
        if (body === undefined) {
          // The rest of the body is still on the socket: a client reusing it would have its next
          // request reset, so the connection ends with this answer.
          res.setHeader('connection', 'close')
          throw new JoinError(413, 'RequestTooLarge', `the join request exceeds ${MAX_BODY_BYTES} bytes`)
        }
        send(res, 200, await this.join(parseJoinRequest(body.toString('utf8')), req.socket.remoteAddress))
      } finally {
        this.inFlight--
      }
    } catch (err) {
      if (err instanceof IssueError) { send(res, err.status, { kind: 'JoinError', reason: err.reason, message: err.message }); return }
      this.opts.logger.error({ err }, 'join failed')
      send(res, 500, { kind: 'JoinError', reason: 'InternalError', message: 'the shim failed to handle the join; see its log' })
    }
  }

  private async join (body: JoinRequest, remote: string | undefined): Promise<Record<string, unknown>> {
    const { logger } = this.opts
    const tokenId = BOOTSTRAP_TOKEN.exec(body.token)?.[1]
    const log = logger.child({ node: body.nodeName, tokenId, remote })
    if (tokenId === undefined) throw new JoinError(400, 'InvalidToken', 'the token is not a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16})')
    const review = await this.opts.reviewer.review(body.token)
    if (!review.ok) {
      log.warn('join refused: token not accepted by kube-apiserver')
      // Without read access to Secrets (least privilege), the shim cannot tell these apart.
      throw new JoinError(401, 'TokenRejected', `kube-apiserver does not accept token ${tokenId}: unknown, expired or deleted`)
    }
    if (!isBootstrapIdentity(review.user.username, body.token) || !review.user.groups.includes(BOOTSTRAPPERS_GROUP)) {
      log.warn({ username: review.user.username }, 'join refused: not a bootstrap token')
      throw new JoinError(401, 'NotABootstrapToken', 'the token is valid but not a bootstrap token (kube-system Secret bootstrap-token-<id>)')
    }
    const nodes = boundNodes(review.user.groups)
    if (nodes.length === 0) {
      log.warn('join refused: token not bound to a node')
      throw new JoinError(403, 'TokenNotBoundToNode', `token ${tokenId} is not bound to a node: create one with "edge-metaserver token create --node NAME"`)
    }
    if (nodes.length !== 1 || nodes[0] !== body.nodeName) {
      log.warn({ boundTo: nodes }, 'join refused: token made for another node')
      throw new JoinError(403, 'TokenForAnotherNode', `token ${tokenId} was made for node ${nodes.join(', ')}, not ${body.nodeName}`)
    }
    const issued = await this.opts.issuer.issue(body.nodeName, body.tunnelCsr, body.servingCsr, log)
    log.info('node joined')
    return { kind: 'JoinResult', nodeName: body.nodeName, tunnelPort: this.opts.tunnelPort, ...issued }
  }
}

function parseJoinRequest (text: string): JoinRequest {
  let body: unknown
  try { body = JSON.parse(text) } catch { throw new JoinError(400, 'BadRequest', 'the body is not JSON') }
  const b = body as Partial<Record<keyof JoinRequest, unknown>> | null
  for (const key of ['token', 'nodeName', 'tunnelCsr', 'servingCsr'] as const) {
    if (typeof b?.[key] !== 'string') throw new JoinError(400, 'BadRequest', `${key} must be a string`)
  }
  const req = b as JoinRequest
  if (req.nodeName.length > 253 || !NODE_NAME.test(req.nodeName)) throw new JoinError(400, 'BadRequest', `"${req.nodeName.slice(0, 80)}" is not a valid node name`)
  return req
}

function send (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** The join listener's TLS context, at start and on every reload alike (setSecureContext forgets what it is not given). */
function joinContext (tls: { cert: string, key: string }): { cert: string, key: string, minVersion: 'TLSv1.2' } {
  return { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }
}
