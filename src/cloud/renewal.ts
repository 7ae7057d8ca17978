// Certificate renewal through the tunnel: the edge asks with its current tunnel certificate, so the
// node is the one that certificate names (checked by the TLS handshake against the tunnel CA), and
// gets both certificates issued exactly as at join (node-certificates.ts). No token is involved.
import type { IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2'
import type { Logger } from '../obs/logger.js'
import { readBounded } from '../util/bounded-body.js'
import { IssueError, type NodeCertificates } from './node-certificates.js'

const MAX_BODY_BYTES = 64 * 1024

export function renewalHandler (issuer: NodeCertificates | undefined, logger: Logger) {
  return async (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, node: string): Promise<void> => {
    const log = logger.child({ node, renewal: true })
    try {
      if (issuer === undefined) throw new IssueError(404, 'RenewalDisabled', 'modules.cloudHub.join is off on this shim: it issues no certificates')
      if (headers[':method'] === 'GET') { send(stream, 200, issuer.servingSans); return }
      if (headers[':method'] !== 'POST') throw new IssueError(405, 'MethodNotAllowed', 'GET or POST')
      const text = await readBounded(stream, MAX_BODY_BYTES)
      if (text === undefined) throw new IssueError(413, 'RequestTooLarge', `the renewal request exceeds ${MAX_BODY_BYTES} bytes`)
      let body: { tunnelCsr?: unknown, servingCsr?: unknown }
      try { body = JSON.parse(text.toString('utf8')) } catch { throw new IssueError(400, 'BadRequest', 'the body is not JSON') }
      if (typeof body?.tunnelCsr !== 'string' || typeof body?.servingCsr !== 'string') throw new IssueError(400, 'BadRequest', 'tunnelCsr and servingCsr must be strings')
      send(stream, 200, await issuer.issue(node, body.tunnelCsr, body.servingCsr, log))
    } catch (err) {
      if (err instanceof IssueError) { send(stream, err.status, { reason: err.reason, message: err.message }); return }
      log.error({ err }, 'certificate renewal failed')
      send(stream, 500, { reason: 'InternalError', message: 'the shim failed to renew; see its log' })
    }
  }
}

function send (stream: ServerHttp2Stream, status: number, body: unknown): void {
  if (stream.destroyed || stream.headersSent) return
  stream.respond({ ':status': status, 'content-type': 'application/json' })
  stream.end(JSON.stringify(body))
}
