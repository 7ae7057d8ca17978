// The test bed proves itself: each of the four real in-cluster clients, pointed straight at
// kube-apiserver with a pod-bound token, reads what its ServiceAccount may read and gets 403 for
// what it may not; a client-node watch sees an update made through the admin client.
import t from 'tap'
import { CoreV1Api, Watch } from '@kubernetes/client-node'
import { TestCluster } from './cluster.js'
import { clientGo, clientNodeConfig, jsonLines, kubectl, podEnvironment, python, type PodEnvironment } from './clients.js'
import { Fixtures } from './fixtures.js'

const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
t.comment(`cluster started in ${cluster.startMs} ms`)
const fx = new Fixtures(cluster.admin)

// One identity for all clients: SA "reader" in `allowed` may get/list/watch ConfigMaps there;
// it has no rights in `denied`.
const allowed = await fx.namespace('tb-allowed')
const denied = await fx.namespace('tb-denied')
const me = await fx.podIdentity(allowed, 'testbed-node', {
  serviceAccount: 'reader',
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
})
await fx.configMap(allowed, 'visible', { k: 'v' })
await fx.configMap(denied, 'hidden', { k: 'secret' })
const pod: PodEnvironment = await podEnvironment(await cluster.tempDir('pod'), {
  host: '127.0.0.1', port: cluster.port, token: me.token, caPem: cluster.pki.caPem, namespace: allowed,
})

t.test('the pod-bound token is what a kubelet would project', async (t) => {
  t.notMatch(me.token, /\s/, 'no whitespace or trailing newline')
  const review = await cluster.admin.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: me.token } },
  })
  t.equal(review.status.authenticated, true)
  t.equal(review.status.user.username, `system:serviceaccount:${allowed}:reader`)
  t.same(review.status.user.extra['authentication.kubernetes.io/pod-name'], [me.pod.name])
  t.same(review.status.user.extra['authentication.kubernetes.io/node-name'], ['testbed-node'])
})

t.test('kubectl (in-cluster mode)', async (t) => {
  const get = await kubectl(pod, ['get', 'configmap', 'visible', '-o', 'jsonpath={.data.k}'])
  t.equal(get.code, 0, get.stderr)
  t.equal(get.stdout, 'v')
  const list = await kubectl(pod, ['get', 'configmaps', '-o', 'name'])
  t.equal(list.code, 0, list.stderr)
  t.match(list.stdout, /configmap\/visible/)
  const forbidden = await kubectl(pod, ['get', 'configmap', 'hidden', '-n', denied])
  t.not(forbidden.code, 0)
  t.match(forbidden.stderr, `configmaps "hidden" is forbidden: User "system:serviceaccount:${allowed}:reader" cannot get resource "configmaps" in API group "" in the namespace "${denied}"`)
})

t.test('client-go (rest.InClusterConfig)', async (t) => {
  const get = await clientGo(pod, ['get', '--resource', 'configmaps', '--name', 'visible'])
  t.equal(get.code, 0, get.stderr)
  t.equal(jsonLines(get.stdout)[0].data.k, 'v')
  const list = await clientGo(pod, ['list', '--resource', 'configmaps'])
  t.equal(list.code, 0, list.stderr)
  t.ok(jsonLines(list.stdout).at(-1).names.includes('visible'))
  const forbidden = await clientGo(pod, ['get', '--resource', 'configmaps', '--name', 'hidden', '--namespace', denied])
  t.equal(forbidden.code, 3)
  t.match(jsonLines(forbidden.stdout)[0], { type: 'error', code: 403, reason: 'Forbidden' })
})

t.test('@kubernetes/client-node (loadFromCluster)', async (t) => {
  const api = clientNodeConfig(pod).makeApiClient(CoreV1Api)
  const cm = await api.readNamespacedConfigMap({ name: 'visible', namespace: allowed })
  t.equal(cm.data?.k, 'v')
  const list = await api.listNamespacedConfigMap({ namespace: allowed })
  t.ok(list.items.some((i) => i.metadata?.name === 'visible'))
  await t.rejects(api.readNamespacedConfigMap({ name: 'hidden', namespace: denied }), { code: 403 })
})

t.test('python kubernetes (InClusterConfigLoader)', async (t) => {
  const get = await python(pod, ['get', allowed, 'visible'])
  t.equal(get.code, 0, get.stderr)
  t.same(jsonLines(get.stdout)[0].data, { k: 'v' })
  const list = await python(pod, ['list', allowed])
  t.equal(list.code, 0, list.stderr)
  t.ok(jsonLines(list.stdout)[0].names.includes('visible'))
  const forbidden = await python(pod, ['get', denied, 'hidden'])
  t.equal(forbidden.code, 3)
  t.equal(jsonLines(forbidden.stdout)[0].code, 403)
})

t.test('a client-node watch sees an update made through the admin client', async (t) => {
  const kc = clientNodeConfig(pod)
  const seen: Array<{ type: string, name: string, value: string | undefined }> = []
  let resolveUpdate: () => void
  const updated = new Promise<void>((resolve) => { resolveUpdate = resolve })
  const start = await cluster.admin.must('GET', `/api/v1/namespaces/${allowed}/configmaps`)
  const req = await new Watch(kc).watch(`/api/v1/namespaces/${allowed}/configmaps`,
    { resourceVersion: start.metadata.resourceVersion },
    (type: string, obj: any) => {
      seen.push({ type, name: obj.metadata.name, value: obj.data?.k })
      if (type === 'MODIFIED' && obj.data?.k === 'changed') resolveUpdate()
    },
    () => {})
  await cluster.admin.must('PATCH', `/api/v1/namespaces/${allowed}/configmaps/visible`, {
    body: { data: { k: 'changed' } }, contentType: 'application/merge-patch+json',
  })
  await Promise.race([updated, new Promise((_resolve, reject) => setTimeout(() => reject(new Error('no MODIFIED event in 20 s')), 20_000))])
  req.abort()
  t.same(seen, [{ type: 'MODIFIED', name: 'visible', value: 'changed' }])
})

t.test('the cluster is still healthy', async (t) => {
  t.equal(cluster.healthy, true)
})
