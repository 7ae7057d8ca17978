// exec/attach/port-forward are HTTP/1.1 upgrades (SPDY or WebSocket). The test bed has no kubelet,
// so kube-apiserver cannot complete one; what is proven here is that the upgrade request reaches
// it as the pod and its answer comes back exactly as it does directly.
import t from 'tap'
import { kubectl } from '../cluster/clients.js'
import { Stack } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-upgrade'
const edge = await stack.startEdge(NODE)
const ns = await stack.fixtures.namespace('upgrade')
const me = await stack.fixtures.podIdentity(ns, NODE, {
  rules: [
    { apiGroups: [''], resources: ['pods'], verbs: ['get'] },
    { apiGroups: [''], resources: ['pods/exec', 'pods/portforward'], verbs: ['create', 'get'] },
  ],
})

t.test('kubectl exec: the apiserver\'s answer to the upgrade is relayed unchanged', async (t) => {
  const viaEdge = await kubectl(await stack.podEnv(edge, me.token, ns), ['exec', me.pod.name, '--', 'true'])
  const direct = await kubectl(await stack.directPodEnv(me.token, ns), ['exec', me.pod.name, '--', 'true'])
  t.not(direct.code, 0, 'no kubelet: the apiserver cannot run it')
  t.equal(viaEdge.code, direct.code)
  const normalise = (s: string): string => s.replace(/127\.0\.0\.1:\d+/g, 'HOST:PORT').trim()
  t.equal(normalise(viaEdge.stderr), normalise(direct.stderr))
  // The apiserver got as far as dialling the (absent) kubelet: authn, authz and the upgrade passed.
  t.match(viaEdge.stderr, /no preferred addresses found/)
  t.notMatch(viaEdge.stderr, /edge-metaserver/, 'the edge added nothing of its own')
})

t.test('an upgrade the pod may not make is refused by the apiserver with its own 403', async (t) => {
  const other = await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: 'nobody', podName: 'nobody-pod' })
  const r = await kubectl(await stack.podEnv(edge, other.token, ns), ['exec', me.pod.name, '--', 'true'])
  t.not(r.code, 0)
  t.match(r.stderr, `User "system:serviceaccount:${ns}:nobody" cannot get resource "pods"`)
})
