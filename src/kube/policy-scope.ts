// Which RBAC objects a node's edge needs: every RoleBinding and ClusterRoleBinding, in ANY
// namespace, with a subject that matches a ServiceAccount that has a pod on the node (KubeEdge
// syncs only the SA's own namespace — a bug: a RoleBinding in namespace B can grant to an SA of
// namespace A), plus the Roles and ClusterRoles those bindings reference. Pure.

export interface PodRef {
  namespace: string
  name: string
  uid: string
  serviceAccount: string
}

export interface Subject { kind: string, name: string, namespace?: string | null, apiGroup?: string }
export interface Binding { metadata: { name: string, namespace?: string }, roleRef: { kind: string, name: string }, subjects?: Subject[] }
export interface Role { metadata: { name: string, namespace?: string } }

export interface RbacSet<R = unknown, B = unknown> {
  roles: R[]
  clusterRoles: R[]
  roleBindings: B[]
  clusterRoleBindings: B[]
}

const SA_USER = /^system:serviceaccount:([^:]+):([^:]+)$/

/**
 * True when `subject` names one of the service accounts in `accounts` ("ns/name"), directly or by
 * group — rbac's appliesToUser for the users those accounts' tokens authenticate as
 * (system:serviceaccount:<ns>:<name>, groups system:serviceaccounts, system:serviceaccounts:<ns>,
 * system:authenticated). `bindingNamespace` is the RoleBinding's namespace ("" for a
 * ClusterRoleBinding): a ServiceAccount subject without a namespace means that one.
 */
export function subjectReaches (subject: Subject, accounts: ReadonlySet<string>, namespaces: ReadonlySet<string>, bindingNamespace = ''): boolean {
  switch (subject.kind) {
    case 'ServiceAccount': {
      // appliesToUser: saNamespace defaults to the binding's namespace when blank.
      const ns = subject.namespace !== undefined && subject.namespace !== null && subject.namespace !== '' ? subject.namespace : bindingNamespace
      return ns !== '' && accounts.has(`${ns}/${subject.name}`)
    }
    case 'User': {
      const m = SA_USER.exec(subject.name)
      return m !== null && accounts.has(`${m[1]}/${m[2]}`)
    }
    case 'Group':
      if (subject.name === 'system:authenticated' || subject.name === 'system:serviceaccounts') return accounts.size > 0
      return subject.name.startsWith('system:serviceaccounts:') && namespaces.has(subject.name.slice('system:serviceaccounts:'.length))
    default:
      return false
  }
}

export function scopePolicy<R extends Role, B extends Binding> (pods: readonly PodRef[], rbac: RbacSet<R, B>): RbacSet<R, B> {
  const accounts = new Set(pods.map((p) => `${p.namespace}/${p.serviceAccount}`))
  const namespaces = new Set(pods.map((p) => p.namespace))
  const reaches = (b: B): boolean => (b.subjects ?? []).some((s) => subjectReaches(s, accounts, namespaces, b.metadata.namespace ?? ''))
  const roleBindings = rbac.roleBindings.filter(reaches)
  const clusterRoleBindings = rbac.clusterRoleBindings.filter(reaches)
  const roleKeys = new Set(roleBindings.filter((b) => b.roleRef.kind === 'Role').map((b) => `${b.metadata.namespace}/${b.roleRef.name}`))
  const clusterRoleNames = new Set([...roleBindings, ...clusterRoleBindings].filter((b) => b.roleRef.kind === 'ClusterRole').map((b) => b.roleRef.name))
  return {
    roles: rbac.roles.filter((r) => roleKeys.has(`${r.metadata.namespace}/${r.metadata.name}`)),
    clusterRoles: rbac.clusterRoles.filter((r) => clusterRoleNames.has(r.metadata.name)),
    roleBindings,
    clusterRoleBindings,
  }
}
