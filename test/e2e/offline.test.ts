// Edge autonomy on the test bed (issue #5): the tunnel between edge and cloud shim is cut and
// restored inside each test (test/e2e/partition.ts), while real clients keep running through the
// edge and writes happen straight on kube-apiserver.
import t from 'tap'
import { CoreV1Api, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { clientNodeConfig, jsonLines, kubectl, python, spawnClientGo } from '../cluster/clients.js'
import { RestClient } from '../cluster/rest.js'
import type { EdgeDaemon } from '../../src/edge/run.js'
import { Partition } from './partition.js'
import { configMapRules } from '../cluster/fixtures.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())

const READ_RULES = configMapRules(['get', 'list', 'watch'])
const WRITE_RULES = configMapRules(['get', 'list', 'watch', 'create', 'update', 'patch'])
const CACHE_YAML = ['  cache:', '    watchBookmarkInterval: 1s']
const WARNING = /^299 - "edge-metaserver: cloud unreachable since \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ; served from edge cache"$/

/** An edge whose tunnel runs through a partition the test controls. */
async function partitionedEdge (node: string, opts: { stateDir?: string } = {}): Promise<{ edge: EdgeDaemon, partition: Partition }> {
  const partition = await Partition.between(stack.cloud.tunnelPort)
  t.teardown(() => partition.close())
  const edge = await stack.startEdge(node, { tunnelPort: partition.port, extraYaml: CACHE_YAML, ...opts })
  return { edge, partition }
}

async function cut (edge: EdgeDaemon, partition: Partition): Promise<void> {
  partition.cut()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice the partition')
}

async function restore (edge: EdgeDaemon, partition: Partition): Promise<void> {
  partition.restore()
  await waitUntil(() => edge.tunnel.state.connected, 15_000, 'the edge to redial')
}

const names = (list: any): string => list.items.map((i: any) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort().join(',')

t.test('informers (client-node and client-go) ride out a 30 s partition with 200 writes and converge exactly', async (t) => {
  const NODE = 'edge-offline-informers'
  const { edge, partition } = await partitionedEdge(NODE)
  const { ns, pod, token } = await stack.podWith(edge, 'offline-informers', READ_RULES)
  for (let i = 0; i < 20; i++) await stack.fixtures.configMap(ns, `seed-${i}`, { v: '0' })
  const truth = async (): Promise<string> => names(await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps`))

  // client-node: makeInformer (list, then watch; on ERROR 410 it re-lists).
  const kc = clientNodeConfig(pod)
  const api = kc.makeApiClient(CoreV1Api)
  const nodeInformer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ns}/configmaps`, () => api.listNamespacedConfigMap({ namespace: ns }))
  const nodeDelivered = new Set<string>()
  const note = (o: V1ConfigMap): void => { nodeDelivered.add(`${o.metadata!.name}@${o.metadata!.resourceVersion}`) }
  nodeInformer.on('add', note)
  nodeInformer.on('update', note)
  let nodeError: unknown
  nodeInformer.on('error', (err) => { nodeError = err })
  await nodeInformer.start()
  t.teardown(() => nodeInformer.stop())
  const nodeStore = (): string => nodeInformer.list().map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort().join(',')

  // client-go: a real shared informer (reflector) in the Go test client; "dump" prints its store.
  const goInformer = await spawnClientGo(await stack.podEnv(edge, token, ns), ['informer', '--resource', 'configmaps', '--timeout', '10m'])
  t.teardown(() => goInformer.kill())
  const goLines: any[] = []
  let partial = ''
  goInformer.stdout!.setEncoding('utf8').on('data', (d: string) => {
    partial += d
    const lines = partial.split('\n')
    partial = lines.pop()!
    for (const l of lines) if (l.trim() !== '') goLines.push(JSON.parse(l))
  })
  let goStderr = ''
  goInformer.stderr!.setEncoding('utf8').on('data', (d: string) => { goStderr += d })
  const goStore = async (): Promise<string> => {
    const before = goLines.length
    goInformer.stdin!.write('dump\n')
    await waitUntil(() => goLines.slice(before).some((l) => l.type === 'store'), 10_000, 'the client-go store dump')
    return goLines.slice(before).find((l) => l.type === 'store').items.join(',')
  }
  const goDelivered = (): Set<string> => new Set(goLines.filter((l) => l.type === 'add' || l.type === 'update').map((l) => `${l.name}@${l.resourceVersion}`))

  const initial = await truth()
  await waitUntil(async () => nodeStore() === initial && await goStore() === initial, 20_000, 'both informers to sync')

  await cut(edge, partition)
  const cutAt = Date.now()
  // 200 writes straight on kube-apiserver while the edge cannot see them.
  for (let i = 0; i < 80; i++) await stack.fixtures.configMap(ns, `new-${i}`, { v: '1' })
  for (let i = 0; i < 80; i++) {
    await stack.admin.must('PATCH', `/api/v1/namespaces/${ns}/configmaps/new-${i}`, { body: { data: { v: '2' } }, contentType: 'application/merge-patch+json' })
  }
  for (let i = 0; i < 20; i++) await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/seed-${i}`)
  for (let i = 0; i < 20; i++) await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/new-${i}`)
  t.comment(`200 writes done ${Date.now() - cutAt} ms into the partition`)

  // Offline, the informers keep what they had: nothing was emptied, nothing faked.
  t.equal(nodeStore(), initial, 'client-node store unchanged while partitioned')
  t.equal(await goStore(), initial, 'client-go store unchanged while partitioned')
  const remaining = 30_000 - (Date.now() - cutAt)
  if (remaining > 0) await new Promise((resolve) => setTimeout(resolve, remaining))
  t.equal(edge.tunnel.state.connected, false, 'still partitioned after 30 s')

  await restore(edge, partition)
  const expected = await truth()
  t.not(expected, initial)
  await waitUntil(async () => nodeStore() === expected && await goStore() === expected, 60_000, 'both informers to converge')
  t.equal(nodeStore(), expected, 'client-node store equals the apiserver list (names and resourceVersions)')
  t.equal(await goStore(), expected, 'client-go store equals the apiserver list (names and resourceVersions)')
  t.equal(expected.split(',').length, 61, '60 new configmaps + kube-root-ca.crt')
  const goSaw = goDelivered()
  for (const item of expected.split(',')) {
    t.ok(nodeDelivered.has(item), `client-node handlers got ${item}`)
    t.ok(goSaw.has(item), `client-go handlers got ${item}`)
  }
  t.equal(nodeError, undefined, 'client-node informer reported no error')
  t.comment(`client-go stderr: ${goStderr.split('\n').filter((l) => l.trim() !== '').slice(-3).join(' | ')}`)
})

t.test('offline reads: kubectl get (Table) and python list carry the warning; kubectl apply gets a clear 503', async (t) => {
  const NODE = 'edge-offline-reads'
  const { edge, partition } = await partitionedEdge(NODE)
  const { ns, pod, token } = await stack.podWith(edge, 'offline-reads', [...WRITE_RULES, { apiGroups: [''], resources: ['secrets'], verbs: ['list'] }])
  const client = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, token)
  t.teardown(() => client.close())
  await stack.fixtures.configMap(ns, 'alpha', { k: 'a' }, { app: 'x' })
  await stack.fixtures.configMap(ns, 'beta', { k: 'b' }, { app: 'y' })

  // Online: a JSON list (any client library) fills the cache; kubectl's own use fills discovery
  // and the OpenAPI documents it validates against.
  const online = await python(pod, ['list', ns])
  t.equal(online.code, 0, online.stderr)
  t.equal(jsonLines(online.stdout)[0].warning, null, 'no warning while online')
  const onlineGet = await kubectl(pod, ['get', 'configmaps'])
  t.equal(onlineGet.code, 0, onlineGet.stderr)
  const configMap = (name: string): string => JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: ns }, data: { k: name } })
  const onlineApply = await kubectl(pod, ['apply', '-f', '-'], { stdin: configMap('delta') })
  t.equal(onlineApply.code, 0, onlineApply.stderr)
  t.equal((await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/delta`)).status, 200)
  const version = await client.get('/version')
  t.equal(version.status, 200)

  await cut(edge, partition)
  const get = await kubectl(pod, ['get', 'configmaps'])
  t.equal(get.code, 0, get.stderr)
  t.match(get.stdout, /^NAME\s+/, 'a table')
  for (const name of ['alpha', 'beta', 'delta', 'kube-root-ca.crt']) t.match(get.stdout, new RegExp(`^${name.replace('.', '\\.')}\\s`, 'm'))
  t.match(get.stderr, /Warning: edge-metaserver: cloud unreachable since .*; served from edge cache/, 'kubectl prints the warning')

  const selected = await python(pod, ['list', ns, '--label-selector', 'app=y'])
  t.equal(selected.code, 0, selected.stderr)
  const line = jsonLines(selected.stdout)[0]
  t.same(line.names, ['beta'], 'the label selector is evaluated at the edge')
  t.match(line.warning, WARNING)

  const started = Date.now()
  const apply = await kubectl(pod, ['apply', '-f', '-'], { stdin: configMap('gamma') })
  // Offline answers carry no Retry-After, so kubectl (client-go) does not retry them ten times.
  t.comment(`kubectl apply failed after ${Date.now() - started} ms (process start and client-go's retries included)`)
  t.not(apply.code, 0)
  t.match(apply.stderr, /Error from server \(ServiceUnavailable\)/)
  t.match(apply.stderr, /the cloud is unreachable \(since .*\) and writes are not accepted offline: nothing was changed or queued/)
  t.equal((await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/gamma`)).status, 404, 'nothing was created')

  // A raw write: Status 503 straight away, without Retry-After (it would not help before the cloud is back).
  const t0 = process.hrtime.bigint()
  const write = await client.post(`/api/v1/namespaces/${ns}/configmaps`, JSON.parse(configMap('gamma')))
  t.comment(`raw offline write answered in ${(Number(process.hrtime.bigint() - t0) / 1e6).toFixed(1)} ms`)
  t.equal(write.status, 503)
  t.equal(write.headers['retry-after'], undefined)
  t.match(write.body, { kind: 'Status', reason: 'ServiceUnavailable', code: 503 })

  // Nothing cached for this path: a 503, never an empty list.
  const secrets = await client.get(`/api/v1/namespaces/${ns}/secrets`)
  t.equal(secrets.status, 503)
  // An object a complete cached list does not hold: that list's answer, with the warning.
  const missing = await client.get(`/api/v1/namespaces/${ns}/configmaps/gamma`)
  t.equal(missing.status, 404)
  t.match(missing.body, { reason: 'NotFound', message: 'configmaps "gamma" not found', details: { name: 'gamma', kind: 'configmaps' } })
  t.match(missing.headers.warning, WARNING)
  const cachedVersion = await client.get('/version')
  t.equal(cachedVersion.status, 200, '/version from the cache')
  t.same(cachedVersion.body, version.body)
  t.match(cachedVersion.headers.warning, WARNING)

  await restore(edge, partition)
  const back = await python(pod, ['list', ns])
  t.equal(jsonLines(back.stdout)[0].warning, null, 'online again: the cloud answers')
})

t.test('an edge restarted while the cloud is unreachable serves reads from its cache', async (t) => {
  const NODE = 'edge-offline-restart'
  const first = await partitionedEdge(NODE)
  const { ns, pod, token } = await stack.podWith(first.edge, 'offline-restart', READ_RULES)
  await stack.fixtures.configMap(ns, 'kept', { k: 'v' })
  t.equal((await python(pod, ['list', ns])).code, 0)
  t.equal((await python(pod, ['get', ns, 'kept'])).code, 0)
  await first.edge.close()
  first.partition.cut()

  const edge = await stack.startEdge(NODE, { tunnelPort: first.partition.port, extraYaml: CACHE_YAML, stateDir: first.edge.stateDir, waitForTunnel: false })
  t.equal(edge.tunnel.state.connected, false)
  const restarted = await stack.podEnv(edge, token, ns)
  const list = await python(restarted, ['list', ns])
  t.equal(list.code, 0, list.stderr)
  t.same(jsonLines(list.stdout)[0].names.sort(), ['kept', 'kube-root-ca.crt'])
  t.match(jsonLines(list.stdout)[0].warning, WARNING)
  const got = await python(restarted, ['get', ns, 'kept'])
  t.equal(got.code, 0, got.stderr)
  t.same(jsonLines(got.stdout)[0].data, { k: 'v' })
  const anon = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, undefined)
  t.teardown(() => anon.close())
  const ready = await anon.get('/readyz?verbose')
  t.equal(ready.status, 200, 'ready: the cache answers while the cloud is away')
  t.match(ready.body, /\[\+\]tunnel ok \(offline since .*: reads are served from the edge cache\)/)
  const metrics = String((await anon.get('/metrics')).body)
  t.ok(metricSum(metrics, 'edge_metaserver_cache_bytes') > 0, 'the cache size is exported')
  t.ok(metricSum(metrics, 'edge_metaserver_requests_total', 'source="cache"') >= 1, 'answers from the cache are counted')
})

t.test('a held watch: BOOKMARKs while offline, the missed events in order after the partition, 410 for a version the cache cannot replay', async (t) => {
  const NODE = 'edge-offline-watch'
  const { edge, partition } = await partitionedEdge(NODE)
  const { ns, token } = await stack.podWith(edge, 'offline-watch', READ_RULES)
  await stack.fixtures.configMap(ns, 'one')
  const client = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, token)
  t.teardown(() => client.close())
  const list = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
  t.equal(list.status, 200)
  const rv = list.body.metadata.resourceVersion

  await cut(edge, partition)
  const events: any[] = []
  const watch = client.stream(`/api/v1/namespaces/${ns}/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`, (e: any) => events.push(e))
  t.teardown(() => watch.close())
  await waitUntil(() => events.filter((e) => e.type === 'BOOKMARK').length >= 2, 10_000, 'two bookmarks while offline')
  t.equal(watch.headers()?.['content-type'], 'application/json')
  t.match(watch.headers()?.warning, WARNING)
  const bookmarks = events.filter((e) => e.type === 'BOOKMARK')
  t.same(bookmarks.map((e) => e.object.metadata.resourceVersion), bookmarks.map(() => rv), 'bookmarks at the last known version')
  t.match(bookmarks[0].object, { kind: 'ConfigMap', apiVersion: 'v1' })
  t.same(events.filter((e) => e.type !== 'BOOKMARK'), [], 'no event invented offline')

  const a = await stack.fixtures.configMap(ns, 'two')
  await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/one`)
  await restore(edge, partition)
  await waitUntil(() => events.some((e) => e.type === 'DELETED'), 15_000, 'the missed events after the partition')
  t.same(events.filter((e) => e.type !== 'BOOKMARK').map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED two', 'DELETED one'], 'missed events, in order')
  t.equal(events.find((e) => e.type === 'ADDED').object.metadata.resourceVersion, a.metadata.resourceVersion)
  t.ok(BigInt(events.find((e) => e.type === 'DELETED').object.metadata.resourceVersion) > BigInt(a.metadata.resourceVersion), 'the delete came after the create')

  // Offline again: a watch from a version older than what the cache has seen changed cannot be replayed.
  await cut(edge, partition)
  const stale: any[] = []
  const old = client.stream(`/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${rv}`, (e: any) => stale.push(e))
  t.teardown(() => old.close())
  await waitUntil(() => old.ended(), 10_000, 'the stale watch to end')
  t.match(stale, [{ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } }])
})

t.test('an apiserver 403 or 404 is passed through, never replaced by cached data', async (t) => {
  const NODE = 'edge-offline-errors'
  const { edge } = await partitionedEdge(NODE)
  const { ns, token } = await stack.podWith(edge, 'offline-errors', READ_RULES)
  await stack.fixtures.configMap(ns, 'doomed', { k: 'v' })
  const client = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, token)
  t.teardown(() => client.close())
  const path = `/api/v1/namespaces/${ns}/configmaps/doomed`
  t.equal((await client.get(path)).status, 200, 'cached while online')
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps`)).status, 200)

  // Impersonation is left to kube-apiserver, which refuses it: its 403, not the cached object.
  const forbidden = await client.get(path, { headers: { 'impersonate-user': 'someone-else' } })
  t.equal(forbidden.status, 403)
  t.match(forbidden.body, { kind: 'Status', reason: 'Forbidden' })
  t.notOk(forbidden.headers.warning, 'not from the cache')

  await stack.admin.must('DELETE', path)
  const gone = await client.get(path)
  t.equal(gone.status, 404, 'the apiserver\'s 404, although the cache still had the object a moment ago')
  t.match(gone.body, { kind: 'Status', reason: 'NotFound' })
  t.notOk(gone.headers.warning)
})
