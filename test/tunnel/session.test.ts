// The tunnel's PING keepalive (src/tunnel/session.ts), the one both ends run: the edge on its
// dialled session, the shim on every accepted one. Plain HTTP/2 on 127.0.0.1 (no TLS: the
// keepalive only sees the session), the keepalive on the accepting side, as in the shim.
import t, { type Test } from 'tap'
import http2, { type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2'
import net, { type AddressInfo } from 'node:net'
import { once } from 'node:events'
import { keepalive } from '../../src/tunnel/session.js'
import { waitUntil } from '../helpers/wait.js'

const PERIOD_MS = 30

/** An HTTP/2 server whose sessions run the keepalive; records what it reported. */
async function keptAliveServer (t: Test, timeoutMs = PERIOD_MS): Promise<{ port: number, firstAnswers: () => number, deaths: Error[], sessions: ServerHttp2Session[], streams: ServerHttp2Stream[] }> {
  let firstAnswers = 0
  const deaths: Error[] = []
  const sessions: ServerHttp2Session[] = []
  const streams: ServerHttp2Stream[] = []
  const server = http2.createServer()
  server.on('session', (session) => {
    sessions.push(session)
    session.on('error', () => {})
    keepalive(session, { periodMs: PERIOD_MS, timeoutMs, onFirstAnswer: () => { firstAnswers++ }, onDead: (err) => { deaths.push(err); session.destroy() } })
  })
  server.on('stream', (stream) => { streams.push(stream); stream.on('error', () => {}); stream.respond({ ':status': 200 }) })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(async () => {
    for (const s of sessions) s.destroy()
    await new Promise((resolve) => server.close(resolve))
  })
  return { port: (server.address() as AddressInfo).port, firstAnswers: () => firstAnswers, deaths, sessions, streams }
}

t.test('a peer that answers: one first-answer report, a PING every period, never judged dead', async (t) => {
  const server = await keptAliveServer(t)
  const client = http2.connect(`http://127.0.0.1:${server.port}`)
  t.teardown(() => client.destroy())
  let pings = 0
  client.on('ping', () => { pings++ })
  await waitUntil(() => pings >= 5, { what: 'five PINGs answered by the peer' })
  t.equal(server.firstAnswers(), 1, 'the first answer is reported once')
  t.same(server.deaths, [], 'a peer that answers is never judged dead')
  t.notOk(server.sessions[0]!.destroyed, 'the session is still up')
})

t.test('a silent peer (connected, never answers a PING) is judged dead: heartbeat timeout', async (t) => {
  const server = await keptAliveServer(t)
  // The HTTP/2 preface and an empty SETTINGS frame, then nothing: what a frozen process looks like.
  const socket = net.connect(server.port, '127.0.0.1')
  t.teardown(() => socket.destroy())
  socket.on('error', () => {})
  socket.resume()
  const closed = once(socket, 'close')
  await once(socket, 'connect')
  socket.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]))
  await waitUntil(() => server.deaths.length > 0, { what: 'the keepalive to judge the silent peer' })
  t.equal(server.deaths.length, 1, 'judged once')
  t.match(server.deaths[0]!.message, /heartbeat timeout: no PING answer within 30 ms/)
  t.equal(server.firstAnswers(), 0, 'no answer was ever reported')
  await closed
  t.pass('the connection was closed')
})

t.test('a graceful close by the peer (GOAWAY, a stream still open) is no death: the stream drains', async (t) => {
  const server = await keptAliveServer(t)
  const client = http2.connect(`http://127.0.0.1:${server.port}`)
  t.teardown(() => client.destroy())
  client.on('error', () => {})
  const request = client.request({ ':path': '/held' })
  await once(request, 'response')
  let body = ''
  request.setEncoding('utf8').on('data', (d: string) => { body += d })
  await waitUntil(() => server.firstAnswers() === 1, { what: 'the first PING answer' })
  client.close() // GOAWAY (NO_ERROR); the open stream may finish
  const session = server.sessions[0]!
  await waitUntil(() => session.closed, { what: 'the server session to take the GOAWAY' })
  // Ten periods of draining: a PING on the closed session is cancelled, which must not count.
  const drainingSince = Date.now()
  await waitUntil(() => Date.now() - drainingSince >= 10 * PERIOD_MS, { what: 'ten heartbeat periods' })
  t.same(server.deaths, [], 'no heartbeat death while the peer drains')
  t.notOk(session.destroyed, 'the session is still draining')
  server.streams[0]!.end('done')
  await once(request, 'close')
  t.equal(body, 'done', 'the held stream finished after the GOAWAY')
})

t.test('the keepalive stops with the session', async (t) => {
  const server = await keptAliveServer(t)
  const client = http2.connect(`http://127.0.0.1:${server.port}`)
  client.on('error', () => {})
  await waitUntil(() => server.firstAnswers() === 1, { what: 'the first PING answer' })
  const session = server.sessions[0]!
  client.destroy()
  await once(session, 'close')
  // A PING on a destroyed session would throw from the interval: ten periods later nothing did.
  const closedAt = Date.now()
  await waitUntil(() => Date.now() - closedAt >= 10 * PERIOD_MS, { what: 'ten heartbeat periods' })
  t.same(server.deaths, [], 'a peer that went away cleanly is not reported as a heartbeat death')
})
