// The token ↔ node binding: one group per node, reversible, and only groups kube-apiserver accepts.
import t from 'tap'
import { bootstrapTokenSecret, boundNodes, isBootstrapIdentity, nodeGroup } from '../../src/kube/bootstrap-token.js'

t.test('a node group round-trips, dots included, and fits kube-apiserver\'s rule', async (t) => {
  for (const node of ['edge-1', 'edge-a.example.com', 'a']) {
    const group = nodeGroup(node)!
    t.match(group, /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/, group)
    t.same(boundNodes([group, 'system:bootstrappers', 'system:authenticated']), [node])
  }
  t.equal(nodeGroup('a'.repeat(253)), undefined, 'a name too long for the group is refused, not truncated')
  t.same(boundNodes(['system:bootstrappers:kubeadm:default-node-token']), [], 'a kubeadm token names no node')
})

t.test('the bootstrap identity must be this token\'s own', async (t) => {
  t.ok(isBootstrapIdentity('system:bootstrap:abcdef', 'abcdef.0123456789abcdef'))
  t.notOk(isBootstrapIdentity('system:bootstrap:abcdeg', 'abcdef.0123456789abcdef'), 'another token\'s identity')
  t.notOk(isBootstrapIdentity('system:serviceaccount:kube-system:x', 'abcdef.0123456789abcdef'))
  t.notOk(isBootstrapIdentity('system:bootstrap:abcdef', 'eyJhbGciOi.x'), 'not a bootstrap token')
})

t.test('the Secret is what the bootstrap authenticator reads', async (t) => {
  const s = bootstrapTokenSecret('abcdef', '0123456789abcdef', 'edge.one', new Date('2030-01-02T03:04:05.678Z')) as any
  t.equal(s.metadata.name, 'bootstrap-token-abcdef')
  t.equal(s.metadata.namespace, 'kube-system')
  t.equal(s.type, 'bootstrap.kubernetes.io/token')
  t.same(s.stringData, {
    description: 'edge-metaserver join for node edge.one', 'token-id': 'abcdef', 'token-secret': '0123456789abcdef',
    expiration: '2030-01-02T03:04:05Z', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': 'system:bootstrappers:edge-metaserver:node:edge:one',
  })
})
