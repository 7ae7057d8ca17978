// The edge's side of exec/attach/port-forward (src/edge/upgrade.ts) against a scripted shim on a
// real tunnel: what the upgrade stream carries, and the raw bytes after a 101. The whole path with
// kube-apiserver is test/e2e/websocket-upgrade.test.ts.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http2'
import net from 'node:net'
import { HEADER_UPGRADE, HEADER_UPGRADE_STATUS } from '../../src/tunnel/protocol.js'
import { startRelayBench } from '../helpers/relay-bench.js'

const bench = await startRelayBench()
t.teardown(() => bench.close())

/** Sends an upgrade request, then `payload` once the 101 is in; resolves with the head and `expect` bytes after it. */
function upgrade (head: string, payload: Buffer, expect: number): Promise<{ head: string, bytes: Buffer }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(bench.port, '127.0.0.1')
    let received = Buffer.alloc(0)
    let answer: string | undefined
    const timer = setTimeout(() => { socket.destroy(); reject(new Error(`timeout; got ${JSON.stringify(answer ?? received.toString('latin1').slice(0, 200))}`)) }, 10_000)
    socket.on('error', () => {})
    socket.once('close', () => { clearTimeout(timer); reject(new Error(`closed after ${received.length} bytes; head ${JSON.stringify(answer)}`)) })
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk])
      if (answer === undefined) {
        const end = received.indexOf('\r\n\r\n')
        if (end === -1) return
        answer = received.subarray(0, end).toString('latin1')
        received = received.subarray(end + 4)
        if (answer.startsWith('HTTP/1.1 101')) socket.write(payload)
      }
      if (received.length >= expect) {
        clearTimeout(timer)
        socket.removeAllListeners('close')
        socket.destroy()
        resolve({ head: answer, bytes: received })
      }
    })
    socket.write(head)
  })
}

t.test('a SPDY upgrade (a POST with Content-Length: 0) crosses without a declared length, and bytes flow both ways after the 101', async (t) => {
  let seen: IncomingHttpHeaders | undefined
  bench.shim = (stream, headers) => {
    seen = headers
    stream.respond({ ':status': 200, [HEADER_UPGRADE_STATUS]: '101', [HEADER_UPGRADE]: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' })
    stream.on('data', (chunk: Buffer) => stream.write(chunk))
    // kube-apiserver ends both directions once one ends (the upgrade-aware proxy), and so does this shim.
    stream.once('end', () => stream.end())
    stream.on('error', () => {})
  }
  // More than HTTP/2's default stream window: a reset on the first DATA frame or a stall at 64 KiB would both show.
  const payload = randomBytes(200 * 1024)
  const r = await upgrade([
    'POST /api/v1/namespaces/ns/pods/p/portforward HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: SPDY/3.1',
    'X-Stream-Protocol-Version: portforward.k8s.io', 'Content-Length: 0', '', ''].join('\r\n'), payload, payload.length)
  t.match(r.head, /^HTTP\/1\.1 101 /)
  t.match(r.head, /\r\nupgrade: SPDY\/3\.1/i)
  t.match(r.head, /\r\nx-stream-protocol-version: v4\.channel\.k8s\.io/i)
  t.equal(seen?.['content-length'], undefined, 'no Content-Length on the tunnel stream: its DATA are the connection\'s bytes')
  t.equal(seen?.[HEADER_UPGRADE], 'SPDY/3.1', 'the Upgrade header travels as x-ems-upgrade (HTTP/2 forbids Upgrade)')
  t.equal(seen?.['x-stream-protocol-version'], 'portforward.k8s.io')
  t.ok(r.bytes.equals(payload), `${r.bytes.length} bytes echoed back unchanged`)
})

t.test('a WebSocket upgrade carries its handshake headers to the shim and the 101\'s back', async (t) => {
  let seen: IncomingHttpHeaders | undefined
  bench.shim = (stream, headers) => {
    seen = headers
    stream.respond({
      ':status': 200, [HEADER_UPGRADE_STATUS]: '101', [HEADER_UPGRADE]: 'websocket',
      'sec-websocket-accept': 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'sec-websocket-protocol': 'v5.channel.k8s.io',
    })
    stream.end(Buffer.from([0x82, 0x01, 0x03]))
  }
  const r = await upgrade([
    'GET /api/v1/namespaces/ns/pods/p/exec?command=true&stdout=true HTTP/1.1', 'Host: x', 'Connection: Upgrade', 'Upgrade: websocket',
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13', 'Sec-WebSocket-Protocol: v5.channel.k8s.io, v4.channel.k8s.io', '', ''].join('\r\n'),
  Buffer.alloc(0), 3)
  t.match(seen, {
    ':method': 'GET', [HEADER_UPGRADE]: 'websocket', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==', 'sec-websocket-version': '13',
    'sec-websocket-protocol': 'v5.channel.k8s.io, v4.channel.k8s.io',
  })
  t.match(r.head, /^HTTP\/1\.1 101 /)
  t.match(r.head, /\r\nsec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK\+xOo=/i)
  t.match(r.head, /\r\nsec-websocket-protocol: v5\.channel\.k8s\.io\r\n/i)
  t.match(r.head, /\r\nupgrade: websocket/i)
  t.same([...r.bytes], [0x82, 0x01, 0x03], 'the first frame after the 101')
})
