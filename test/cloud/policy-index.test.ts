// The incremental policy index against the full recompute it replaces: over generated sequences of
// pod and RBAC events (and re-lists), every node's bundle from the index must equal the bundle cut
// from ALL pods and ALL RBAC objects (the shim's algorithm before issue 15), and every node whose
// full bundle changed must be among the nodes the event reported — otherwise its edge would keep a
// stale policy. POLICY_INDEX_SEED replays a run; the seed is printed.
import t from 'tap'
import type { BoundPod } from '../../src/kube/bound-pod.js'
import { scopePolicyToNode } from '../../src/kube/node-policy-scope.js'
import type { ClusterRole, Role, RoleBinding, Subject } from '../../src/kube/rbac-objects.js'
import { PolicyIndex, type DirtyNodes, type IndexedPod, type RbacKind } from '../../src/cloud/policy-index.js'
import type { PolicyBundle } from '../../src/tunnel/control.js'
import { prng } from '../helpers/prng.js'

const SEED = process.env.POLICY_INDEX_SEED === undefined ? Math.floor(Math.random() * 2 ** 31) : Number(process.env.POLICY_INDEX_SEED)
const SEQUENCES = 40
const STEPS = 150
const NODES = ['n0', 'n1', 'n2', 'n3', 'n4']
const NAMESPACES = ['a', 'b', 'c']
const ACCOUNTS = ['default', 'x', 'y']
const NAMES = ['r0', 'r1', 'r2', 'r3']

interface Truth {
  pods: Map<string, IndexedPod>
  rbac: Record<RbacKind, Map<string, Role | ClusterRole | RoleBinding>>
}

/** The shim's bundle before the index: every pod scanned, every RBAC object sorted and scoped. */
function fullBundle (truth: Truth, node: string, kubeVersion: string | undefined): PolicyBundle {
  const pods: BoundPod[] = [...truth.pods.values()].filter((p) => p.node === node).map((p) => p.pod)
  pods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
  const sorted = <T>(m: Map<string, T>): T[] => [...m.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v)
  const rbac = scopePolicyToNode(pods, {
    roles: sorted(truth.rbac.roles), clusterRoles: sorted(truth.rbac.clusterRoles) as ClusterRole[],
    roleBindings: sorted(truth.rbac.roleBindings) as RoleBinding[], clusterRoleBindings: sorted(truth.rbac.clusterRoleBindings) as RoleBinding[],
  })
  return kubeVersion === undefined ? { node, pods, rbac } : { node, pods, rbac, kubeVersion }
}

function generator (random: () => number) {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  let uid = 0
  const subject = (): Subject => pick<() => Subject>([
    () => ({ kind: 'ServiceAccount', name: pick(ACCOUNTS), namespace: pick(NAMESPACES) }),
    () => ({ kind: 'ServiceAccount', name: pick(ACCOUNTS) }), // the binding's namespace (none for a ClusterRoleBinding)
    () => ({ kind: 'ServiceAccount', name: pick(ACCOUNTS), namespace: '' }),
    () => ({ kind: 'User', name: `system:serviceaccount:${pick(NAMESPACES)}:${pick(ACCOUNTS)}` }),
    () => ({ kind: 'User', name: 'alice' }),
    () => ({ kind: 'Group', name: 'system:serviceaccounts' }),
    () => ({ kind: 'Group', name: 'system:authenticated' }),
    () => ({ kind: 'Group', name: `system:serviceaccounts:${pick(NAMESPACES)}` }),
    () => ({ kind: 'Group', name: 'system:masters' }),
  ])()
  const rules = (): Role['rules'] => [{ apiGroups: [''], resources: [pick(['configmaps', 'secrets', 'pods'])], verbs: [pick(['get', 'list', 'watch'])] }]
  return {
    pick,
    pod: (): [string, IndexedPod | undefined] => {
      const namespace = pick(NAMESPACES)
      const name = `p${Math.floor(random() * 12)}`
      if (random() < 0.25) return [`${namespace}/${name}`, undefined]
      return [`${namespace}/${name}`, { node: random() < 0.1 ? undefined : pick(NODES), pod: { namespace, name, uid: `u${uid++}`, serviceAccount: pick(ACCOUNTS) } }]
    },
    rbac: (kind: RbacKind): [string, Role | ClusterRole | RoleBinding | undefined] => {
      const namespaced = kind === 'roles' || kind === 'roleBindings'
      const ns = namespaced ? pick(NAMESPACES) : undefined
      const name = pick(NAMES)
      const key = `${ns ?? ''}/${name}`
      if (random() < 0.25) return [key, undefined]
      const metadata = ns === undefined ? { name } : { name, namespace: ns }
      if (kind === 'roles' || kind === 'clusterRoles') return [key, { metadata, rules: rules() }]
      const refKind = namespaced && random() < 0.5 ? 'Role' : 'ClusterRole'
      const subjects = Array.from({ length: Math.floor(random() * 3) }, subject)
      return [key, { metadata, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: refKind, name: pick(NAMES) }, subjects }]
    },
  }
}

t.test(`incremental bundles equal the full recompute over generated event sequences (seed ${SEED})`, async (t) => {
  t.comment(`POLICY_INDEX_SEED=${SEED}`)
  const random = prng(SEED)
  const gen = generator(random)
  const kinds: RbacKind[] = ['roles', 'clusterRoles', 'roleBindings', 'clusterRoleBindings']
  let wrongBundles = 0
  let missedNodes = 0
  let podEventsTooWide = 0
  let narrowEvents = 0
  let firstFailure: string | undefined
  for (let seq = 0; seq < SEQUENCES; seq++) {
    const index = new PolicyIndex()
    const truth: Truth = { pods: new Map(), rbac: { roles: new Map(), clusterRoles: new Map(), roleBindings: new Map(), clusterRoleBindings: new Map() } }
    const kubeVersion = random() < 0.5 ? undefined : 'v1.34.4'
    let before = new Map(NODES.map((n) => [n, JSON.stringify(fullBundle(truth, n, kubeVersion))]))
    for (let step = 0; step < STEPS; step++) {
      let dirty: DirtyNodes
      let what: string
      const roll = random()
      if (roll < 0.4) {
        const [key, pod] = gen.pod()
        const old = truth.pods.get(key)
        if (pod === undefined) truth.pods.delete(key)
        else truth.pods.set(key, pod)
        dirty = index.setPod(key, pod)
        what = `pod ${key} → ${JSON.stringify(pod)}`
        const allowed = new Set([old?.node, pod?.node])
        if (dirty === 'all' || [...dirty].some((n) => !allowed.has(n))) podEventsTooWide++
      } else if (roll < 0.95) {
        const kind = gen.pick(kinds)
        const [key, obj] = gen.rbac(kind)
        if (obj === undefined) truth.rbac[kind].delete(key)
        else truth.rbac[kind].set(key, obj)
        dirty = index.setRbac(kind, key, obj)
        what = `${kind} ${key} → ${JSON.stringify(obj)}`
      } else if (roll < 0.975) {
        dirty = index.replacePods(new Map(truth.pods))
        what = 're-list pods'
      } else {
        const kind = gen.pick(kinds)
        dirty = index.replaceRbac(kind, new Map(truth.rbac[kind]))
        what = `re-list ${kind}`
      }
      if (dirty !== 'all' && dirty.size < NODES.length) narrowEvents++
      const after = new Map(NODES.map((n) => [n, JSON.stringify(fullBundle(truth, n, kubeVersion))]))
      for (const node of NODES) {
        const got = JSON.stringify(index.bundleFor(node, kubeVersion))
        const fail = (why: string): void => { firstFailure ??= `seed ${SEED} sequence ${seq} step ${step} (${what}), node ${node}: ${why}` }
        if (got !== after.get(node)) { wrongBundles++; fail(`index ${got} != full ${after.get(node)}`) }
        if (after.get(node) !== before.get(node) && dirty !== 'all' && !dirty.has(node)) { missedNodes++; fail('its bundle changed but the event did not name it') }
      }
      before = after
    }
  }
  if (firstFailure !== undefined) t.comment(`first failure: ${firstFailure}`)
  t.equal(wrongBundles, 0, 'every bundle from the index equals the full recompute')
  t.equal(missedNodes, 0, 'every node whose bundle changed is named by the event')
  t.equal(podEventsTooWide, 0, 'a pod event names only the node(s) the pod was and is bound to')
  t.ok(narrowEvents > SEQUENCES * STEPS / 2, `most events name fewer than every node (${narrowEvents} of ${SEQUENCES * STEPS})`)
})
