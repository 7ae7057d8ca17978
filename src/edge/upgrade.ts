// exec / attach / port-forward arrive as HTTP/1.1 Upgrade requests (SPDY/3.1 or WebSocket). The
// upgrade is carried over one tunnel stream; once the apiserver answers 101 the stream is a raw
// byte pipe in both directions. Any other answer is written back as a plain HTTP/1.1 response.
import type { IncomingMessage } from 'node:http'
import type { IncomingHttpHeaders as H2Headers } from 'node:http2'
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { statusBody, type Status } from '../kube/status.js'
import { admitRequest } from './admission.js'
import { edgeAnswers } from './answers.js'
import type { RelayDeps } from './relay.js'
import { TunnelUnavailableError } from '../tunnel/client.js'
import { cancelStream } from '../tunnel/streams.js'
import { endToEndHeaders, HEADER_UPGRADE, HEADER_UPGRADE_STATUS } from '../tunnel/protocol.js'

// Upgrades are never answered from the cache (exec and port-forward need the node itself), so
// every failure here is a plain Status and the connection is closed.
export async function relayUpgrade (deps: RelayDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy())
  const admission = await admitRequest(deps, req, undefined)
  if (!admission.ok) { refuse(socket, admission.status); return }
  let stream
  try {
    stream = deps.tunnel.open({ ...admission.request.forwarded, [HEADER_UPGRADE]: String(req.headers.upgrade ?? '') })
  } catch (err) {
    if (!(err instanceof TunnelUnavailableError)) throw err
    refuse(socket, edgeAnswers.unreachable(edgeAnswers.tunnelDown(err.message)))
    return
  }
  socket.once('close', () => cancelStream(stream))
  stream.on('error', () => socket.destroy())
  stream.once('close', () => { if (!socket.destroyed && stream.rstCode !== 0) socket.destroy() })
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

function refuse (socket: Duplex, s: Status): void {
  const { code, headers, body } = statusBody(s)
  socket.end(responseHead(code, { ...headers, connection: 'close' }) + body)
}

function responseHead (code: number, headers: Record<string, string | string[]>): string {
  const lines = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`]
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`)
  }
  return lines.join('\r\n') + '\r\n\r\n'
}
