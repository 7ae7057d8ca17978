// exec / attach / port-forward: the pod's HTTP/1.1 Upgrade (SPDY or WebSocket) is replayed to
// kube-apiserver as a real upgrade. On 101 the stream switches to raw bytes both ways; any other
// answer (403, 404, 400 "pod is not running") is relayed as an ordinary response. When
// kube-apiserver cannot be reached the error is returned, and the caller answers with a Status.
import https from 'node:https'
import type { ServerHttp2Stream } from 'node:http2'
import type { Duplex } from 'node:stream'
import { endToEndHeaders, HEADER_UPGRADE, HEADER_UPGRADE_STATUS } from '../tunnel/protocol.js'
import type { Upstream } from './upstream.js'

export function relayUpgrade (upstream: Upstream, stream: ServerHttp2Stream,
  req: { method: string, path: string, headers: Record<string, string | string[]>, upgrade: string }): Promise<Error | undefined> {
  return new Promise((resolve) => {
    const url = new URL(req.path, upstream.origin)
    const outgoing = https.request(url, {
      method: req.method,
      headers: { ...req.headers, connection: 'Upgrade', upgrade: req.upgrade },
      ...upstream.tlsOptions(),
      agent: false,
    })
    stream.once('close', () => outgoing.destroy())
    outgoing.once('upgrade', (res, socket: Duplex, head: Buffer) => {
      stream.respond({
        ':status': 200,
        [HEADER_UPGRADE_STATUS]: String(res.statusCode ?? 101),
        [HEADER_UPGRADE]: String(res.headers.upgrade ?? req.upgrade),
        ...endToEndHeaders(res.headers),
      })
      if (head.length > 0) stream.write(head)
      socket.pipe(stream)
      stream.pipe(socket)
      const done = (): void => { socket.destroy(); stream.destroy(); resolve(undefined) }
      socket.once('close', done)
      stream.once('close', done)
    })
    outgoing.once('response', (res) => {
      stream.respond({ ':status': res.statusCode ?? 502, ...endToEndHeaders(res.headers) })
      res.pipe(stream)
      res.once('end', () => resolve(undefined))
    })
    outgoing.once('error', (err) => {
      // Nothing answered yet: the caller says why, as a Status. Afterwards the pipe just ends.
      if (!stream.headersSent && !stream.destroyed) { resolve(err); return }
      stream.destroy()
      resolve(undefined)
    })
    outgoing.end()
  })
}
