import t from 'tap'
import { scopePolicy, subjectReaches, type Binding, type PodRef, type Role, type Subject } from '../../src/kube/policy-scope.js'

const pods: PodRef[] = [{ namespace: 'a', name: 'p', uid: 'u', serviceAccount: 'app' }]
const accounts = new Set(['a/app'])
const namespaces = new Set(['a'])

t.test('subjects that reach a service account with a pod on the node', async (t) => {
  t.ok(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: 'a' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: 'b' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'ServiceAccount', name: 'app' }, accounts, namespaces), 'an SA subject without namespace matches nobody')
  t.ok(subjectReaches({ kind: 'User', name: 'system:serviceaccount:a:app' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'User', name: 'alice' }, accounts, namespaces))
  t.ok(subjectReaches({ kind: 'Group', name: 'system:serviceaccounts' }, accounts, namespaces))
  t.ok(subjectReaches({ kind: 'Group', name: 'system:authenticated' }, accounts, namespaces))
  t.ok(subjectReaches({ kind: 'Group', name: 'system:serviceaccounts:a' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'Group', name: 'system:serviceaccounts:b' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'Group', name: 'system:authenticated' }, new Set(), new Set()), 'a node without pods needs nothing')
})

t.test('bindings in any namespace are kept, with the roles they reference and nothing else', async (t) => {
  const rb = (ns: string, name: string, roleKind: string, roleName: string, subjects: Subject[]) =>
    ({ metadata: { name, namespace: ns }, roleRef: { kind: roleKind, name: roleName }, subjects })
  const sa = { kind: 'ServiceAccount', name: 'app', namespace: 'a' }
  const scoped = scopePolicy<Role, Binding>(pods, {
    roles: [{ metadata: { name: 'r1', namespace: 'a' } }, { metadata: { name: 'r2', namespace: 'b' } }, { metadata: { name: 'unused', namespace: 'b' } }],
    clusterRoles: [{ metadata: { name: 'view' } }, { metadata: { name: 'edit' } }, { metadata: { name: 'admin' } }],
    roleBindings: [
      rb('a', 'own', 'Role', 'r1', [sa]),
      rb('b', 'cross-namespace', 'Role', 'r2', [sa]),
      rb('b', 'to-cluster-role', 'ClusterRole', 'view', [sa]),
      rb('b', 'someone-else', 'Role', 'unused', [{ kind: 'User', name: 'bob' }]),
    ],
    clusterRoleBindings: [
      { metadata: { name: 'crb' }, roleRef: { kind: 'ClusterRole', name: 'edit' }, subjects: [{ kind: 'Group', name: 'system:serviceaccounts:a' }] },
      { metadata: { name: 'other' }, roleRef: { kind: 'ClusterRole', name: 'admin' }, subjects: [{ kind: 'User', name: 'alice' }] },
    ],
  })
  t.same(scoped.roleBindings.map((b) => b.metadata.name), ['own', 'cross-namespace', 'to-cluster-role'])
  t.same(scoped.roles.map((r) => `${r.metadata.namespace}/${r.metadata.name}`), ['a/r1', 'b/r2'])
  t.same(scoped.clusterRoles.map((r) => r.metadata.name), ['view', 'edit'])
  t.same(scoped.clusterRoleBindings.map((b) => b.metadata.name), ['crb'])
})
