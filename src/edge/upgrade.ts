// exec / attach / port-forward arrive as HTTP/1.1 Upgrade requests (SPDY/3.1 or WebSocket). The
// upgrade is carried over one tunnel stream; once the apiserver answers 101 the stream is a raw
// byte pipe in both directions. Any other answer is written back as a plain HTTP/1.1 response.
import type { IncomingMessage } from 'node:http'
import http2, { type IncomingHttpHeaders as H2Headers } from 'node:http2'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { requestInfo } from '../kube/request-info.js'
import { badRequest, serviceUnavailable, statusBody } from '../kube/status.js'
import type { RelayDeps } from './relay.js'
import { TunnelUnavailableError, type TunnelClient } from '../tunnel/client.js'
import { endToEndHeaders, HEADER_CLIENT_ADDRESS, HEADER_UPGRADE, HEADER_UPGRADE_STATUS } from '../tunnel/protocol.js'

export async function relayUpgrade (tunnel: TunnelClient, gate: RelayDeps['gate'], req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  if (gate !== undefined) {
    const parsed = requestInfo(req.method ?? 'GET', req.url ?? '/')
    const verdict = parsed.ok ? await gate(parsed.info, req.headers) : { admitted: false as const, status: badRequest(parsed.message) }
    if (!verdict.admitted) {
      const { code, headers, body } = statusBody(verdict.status)
      socket.end(responseHead(code, { ...headers, connection: 'close' }) + body)
      return
    }
  }
  let stream
  try {
    stream = tunnel.open({
      ...endToEndHeaders(req.headers),
      ':method': req.method ?? 'GET',
      ':path': req.url ?? '/',
      [HEADER_UPGRADE]: String(req.headers.upgrade ?? ''),
      [HEADER_CLIENT_ADDRESS]: req.socket.remoteAddress ?? '',
    })
  } catch (err) {
    if (!(err instanceof TunnelUnavailableError)) throw err
    const { code, headers, body } = statusBody(serviceUnavailable(`edge-metaserver: the cloud is unreachable (${err.message})`, 1))
    socket.end(responseHead(code, { ...headers, connection: 'close' }) + body)
    return
  }
  socket.once('close', () => { if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL) })
  socket.on('error', () => stream.destroy())
  stream.on('error', () => socket.destroy())
  stream.once('response', (headers: H2Headers) => {
    const upgraded = headers[HEADER_UPGRADE_STATUS] === '101'
    const passed = endToEndHeaders(headers)
    if (upgraded) {
      socket.write(responseHead(101, { ...passed, connection: 'Upgrade', upgrade: String(headers[HEADER_UPGRADE] ?? '') }))
      if (head.length > 0) stream.write(head)
      socket.pipe(stream)
      stream.pipe(socket)
    } else {
      socket.write(responseHead(Number(headers[':status']), { ...passed, connection: 'close' }))
      stream.pipe(socket)
    }
  })
}

function responseHead (code: number, headers: Record<string, string | string[]>): string {
  const lines = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`]
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`)
  }
  return lines.join('\r\n') + '\r\n\r\n'
}
