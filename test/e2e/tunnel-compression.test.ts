// Compression on the tunnel against the real test bed (real shim, real kube-apiserver; the edge
// opts in with modules.edgeHub.compression: auto, the shim's default allows it): a LIST crosses the tunnel in a fraction of its bytes and reaches the pod
// as kube-apiserver's bytes exactly; an answer kube-apiserver gzipped for the pod stays its gzip;
// a watch event reaches the pod while the watch stays open.
import t from 'tap'
import { gunzipSync } from 'node:zlib'
import { Agent, request } from 'undici'
import { configMapRules } from '../cluster/fixtures.js'
import { RestClient } from '../cluster/rest.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-compression'
const edge = await stack.startEdge(NODE, { extraYaml: ['    compression: auto'] })
const caPem = stack.cluster.pki.caPem
const edgeUrl = `https://127.0.0.1:${edge.listening.server!.port}`
const metrics = new RestClient(edgeUrl, caPem)
t.teardown(() => metrics.close())
const { ns, token } = await stack.podWith(edge, 'compression', configMapRules(['get', 'list', 'watch']))
const viaEdge = new RestClient(edgeUrl, caPem, token)
const direct = new RestClient(stack.cluster.url, caPem, token)
t.teardown(() => viaEdge.close())
t.teardown(() => direct.close())
// ~1 KiB each: the list is over the 128 KiB above which kube-apiserver gzips for a client that asks.
const notes = 'the quick brown fox jumps over the lazy dog; '.repeat(20)
for (let i = 0; i < 200; i += 20) {
  await Promise.all(Array.from({ length: 20 }, (_, k) => stack.fixtures.configMap(ns, `cm-${i + k}`, { 'app.properties': `replica=${i + k}\ncolor=blue\nnotes=${notes}\n` })))
}

async function tunnelResponseBytes (): Promise<number> {
  return metricSum(String((await metrics.get('/metrics')).body), 'edge_metaserver_relayed_bytes_total', 'resource="configmaps",direction="response"')
}

t.test('a LIST crosses the tunnel compressed and reaches the pod as kube-apiserver\'s bytes', async (t) => {
  const rv = String((await direct.get(`/api/v1/namespaces/${ns}/configmaps`)).body.metadata.resourceVersion)
  // The same snapshot both ways (an exact resourceVersion): the same bytes are due.
  const query = { resourceVersion: rv, resourceVersionMatch: 'Exact' }
  for (const accept of ['application/json', 'application/vnd.kubernetes.protobuf']) {
    const before = await tunnelResponseBytes()
    const a = await viaEdge.get(`/api/v1/namespaces/${ns}/configmaps`, { query, headers: { accept } })
    const tunnel = await tunnelResponseBytes() - before
    const b = await direct.get(`/api/v1/namespaces/${ns}/configmaps`, { query, headers: { accept } })
    t.equal(a.status, 200, accept)
    t.ok(a.raw.equals(b.raw), `${accept}: byte for byte kube-apiserver's answer (${a.raw.length} bytes)`)
    t.equal(a.headers['content-type'], b.headers['content-type'])
    t.equal(a.headers['content-length'], b.headers['content-length'], 'the same framing: Content-Length when kube-apiserver sent one')
    t.same(Object.keys(a.headers).filter((h) => h.startsWith('x-ems-')), [], 'no tunnel-internal header reaches the pod')
    t.ok(tunnel > 0 && tunnel < 0.3 * a.raw.length, `${accept}: ${tunnel} bytes on the tunnel for ${a.raw.length}`)
  }
})

t.test('an answer kube-apiserver gzipped for the pod reaches it as kube-apiserver\'s gzip', async (t) => {
  const headers = { accept: 'application/json', 'accept-encoding': 'gzip' }
  const before = await tunnelResponseBytes()
  const a = await viaEdge.get(`/api/v1/namespaces/${ns}/configmaps`, { headers })
  t.equal(await tunnelResponseBytes() - before, a.raw.length, 'it crossed the tunnel as it is, not compressed again')
  const b = await direct.get(`/api/v1/namespaces/${ns}/configmaps`, { headers })
  t.equal(b.headers['content-encoding'], 'gzip', 'kube-apiserver gzips a list this large')
  t.equal(a.headers['content-encoding'], 'gzip')
  t.equal(JSON.parse(gunzipSync(a.raw).toString()).items.length, JSON.parse(gunzipSync(b.raw).toString()).items.length)
})

t.test('a watch event reaches the pod while the watch stays open', async (t) => {
  const dispatcher = new Agent({ connect: { ca: caPem } })
  t.teardown(() => dispatcher.destroy())
  const rv = String((await direct.get(`/api/v1/namespaces/${ns}/configmaps`)).body.metadata.resourceVersion)
  const controller = new AbortController()
  const res = await request(`${edgeUrl}/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rv}`, {
    headers: { authorization: `Bearer ${token}`, accept: 'application/json' }, dispatcher, signal: controller.signal,
  })
  t.equal(res.statusCode, 200)
  let received = ''
  let ended = false
  res.body.setEncoding('utf8').on('data', (d: string) => { received += d }).once('end', () => { ended = true })
  res.body.on('error', () => {})
  await stack.fixtures.configMap(ns, 'watched', { v: '1' })
  // One event, flushed by the shim as it came: without that it would sit in the compressor.
  await waitUntil(() => received.includes('"name":"watched"'), 20_000, 'the ADDED event of "watched"')
  t.match(received, /^\{"type":"ADDED","object":\{"kind":"ConfigMap"/, 'a whole event')
  t.notOk(ended, 'the watch is still open')
  controller.abort()
})
