// A stand-in for the kubelet's streaming endpoint, which the test bed does not have: a TLS server
// on 127.0.0.1 that accepts any HTTP/1.1 upgrade with 101 (echoing the first protocol offered in
// X-Stream-Protocol-Version, as the kubelet's SPDY server picks one), then sends `bannerBytes` of
// a fixed pattern, echoes what it receives, and ends its side once it has echoed `echoBytes`.
// kube-apiserver's upgrade-aware proxy relays those bytes as they are (SPDY), or inside WebSocket
// frames (port-forward's SPDY-over-WebSocket tunnel), so a client at the far end can check every
// byte both ways. It speaks no SPDY itself: only byte pipes are proven with it.
import tls from 'node:tls'
import type { AddressInfo } from 'node:net'

export interface StandinKubelet {
  port: number
  /** The upgrade requests received (method, path, Upgrade header), in order. */
  requests: Array<{ method: string, path: string, upgrade: string }>
  close: () => Promise<void>
}

/** The banner's bytes: position-dependent, so a lost, repeated or reordered chunk shows. */
export function bannerOf (bytes: number): Buffer {
  const b = Buffer.alloc(bytes)
  for (let i = 0; i < bytes; i++) b[i] = (i * 7 + (i >>> 8) * 13) & 0xff
  return b
}

const MAX_HEAD_BYTES = 64 * 1024

export async function startStandinKubelet (tlsOptions: { cert: string, key: string }, opts: { bannerBytes: number, echoBytes: number }): Promise<StandinKubelet> {
  const requests: StandinKubelet['requests'] = []
  const banner = bannerOf(opts.bannerBytes)
  const open = new Set<tls.TLSSocket>()
  const server = tls.createServer({ ...tlsOptions, ALPNProtocols: ['http/1.1'] }, (socket) => {
    open.add(socket)
    socket.once('close', () => open.delete(socket))
    socket.on('error', () => socket.destroy())
    let head = Buffer.alloc(0)
    let echoed = 0
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk])
      const end = head.indexOf('\r\n\r\n')
      if (end === -1) { if (head.length > MAX_HEAD_BYTES) socket.destroy(); return }
      const lines = head.subarray(0, end).toString('latin1').split('\r\n')
      const rest = head.subarray(end + 4)
      socket.off('data', onData)
      const [method = '', path = ''] = lines[0]!.split(' ')
      const field = (name: string): string[] => lines.slice(1)
        .filter((l) => l.slice(0, l.indexOf(':')).trim().toLowerCase() === name)
        .map((l) => l.slice(l.indexOf(':') + 1).trim())
      const upgrade = field('upgrade')[0] ?? ''
      requests.push({ method, path, upgrade })
      if (upgrade === '') {
        socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n')
        return
      }
      // httpstream.Handshake: repeated fields and comma-separated values alike, the first one wins.
      const protocol = field('x-stream-protocol-version').flatMap((v) => v.split(',')).map((v) => v.trim()).find((v) => v !== '')
      socket.write(['HTTP/1.1 101 Switching Protocols', 'Connection: Upgrade', `Upgrade: ${upgrade}`,
        ...(protocol === undefined ? [] : [`X-Stream-Protocol-Version: ${protocol}`])].join('\r\n') + '\r\n\r\n')
      socket.write(banner)
      const echo = (data: Buffer): void => {
        const take = data.subarray(0, Math.max(0, opts.echoBytes - echoed))
        echoed += take.length
        if (take.length > 0) socket.write(take)
        if (echoed >= opts.echoBytes) { socket.off('data', echo); socket.end() }
      }
      socket.on('data', echo)
      if (rest.length > 0) echo(rest)
      if (opts.echoBytes === 0) socket.end()
    }
    socket.on('data', onData)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    requests,
    close: () => new Promise((resolve) => {
      server.close(() => resolve())
      for (const socket of open) socket.destroy()
    }),
  }
}
