// The client-go program (test/clients/go: rest.InClusterConfig + the dynamic client) in a pod on an
// edge node, through the whole product: pod → edge daemon → HTTP/2 mTLS tunnel → cloud shim →
// kube-apiserver with the pod's own token. Writes are verified on kube-apiserver directly
// (stack.admin); for lists and watch errors the same command also runs straight against
// kube-apiserver (stack.directPodEnv) to show that the edge changes nothing.
import t from 'tap'
import { clientGo, jsonLines } from '../cluster/clients.js'
import { configMapPath, configMapRules } from '../cluster/fixtures.js'
import { Stack, waitUntil } from './stack.js'

const NODE = 'client-go-edge'
const stack = await Stack.start()
t.teardown(() => stack.stop())
const edge = await stack.startEdge(NODE)
t.comment(`cluster started in ${stack.cluster.startMs} ms`)

const podWith = (prefix: string, rules: unknown[]) => stack.podWith(edge, prefix, rules)

t.test('list --limit 10 pages through 55 ConfigMaps', async (t) => {
  const { ns, pod, direct } = await podWith('cg-list', configMapRules(['list']))
  const created = Array.from({ length: 55 }, (_, i) => `cm-${String(i).padStart(2, '0')}`)
  for (let i = 0; i < created.length; i += 11) {
    await Promise.all(created.slice(i, i + 11).map((name) => stack.fixtures.configMap(ns, name, { i: name })))
  }
  const onServer = await stack.admin.must('GET', configMapPath(ns))
  const serverNames: string[] = onServer.items.map((i: any) => i.metadata.name)
  t.equal(serverNames.length, 56, '55 + kube-root-ca.crt on the apiserver')

  const r = await clientGo(pod, ['list', '--resource', 'configmaps', '--limit', '10'])
  t.equal(r.code, 0, r.stderr)
  const lines = jsonLines(r.stdout)
  const pages = lines.filter((l) => l.type === 'page')
  const total = lines.at(-1)
  t.equal(total.type, 'list')
  t.equal(pages.length, 6, 'ceil(56 / 10) pages')
  t.equal(total.pages, 6)
  t.same(pages.map((p) => p.count), [10, 10, 10, 10, 10, 6])
  t.ok(pages.slice(0, -1).every((p) => p.continue !== ''), 'every page but the last has a continue token')
  t.equal(pages.at(-1).continue, '', 'the last page has none')
  t.equal(new Set(pages.map((p) => p.resourceVersion)).size, 1, 'all pages come from one snapshot (one resourceVersion)')
  const names: string[] = pages.flatMap((p) => p.names)
  t.equal(new Set(names).size, names.length, 'every name exactly once')
  t.equal(total.count, serverNames.length, 'total = the apiserver\'s count')
  t.same([...names].sort(), [...serverNames].sort(), 'exactly the apiserver\'s ConfigMaps')
  t.same(total.names, names)

  const straight = await clientGo(direct, ['list', '--resource', 'configmaps', '--limit', '10'])
  t.equal(straight.code, 0, straight.stderr)
  const directPages = jsonLines(straight.stdout).filter((l) => l.type === 'page')
  t.same(directPages.map((p) => p.names), pages.map((p) => p.names), 'the same pages, in the same order, as directly')
  t.same(directPages.map((p) => p.resourceVersion), pages.map((p) => p.resourceVersion),
    'the same snapshot (nothing changed in between)')
})

t.test('get returns the object kube-apiserver has', async (t) => {
  const { ns, pod } = await podWith('cg-get', configMapRules(['get']))
  await stack.fixtures.configMap(ns, 'wanted', { key: 'value', 'with.dot': 'x' }, { app: 'demo' })
  const server = await stack.admin.must('GET', configMapPath(ns, 'wanted'))

  const r = await clientGo(pod, ['get', '--resource', 'configmaps', '--name', 'wanted'])
  t.equal(r.code, 0, r.stderr)
  const lines = jsonLines(r.stdout)
  t.equal(lines.length, 1)
  t.same(lines[0], server, 'the whole object, field for field')

  const missing = await clientGo(pod, ['get', '--resource', 'configmaps', '--name', 'absent'])
  t.equal(missing.code, 3)
  t.match(jsonLines(missing.stdout)[0], { type: 'error', code: 404, reason: 'NotFound', message: 'configmaps "absent" not found' })
})

t.test('create, then read it back on kube-apiserver', async (t) => {
  const { ns, pod } = await podWith('cg-create', configMapRules(['create']))
  const manifest = JSON.stringify({
    apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'made-at-the-edge', labels: { origin: 'edge' } },
    data: { greeting: 'hello', empty: '' },
  })
  const r = await clientGo(pod, ['create', '--resource', 'configmaps', '--file', '-'], { stdin: manifest })
  t.equal(r.code, 0, r.stderr)
  const created = jsonLines(r.stdout)[0]
  t.equal(created.metadata.namespace, ns)

  const server = await stack.admin.must('GET', configMapPath(ns, 'made-at-the-edge'))
  t.same(server.data, { greeting: 'hello', empty: '' })
  t.same(server.metadata.labels, { origin: 'edge' })
  t.equal(server.metadata.uid, created.metadata.uid)
  t.equal(server.metadata.resourceVersion, created.metadata.resourceVersion)
  t.equal(server.metadata.managedFields[0].manager, 'edge-metaserver-test-client-go',
    'the apiserver saw the pod\'s own client (its user agent names the field manager)')

  const again = await clientGo(pod, ['create', '--resource', 'configmaps', '--file', '-'], { stdin: manifest })
  t.equal(again.code, 3)
  t.match(jsonLines(again.stdout)[0], { type: 'error', code: 409, reason: 'AlreadyExists' })
})

t.test('update-status writes the pods/status subresource', async (t) => {
  const { ns, pod } = await podWith('cg-status', [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/status'], verbs: ['update'] },
  ])
  // A pod that is never scheduled or run (no kubelet): bound by spec.nodeName at creation.
  const target = await stack.admin.must('POST', `/api/v1/namespaces/${ns}/pods`, {
    body: {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: 'target' },
      spec: { nodeName: NODE, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    },
  })
  t.equal(target.status.phase, 'Pending')

  const status = {
    metadata: { name: 'target' },
    status: {
      phase: 'Running',
      qosClass: target.status.qosClass,
      message: 'reported through the edge',
      conditions: [{ type: 'example.com/Relayed', status: 'True', reason: 'ThroughTheEdge' }],
    },
  }
  const r = await clientGo(pod, ['update-status', '--resource', 'pods', '--file', '-'], { stdin: JSON.stringify(status) })
  t.equal(r.code, 0, r.code === 0 ? 'exit 0' : r.stderr + r.stdout)
  const updated = jsonLines(r.stdout)[0]

  const server = await stack.admin.must('GET', `/api/v1/namespaces/${ns}/pods/target`)
  t.equal(server.status.phase, 'Running')
  t.equal(server.status.message, 'reported through the edge')
  t.match(server.status.conditions, [{ type: 'example.com/Relayed', status: 'True', reason: 'ThroughTheEdge' }])
  t.equal(server.metadata.resourceVersion, updated.metadata.resourceVersion)
  t.not(server.metadata.resourceVersion, target.metadata.resourceVersion)
  t.same(server.spec.containers.map((c: any) => c.image), ['registry.invalid/app:1'], 'spec untouched')

  // The SA may update only the status subresource: the main resource stays out of reach.
  const whole = await stack.admin.call('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: { user: `system:serviceaccount:${ns}:app`, resourceAttributes: { namespace: ns, verb: 'update', resource: 'pods' } },
    },
  })
  t.equal(whole.body.status.allowed, false, 'no update on pods itself')
})

t.test('watch from a resourceVersion delivers exactly the later events', async (t) => {
  const { ns, pod, direct } = await podWith('cg-watch', configMapRules(['list', 'watch']))
  const list = jsonLines((await clientGo(pod, ['list', '--resource', 'configmaps'])).stdout).at(-1)
  t.equal(list.type, 'list')
  const listRv: string = list.resourceVersion

  const first = await stack.fixtures.configMap(ns, 'w-1', { v: '1' })
  const second = await stack.fixtures.configMap(ns, 'w-2', { v: '1' })
  const third = await stack.admin.must('PATCH', configMapPath(ns, 'w-1'), {
    body: { data: { v: '2' } }, contentType: 'application/merge-patch+json',
  })
  const rv = (o: any): string => o.metadata.resourceVersion

  // The watch ends at --timeout (prints "timeout"): nothing else may arrive in that window.
  const fromFirst = await clientGo(pod, ['watch', '--resource', 'configmaps', '--resource-version', rv(first), '--timeout', '4s'])
  t.equal(fromFirst.code, 0, fromFirst.stderr)
  t.same(jsonLines(fromFirst.stdout), [
    { type: 'ADDED', name: 'w-2', resourceVersion: rv(second) },
    { type: 'MODIFIED', name: 'w-1', resourceVersion: rv(third) },
    { type: 'timeout' },
  ], 'only the second and third change, in order')

  const fromList = await clientGo(pod, ['watch', '--resource', 'configmaps', '--resource-version', listRv, '--timeout', '4s'])
  t.equal(fromList.code, 0, fromList.stderr)
  t.same(jsonLines(fromList.stdout), [
    { type: 'ADDED', name: 'w-1', resourceVersion: rv(first) },
    { type: 'ADDED', name: 'w-2', resourceVersion: rv(second) },
    { type: 'MODIFIED', name: 'w-1', resourceVersion: rv(third) },
    { type: 'timeout' },
  ], 'from the list resourceVersion: all three')

  const straight = await clientGo(direct, ['watch', '--resource', 'configmaps', '--resource-version', rv(first), '--timeout', '4s'])
  t.same(jsonLines(straight.stdout), jsonLines(fromFirst.stdout), 'the same events directly')
})

t.test('a watch with --bookmarks gets a BOOKMARK before the server ends it', async (t) => {
  const { pod, direct } = await podWith('cg-bookmark', configMapRules(['list', 'watch']))
  const elsewhere = await stack.fixtures.namespace('cg-elsewhere')
  const list = jsonLines((await clientGo(pod, ['list', '--resource', 'configmaps'])).stdout).at(-1)
  const args = ['watch', '--resource', 'configmaps', '--resource-version', list.resourceVersion,
    '--bookmarks', '--watch-timeout', '10s', '--timeout', '30s']

  // kube-apiserver's watch cache sends the pre-timeout bookmark (2 s before timeoutSeconds) only
  // when its resourceVersion has moved past where the watch started: ConfigMap changes in another
  // namespace do that while this namespaced watch sees no event. The same watch also runs
  // directly against kube-apiserver, at the same time, for comparison.
  const watches = Promise.all([clientGo(pod, args), clientGo(direct, args)])
  const foreign: string[] = []
  for (const i of [1, 2, 3]) {
    // Pacing, not ordering: the changes elsewhere are spread over the watch's 10 s so that the
    // resourceVersion keeps moving until the pre-timeout bookmark (no event marks "the watch cache moved on").
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    foreign.push((await stack.fixtures.configMap(elsewhere, `elsewhere-${i}`)).metadata.resourceVersion)
  }
  const [r, straight] = await watches

  t.equal(r.code, 0, r.stderr)
  const lines = jsonLines(r.stdout)
  const bookmarks = lines.filter((l) => l.type === 'BOOKMARK')
  t.ok(bookmarks.length >= 1, `at least one BOOKMARK (got ${JSON.stringify(lines)})`)
  for (const b of bookmarks) {
    t.match(b.resourceVersion, /^\d+$/, 'a non-empty resourceVersion')
    t.ok(BigInt(b.resourceVersion) >= BigInt(foreign[0]!), `past the first change elsewhere (${b.resourceVersion} >= ${foreign[0]})`)
  }
  t.same(lines.filter((l) => l.type !== 'BOOKMARK'), [{ type: 'closed' }], 'no other events; the server ended the stream')

  t.equal(straight.code, 0, straight.stderr)
  const directLines = jsonLines(straight.stdout)
  // Directly: the same shape. (How many bookmarks arrive depends on 1-second scheduling buckets in
  // the apiserver's cacher, so the count may differ by one between two concurrent watches.)
  t.ok(directLines.some((l) => l.type === 'BOOKMARK'), 'directly too, at least one BOOKMARK')
  t.same(directLines.filter((l) => l.type !== 'BOOKMARK'), [{ type: 'closed' }], 'directly too, no other events')
})

t.test('a too-old resourceVersion gets a 410 ERROR event', async (t) => {
  // On this fresh cluster, resourceVersion "1" is NOT too old for ConfigMaps: their watch cache was
  // filled when etcd's revision was ~1, and nothing has been evicted from it yet, so a watch from
  // "1" replays the namespace's history. A custom resource's watch cache starts when its CRD is
  // first served, at the then current etcd revision: "1" is reliably older than that window.
  const group = 'e2e.example.com'
  await stack.admin.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
    body: {
      apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
      metadata: { name: `widgets.${group}` },
      spec: {
        group, scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [{
          name: 'v1', served: true, storage: true,
          schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
        }],
      },
    },
  })
  const { ns, pod, direct } = await podWith('cg-gone', [{ apiGroups: [group], resources: ['widgets'], verbs: ['list', 'watch'] }])
  // Served, and its watch cache initialised (a resourceVersion=0 list is answered from the cache).
  await waitUntil(async () => (await stack.admin.get(`/apis/${group}/v1/namespaces/${ns}/widgets`, {
    query: { resourceVersion: '0' },
  })).status === 200, 30_000, 'the widgets resource to be served')
  const crdRv = (await stack.admin.must('GET', `/apis/${group}/v1/namespaces/${ns}/widgets`)).metadata.resourceVersion
  t.ok(BigInt(crdRv) > 1n, `the watch cache window starts well after "1" (now ${crdRv})`)

  const args = ['watch', '--group', group, '--version', 'v1', '--resource', 'widgets', '--resource-version', '1', '--timeout', '20s']
  const r = await clientGo(pod, args)
  t.equal(r.code, 3, 'exit 3: the server sent an ERROR event')
  const lines = jsonLines(r.stdout)
  t.equal(lines.length, 1, JSON.stringify(lines))
  t.match(lines[0], { type: 'ERROR', code: 410, reason: /^(Expired|Gone)$/, message: /too old resource version: 1 \(\d+\)/ })

  const straight = await clientGo(direct, args)
  t.equal(straight.code, 3)
  const directLines = jsonLines(straight.stdout)
  t.same(directLines.map((l) => [l.type, l.code, l.reason]), lines.map((l) => [l.type, l.code, l.reason]),
    'the same ERROR, code and reason as directly')
  t.equal(directLines[0].message.replace(/\(\d+\)/, ''), lines[0].message.replace(/\(\d+\)/, ''), 'the same message')
})

t.test('the cluster is still healthy', async (t) => {
  t.equal(stack.cluster.healthy, true)
  t.equal(edge.tunnel.state.connected, true)
})
