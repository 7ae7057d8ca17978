// The rbac.authorization.k8s.io/v1 objects, one set of types for everything that reads them: the
// RBAC evaluator (rbac.ts), the scoping of a node's policy (node-policy-scope.ts), the control
// stream that carries a node's policy (tunnel/control.ts) and the cloud that cuts it. JSON as the
// apiserver returns it: extra fields (managedFields, resourceVersion, ...) are allowed and
// ignored; omitted lists count as empty. Pure types.

export interface PolicyRule {
  verbs?: string[] | null
  apiGroups?: string[] | null
  resources?: string[] | null
  resourceNames?: string[] | null
  nonResourceURLs?: string[] | null
}

export interface RbacObjectMeta {
  name: string
  namespace?: string
  labels?: Record<string, string> | null
  [key: string]: unknown
}

export interface LabelSelectorRequirement {
  key: string
  operator: string
  values?: string[] | null
}

export interface LabelSelector {
  matchLabels?: Record<string, string> | null
  matchExpressions?: LabelSelectorRequirement[] | null
}

export interface Role {
  metadata: RbacObjectMeta
  rules?: PolicyRule[] | null
  [key: string]: unknown
}

export interface ClusterRole extends Role {
  aggregationRule?: { clusterRoleSelectors?: Array<LabelSelector | null> | null } | null
}

export interface Subject {
  kind: string
  apiGroup?: string
  name: string
  namespace?: string | null
}

export interface RoleRef {
  apiGroup?: string
  kind: string
  name: string
}

export interface RoleBinding {
  metadata: RbacObjectMeta
  subjects?: Subject[] | null
  roleRef: RoleRef
  [key: string]: unknown
}

export type ClusterRoleBinding = RoleBinding

export interface RbacPolicy {
  roles: Role[]
  clusterRoles: ClusterRole[]
  roleBindings: RoleBinding[]
  clusterRoleBindings: ClusterRoleBinding[]
}
