import t from 'tap'
import type { BoundPod } from '../../src/kube/bound-pod.js'
import { scopePolicyToNode, subjectReaches } from '../../src/kube/node-policy-scope.js'
import type { RoleBinding, Subject } from '../../src/kube/rbac-objects.js'

const pods: BoundPod[] = [{ namespace: 'a', name: 'p', uid: 'u', serviceAccount: 'app' }]
const accounts = new Set(['a/app'])
const namespaces = new Set(['a'])

t.test('subjects that reach a service account with a pod on the node', async (t) => {
  t.ok(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: 'a' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: 'b' }, accounts, namespaces))
  t.notOk(subjectReaches({ kind: 'ServiceAccount', name: 'app' }, accounts, namespaces), 'an SA subject without namespace in a ClusterRoleBinding matches nobody')
  // rbac appliesToUser: "default the namespace to namespace we're working in if its blank".
  t.ok(subjectReaches({ kind: 'ServiceAccount', name: 'app' }, accounts, namespaces, 'a'), 'in a RoleBinding it means the binding\'s namespace')
  t.ok(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: '' }, accounts, namespaces, 'a'), 'an empty namespace is blank too')
  t.notOk(subjectReaches({ kind: 'ServiceAccount', name: 'app' }, accounts, namespaces, 'b'), 'another binding namespace: another SA')
  t.ok(subjectReaches({ kind: 'ServiceAccount', name: 'app', namespace: 'a' }, accounts, namespaces, 'b'), 'an explicit namespace wins over the binding\'s')
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
  const scoped = scopePolicyToNode(pods, {
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

t.test('every valid binding shape that reaches a pod of the node is kept (issue 9 item 4)', async (t) => {
  const rb = (ns: string, name: string, roleKind: string, roleName: string, subjects: Subject[]): RoleBinding =>
    ({ metadata: { name, namespace: ns }, roleRef: { kind: roleKind, name: roleName }, subjects })
  const scoped = scopePolicyToNode(pods, {
    roles: [{ metadata: { name: 'r', namespace: 'a' } }],
    clusterRoles: [{ metadata: { name: 'cr' } }],
    roleBindings: [
      rb('a', 'sa-no-namespace', 'Role', 'r', [{ kind: 'ServiceAccount', name: 'app' }]),
      rb('b', 'sa-no-namespace-elsewhere', 'Role', 'r', [{ kind: 'ServiceAccount', name: 'app' }]),
      rb('b', 'sa-user', 'ClusterRole', 'cr', [{ kind: 'User', name: 'system:serviceaccount:a:app', apiGroup: 'rbac.authorization.k8s.io' }]),
      rb('b', 'all-sas', 'ClusterRole', 'cr', [{ kind: 'Group', name: 'system:serviceaccounts' }]),
      rb('b', 'authenticated', 'ClusterRole', 'cr', [{ kind: 'Group', name: 'system:authenticated' }]),
      rb('a', 'role-not-yet-created', 'Role', 'later', [{ kind: 'ServiceAccount', name: 'app' }]),
      rb('a', 'cluster-role-not-yet-created', 'ClusterRole', 'later', [{ kind: 'ServiceAccount', name: 'app' }]),
    ],
    clusterRoleBindings: [
      { metadata: { name: 'crb-sa-no-namespace' }, roleRef: { kind: 'ClusterRole', name: 'cr' }, subjects: [{ kind: 'ServiceAccount', name: 'app' }] },
    ],
  })
  t.same(scoped.roleBindings.map((b) => b.metadata.name), ['sa-no-namespace', 'sa-user', 'all-sas', 'authenticated', 'role-not-yet-created', 'cluster-role-not-yet-created'],
    'bindings whose role does not exist yet are kept: the role joins the bundle when it appears')
  t.same(scoped.roles.map((r) => r.metadata.name), ['r'])
  t.same(scoped.clusterRoles.map((r) => r.metadata.name), ['cr'])
  t.same(scoped.clusterRoleBindings, [], 'a ClusterRoleBinding SA subject needs its namespace (validation requires it)')
  const later = scopePolicyToNode(pods, {
    roles: [{ metadata: { name: 'later', namespace: 'a' } }], clusterRoles: [{ metadata: { name: 'later' } }],
    roleBindings: scoped.roleBindings, clusterRoleBindings: [],
  })
  t.same([later.roles.length, later.clusterRoles.length], [1, 1], 'once created, the late roles are in the bundle')
})
