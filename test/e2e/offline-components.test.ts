// client-go v0.37 components through an edge whose tunnel is cut (issue 11): a typed protobuf
// SharedInformerFactory (WatchList), a metadata informer and a dynamic informer on a custom
// resource whose list kind is not "<Kind>List". Online they fill the edge cache (protobuf, metadata
// only, JSON); the tunnel is cut while 200 writes hit kube-apiserver; each keeps its store, is then
// restarted while still offline and syncs from the edge cache alone (the factory in protobuf);
// after the restore each converges to kube-apiserver's LIST, every final version delivered once.
// Across encodings: the cache the protobuf factory filled answers an offline `kubectl get -o json`,
// and a cache filled by JSON LISTs answers a protobuf factory started offline and a raw protobuf
// LIST, whose objects equal the apiserver's own.
import t, { type Test } from 'tap'
import { kubectl, LineChild, spawnClientGo, type PodEnvironment } from '../cluster/clients.js'
import { RestClient } from '../cluster/rest.js'
import { decodeObject } from '../../src/kube/protobuf/codec.js'
import { assertDelivered, Components, collections, FACTORY_RESOURCES, FACTORY_RULES, same } from './components.js'
import { Partition } from './partition.js'
import { Stack, waitUntil } from './stack.js'

const SYNC_MS = 60_000
const GROUP = 'offline.e2e.example.com'
const stack = await Stack.start()
t.teardown(() => stack.stop())
const world = new Components(stack)
t.comment(`kube-apiserver ${(await stack.admin.must('GET', '/version')).gitVersion}`)

const partition = await Partition.between(stack.cloud.tunnelPort)
t.teardown(() => partition.close())
const edge = await stack.startEdge('edge-offline-components', { tunnelPort: partition.port, extraYaml: ['  cache:', '    watchBookmarkInterval: 1s'] })
const edgeUrl = `https://127.0.0.1:${edge.listening.server!.port}`

// A custom resource with a list kind of its own: the cache must take it from the answers, never guess.
await stack.admin.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
  body: {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `widgets.${GROUP}` },
    spec: {
      group: GROUP, scope: 'Namespaced',
      names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetCollection' },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  },
})

const RULES = [
  ...FACTORY_RULES,
  { apiGroups: [''], resources: ['serviceaccounts'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: [GROUP], resources: ['widgets'], verbs: ['get', 'list', 'watch'] },
]
const { ns, pod } = await stack.podWith(edge, 'offline-components', RULES)
const widgets = `/apis/${GROUP}/v1/namespaces/${ns}/widgets`
const serviceAccounts = `/api/v1/namespaces/${ns}/serviceaccounts`
await waitUntil(async () => (await stack.admin.get(widgets)).status === 200, 30_000, 'the widgets resource to be served')
const widget = (name: string, size: number): Promise<unknown> =>
  stack.admin.must('POST', widgets, { body: { apiVersion: `${GROUP}/v1`, kind: 'Widget', metadata: { name }, spec: { size } } })
const serviceAccount = (name: string): Promise<unknown> => stack.admin.must('POST', serviceAccounts, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } } })

interface Component { name: string, args: string[], paths: Record<string, string>, child?: LineChild }
const components: Component[] = [
  { name: 'factory', args: ['factory'], paths: Object.fromEntries(FACTORY_RESOURCES.map((r) => [r, collections[r]!(ns)])) },
  { name: 'metadata', args: ['metadata', '--resource', 'serviceaccounts'], paths: { serviceaccounts: serviceAccounts } },
  { name: 'dynamic', args: ['dynamic', '--group', GROUP, '--version', 'v1', '--resource', 'widgets'], paths: { widgets } },
]

async function start (c: Component, env: PodEnvironment = pod): Promise<LineChild> {
  const child = new LineChild(c.name, await spawnClientGo(env, [...c.args, '--timeout', '15m'], { latest: true }))
  t.teardown(() => child.stop())
  for (const r of Object.keys(c.paths)) await child.next((l) => l.type === 'synced' && (l.resource === r || Object.keys(c.paths).length === 1), SYNC_MS, `${c.name}: ${r} synced`)
  return child
}

/** kube-apiserver's state of every path of a component. */
async function truths (c: Component): Promise<Record<string, string[]>> {
  return Object.fromEntries(await Promise.all(Object.entries(c.paths).map(async ([r, p]) => [r, await world.truth(p)] as const)))
}

/** Every final version reached the handlers exactly once (a replay from the cache and the resumed watch may not both deliver it). */
function assertOnce (t: Test, c: Component, child: LineChild, stores: Map<string, string[]>): void {
  assertDelivered(t, child, stores)
  const seen = new Map<string, number>()
  for (const l of child.lines) if (l.type === 'add' || l.type === 'update') seen.set(`${l.resource}/${l.name}@${l.resourceVersion}`, (seen.get(`${l.resource}/${l.name}@${l.resourceVersion}`) ?? 0) + 1)
  const twice = [...stores].flatMap(([r, items]) => items.filter((i) => (seen.get(`${r}/${i}`) ?? 0) > 1).map((i) => `${r}/${i}`))
  t.same(twice, [], `${c.name}: no final version delivered twice`)
}

t.test('v0.37 components keep their stores through a cut, restart offline from the edge cache, and converge after it', async (t) => {
  await world.seedFactory(ns)
  for (let i = 0; i < 6; i++) await serviceAccount(`seed-sa-${i}`)
  for (let i = 0; i < 6; i++) await widget(`seed-w-${i}`, 1)
  for (const c of components) {
    c.child = await start(c)
    const online = await world.converge(c.child, c.paths, `${c.name} online`)
    t.comment(`${c.name}: synced and converged online (${online.ms} ms)`)
  }
  const before: Record<string, Record<string, string[]>> = {}
  for (const c of components) before[c.name] = await truths(c)

  partition.cut()
  t.teardown(() => partition.restore())
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice the partition')
  const cutAt = Date.now()
  let writes = await world.burstFactory(ns, 'cut1') + await world.burstFactory(ns, 'cut2', 'own')
  for (let i = 0; i < 50; i++) { await widget(`cut-w-${i}`, 2); writes++ }
  for (let i = 0; i < 30; i++) { await serviceAccount(`cut-sa-${i}`); writes++ }
  for (let i = 0; i < 3; i++) { await stack.admin.must('DELETE', `${widgets}/seed-w-${i}`); await stack.admin.must('DELETE', `${serviceAccounts}/seed-sa-${i}`); writes += 2 }
  t.ok(writes >= 200, `${writes} writes on kube-apiserver while the tunnel is cut`)

  for (const c of components) {
    const stores = await c.child!.stores()
    for (const [r, items] of Object.entries(before[c.name]!)) t.same(stores.get(r), items, `${c.name}: ${r} store kept as it was at the cut`)
  }

  // Restarted while offline: the edge cache is all they have.
  for (const c of components) {
    t.equal(await c.child!.close(), 0, `${c.name} stops`)
    const restartedAt = Date.now()
    c.child = await start(c)
    const stores = await c.child.stores()
    t.comment(`${c.name}: restarted offline and synced from the edge cache in ${Date.now() - restartedAt} ms`)
    for (const [r, items] of Object.entries(before[c.name]!)) t.same(stores.get(r), items, `${c.name}: ${r} synced offline to what the cache held (${items.length} objects)`)
  }
  const factoryRequests = components[0]!.child!.of('request')
  t.ok(factoryRequests.length > 0 && factoryRequests.every((r) => r.status === 200 && String(r.responseContentType).startsWith('application/vnd.kubernetes.protobuf')),
    'the restarted factory was answered in protobuf')
  t.ok(factoryRequests.some((r) => new URLSearchParams(r.query).get('sendInitialEvents') === 'true'), 'by WatchList, from the cache')
  t.comment(`offline for ${Date.now() - cutAt} ms`)

  partition.restore()
  await waitUntil(() => edge.tunnel.state.connected, 15_000, 'the edge to redial')
  for (const c of components) {
    const after = await world.converge(c.child!, c.paths, `${c.name} after the restore`)
    t.comment(`${c.name}: converged ${after.ms} ms after the restore`)
    for (const [r, items] of Object.entries(after.expected)) t.ok(same(after.stores.get(r), items), `${c.name}: ${r} equals the apiserver's LIST (${items.length} objects)`)
    assertOnce(t, c, c.child!, after.stores)
    t.equal(await c.child!.close(), 0, `${c.name} exits 0`)
  }
})

t.test('across encodings: a protobuf-filled cache answers kubectl -o json, a JSON-filled cache answers protobuf clients, objects equal the apiserver\'s', async (t) => {
  // Namespace A: filled by the protobuf factory. Namespace B: filled by plain JSON LISTs only.
  const a = await stack.podWith(edge, 'offline-pb', [...FACTORY_RULES])
  const b = await stack.podWith(edge, 'offline-json', [...FACTORY_RULES])
  await world.seedFactory(a.ns)
  await world.seedFactory(b.ns)
  const factory: Component = { name: 'factory A', args: ['factory'], paths: Object.fromEntries(FACTORY_RESOURCES.map((r) => [r, collections[r]!(a.ns)])) }
  const child = await start(factory, a.pod)
  await world.converge(child, factory.paths, 'factory A online')
  // kubectl online once, as on a real node: the edge keeps the discovery documents it fetched.
  const online = await kubectl(a.pod, ['get', 'configmaps', '-o', 'name'])
  t.equal(online.code, 0, online.stderr)
  const json = new RestClient(edgeUrl, stack.cluster.pki.caPem, b.token)
  t.teardown(() => json.close())
  for (const r of FACTORY_RESOURCES) t.equal((await json.get(collections[r]!(b.ns))).status, 200, `${r} listed in JSON in B`)
  const direct = async (path: string): Promise<Map<string, any>> =>
    new Map((await stack.admin.must('GET', path)).items.map((i: any) => [i.metadata.name, i]))
  const truthA = await direct(collections.configmaps!(a.ns))
  const truthB: Record<string, Map<string, any>> = {}
  for (const r of FACTORY_RESOURCES) truthB[r] = await direct(collections[r]!(b.ns))

  partition.cut()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice the partition')
  t.teardown(() => partition.restore())
  await child.close()

  const got = await kubectl(a.pod, ['get', 'configmaps', '-o', 'json', '--show-managed-fields'])
  t.equal(got.code, 0, got.stderr)
  t.match(got.stderr, /served from edge cache/, 'kubectl prints the offline warning')
  const items = JSON.parse(got.stdout).items as any[]
  t.same(items.map((i) => i.metadata.name).sort(), [...truthA.keys()].sort(), 'kubectl -o json lists what the apiserver held')
  for (const i of items) {
    const { kind, apiVersion, ...mine } = i
    t.same(mine, truthA.get(i.metadata.name), `${i.metadata.name}: the object kubectl got equals the apiserver's (from a protobuf-filled cache)`)
  }

  for (const r of FACTORY_RESOURCES) {
    const res = await json.call('GET', collections[r]!(b.ns), { headers: { accept: 'application/vnd.kubernetes.protobuf' } })
    t.equal(res.status, 200, `${r}: offline protobuf LIST from a JSON-filled cache`)
    const decoded = decodeObject(res.raw)
    t.ok(decoded.ok, `${r}: decodes as Kubernetes protobuf`)
    if (!decoded.ok) continue
    const objects = decoded.object.items as any[]
    t.same(objects.map((o) => o.metadata.name).sort(), [...truthB[r]!.keys()].sort(), `${r}: the same objects`)
    const differing = objects.filter((o) => !deepEqual(o, stripTypeMeta(truthB[r]!.get(o.metadata.name)))).map((o) => o.metadata.name)
    t.same(differing, [], `${r}: every object decoded from the edge's protobuf equals the apiserver's JSON`)
  }
  // And a real protobuf client: the v0.37 factory started offline syncs from the JSON-filled cache.
  const factoryB: Component = { name: 'factory B (offline start)', args: ['factory'], paths: Object.fromEntries(FACTORY_RESOURCES.map((r) => [r, collections[r]!(b.ns)])) }
  const late = await start(factoryB, b.pod)
  const stores = await late.stores()
  for (const r of FACTORY_RESOURCES) {
    t.same(stores.get(r), [...truthB[r]!.values()].map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`).sort(), `${r}: client-go decoded our protobuf into the apiserver's objects (names and versions)`)
  }
  t.equal(await late.close(), 0)
})

function stripTypeMeta (o: any): any {
  const { kind, apiVersion, ...rest } = o
  return rest
}

function deepEqual (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  if (Array.isArray(a) !== Array.isArray(b)) return false
  const ka = Object.keys(a).sort()
  const kb = Object.keys(b).sort()
  return same(ka, kb) && ka.every((k) => deepEqual((a as any)[k], (b as any)[k]))
}
