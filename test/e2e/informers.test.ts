// Long-lived clients through the edge: a client-node informer converges to the apiserver's exact
// state after many writes made directly on the apiserver; python lists and watches; protobuf
// answers are the apiserver's bytes exactly.
import t from 'tap'
import { CoreV1Api, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { clientNodeConfig, jsonLines, python, spawnPython } from '../cluster/clients.js'
import { RestClient } from '../cluster/rest.js'
import { configMapRules } from '../cluster/fixtures.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-informers'
const edge = await stack.startEdge(NODE)

const READ_RULES = configMapRules(['get', 'list', 'watch'])

t.test('a client-node informer converges to the apiserver\'s exact state after 100 mixed writes', async (t) => {
  const ns = await stack.fixtures.namespace('informer')
  const me = await stack.fixtures.podIdentity(ns, NODE, { rules: READ_RULES })
  for (let i = 0; i < 10; i++) await stack.fixtures.configMap(ns, `seed-${i}`, { v: '0' })
  const kc = clientNodeConfig(await stack.podEnv(edge, me.token, ns))
  const api = kc.makeApiClient(CoreV1Api)
  const informer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ns}/configmaps`,
    () => api.listNamespacedConfigMap({ namespace: ns }))
  const delivered = new Map<string, Set<string>>() // name -> every resourceVersion the handlers saw
  const note = (obj: V1ConfigMap): void => {
    const name = obj.metadata!.name!
    if (!delivered.has(name)) delivered.set(name, new Set())
    delivered.get(name)!.add(obj.metadata!.resourceVersion!)
  }
  informer.on('add', note)
  informer.on('update', note)
  informer.on('delete', note)
  let informerError: unknown
  informer.on('error', (err) => { informerError = err })
  await informer.start()
  t.teardown(() => informer.stop())
  await waitUntil(() => informer.list().length === 11, 10_000, 'initial list') // 10 seeds + kube-root-ca.crt

  // 100 writes straight to the apiserver: creates, updates and deletes, interleaved.
  const writes: Array<() => Promise<unknown>> = []
  for (let i = 0; i < 40; i++) writes.push(() => stack.fixtures.configMap(ns, `new-${i}`, { v: '1' }))
  for (let i = 0; i < 40; i++) {
    writes.push(() => stack.admin.must('PATCH', `/api/v1/namespaces/${ns}/configmaps/new-${i}`,
      { body: { data: { v: '2' } }, contentType: 'application/merge-patch+json' }))
  }
  for (let i = 0; i < 10; i++) writes.push(() => stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/seed-${i}`))
  for (let i = 0; i < 10; i++) writes.push(() => stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/new-${i}`))
  t.equal(writes.length, 100)
  for (const write of writes) await write()

  const truth = async (): Promise<string> => {
    const list = await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps`)
    return list.items.map((i: any) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort().join(',')
  }
  const seen = (): string => informer.list().map((i) => `${i.metadata!.name}@${i.metadata!.resourceVersion}`).sort().join(',')
  const expected = await truth()
  await waitUntil(() => seen() === expected, 20_000, 'informer to converge')
  t.equal(seen(), expected, 'the informer store equals the apiserver list (names and resourceVersions)')
  t.equal(informer.list().length, 31)
  t.equal(informerError, undefined)
  // Every final resourceVersion was handed to the handlers (no silently skipped event).
  for (const item of informer.list()) {
    t.ok(delivered.get(item.metadata!.name!)?.has(item.metadata!.resourceVersion!), `${item.metadata!.name} final version delivered`)
  }
})

t.test('python kubernetes lists and watches through the edge', async (t) => {
  const ns = await stack.fixtures.namespace('python')
  const me = await stack.fixtures.podIdentity(ns, NODE, { rules: READ_RULES })
  await stack.fixtures.configMap(ns, 'first', {}, { app: 'x' })
  await stack.fixtures.configMap(ns, 'second', {}, { app: 'y' })
  const pod = await stack.podEnv(edge, me.token, ns)

  const list = await python(pod, ['list', ns])
  t.equal(list.code, 0, list.stderr)
  const listed = jsonLines(list.stdout)[0]
  const direct = await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps`)
  t.same([...listed.names].sort(), direct.items.map((i: any) => i.metadata.name).sort())
  const selected = await python(pod, ['list', ns, '--label-selector', 'app=y'])
  t.same(jsonLines(selected.stdout)[0].names, ['second'])

  const metricsClient = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem)
  t.teardown(() => metricsClient.close())
  const longRunning = async (): Promise<number> =>
    metricSum(String((await metricsClient.get('/metrics')).body), 'edge_metaserver_inflight_requests', 'kind="long-running"')
  await waitUntil(async () => await longRunning() === 0, 20_000, 'the earlier informer\'s watch to end at the edge')
  const watcher = spawnPython(pod, ['watch', ns, '--resource-version', listed.resourceVersion, '--max-events', '2', '--timeout', '30'])
  let out = ''
  watcher.stdout!.setEncoding('utf8').on('data', (d: string) => { out += d })
  const exited = new Promise<number | null>((resolve) => watcher.once('close', resolve))
  // Writes only once the edge relays the watch. (It starts from the list's resourceVersion, so the
  // events would be replayed anyway; the wait keeps the writes on the live path this test names.)
  await waitUntil(async () => await longRunning() === 1, 20_000, 'the python watch to be open at the edge')
  await stack.fixtures.configMap(ns, 'third')
  await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/first`)
  const code = await Promise.race([exited, new Promise<string>((resolve) => setTimeout(() => resolve('timeout'), 30_000))])
  watcher.kill()
  t.equal(code, 0)
  t.same(jsonLines(out).slice(0, 2).map((e) => `${e.type} ${e.name}`), ['ADDED third', 'DELETED first'])
})

t.test('protobuf answers are byte-identical to the apiserver\'s', async (t) => {
  const ns = await stack.fixtures.namespace('proto')
  const me = await stack.fixtures.podIdentity(ns, NODE, { rules: READ_RULES })
  await stack.fixtures.configMap(ns, 'bin', { k: 'v' })
  const headers = { accept: 'application/vnd.kubernetes.protobuf' }
  const viaEdge = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, me.token)
  const direct = new RestClient(stack.cluster.url, stack.cluster.pki.caPem, me.token)
  t.teardown(async () => { await viaEdge.close(); await direct.close() })
  for (const path of [`/api/v1/namespaces/${ns}/configmaps/bin`, `/api/v1/namespaces/${ns}/configmaps`]) {
    const [e, d] = await Promise.all([viaEdge.get(path, { headers }), direct.get(path, { headers })])
    t.equal(e.status, 200)
    t.equal(e.headers['content-type'], 'application/vnd.kubernetes.protobuf')
    t.ok(e.raw.subarray(0, 4).equals(Buffer.from([0x6b, 0x38, 0x73, 0x00])), 'the protobuf envelope magic "k8s\\0"')
    t.ok(e.raw.equals(d.raw), `${path}: ${e.raw.length} bytes identical to the direct answer`)
  }
})
