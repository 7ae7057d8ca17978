// Which RBAC objects a node's edge needs: every RoleBinding and ClusterRoleBinding, in ANY
// namespace, with a subject that matches a ServiceAccount that has a pod on the node (KubeEdge
// syncs only the SA's own namespace — a bug: a RoleBinding in namespace B can grant to an SA of
// namespace A), plus the Roles and ClusterRoles those bindings reference. Pure.
import type { BoundPod } from './bound-pod.js'
import type { RbacPolicy, RoleBinding, Subject } from './rbac-objects.js'
import { ALL_AUTHENTICATED_GROUP, ALL_SERVICE_ACCOUNTS_GROUP, serviceAccountNamespaceGroup, splitServiceAccountUsername } from './users.js'

const NAMESPACE_GROUP_PREFIX = serviceAccountNamespaceGroup('')

/**
 * Which service accounts a subject names — rbac's appliesToUser for the users service-account
 * tokens authenticate as (system:serviceaccount:<ns>:<name>, groups system:serviceaccounts,
 * system:serviceaccounts:<ns>, system:authenticated): one account ("ns/name"), every account of a
 * namespace, every account, or none. `bindingNamespace` is the RoleBinding's namespace ("" for a
 * ClusterRoleBinding): a ServiceAccount subject without a namespace means that one.
 */
export type SubjectTarget = { account: string } | { namespace: string } | 'all' | undefined

export function subjectTarget (subject: Subject, bindingNamespace = ''): SubjectTarget {
  switch (subject.kind) {
    case 'ServiceAccount': {
      // appliesToUser: saNamespace defaults to the binding's namespace when blank.
      const ns = subject.namespace !== undefined && subject.namespace !== null && subject.namespace !== '' ? subject.namespace : bindingNamespace
      return ns === '' ? undefined : { account: `${ns}/${subject.name}` }
    }
    case 'User': {
      const sa = splitServiceAccountUsername(subject.name)
      return sa === undefined ? undefined : { account: `${sa.namespace}/${sa.name}` }
    }
    case 'Group':
      if (subject.name === ALL_AUTHENTICATED_GROUP || subject.name === ALL_SERVICE_ACCOUNTS_GROUP) return 'all'
      return subject.name.startsWith(NAMESPACE_GROUP_PREFIX) ? { namespace: subject.name.slice(NAMESPACE_GROUP_PREFIX.length) } : undefined
    default:
      return undefined
  }
}

/** True when `subject` names one of the service accounts in `accounts` ("ns/name"), directly or by group (see subjectTarget). */
export function subjectReaches (subject: Subject, accounts: ReadonlySet<string>, namespaces: ReadonlySet<string>, bindingNamespace = ''): boolean {
  const target = subjectTarget(subject, bindingNamespace)
  if (target === undefined) return false
  if (target === 'all') return accounts.size > 0
  return 'account' in target ? accounts.has(target.account) : namespaces.has(target.namespace)
}

/** The part of the cluster's RBAC that can grant anything to the service accounts of `pods`. */
export function scopePolicyToNode (pods: readonly BoundPod[], rbac: RbacPolicy): RbacPolicy {
  const accounts = new Set(pods.map((p) => `${p.namespace}/${p.serviceAccount}`))
  const namespaces = new Set(pods.map((p) => p.namespace))
  const reaches = (b: RoleBinding): boolean =>
    (b.subjects ?? []).some((s) => subjectReaches(s, accounts, namespaces, b.metadata.namespace ?? ''))
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
