// cancelStream on real HTTP/2 streams (node:http2 over h2c on 127.0.0.1): whatever the state of the
// answer — a small body already received and unread, a body bigger than the flow-control window
// still arriving, a watch-like stream the server keeps open — the stream emits 'close', the server
// sees RST_STREAM CANCEL, and the session holds no stream any more (its close() completes).
import t from 'tap'
import { once } from 'node:events'
import http2, { type ClientHttp2Session, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { cancelStream } from '../../src/tunnel/streams.js'

type Answer = (s: ServerHttp2Stream) => void
const answers: Record<string, Answer> = {
  small: (s) => { s.respond({ ':status': 503, 'x-ems-error': 'upstream-unreachable' }); s.end('{"kind":"Status","code":503}') },
  large: (s) => { s.respond({ ':status': 200 }); s.end(Buffer.alloc(3 << 20, 0x61)) },
  open: (s) => { s.respond({ ':status': 200 }); s.write('{"type":"ADDED"}\n') },
}

async function h2 (t: { teardown: (fn: () => void) => void }): Promise<{ session: ClientHttp2Session, serverClosed: (i: number) => Promise<number> }> {
  const closed: Array<Promise<number>> = []
  const server = http2.createServer()
  server.on('stream', (s, headers) => {
    s.on('error', () => {})
    closed.push(once(s, 'close').then(() => s.rstCode))
    answers[String(headers[':path']).slice(1)]!(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  await once(session, 'connect')
  t.teardown(() => { session.destroy(); server.close() })
  return {
    session,
    serverClosed: async (i) => {
      while (closed[i] === undefined) await new Promise((resolve) => setImmediate(resolve))
      return closed[i]!
    },
  }
}

for (const kind of Object.keys(answers)) {
  t.test(`cancelStream frees a stream whose answer is ${kind}`, async (t) => {
    const { session, serverClosed } = await h2(t)
    const stream = session.request({ ':path': `/${kind}` }, { endStream: true })
    stream.on('error', () => {})
    const closed = once(stream, 'close')
    await once(stream, 'response')
    if (kind === 'small') await once(stream, 'readable') // the body is there, unread
    cancelStream(stream)
    await closed
    t.ok(stream.destroyed, "the stream emitted 'close' and is destroyed")
    const code = await serverClosed(0)
    if (kind !== 'small') t.equal(code, http2.constants.NGHTTP2_CANCEL, 'the server saw RST_STREAM CANCEL')
    // Session.close() waits for every stream of the session: it completing proves none is left.
    await new Promise<void>((resolve) => session.close(resolve))
    t.pass('the session closed: no stream left in it')
    cancelStream(stream) // idempotent
  })
}

t.test('control: close(NGHTTP2_CANCEL) alone on an unread answer never emits close (why cancelStream exists)', async (t) => {
  const { session, serverClosed } = await h2(t)
  const stream = session.request({ ':path': '/small' }, { endStream: true })
  stream.on('error', () => {})
  let closed = false
  stream.once('close', () => { closed = true })
  await once(stream, 'response')
  await once(stream, 'readable')
  stream.close(http2.constants.NGHTTP2_CANCEL)
  await serverClosed(0)
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(closed, false, "no 'close' although both ends are done: the stream leaks")
  t.notOk(stream.destroyed)
  cancelStream(stream)
  await new Promise<void>((resolve) => session.close(resolve))
  t.ok(closed, 'cancelStream still frees it')
})
