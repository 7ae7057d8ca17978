// What the cloud shim answers by itself for one tunnel stream (src/cloud/handler.ts): who may pass
// without a token, what a refused or failed token review becomes, how upstream failures are told
// apart, the shim's own limits, and that a relayed answer reaches the edge untouched.
import { once } from 'node:events'
import { PassThrough } from 'node:stream'
import zlib from 'node:zlib'
import t, { type Test } from 'tap'
import { nodeBindingForbidden } from '../../src/kube/node-binding.js'
import { unauthorized } from '../../src/kube/status.js'
import type { Verdict } from '../../src/cloud/node-restriction.js'
import {
  countedRequests, NODE, SHIM_OWN_AUTHORIZATION, startShimBench, upstreamResponse, type Answer, type ShimBench,
} from '../helpers/shim-bench.js'
import { encodeHeaderEnvelope, HEADER_ENVELOPE } from '../../src/tunnel/protocol.js'
import { waitUntil } from '../helpers/wait.js'
import { decoder, enabledCodings, HEADER_ACCEPT_CODING, HEADER_CODING, HEADER_DECODED_LENGTH } from '../../src/tunnel/compression.js'

const POD_TOKEN = 'pod-token'
const ALLOWED: Verdict = { ok: true, user: { username: 'system:serviceaccount:default:app', uid: 'u1', groups: [], extra: {} } }
const PODS = '/api/v1/namespaces/default/pods'

function get (path: string, headers: Record<string, string> = {}): Record<string, string> {
  return { ':method': 'GET', ':path': path, ...headers }
}
const withToken = { authorization: `Bearer ${POD_TOKEN}` }

async function bench (t: Test, opts: Parameters<typeof startShimBench>[0] = {}): Promise<ShimBench> {
  const b = await startShimBench(opts)
  t.teardown(b.close)
  return b
}

/** The shim's own answer: a Status of `code`, marked as the shim's, with the error tag. */
function assertShimStatus (t: Test, a: Answer, code: number, tag: string): Record<string, any> {
  t.equal(a.status, code, `HTTP ${code}`)
  t.equal(a.headers['x-ems-origin'], 'shim', 'marked as the shim\'s own answer')
  t.equal(a.headers['x-ems-error'], tag, `tagged ${tag}`)
  t.equal(a.headers['content-type'], 'application/json')
  const body = JSON.parse(a.body)
  t.match(body, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code }, 'a Kubernetes Status with the same code')
  return body
}

t.test('without a token only GET of an anonymous path passes, fetched with the shim\'s own credentials', async (t) => {
  const b = await bench(t)
  const ok = await b.request(get('/apis/apps/v1'))
  t.equal(ok.status, 200)
  t.equal(b.forwards.length, 1, 'relayed')
  t.equal(b.forwards[0]!.headers.authorization, SHIM_OWN_AUTHORIZATION, 'as the shim (kube-apiserver grants discovery to authenticated users only)')
  t.equal(b.reviews.length, 0, 'no token review without a token')

  // Credentials kube-apiserver does not read as a bearer token make the request anonymous there too:
  // an anonymous path is served (as the shim), anything else refused.
  const basic = await b.request(get('/version', { authorization: 'Basic dXNlcjpwYXNz' }))
  t.equal(basic.status, 200, 'Basic credentials on /version: anonymous, as kube-apiserver reads them')
  t.equal(b.forwards[1]!.headers.authorization, SHIM_OWN_AUTHORIZATION, 'fetched as the shim; the pod\'s credentials do not go upstream')
  const refusals: Array<[string, Record<string, string>]> = [
    ['a resource path', get(PODS)],
    ['a POST to an anonymous path', { ':method': 'POST', ':path': '/api' }],
    ['credentials that are not a bearer token, on a resource path', get(PODS, { authorization: 'Basic dXNlcjpwYXNz' })],
    ['a bearer scheme without a token, on a resource path', get(PODS, { authorization: 'Bearer' })],
  ]
  for (const [what, headers] of refusals) {
    const a = await b.request(headers)
    const body = assertShimStatus(t, a, 401, 'unauthenticated')
    t.equal(body.reason, 'Unauthorized', what)
  }
  t.equal(b.forwards.length, 2, 'none of the refused requests went upstream')
  t.equal(await countedRequests(b.registry, 401), refusals.length, 'each refusal counted as a 401')
})

t.test('a token is reviewed for the tunnel\'s node; a denial is answered with its own Status and reason', async (t) => {
  const b = await bench(t)
  const denial = nodeBindingForbidden('system:serviceaccount:default:app', NODE, 'the pod is bound to another node')
  b.review = async () => ({ ok: false, status: denial, reason: 'node-restriction' })
  const a = await b.request(get(PODS, withToken))
  const body = assertShimStatus(t, a, 403, 'node-restriction')
  t.equal(body.message, denial.message, 'the denial\'s own message')
  t.same(b.reviews, [[POD_TOKEN, NODE]], 'the pod\'s token reviewed for the node the tunnel proved')

  b.review = async () => ({ ok: false, status: unauthorized(), reason: 'unauthenticated' })
  assertShimStatus(t, await b.request(get(PODS, withToken)), 401, 'unauthenticated')
  t.equal(b.forwards.length, 0, 'nothing denied went upstream')
})

t.test('a token review that fails is 503 upstream-unreachable with Retry-After, and nothing goes upstream', async (t) => {
  const b = await bench(t)
  b.review = async () => { throw new Error('connect ECONNREFUSED 127.0.0.1:6443') }
  const a = await b.request(get(PODS, withToken))
  const body = assertShimStatus(t, a, 503, 'upstream-unreachable')
  t.equal(a.headers['retry-after'], '1')
  t.equal(body.reason, 'ServiceUnavailable')
  t.notMatch(body.message, /ECONNREFUSED/, 'the cause is logged, not told to the pod')
  t.equal(b.forwards.length, 0)
})

t.test('upstream failures: connectivity is 503 upstream-unreachable (the edge may serve its cache), anything else 500 internal', async (t) => {
  const b = await bench(t)
  b.review = async () => ALLOWED
  b.upstream = async () => { throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443'), { code: 'ECONNREFUSED' }) }
  const down = await b.request(get(PODS, withToken))
  assertShimStatus(t, down, 503, 'upstream-unreachable')
  t.equal(down.headers['retry-after'], '1')

  b.upstream = async () => { throw new TypeError('something broke in the shim') }
  const broken = assertShimStatus(t, await b.request(get(PODS, withToken)), 500, 'internal')
  t.equal(broken.reason, 'InternalError')
  t.equal(b.slots.count('short'), 0, 'both slots released')
})

t.test('shim limits: a request that finds no slot of its kind is 429 too-many-requests; the kinds are counted apart', async (t) => {
  const b = await bench(t, { limits: { short: 1, longRunning: 1 } })
  b.review = async () => ALLOWED
  let releaseShort!: () => void
  const heldShort = new Promise<void>((resolve) => { releaseShort = resolve })
  const watchBody = new PassThrough()
  b.upstream = async (call) => {
    if (call.longRunning) return upstreamResponse(200, { 'content-type': 'application/json' }, watchBody)
    await heldShort
    return upstreamResponse(200, { 'content-type': 'application/json' }, '{"kind":"PodList"}')
  }
  const first = b.request(get(PODS, withToken))
  await waitUntil(() => b.slots.count('short') === 1, { what: 'the first short request to hold its slot' })
  const busy = await b.request(get(PODS, withToken))
  const body = assertShimStatus(t, busy, 429, 'too-many-requests')
  t.equal(busy.headers['retry-after'], '1', 'Retry-After: the client tries again soon')
  t.match(body.message, /too many concurrent requests \(limit 1\)/)

  const watch = b.open(get(`${PODS}?watch=true`, withToken))
  watch.on('error', () => {})
  await new Promise((resolve) => watch.once('response', resolve))
  t.equal(b.slots.count('longRunning'), 1, 'a watch takes a long-running slot, not a short one')
  const secondWatch = await b.request(get(`${PODS}?watch=true`, withToken))
  t.match(assertShimStatus(t, secondWatch, 429, 'too-many-requests').message, /too many long-running requests \(limit 1\)/)

  releaseShort()
  t.equal((await first).status, 200, 'the held request completes')
  t.equal((await b.request(get(PODS, withToken))).status, 200, 'its slot is free again')
  watch.close()
  await waitUntil(() => b.slots.count('longRunning') === 0, { what: 'the closed watch to release its slot' })
  t.equal(await countedRequests(b.registry, 429), 2)
})

t.test('a stream the edge closes during the token review starts no upstream call and takes no slot', async (t) => {
  const b = await bench(t)
  let decide!: (v: Verdict) => void
  b.review = async () => await new Promise<Verdict>((resolve) => { decide = resolve })
  const req = b.open(get(`${PODS}?watch=true`, withToken))
  req.on('error', () => {})
  await waitUntil(() => b.reviews.length === 1, { what: 'the token review to start' })
  req.close()
  await waitUntil(() => b.serverStreams[0]?.closed === true, { what: 'the shim to see the stream closed' })
  decide(ALLOWED)
  // The handler resumes in the review's promise continuation; a macrotask later it has decided.
  await new Promise((resolve) => setImmediate(resolve))
  t.equal(b.forwards.length, 0, 'no upstream call for a stream nobody reads')
  t.equal(b.slots.count('longRunning'), 0, 'no slot held')
})

t.test('a relayed answer reaches the edge with its status, end-to-end headers and body; the request goes as the pod, x-forwarded-for appended', async (t) => {
  const b = await bench(t)
  b.review = async () => ALLOWED
  const answer = '{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c"}}\n'
  b.upstream = async () => upstreamResponse(201, {
    'content-type': 'application/json', 'audit-id': 'a-1', 'keep-alive': 'timeout=5', 'x-ems-error': 'forged',
  }, answer)
  const podRequest = { ':method': 'POST', ':path': '/api/v1/namespaces/default/configmaps', 'content-type': 'application/json' }
  const hops = { 'x-forwarded-for': '192.0.2.1', 'x-ems-client-address': '10.1.2.3' }
  const a = await b.request({ ...podRequest, ...withToken, ...hops }, '{"metadata":{"name":"c"}}')
  t.equal(a.status, 201, 'the apiserver\'s status')
  t.equal(a.body, answer, 'its body, byte for byte')
  t.equal(a.headers['audit-id'], 'a-1', 'end-to-end headers pass')
  t.equal(a.headers['keep-alive'], undefined, 'hop-by-hop headers do not')
  t.equal(a.headers['x-ems-error'], undefined, 'no x-ems-* marker comes from upstream')
  t.equal(a.headers['x-ems-origin'], undefined, 'not marked as the shim\'s own answer')

  t.equal(b.forwards.length, 1)
  const call = b.forwards[0]!
  t.match(call, { method: 'POST', path: '/api/v1/namespaces/default/configmaps', longRunning: false, body: '{"metadata":{"name":"c"}}' })
  t.equal(call.headers.authorization, `Bearer ${POD_TOKEN}`, 'the pod\'s own token goes upstream')
  t.equal(call.headers['x-forwarded-for'], '192.0.2.1, 10.1.2.3', 'the pod\'s address appended to x-forwarded-for')
  t.same(Object.keys(call.headers).filter((h) => h.startsWith('x-ems-') || h.startsWith(':')), [], 'no tunnel or pseudo-header goes upstream')

  await b.request(get(PODS, { ...withToken, 'x-ems-client-address': '10.1.2.3' }))
  t.equal(b.forwards[1]!.headers['x-forwarded-for'], '10.1.2.3', 'without an earlier hop it is the pod\'s address alone')
})

t.test('an answer kube-apiserver gave before the whole body came resets the stream once relayed: it does not stay half-open', async (t) => {
  const b = await bench(t)
  b.review = async () => ALLOWED
  // As undici does when the answer comes first: it stops reading the body and destroys it.
  b.readBody = async (body) => {
    const [first] = await Promise.all([new Promise<Buffer>((resolve) => body.once('data', resolve))])
    body.destroy()
    return first.toString('utf8')
  }
  const refusal = '{"kind":"Status","code":405}'
  b.upstream = async () => upstreamResponse(405, { 'content-type': 'application/json' }, refusal)
  const put = b.open({ ':method': 'PUT', ':path': '/api/v1/namespaces/default/configmaps', ...withToken }, { body: true })
  put.on('error', () => {})
  put.write(Buffer.alloc(32 * 1024, 'a')) // and no more: the edge stops sending once the answer is complete
  const [headers] = await new Promise<[Record<string, unknown>]>((resolve) => put.once('response', (h) => resolve([h])))
  let body = ''
  put.setEncoding('utf8').on('data', (d: string) => { body += d })
  await waitUntil(() => put.closed, { what: 'the shim to close the stream after its answer' })
  t.equal(headers[':status'], 405, 'the early answer is relayed')
  t.equal(body, refusal, 'whole')
  t.equal(put.rstCode, 0, 'with RST_STREAM NO_ERROR: "stop sending", not an error')
  await waitUntil(() => b.serverStreams.every((s) => s.destroyed), { what: 'the shim\'s end to be released (closed and destroyed)' })
  t.equal(b.slots.count('short'), 0, 'the slot is free')
})

t.test('the edge closing a relayed watch aborts the upstream call and frees its slot', async (t) => {
  const b = await bench(t)
  b.review = async () => ALLOWED
  const events = new PassThrough()
  b.upstream = async () => upstreamResponse(200, { 'content-type': 'application/json' }, events)
  const watch = b.open(get(`${PODS}?watch=true`, withToken))
  watch.on('error', () => {})
  await new Promise((resolve) => watch.once('response', resolve))
  events.write('{"type":"ADDED","object":{}}\n')
  const first = await new Promise<Buffer>((resolve) => watch.once('data', resolve))
  t.equal(first.toString(), '{"type":"ADDED","object":{}}\n', 'events stream through')
  t.equal(b.forwards[0]!.longRunning, true)
  watch.close()
  await waitUntil(() => b.forwards[0]!.signal.aborted, { what: 'the upstream call to be aborted' })
  await waitUntil(() => b.slots.count('longRunning') === 0, { what: 'the slot to be released' })
  t.pass('aborted and released')
})

t.test('control streams: attached to the hub for the tunnel\'s node, or 404 no-control when the gate is off', async (t) => {
  const off = await bench(t)
  assertShimStatus(t, await off.request({ ':method': 'GET', ':path': '/.edge-metaserver/v1/control', 'x-ems-control': '1' }), 404, 'no-control')
  const on = await bench(t, { control: true })
  const a = await on.request({ ':method': 'GET', ':path': '/.edge-metaserver/v1/control', 'x-ems-control': '1' })
  t.equal(a.status, 200)
  t.same(on.controlAttached, [NODE], 'attached for the node the tunnel proved')
  t.equal(on.reviews.length + on.forwards.length, 0, 'never reviewed nor relayed')
})

t.test('a header envelope: the headers it carries are the request\'s, the body after it is the body; a bad one is a 400 and nothing goes upstream', async (t) => {
  const b = await bench(t)
  b.review = async () => ALLOWED
  const headers = { ':method': 'POST', ':path': `${PODS}?dryRun=All`, authorization: `Bearer ${POD_TOKEN}`, 'x-big': 'a'.repeat(100 * 1024) }
  const envelope = encodeHeaderEnvelope({ headers, body: true })
  const a = await b.request({ ':method': 'POST', ':path': '/', [HEADER_ENVELOPE]: String(envelope.length) }, envelope.toString('latin1') + '{"kind":"Pod"}')
  t.equal(a.status, 200)
  t.equal(b.forwards.length, 1)
  t.match(b.forwards[0], { method: 'POST', path: `${PODS}?dryRun=All`, body: '{"kind":"Pod"}' }, 'path, method and body from the envelope')
  t.equal(b.forwards[0]!.headers['x-big'], headers['x-big'], 'the large header reached the upstream whole')
  t.same(b.reviews, [[POD_TOKEN, NODE]], 'the envelope\'s token was reviewed')

  const bad: Array<[string, Record<string, string>, string]> = [
    ['not JSON', { [HEADER_ENVELOPE]: '5' }, 'hello'],
    ['not an envelope', { [HEADER_ENVELOPE]: '2' }, '{}'],
    ['a length past the bound', { [HEADER_ENVELOPE]: String(10 << 20) }, ''],
    ['a negative length', { [HEADER_ENVELOPE]: '-1' }, ''],
    ['a stream that ends before the envelope does', { [HEADER_ENVELOPE]: '100' }, '{"headers":'],
  ]
  for (const [what, extra, body] of bad) {
    const r = await b.request({ ':method': 'POST', ':path': '/', ...extra }, body)
    t.equal(r.status, 400, what)
    t.equal(r.headers['x-ems-error'], 'bad-request', `${what}: tagged bad-request`)
  }
  t.equal(b.forwards.length, 1, 'none of the bad envelopes went upstream')
})

/** A stream's whole answer as bytes (a compressed body is no UTF-8 text). */
async function answerBytes (stream: ReturnType<ShimBench['open']>): Promise<{ headers: Record<string, unknown>, body: Buffer }> {
  const [headers] = await once(stream, 'response') as [Record<string, unknown>]
  const chunks: Buffer[] = []
  stream.on('data', (c: Buffer) => chunks.push(c))
  await once(stream, 'end')
  return { headers, body: Buffer.concat(chunks) }
}

const LIST = JSON.stringify({ kind: 'PodList', apiVersion: 'v1', metadata: {}, items: Array.from({ length: 100 }, (_, i) => ({ metadata: { name: `p${i}` } })) })

t.test('compression: the coding the edge offers first is used; kube-apiserver\'s length travels aside; the offer never goes upstream', async (t) => {
  const b = await bench(t, { codings: enabledCodings('auto') })
  b.review = async () => ALLOWED
  b.upstream = async () => upstreamResponse(200, { 'content-type': 'application/json', 'content-length': String(LIST.length) }, LIST)
  for (const coding of enabledCodings('auto')) {
    const s = b.open(get(PODS, { ...withToken, [HEADER_ACCEPT_CODING]: `${coding}, gzip` }))
    const { headers, body } = await answerBytes(s)
    t.equal(headers[HEADER_CODING], coding)
    t.equal(headers[HEADER_DECODED_LENGTH], String(LIST.length))
    t.equal(headers['content-length'], undefined, 'the tunnel stream does not claim the decoded length')
    t.ok(body.length < LIST.length / 2, `${body.length} bytes for ${LIST.length}`)
    const plain = coding === 'zstd' ? (zlib as unknown as { zstdDecompressSync: (b: Buffer) => Buffer }).zstdDecompressSync(body) : zlib.gunzipSync(body)
    t.equal(plain.toString(), LIST, 'decodes to kube-apiserver\'s bytes')
  }
  t.equal(b.forwards.length, enabledCodings('auto').length)
  t.ok(b.forwards.every((f) => f.headers[HEADER_ACCEPT_CODING] === undefined), 'kube-apiserver never sees the offer')
})

t.test('compression: none for an edge that offers nothing, a shim with it off, an answer kube-apiserver compressed, or a small one', async (t) => {
  const on = await bench(t, { codings: ['gzip'] })
  const off = await bench(t, { codings: [] })
  for (const b of [on, off]) {
    b.review = async () => ALLOWED
    b.upstream = async (call) => call.path.endsWith('small')
      ? upstreamResponse(200, { 'content-type': 'application/json', 'content-length': '2' }, '{}')
      : call.path.endsWith('gz')
        ? upstreamResponse(200, { 'content-type': 'application/json', 'content-encoding': 'gzip' }, zlib.gzipSync(LIST).toString('latin1'))
        : upstreamResponse(200, { 'content-type': 'application/json' }, LIST)
  }
  const cases: Array<[string, ShimBench, Record<string, string>, string]> = [
    ['no offer', on, {}, PODS],
    ['shim compression off', off, { [HEADER_ACCEPT_CODING]: 'gzip' }, PODS],
    ['kube-apiserver gzipped it', on, { [HEADER_ACCEPT_CODING]: 'gzip' }, `${PODS}/gz`],
    ['a small answer', on, { [HEADER_ACCEPT_CODING]: 'gzip' }, `${PODS}/small`],
  ]
  for (const [what, b, offer, path] of cases) {
    const { headers } = await answerBytes(b.open(get(path, { ...withToken, ...offer })))
    t.equal(headers[HEADER_CODING], undefined, what)
  }
  const { headers } = await answerBytes(on.open(get(PODS, { ...withToken, [HEADER_ACCEPT_CODING]: 'gzip' })))
  t.equal(headers[HEADER_CODING], 'gzip', 'while the same answer with an offer is compressed')
})

t.test('compression: a relayed watch is flushed per event — each one crosses while the stream stays open', async (t) => {
  const b = await bench(t, { codings: enabledCodings('auto') })
  b.review = async () => ALLOWED
  const events = new PassThrough()
  b.upstream = async () => upstreamResponse(200, { 'content-type': 'application/json' }, events)
  const coding = enabledCodings('auto')[0]!
  const watch = b.open(get(`${PODS}?watch=true`, { ...withToken, [HEADER_ACCEPT_CODING]: coding }))
  watch.on('error', () => {})
  const [headers] = await once(watch, 'response') as [Record<string, unknown>]
  t.equal(headers[HEADER_CODING], coding)
  const plain = watch.pipe(decoder(coding))
  plain.on('error', () => {}) // closing the watch below cuts the stream mid-frame
  let received = ''
  plain.setEncoding('utf8').on('data', (d: string) => { received += d })
  for (const event of ['{"type":"ADDED","object":{}}\n', '{"type":"MODIFIED","object":{}}\n']) {
    const before = received
    events.write(event)
    // An event held in the compressor until more came would never arrive while the watch is open.
    await waitUntil(() => received !== before, { what: 'the event to cross' })
    t.equal(received.slice(before.length), event, 'the event came out whole while the watch is open')
  }
  watch.close()
  await waitUntil(() => b.slots.count('longRunning') === 0, { what: 'the slot to be released' })
})
