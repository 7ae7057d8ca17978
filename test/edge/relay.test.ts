import t from 'tap'
import http from 'node:http'
import net from 'node:net'
import { PassThrough } from 'node:stream'
import { resourceLabel } from '../../src/edge/relay.js'
import { requestInfo } from '../../src/kube/request-info.js'
import { status } from '../../src/kube/status.js'
import { decodeHeaderEnvelope, HEADER_ENVELOPE } from '../../src/tunnel/protocol.js'
import { ENHANCE_YOUR_CALM, REFUSED_STREAM, startRelayBench, type RelayBench } from '../helpers/relay-bench.js'
import { waitUntil as waitFor } from '../helpers/wait.js'

interface Answer { code: number, headers: http.IncomingHttpHeaders, body: string }

function request (bench: RelayBench, opts: { method?: string, path?: string, headers?: http.OutgoingHttpHeaders, body?: Buffer | string, chunks?: Buffer[] }): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: bench.port, method: opts.method ?? 'GET', path: opts.path ?? '/api/v1/namespaces/ns/configmaps/c', headers: opts.headers ?? {}, agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).once('end', () => resolve({ code: res.statusCode ?? 0, headers: res.headers, body }))
    })
    req.once('error', reject)
    if (opts.chunks !== undefined) {
      for (const c of opts.chunks) req.write(c)
      req.end()
    } else req.end(opts.body)
  })
}

/**
 * Sends raw bytes and returns everything the edge answers until it closes the connection. With
 * `halfClose` the client ends its side after sending (the edge answers a parse error at once);
 * without, it waits (a request relayed to the shim asks for Connection: close instead).
 */
function raw (bench: RelayBench, bytes: Buffer | string, { halfClose = true } = {}): Promise<string> {
  return new Promise((resolve) => {
    const socket = net.connect(bench.port, '127.0.0.1')
    let out = ''
    socket.setEncoding('latin1').on('data', (d: string) => { out += d })
    socket.once('close', () => resolve(out))
    socket.once('error', () => {})
    if (halfClose) socket.end(bytes)
    else socket.write(bytes)
  })
}

function statusOf (body: string): { kind?: string, code?: number, message?: string } {
  return JSON.parse(body.slice(body.indexOf('{')))
}

const bench = await startRelayBench({ maxRequestBodyBytes: 64 * 1024, requestTimeoutMs: 2_000, maxInflight: 3, maxLongRunning: 4 })
t.teardown(() => bench.close())
t.beforeEach(() => { bench.offlineCalls.length = 0; bench.verdict = { ok: true, authorizedHere: true } })

t.test('an answer of the cloud is relayed, never replaced by the cache', async (t) => {
  bench.shim = (stream) => { stream.respond({ ':status': 403, 'content-type': 'application/json' }); stream.end('{"kind":"Status","code":403}') }
  const a = await request(bench, {})
  t.equal(a.code, 403)
  t.equal(a.body, '{"kind":"Status","code":403}')
  t.equal(bench.offlineCalls.length, 0)
})

t.test('connectivity failures go to the cache: REFUSED_STREAM, GOAWAY below the stream, upstream-unreachable, tunnel lost during a read', async (t) => {
  bench.shim = (stream) => stream.close(REFUSED_STREAM)
  t.equal((await request(bench, {})).headers['x-offline-stand-in'], 'yes', 'REFUSED_STREAM')
  bench.shim = (stream) => { stream.respond({ ':status': 503, 'x-ems-error': 'upstream-unreachable' }); stream.end('{}') }
  t.equal((await request(bench, {})).headers['x-offline-stand-in'], 'yes', 'the shim cannot reach kube-apiserver')
  // (A last-stream-id of 0 would mean "the last one processed" to Node; earlier streams have lower ids.)
  bench.shim = (stream) => { stream.session!.goaway(0, stream.id! - 2) }
  t.equal((await request(bench, {})).headers['x-offline-stand-in'], 'yes', 'GOAWAY with a last-stream-id below the stream')
  await waitConnected(bench)
  bench.shim = (stream) => { stream.session!.destroy() }
  t.equal((await request(bench, {})).headers['x-offline-stand-in'], 'yes', 'the connection vanished during a GET')
  await waitConnected(bench)
  t.equal(bench.offlineCalls.length, 4)
})

t.test('a write whose tunnel vanished is not answered offline: its outcome is unknown', async (t) => {
  bench.shim = (stream) => { stream.session!.destroy() }
  const a = await request(bench, { method: 'DELETE' })
  t.equal(a.code, 503)
  t.match(statusOf(a.body), { kind: 'Status', message: /lost during the request; it may or may not have been carried out/ })
  t.equal(bench.offlineCalls.length, 0)
  await waitConnected(bench)
})

t.test('a request the edge did not authorize itself (impersonation) is never answered from the cache', async (t) => {
  bench.verdict = { ok: true, authorizedHere: false }
  bench.shim = (stream) => stream.close(REFUSED_STREAM)
  const a = await request(bench, { headers: { 'impersonate-user': 'x' } })
  t.equal(a.code, 503)
  t.equal(a.headers['x-offline-stand-in'], undefined)
  t.equal(bench.offlineCalls.length, 0)
})

t.test('a stream reset for any other reason is a 502 Status, not an outage', async (t) => {
  bench.shim = (stream) => stream.close(ENHANCE_YOUR_CALM)
  const a = await request(bench, {})
  t.equal(a.code, 502)
  t.match(statusOf(a.body), { kind: 'Status', code: 502 })
  t.equal(bench.offlineCalls.length, 0)
})

t.test('a watch cut by a lost tunnel after its answer began ends cleanly: the client re-watches from its last event', async (t) => {
  const event = '{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"5"}}}\n'
  bench.shim = (stream) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' })
    // The whole connection goes (a shim killed, a network cut), not just this stream.
    stream.write(event, () => setImmediate(() => stream.session?.destroy()))
  }
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: bench.port, path: '/api/v1/namespaces/ns/configmaps?watch=1', agent: false }, resolve).once('error', reject)
  })
  let body = ''
  res.setEncoding('utf8').on('data', (d: string) => { body += d })
  res.on('error', () => {})
  // Bounded: a watch left open (neither ended nor cut) is the failure this would otherwise hang on.
  const how = await Promise.race([
    new Promise<string>((resolve) => res.once('close', () => resolve(res.complete ? 'complete' : 'cut'))),
    new Promise<string>((resolve) => setTimeout(() => resolve('still open'), 10_000).unref()),
  ])
  t.equal(res.statusCode, 200)
  t.equal(how, 'complete', 'the chunked response was terminated, not cut and not left open')
  t.equal(body, event, 'the event sent before the cut arrived whole')
  t.equal(bench.offlineCalls.length, 0, 'an answered watch is not handed to the cache')
  res.destroy()
  await waitConnected(bench) // the tunnel redials for the tests after this one
})

t.test('bodies over the limit get 413: declared, and chunked (detected while streaming, never completed upstream)', async (t) => {
  const upstream: Array<{ rstCode: number | undefined, bytes: number }> = []
  bench.shim = (stream) => {
    let bytes = 0
    stream.on('data', (c: Buffer) => { bytes += c.length })
    stream.once('close', () => upstream.push({ rstCode: stream.rstCode, bytes }))
  }
  const declared = await request(bench, { method: 'POST', path: '/api/v1/namespaces/ns/configmaps', headers: { 'content-length': 70 * 1024 }, body: Buffer.alloc(70 * 1024) })
  t.equal(declared.code, 413)
  const chunked = await request(bench, { method: 'POST', path: '/api/v1/namespaces/ns/configmaps', headers: { 'transfer-encoding': 'chunked' }, chunks: Array.from({ length: 10 }, () => Buffer.alloc(16 * 1024, 'a')) })
  t.equal(chunked.code, 413)
  t.match(statusOf(chunked.body), { kind: 'Status', reason: 'RequestEntityTooLarge' })
  await waitUntil(() => upstream.length === 1)
  t.equal(upstream.length, 1, 'only the chunked request reached the shim')
  t.equal(upstream[0]!.rstCode, 8, 'the shim saw the stream cancelled (RST_STREAM CANCEL), never a complete body')
  t.ok(upstream[0]!.bytes <= 64 * 1024, `the shim received at most the limit (${upstream[0]!.bytes} bytes)`)
  t.equal(bench.offlineCalls.length, 0)
})

t.test('a body is forwarded under flow control and dropped once the answer is known', async (t) => {
  let received = 0
  bench.shim = (stream) => {
    stream.on('data', (c: Buffer) => { received += c.length })
    stream.respond({ ':status': 405, 'content-type': 'application/json' })
    stream.end('{"kind":"Status","code":405}')
  }
  const a = await request(bench, { method: 'PUT', headers: { 'content-length': 60 * 1024 }, body: Buffer.alloc(60 * 1024) })
  t.equal(a.code, 405, 'the early answer is relayed')
  t.equal(a.body, '{"kind":"Status","code":405}', 'its body intact')
  t.comment(`the shim read ${received} of 61 440 body bytes before answering`)
  t.equal(bench.inflight.shortCount, 0)
})

t.test('header fields: 200 reach the shim; more than 1 MiB of headers is a 431 Status', async (t) => {
  let seen = 0
  bench.shim = (stream, headers) => { seen = Object.keys(headers).filter((h) => h.startsWith('x-h-')).length; stream.respond({ ':status': 200 }); stream.end() }
  const headers = Object.fromEntries(Array.from({ length: 200 }, (_, i) => [`x-h-${i}`, 'v']))
  t.equal((await request(bench, { headers })).code, 200)
  t.equal(seen, 200)
  const big = await raw(bench, `GET /api/v1/namespaces/ns/configmaps HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat((1 << 20) + 8192)}\r\n\r\n`)
  t.match(big, /^HTTP\/1\.1 431 /)
  t.match(statusOf(big), { kind: 'Status', code: 431 })
  const line = await request(bench, { path: `/api/v1/namespaces/ns/configmaps?x=${'a'.repeat(60 * 1024)}` })
  t.equal(line.code, 200, 'a 60 KiB request line is relayed')
})

t.test('headers within kube-apiserver\'s 1 MiB but too large for an HTTP/2 header block cross in an envelope; the tunnel survives them', async (t) => {
  const seen: Array<{ fields: number, path: string }> = []
  bench.shim = (stream, headers) => {
    const reply = (h: Record<string, unknown>): void => {
      seen.push({ fields: Object.keys(h).filter((k) => k.startsWith('x-h-')).length, path: String(h[':path']) })
      stream.respond({ ':status': 200 })
      stream.end()
    }
    if (headers[HEADER_ENVELOPE] === undefined) { reply(headers); return }
    const chunks: Buffer[] = []
    stream.on('data', (c: Buffer) => chunks.push(c)).once('end', () => {
      const body = Buffer.concat(chunks)
      t.equal(body.length, Number(headers[HEADER_ENVELOPE]), 'the envelope is the whole body of a request without one')
      const envelope = decodeHeaderEnvelope(body)
      t.equal(envelope?.body, false)
      reply(envelope?.headers ?? {})
    })
  }
  const before = bench.tunnel.state.connected ? bench.tunnel.state.since : -1
  const longPath = `/api/v1/namespaces/ns/configmaps?x=${'a'.repeat(100 * 1024)}`
  t.equal((await request(bench, { path: longPath })).code, 200, 'a 100 KiB request line')
  const big = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`x-h-${i}`, 'a'.repeat(60 * 1024)]))
  t.equal((await request(bench, { headers: big })).code, 200, '16 fields of 60 KiB (~1 MiB)')
  t.equal((await request(bench, { headers: { 'x-h-0': 'a'.repeat(80 * 1024) } })).code, 200, 'one field of 80 KiB')
  const many = Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`x-h-${i}`, `value-${i}`]))
  t.equal((await request(bench, { headers: many })).code, 200, '2 000 small fields (in the header block itself)')
  t.same(seen.map((s) => s.fields), [0, 16, 1, 2000], 'the shim received every field')
  t.equal(seen[0]!.path, longPath, 'and the whole request line')
  t.equal(bench.tunnel.state.connected && bench.tunnel.state.since, before, 'the same tunnel connection carried on (no GOAWAY)')
})

t.test('repeated Impersonate-Group headers reach the shim as separate values; Impersonate-User as its first value (as Go reads them)', async (t) => {
  let got: http.IncomingHttpHeaders | undefined
  bench.shim = (stream, headers) => { got = headers as http.IncomingHttpHeaders; stream.respond({ ':status': 200 }); stream.end() }
  const a = await raw(bench, 'GET /api/v1/namespaces/ns/configmaps HTTP/1.1\r\nHost: x\r\nImpersonate-User: u1\r\nImpersonate-User: u2\r\n' +
    'Impersonate-Group: devs\r\nImpersonate-Group: system:masters\r\nImpersonate-Extra-Scopes: a\r\nImpersonate-Extra-Scopes: b\r\nConnection: close\r\n\r\n', { halfClose: false })
  t.match(a, /^HTTP\/1\.1 200 /)
  t.same(got?.['impersonate-group'], ['devs', 'system:masters'])
  t.same(got?.['impersonate-extra-scopes'], ['a', 'b'])
  t.equal(got?.['impersonate-user'], 'u1')
})

t.test('malformed requests get a Status from the listener itself', async (t) => {
  const bad = await raw(bench, 'GET /api/v1 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n')
  t.match(bad, /^HTTP\/1\.1 400 /)
  t.match(statusOf(bad), { kind: 'Status', code: 400 })
  const garbage = await raw(bench, '\x16\x03\x01 not http at all\r\n\r\n')
  t.match(garbage, /^HTTP\/1\.1 400 /)
  t.match(statusOf(garbage), { kind: 'Status' })
})

t.test('a request that does not complete in time is a 504 Status; the stream is cancelled', async (t) => {
  let cancelled = false
  bench.shim = (stream) => { stream.once('close', () => { cancelled = true }) }
  const a = await request(bench, {})
  t.equal(a.code, 504)
  t.match(statusOf(a.body), { kind: 'Status', reason: 'Timeout' })
  await waitUntil(() => cancelled)
  t.ok(cancelled)
  t.equal(bench.offlineCalls.length, 0)
})

t.test('a pod that stops reading an answer is cut at the request timeout: its slot, connection and tunnel stream return', async (t) => {
  // 32 MiB: more than loopback's socket buffers at both ends hold, so the edge's writes stall.
  let shimStreamClosed = false
  bench.shim = (stream) => {
    stream.once('close', () => { shimStreamClosed = true })
    stream.respond({ ':status': 200, 'content-type': 'application/json' })
    stream.end(Buffer.alloc(32 << 20, 0x20))
  }
  const socket = net.connect(bench.port, '127.0.0.1')
  socket.on('error', () => {})
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()))
  socket.write('GET /api/v1/namespaces/ns/configmaps HTTP/1.1\r\nHost: x\r\n\r\n')
  socket.once('data', () => socket.pause()) // the answer began; the pod reads no more
  await waitUntil(() => bench.inflight.shortCount === 1)
  await waitUntil(() => bench.inflight.shortCount === 0 && shimStreamClosed)
  t.equal(bench.inflight.shortCount, 0, 'its in-flight slot returned')
  t.ok(shimStreamClosed, 'its tunnel stream was cancelled at the shim')
  // A paused socket sees no end: reading what the kernel holds reaches the edge's close.
  socket.resume()
  await closed
  t.pass('the edge closed the connection of the pod that stopped reading')
})

t.test('short requests over the in-flight limit get 429; slots return when pipelined requests are dropped with their connection', async (t) => {
  const held: Array<() => void> = []
  bench.shim = (stream) => { held.push(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end() } }) }
  const pending = [request(bench, {}), request(bench, {}), request(bench, {})]
  await waitUntil(() => held.length === 3)
  const over = await request(bench, {})
  t.equal(over.code, 429)
  t.equal(over.headers['retry-after'], '1')
  for (const answer of held) answer()
  await Promise.all(pending)
  held.length = 0
  // Pipelined GETs on connections that are dropped right after sending.
  for (let i = 0; i < 20; i++) {
    const socket = net.connect(bench.port, '127.0.0.1')
    socket.on('error', () => {})
    socket.write('GET /api/v1/namespaces/ns/configmaps/a HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(5), () => socket.destroy())
  }
  await waitUntil(() => bench.inflight.shortCount === 0 && held.length > 0)
  t.equal(bench.inflight.shortCount, 0, 'every slot returned')
  for (const answer of held) answer()
})

t.test('watches over the long-running limit get 429 at once, not a stream HTTP/2 would queue silently', async (t) => {
  const held: Array<() => void> = []
  bench.shim = (stream, headers) => {
    stream.respond({ ':status': 200, 'content-type': 'application/json' })
    if (String(headers[':path']).includes('watch=1')) held.push(() => stream.end())
    else stream.end('{}')
  }
  const watches = Array.from({ length: 4 }, () => new Promise<http.IncomingMessage>((resolve) => {
    http.get({ host: '127.0.0.1', port: bench.port, path: '/api/v1/namespaces/ns/configmaps?watch=1', agent: false }, resolve)
  }))
  const open = await Promise.all(watches)
  t.same(open.map((r) => r.statusCode), [200, 200, 200, 200])
  const over = await request(bench, { path: '/api/v1/namespaces/ns/configmaps?watch=1' })
  t.equal(over.code, 429)
  t.match(statusOf(over.body), { kind: 'Status', reason: 'TooManyRequests', details: { retryAfterSeconds: 1 } })
  t.equal((await request(bench, {})).code, 200, 'short requests still pass: they are limited separately')
  for (const end of held) end()
  await Promise.all(open.map((r) => new Promise((resolve) => r.resume().once('end', resolve))))
  await waitUntil(() => bench.inflight.longCount === 0)
  t.equal(bench.inflight.longCount, 0, 'ended watches return their slots')
  t.equal(bench.tunnel.openStreams, 0, 'and their tunnel streams')
})

t.test('an answer that comes before the whole body resets the stream: neither end stays half-open', async (t) => {
  // As the shim does with undici: part of the body is read, then the consumer is gone (kube-apiserver
  // answered early), and the answer follows. Node closes a server stream after its answer only
  // when it never read it, so this one stays open unless the edge resets it.
  const shimStreams: Array<{ closed: boolean }> = []
  bench.shim = (stream) => {
    const seen = { closed: false }
    shimStreams.push(seen)
    stream.once('close', () => { seen.closed = true })
    const consumer = new PassThrough()
    stream.pipe(consumer)
    consumer.once('data', () => {
      consumer.destroy()
      stream.respond({ ':status': 405, 'content-type': 'application/json' })
      stream.end('{"kind":"Status","code":405}')
    })
  }
  for (let i = 0; i < 5; i++) {
    const a = await new Promise<Answer>((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port: bench.port, method: 'PUT', path: '/api/v1/namespaces/ns/configmaps', agent: false, headers: { 'content-length': 60 * 1024 } }, (res) => {
        let body = ''
        res.setEncoding('utf8').on('data', (d: string) => { body += d }).once('end', () => { resolve({ code: res.statusCode ?? 0, headers: res.headers, body }); req.destroy() })
      })
      req.once('error', reject)
      req.write(Buffer.alloc(30 * 1024, 'a')) // the rest never comes: the pod waits for the answer
    })
    t.equal(a.code, 405, `request ${i}: the early answer is relayed`)
    t.equal(a.body, '{"kind":"Status","code":405}')
  }
  await waitUntil(() => bench.tunnel.openStreams === 0 && shimStreams.every((s) => s.closed))
  t.equal(bench.tunnel.openStreams, 0, 'no tunnel stream left open at the edge')
  t.same(shimStreams.filter((s) => !s.closed), [], 'nor at the shim')
  t.equal(bench.inflight.shortCount, 0)
})

t.test('a kept-alive connection carries many requests without piling up listeners on its socket', async (t) => {
  // The server side of the client's connections, as the pipeline sees them (stage 2 is in-flight accounting).
  const sockets = new Set<net.Socket>()
  const begin = bench.inflight.begin.bind(bench.inflight)
  bench.inflight.begin = (req, res, longRunning) => { sockets.add(req.socket as net.Socket); begin(req, res, longRunning) }
  t.teardown(() => { bench.inflight.begin = begin })
  // Every request is answered before its body is complete: the shim answers at once without
  // reading, or the gate refuses it; the rest of the body is skipped by the edge.
  bench.shim = (stream) => { stream.respond({ ':status': 405, 'content-type': 'application/json' }); stream.end('{"kind":"Status","code":405}') }
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 })
  t.teardown(() => agent.destroy())
  const early = (): Promise<number> => new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: bench.port, method: 'PUT', path: '/api/v1/namespaces/ns/configmaps', agent, headers: { 'content-length': 2048 } }, (res) => {
      // The rest of the body only once the answer is in: the edge answered an incomplete request.
      req.end(Buffer.alloc(1024, 'b'))
      res.resume().once('end', () => resolve(res.statusCode ?? 0))
    })
    req.once('error', reject)
    req.write(Buffer.alloc(1024, 'a'))
  })
  const counts: number[] = []
  for (let i = 0; i < 40; i++) {
    bench.verdict = i % 2 === 0 ? { ok: true, authorizedHere: true } : { ok: false, status: status('Forbidden', 'no'), why: 'refused by the test' }
    t.equal(await early(), i % 2 === 0 ? 405 : 403, `request ${i} answered early`)
    counts.push(...[...sockets].map((s) => s.listenerCount('close')))
  }
  t.equal(sockets.size, 1, 'all 40 requests went over one connection')
  t.ok(Math.max(...counts) <= 3, `'close' listeners on the socket stayed bounded (${Math.min(...counts)}–${Math.max(...counts)} over 40 requests)`)
  t.equal(bench.inflight.shortCount, 0)
})

t.test('pipelined requests queued on one connection add no listener each to its socket', async (t) => {
  const wide = await startRelayBench({ maxInflight: 100 })
  t.teardown(() => wide.close())
  const sockets = new Set<net.Socket>()
  const begin = wide.inflight.begin.bind(wide.inflight)
  wide.inflight.begin = (req, res, longRunning) => { sockets.add(req.socket as net.Socket); begin(req, res, longRunning) }
  const held: Array<() => void> = []
  wide.shim = (stream) => { held.push(() => { if (!stream.destroyed) { stream.respond({ ':status': 200 }); stream.end('{}') } }) }
  const client = net.connect(wide.port, '127.0.0.1')
  client.on('error', () => {})
  t.teardown(() => client.destroy())
  let answers = ''
  client.setEncoding('latin1').on('data', (d: string) => { answers += d })
  client.write('GET /api/v1/namespaces/ns/configmaps/a HTTP/1.1\r\nHost: x\r\n\r\n'.repeat(30))
  // Node parses every pipelined request at once and queues their responses behind the first.
  await waitUntil(() => held.length === 30)
  const [socket] = sockets
  t.equal(sockets.size, 1)
  t.ok(socket !== undefined && socket.listenerCount('close') <= 3, `30 requests in flight on one connection: ${socket?.listenerCount('close')} 'close' listeners on its socket`)
  for (const answer of held) answer()
  await waitUntil(() => (answers.match(/HTTP\/1\.1 200/g) ?? []).length === 30)
  await waitUntil(() => wide.inflight.shortCount === 0)
  t.equal(wide.inflight.shortCount, 0, 'every slot returned')
})

async function waitUntil (cond: () => boolean): Promise<void> {
  await waitFor(cond, { what: String(cond) })
}

async function waitConnected (bench: RelayBench): Promise<void> {
  await waitUntil(() => bench.tunnel.state.connected)
}

t.test('the relayed-bytes resource label is group/resource or "other", never a name or namespace, and its values are capped', async (t) => {
  const label = (url: string): string => {
    const parsed = requestInfo('GET', url)
    if (!parsed.ok) throw new Error(parsed.message)
    return resourceLabel(parsed.info)
  }
  t.equal(label('/api/v1/namespaces/ns/configmaps/c'), 'configmaps')
  t.equal(label('/apis/apps/v1/namespaces/ns/deployments/d/scale'), 'apps/deployments', 'a subresource counts as its resource')
  t.equal(label('/api/v1/namespaces/ns'), 'namespaces', 'a namespace object is the namespaces resource, not its name')
  t.equal(label('/apis/apps/v1'), 'other', 'discovery is not a resource')
  t.equal(label('/version'), 'other')
  // A pod may name any resource; past the cap new names count as "other", known ones keep theirs.
  const made = Array.from({ length: 300 }, (_, i) => label(`/apis/example.com/v1/things${i}`))
  t.ok(made.includes('other'), 'past the cap: "other"')
  t.ok(made.filter((l) => l !== 'other').length < 256, `${made.filter((l) => l !== 'other').length} distinct labels made`)
  t.equal(label('/api/v1/namespaces/ns/configmaps'), 'configmaps', 'a resource seen before the cap keeps its label')
})
