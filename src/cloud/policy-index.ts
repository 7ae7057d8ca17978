// The cluster state the policy bundles are cut from, indexed so that one event costs work in
// proportion to the nodes it touches, not to the fleet (issue 15: recomputing every node's bundle
// from every pod and every RBAC object on any change is quadratic in a fleet). Pods are indexed
// by node, and each node's service accounts and namespaces by reverse maps; bindings by the
// service accounts their subjects name (kube/node-policy-scope.ts subjectTarget) and by the role
// they reference. Each change returns the nodes whose bundle may differ: those, and only those,
// are cut again. bundleFor gives exactly what scopePolicyToNode over ALL pods and ALL RBAC objects
// gives (test/cloud/policy-index.test.ts compares them over generated event sequences): it hands
// scopePolicyToNode a superset of what can reach the node, in the same order. Pure, no I/O.
import type { BoundPod } from '../kube/bound-pod.js'
import { scopePolicyToNode, subjectTarget } from '../kube/node-policy-scope.js'
import type { ClusterRole, Role, RoleBinding } from '../kube/rbac-objects.js'
import type { PolicyBundle } from '../tunnel/control.js'

/** A pod as the index keeps it: its node (when bound) and what the bundle says of it. */
export interface IndexedPod { node: string | undefined, pod: BoundPod }

export type RbacKind = 'roles' | 'clusterRoles' | 'roleBindings' | 'clusterRoleBindings'
type BindingKind = 'roleBindings' | 'clusterRoleBindings'

/** Nodes whose bundle may have changed: some, or all of them (a re-list, a new kube-apiserver version). */
export type DirtyNodes = ReadonlySet<string> | 'all'

/** Counts per node: a node leaves an account's (or namespace's) set with its last pod there. */
type NodeCounts = Map<string, Map<string, number>>

const ALL = '*'
const byKey = ([a]: [string, unknown], [b]: [string, unknown]): number => a.localeCompare(b)

export class PolicyIndex {
  private readonly pods = new Map<string, IndexedPod>()
  private readonly podsByNode = new Map<string, Map<string, BoundPod>>()
  private readonly accountNodes: NodeCounts = new Map()
  private readonly namespaceNodes: NodeCounts = new Map()
  private readonly rbac: Record<RbacKind, Map<string, Role | ClusterRole | RoleBinding>> = {
    roles: new Map(), clusterRoles: new Map(), roleBindings: new Map(), clusterRoleBindings: new Map(),
  }

  /** Binding keys ("<kind>|<key>") by subject target: "a:<ns>/<sa>", "n:<ns>" or "*". */
  private readonly bindingsByTarget = new Map<string, Set<string>>()
  /** Binding keys by the role they reference: "Role:<ns>/<name>" or "ClusterRole:<name>". */
  private readonly bindingsByRole = new Map<string, Set<string>>()

  /** A pod added, changed (after) or deleted (undefined). */
  setPod (key: string, after: IndexedPod | undefined): DirtyNodes {
    const before = this.pods.get(key)
    const dirty = new Set<string>()
    if (before !== undefined) {
      if (after !== undefined && samePod(before, after)) return dirty
      this.pods.delete(key)
      if (before.node !== undefined) { this.unindexPod(key, before.node, before.pod); dirty.add(before.node) }
    }
    if (after !== undefined) {
      this.pods.set(key, after)
      if (after.node !== undefined) { this.indexPod(key, after.node, after.pod); dirty.add(after.node) }
    }
    return dirty
  }

  /** Every pod replaced (a re-list). */
  replacePods (entries: Iterable<[string, IndexedPod]>): DirtyNodes {
    for (const key of [...this.pods.keys()]) this.setPod(key, undefined)
    for (const [key, pod] of entries) this.setPod(key, pod)
    return 'all'
  }

  /** An RBAC object added, changed (after) or deleted (undefined); `key` is "<namespace>/<name>" ("" namespace when cluster-scoped). */
  setRbac (kind: RbacKind, key: string, after: Role | ClusterRole | RoleBinding | undefined): DirtyNodes {
    const map = this.rbac[kind]
    const before = map.get(key)
    const dirty = new Set<string>()
    if (kind === 'roleBindings' || kind === 'clusterRoleBindings') {
      if (before !== undefined) { this.addReach(before as RoleBinding, dirty); this.unindexBinding(kind, key, before as RoleBinding) }
      if (after !== undefined) { this.indexBinding(kind, key, after as RoleBinding); this.addReach(after as RoleBinding, dirty) }
    } else {
      const name = (after ?? before)?.metadata.name
      const ref = kind === 'roles' ? `Role:${key}` : `ClusterRole:${name ?? key.slice(key.indexOf('/') + 1)}`
      for (const b of this.bindingsByRole.get(ref) ?? []) this.addReach(this.binding(b), dirty)
    }
    if (after === undefined) map.delete(key)
    else map.set(key, after)
    return dirty
  }

  /** Every object of a kind replaced (a re-list). */
  replaceRbac (kind: RbacKind, entries: Iterable<[string, Role | ClusterRole | RoleBinding]>): DirtyNodes {
    for (const key of [...this.rbac[kind].keys()]) this.setRbac(kind, key, undefined)
    for (const [key, obj] of entries) this.setRbac(kind, key, obj)
    return 'all'
  }

  /** The node's bundle: what scopePolicyToNode gives over every pod and RBAC object, from the candidates that can reach it. */
  bundleFor (node: string, kubeVersion: string | undefined): PolicyBundle {
    const mine = this.podsByNode.get(node)
    const pods = mine === undefined ? [] : [...mine.entries()].sort(byKey).map(([, p]) => p)
    const refs = new Set<string>()
    if (pods.length > 0) {
      const targets = [ALL, ...new Set(pods.map((p) => `a:${p.namespace}/${p.serviceAccount}`)), ...new Set(pods.map((p) => `n:${p.namespace}`))]
      for (const t of targets) for (const ref of this.bindingsByTarget.get(t) ?? []) refs.add(ref)
    }
    const bindings = (kind: BindingKind): RoleBinding[] =>
      [...refs].filter((r) => r.startsWith(`${kind}|`)).map((r): [string, RoleBinding] => [r.slice(kind.length + 1), this.binding(r)]).sort(byKey).map(([, b]) => b)
    const roleBindings = bindings('roleBindings')
    const clusterRoleBindings = bindings('clusterRoleBindings')
    const roles = this.referenced('roles', roleBindings.filter((b) => b.roleRef.kind === 'Role').map((b) => `${b.metadata.namespace ?? ''}/${b.roleRef.name}`))
    const clusterRoles = this.referenced('clusterRoles', [...roleBindings, ...clusterRoleBindings].filter((b) => b.roleRef.kind === 'ClusterRole').map((b) => `/${b.roleRef.name}`))
    const rbac = scopePolicyToNode(pods, { roles, clusterRoles, roleBindings, clusterRoleBindings })
    return kubeVersion === undefined ? { node, pods, rbac } : { node, pods, rbac, kubeVersion }
  }

  /** The objects of `kind` under `keys` that exist, in key order (the order a full scan gives). */
  private referenced (kind: 'roles' | 'clusterRoles', keys: string[]): Role[] {
    const found: Array<[string, Role]> = []
    for (const key of new Set(keys)) {
      const obj = this.rbac[kind].get(key)
      if (obj !== undefined) found.push([key, obj as Role])
    }
    return found.sort(byKey).map(([, r]) => r)
  }

  private binding (ref: string): RoleBinding {
    const at = ref.indexOf('|')
    return this.rbac[ref.slice(0, at) as BindingKind].get(ref.slice(at + 1)) as RoleBinding
  }

  /** Adds every node a binding's subjects reach (by the nodes' pods) to `dirty`. */
  private addReach (b: RoleBinding, dirty: Set<string>): void {
    for (const target of bindingTargets(b)) {
      if (target === ALL) { for (const node of this.podsByNode.keys()) dirty.add(node); continue }
      const counts = target.startsWith('a:') ? this.accountNodes.get(target.slice(2)) : this.namespaceNodes.get(target.slice(2))
      for (const node of counts?.keys() ?? []) dirty.add(node)
    }
  }

  private indexBinding (kind: BindingKind, key: string, b: RoleBinding): void {
    const ref = `${kind}|${key}`
    for (const t of bindingTargets(b)) addTo(this.bindingsByTarget, t, ref)
    addTo(this.bindingsByRole, roleRefKey(b), ref)
  }

  private unindexBinding (kind: BindingKind, key: string, b: RoleBinding): void {
    const ref = `${kind}|${key}`
    for (const t of bindingTargets(b)) removeFrom(this.bindingsByTarget, t, ref)
    removeFrom(this.bindingsByRole, roleRefKey(b), ref)
  }

  private indexPod (key: string, node: string, pod: BoundPod): void {
    let mine = this.podsByNode.get(node)
    if (mine === undefined) this.podsByNode.set(node, mine = new Map())
    mine.set(key, pod)
    count(this.accountNodes, `${pod.namespace}/${pod.serviceAccount}`, node, 1)
    count(this.namespaceNodes, pod.namespace, node, 1)
  }

  private unindexPod (key: string, node: string, pod: BoundPod): void {
    const mine = this.podsByNode.get(node)
    mine?.delete(key)
    if (mine?.size === 0) this.podsByNode.delete(node)
    count(this.accountNodes, `${pod.namespace}/${pod.serviceAccount}`, node, -1)
    count(this.namespaceNodes, pod.namespace, node, -1)
  }
}

/** The index keys of a binding's subjects (see subjectTarget); subjects that reach no service account have none. */
function bindingTargets (b: RoleBinding): Set<string> {
  const targets = new Set<string>()
  for (const s of b.subjects ?? []) {
    const t = subjectTarget(s, b.metadata.namespace ?? '')
    if (t === undefined) continue
    targets.add(t === 'all' ? ALL : 'account' in t ? `a:${t.account}` : `n:${t.namespace}`)
  }
  return targets
}

/** The role a binding references, as bindingsByRole keys it (a Role lives in the binding's namespace). */
function roleRefKey (b: RoleBinding): string {
  return b.roleRef.kind === 'Role' ? `Role:${b.metadata.namespace ?? ''}/${b.roleRef.name}` : `${b.roleRef.kind}:${b.roleRef.name}`
}

function samePod (a: IndexedPod, b: IndexedPod): boolean {
  return a.node === b.node && a.pod.namespace === b.pod.namespace && a.pod.name === b.pod.name && a.pod.uid === b.pod.uid && a.pod.serviceAccount === b.pod.serviceAccount
}

function addTo (map: Map<string, Set<string>>, key: string, value: string): void {
  let set = map.get(key)
  if (set === undefined) map.set(key, set = new Set())
  set.add(value)
}

function removeFrom (map: Map<string, Set<string>>, key: string, value: string): void {
  const set = map.get(key)
  set?.delete(value)
  if (set?.size === 0) map.delete(key)
}

function count (counts: NodeCounts, key: string, node: string, delta: number): void {
  let nodes = counts.get(key)
  if (nodes === undefined) counts.set(key, nodes = new Map())
  const n = (nodes.get(node) ?? 0) + delta
  if (n > 0) nodes.set(node, n)
  else nodes.delete(node)
  if (nodes.size === 0) counts.delete(key)
}
