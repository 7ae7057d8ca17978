// The edge's side of tunnel compression (src/edge/relay.ts + src/tunnel/compression.ts), against a
// scripted shim that compresses with the real codec: the pod gets the answer byte for byte with
// its own headers (never an x-ems-* one), the cache tee sees decoded bytes, a compressed watch
// hands over each event while it stays open and ends cleanly when the tunnel is cut, and an answer
// that does not decode (garbage, an unknown coding, more than announced) is a 502 Status.
import t from 'tap'
import http from 'node:http'
import { once } from 'node:events'
import type { ServerHttp2Stream } from 'node:http2'
import {
  enabledCodings, encodedHeaders, encoder, HEADER_ACCEPT_CODING, HEADER_CODING, HEADER_DECODED_LENGTH, type Coding,
} from '../../src/tunnel/compression.js'
import { startRelayBench } from '../helpers/relay-bench.js'
import { waitUntil } from '../helpers/wait.js'

const codings = enabledCodings('auto')
const bench = await startRelayBench({ codings, recordTee: true })
t.teardown(() => bench.close())
t.beforeEach(() => { bench.teed.length = 0 })

const LIST = Buffer.from(JSON.stringify({
  kind: 'ConfigMapList',
  apiVersion: 'v1',
  metadata: { resourceVersion: '7' },
  items: Array.from({ length: 300 }, (_, i) => ({ metadata: { name: `cm-${i}`, namespace: 'ns', resourceVersion: String(i) }, data: { k: `v${i}` } })),
}))

function get (path: string): Promise<{ res: http.IncomingMessage, body: Buffer }> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port: bench.port, path, agent: false }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c)).once('end', () => resolve({ res, body: Buffer.concat(chunks) }))
      res.once('close', () => { if (!res.complete) reject(new Error('the answer was cut')) })
    }).once('error', reject)
  })
}

/** Answers the stream in `coding` with the real encoder, as the shim does. */
function compressed (stream: ServerHttp2Stream, coding: Coding, body: Buffer, headers: Record<string, string>): void {
  stream.respond({ ':status': 200, ...encodedHeaders(headers, coding) })
  const enc = encoder(coding, false)
  enc.pipe(stream)
  enc.end(body)
}

for (const coding of codings) {
  t.test(`${coding}: the pod gets the answer byte for byte with kube-apiserver's headers; the tee sees it decoded`, async (t) => {
    let offered: unknown
    bench.shim = (stream, headers) => {
      offered = headers[HEADER_ACCEPT_CODING]
      compressed(stream, coding, LIST, { 'content-type': 'application/json', 'content-length': String(LIST.length), 'audit-id': 'a1' })
    }
    const { res, body } = await get('/api/v1/namespaces/ns/configmaps')
    t.equal(offered, codings.join(', '), 'the edge offered what it decodes')
    t.equal(res.statusCode, 200)
    t.ok(body.equals(LIST), 'identical body')
    t.equal(res.headers['content-length'], String(LIST.length), 'kube-apiserver\'s Content-Length restored')
    t.equal(res.headers['audit-id'], 'a1')
    t.same(Object.keys(res.headers).filter((h) => h.startsWith('x-ems-')), [], 'no tunnel-internal header reaches the pod')
    await waitUntil(() => bench.teed.length > 0, { what: 'the tee to see the body' })
    t.equal(bench.teed.length, 1, 'the tee saw one body')
    t.ok(bench.teed[0]!.equals(LIST), 'the cache tee got the decoded bytes')
  })

  t.test(`${coding}: a compressed watch hands over an event while it stays open, then ends with the stream`, async (t) => {
    const event = '{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"a","resourceVersion":"5"}}}\n'
    let shimStream: ServerHttp2Stream | undefined
    let enc: ReturnType<typeof encoder> | undefined
    bench.shim = (stream) => {
      shimStream = stream
      stream.respond({ ':status': 200, 'content-type': 'application/json', [HEADER_CODING]: coding })
      enc = encoder(coding, true)
      enc.pipe(stream)
      enc.write(event)
    }
    const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: bench.port, path: '/api/v1/namespaces/ns/configmaps?watch=1', agent: false }, resolve).once('error', reject)
    })
    let body = ''
    res.setEncoding('utf8').on('data', (d: string) => { body += d })
    // An event held back until more came (or the end) would never arrive while the watch is open.
    await waitUntil(() => body === event, { what: 'the event to arrive' })
    t.notOk(shimStream!.closed, 'the shim\'s stream is still open')
    t.notOk(res.complete, 'the watch is still open')
    enc!.end()
    await once(res, 'end')
    t.equal(body, event)
  })

  t.test(`${coding}: a compressed watch cut by a lost tunnel ends cleanly`, async (t) => {
    const event = '{"type":"ADDED","object":{"kind":"ConfigMap","metadata":{"name":"b","resourceVersion":"6"}}}\n'
    bench.shim = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json', [HEADER_CODING]: coding })
      const enc = encoder(coding, true)
      enc.pipe(stream)
      enc.write(event, () => setImmediate(() => stream.session?.destroy()))
    }
    const { res, body } = await get('/api/v1/namespaces/ns/configmaps?watch=1')
    t.ok(res.complete, 'terminated, not cut')
    t.equal(body.toString(), event)
    await waitUntil(() => bench.tunnel.state.connected, { what: 'the tunnel to reconnect' })
  })

  t.test(`${coding}: an answer that decodes to more than its announced length is a 502 Status`, async (t) => {
    bench.shim = (stream) => compressed(stream, coding, LIST, { 'content-type': 'application/json', 'content-length': '100' })
    const { res, body } = await get('/api/v1/namespaces/ns/configmaps')
    t.equal(res.statusCode, 502)
    t.match(JSON.parse(body.toString()), { kind: 'Status', code: 502, message: /could not be decoded/ })
  })

  t.test(`${coding}: an answer that is not ${coding} is a 502 Status`, async (t) => {
    bench.shim = (stream) => {
      stream.respond({ ':status': 200, 'content-type': 'application/json', [HEADER_CODING]: coding, [HEADER_DECODED_LENGTH]: '10' })
      stream.end('this is not compressed at all')
    }
    const { res, body } = await get('/api/v1/namespaces/ns/configmaps')
    t.equal(res.statusCode, 502)
    t.match(JSON.parse(body.toString()), { kind: 'Status', code: 502 })
  })
}

t.test('an answer in a coding the edge did not offer is a 502 Status', async (t) => {
  bench.shim = (stream) => { stream.respond({ ':status': 200, [HEADER_CODING]: 'br' }); stream.end('x') }
  const { res, body } = await get('/api/v1/namespaces/ns/configmaps')
  t.equal(res.statusCode, 502)
  t.match(JSON.parse(body.toString()), { kind: 'Status', message: /unknown coding br/ })
})

t.test('an uncompressed answer passes as before', async (t) => {
  bench.shim = (stream) => { stream.respond({ ':status': 200, 'content-type': 'application/json' }); stream.end(LIST) }
  const { res, body } = await get('/api/v1/namespaces/ns/configmaps')
  t.equal(res.statusCode, 200)
  t.ok(body.equals(LIST))
})

t.test('an edge with compression off offers nothing', async (t) => {
  const off = await startRelayBench({ codings: enabledCodings('none') })
  t.teardown(() => off.close())
  let offered: unknown = 'not called'
  off.shim = (stream, headers) => { offered = headers[HEADER_ACCEPT_CODING]; stream.respond({ ':status': 200 }); stream.end('{}') }
  await new Promise((resolve, reject) => http.get({ host: '127.0.0.1', port: off.port, path: '/api/v1/namespaces', agent: false }, (res) => res.resume().once('end', resolve)).once('error', reject))
  t.equal(offered, undefined)
})
