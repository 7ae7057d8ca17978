// Node restriction in-process, with a scripted TokenReview and pod lookup: the path for tokens
// without a node claim (older apiservers) cannot be produced by the 1.34 test bed, so it is pinned here.
import t from 'tap'
import { NodeRestriction } from '../../src/cloud/node-restriction.js'
import type { Review, TokenReviewer } from '../../src/cloud/token-reviews.js'
import type { Upstream } from '../../src/cloud/upstream.js'

function restriction (review: Review, pods: Record<string, { uid: string, nodeName?: string }>): { r: NodeRestriction, lookups: string[] } {
  const lookups: string[] = []
  const reviewer = { review: async () => review } as unknown as TokenReviewer
  const upstream = {
    json: async (_method: string, path: string) => {
      lookups.push(path)
      const pod = pods[path]
      return pod === undefined ? { status: 404, body: {} } : { status: 200, body: { metadata: { uid: pod.uid }, spec: { nodeName: pod.nodeName } } }
    },
  } as unknown as Upstream
  return { r: new NodeRestriction(reviewer, upstream, 100), lookups }
}

const user = (extra: Record<string, string[]>): Review => ({
  ok: true,
  user: { username: 'system:serviceaccount:ns:app', uid: 'sa', groups: [], extra },
})
const podExtra = { 'authentication.kubernetes.io/pod-name': ['p'], 'authentication.kubernetes.io/pod-uid': ['u1'] }
const POD = '/api/v1/namespaces/ns/pods/p'

t.test('no node claim: the pod is looked up once, then the binding is cached', async (t) => {
  const { r, lookups } = restriction(user(podExtra), { [POD]: { uid: 'u1', nodeName: 'edge-1' } })
  t.match(await r.check('tok', 'edge-1'), { ok: true })
  t.match(await r.check('tok', 'edge-1'), { ok: true })
  t.same(lookups, [POD])
})

t.test('no node claim, pod on another node: refused with the node named', async (t) => {
  const { r } = restriction(user(podExtra), { [POD]: { uid: 'u1', nodeName: 'edge-2' } })
  t.match(await r.check('tok', 'edge-1'), {
    ok: false, reason: 'node-restriction',
    status: { code: 403, message: 'User "system:serviceaccount:ns:app" cannot use the edge tunnel of node "edge-1": the token is bound to pod ns/p on node "edge-2"' },
  })
})

t.test('no node claim, pod gone or replaced (other uid): refused', async (t) => {
  const cases: Array<Record<string, { uid: string, nodeName?: string }>> = [{}, { [POD]: { uid: 'other', nodeName: 'edge-1' } }]
  for (const pods of cases) {
    const { r } = restriction(user(podExtra), pods)
    t.match(await r.check('tok', 'edge-1'), { ok: false, status: { message: /pod ns\/p \(uid u1\) is not bound to this node or no longer exists/ } })
  }
})

t.test('a node claim is trusted without a lookup', async (t) => {
  const { r, lookups } = restriction(user({ ...podExtra, 'authentication.kubernetes.io/node-name': ['edge-2'] }), {})
  t.match(await r.check('tok', 'edge-1'), { ok: false, status: { message: /on node "edge-2"/ } })
  t.same(lookups, [])
})

t.test('unauthenticated, not a service account, not pod-bound', async (t) => {
  t.match(await restriction({ ok: false, error: 'x' }, {}).r.check('tok', 'edge-1'), { ok: false, status: { code: 401 } })
  const admin: Review = { ok: true, user: { username: 'admin', uid: '', groups: [], extra: {} } }
  t.match(await restriction(admin, {}).r.check('tok', 'edge-1'), { ok: false, status: { message: /only service account tokens/ } })
  t.match(await restriction(user({}), {}).r.check('tok', 'edge-1'), { ok: false, status: { message: /not bound to a pod/ } })
})
