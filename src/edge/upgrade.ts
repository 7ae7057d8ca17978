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
import { lingerThenDestroy } from './linger.js'
import type { RelayDeps } from './relay.js'
import { TunnelUnavailableError } from '../tunnel/client.js'
import { cancelStream } from '../tunnel/streams.js'
import { endToEndHeaders, HEADER_UPGRADE, HEADER_UPGRADE_STATUS, headersFitTunnel } from '../tunnel/protocol.js'

/** Bytes a pod may send before its upgrade is answered (held, then sent after the 101). */
const MAX_EARLY_BYTES = 64 * 1024

// Upgrades are never answered from the cache (exec and port-forward need the node itself), so
// every failure here is a plain Status and the connection is closed.
export async function relayUpgrade (deps: RelayDeps, req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
  socket.on('error', () => socket.destroy())
  // The socket is read from the start: an unread socket never reports its peer's FIN, so a pod
  // that sends an upgrade request (with a body, say) and goes away before the answer left the
  // edge a CLOSE-WAIT socket forever, which also held server.close() and so the shutdown
  // (test/e2e/edge-fuzz.test.ts, phase b). What arrives before the answer is held, bounded, and
  // sent once the upgrade is accepted; a pod that ends its side before the answer is gone.
  const early: Buffer[] = head.length > 0 ? [head] : []
  let earlyBytes = head.length
  const hold = (chunk: Buffer): void => {
    earlyBytes += chunk.length
    if (earlyBytes > MAX_EARLY_BYTES) socket.destroy()
    else early.push(chunk)
  }
  let answered = false
  socket.on('data', hold)
  socket.once('end', () => { if (!answered) socket.destroy() })
  const admission = await admitRequest(deps, req, undefined)
  if (!admission.ok) { refuse(socket, admission.status); return }
  // An upgrade's stream carries raw bytes after the 101: no room for a header envelope.
  if (!headersFitTunnel(admission.request.forwarded)) { refuse(socket, edgeAnswers.headersTooLargeForTunnel()); return }
  if (socket.destroyed) return
  // No Content-Length on the stream: after the 101 it carries the connection's bytes (stdin,
  // port-forward data), and HTTP/2 resets a stream whose DATA exceed a declared length (RFC 9113
  // §8.1.1) — kubectl's SPDY upgrade is a POST with `Content-Length: 0`. The shim's request
  // upstream declares the same empty body on its own.
  const { 'content-length': _declared, ...forwarded } = admission.request.forwarded
  let stream
  try {
    stream = deps.tunnel.open({ ...forwarded, [HEADER_UPGRADE]: String(req.headers.upgrade ?? '') })
  } catch (err) {
    if (!(err instanceof TunnelUnavailableError)) throw err
    refuse(socket, edgeAnswers.unreachable(edgeAnswers.tunnelDown(err.message)))
    return
  }
  socket.once('close', () => cancelStream(stream))
  stream.on('error', () => socket.destroy())
  stream.once('close', () => { if (!socket.destroyed && stream.rstCode !== 0) socket.destroy() })
  stream.once('response', (headers: H2Headers) => {
    answered = true
    socket.off('data', hold)
    if (socket.destroyed) return
    const upgraded = headers[HEADER_UPGRADE_STATUS] === '101'
    const passed = endToEndHeaders(headers)
    if (upgraded) {
      socket.write(responseHead(101, { ...passed, connection: 'Upgrade', upgrade: String(headers[HEADER_UPGRADE] ?? '') }))
      for (const chunk of early) stream.write(chunk)
      socket.pipe(stream)
      stream.pipe(socket)
    } else {
      // Not upgraded: the answer, then the connection is closed (whatever else the pod sends is dropped).
      socket.resume()
      socket.write(responseHead(Number(headers[':status']), { ...passed, connection: 'close' }))
      stream.pipe(socket)
      socket.once('finish', () => lingerThenDestroy(socket))
    }
  })
}

/** Answers and closes (after a short linger, so the answer is not lost to a reset). */
function refuse (socket: Duplex, s: Status): void {
  if (socket.destroyed) return
  const { code, headers, body } = statusBody(s)
  socket.end(responseHead(code, { ...headers, connection: 'close' }) + body)
  lingerThenDestroy(socket)
}

function responseHead (code: number, headers: Record<string, string | string[]>): string {
  const lines = [`HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}`]
  for (const [name, value] of Object.entries(headers)) {
    for (const v of Array.isArray(value) ? value : [value]) lines.push(`${name}: ${v}`)
  }
  return lines.join('\r\n') + '\r\n\r\n'
}
