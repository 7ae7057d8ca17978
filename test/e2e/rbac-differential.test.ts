// Differential test of the local RBAC evaluator (src/kube/rbac.ts) against a real kube-apiserver.
// A seeded PRNG builds a random but valid policy (Roles, ClusterRoles, aggregated ClusterRoles,
// RoleBindings, ClusterRoleBindings, subjects of every kind, dangling roleRefs), loads it, waits
// for the aggregation controller and the apiserver's RBAC informers, reads the whole policy back
// (the bootstrap system:* policy included) and asks SubjectAccessReview thousands of random
// questions, a few hundred of them built from granted rules so allows are well represented.
// Every answer (allowed, and the reason text) must agree. Then real GET requests, impersonating
// random users, check that each 403 body is exactly the Status the evaluator renders.
//
// Replay a run with RBAC_SEED=<seed> (the seed is printed first).
import t from 'tap'
import { Agent, request } from 'undici'
import { TestCluster } from '../cluster/cluster.js'
import { waitFor } from '../cluster/processes.js'
import {
  aggregateClusterRoles, chainDenyReason, compilePolicy, forbiddenStatus, policyRulesEqual, type RbacAuthorizer, type RbacAttributes,
} from '../../src/kube/rbac.js'
import type {
  ClusterRole, LabelSelector, PolicyRule, RbacPolicy, Role, RoleBinding, Subject,
} from '../../src/kube/rbac-objects.js'
import { serviceAccountUser, type UserInfo } from '../../src/kube/users.js'
import { requestInfo } from '../../src/kube/request-info.js'
import { prng } from '../helpers/prng.js'

const SEED = process.env.RBAC_SEED !== undefined && process.env.RBAC_SEED !== ''
  ? Number(process.env.RBAC_SEED) >>> 0
  : Math.floor(Math.random() * 2 ** 32) >>> 0
const RANDOM_REQUESTS = 2400
const GRANT_REQUESTS = 600
const REAL_REQUESTS = 240
const CONCURRENCY = 16
t.comment(`RBAC_SEED=${SEED}`)

// ---------------------------------------------------------------------------------------------
// Seeded randomness (mulberry32).

const rand = prng(SEED)
const chance = (p: number): boolean => rand() < p
const int = (lo: number, hi: number): number => lo + Math.floor(rand() * (hi - lo + 1))
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!
const some = <T>(xs: readonly T[], lo: number, hi: number): T[] => {
  const pool = [...xs]
  const out: T[] = []
  for (let n = Math.min(int(lo, hi), pool.length); n > 0; n--) out.push(pool.splice(Math.floor(rand() * pool.length), 1)[0]!)
  return out
}

// ---------------------------------------------------------------------------------------------
// Vocabularies: small, so random rules and random requests meet often.

const RBAC_GROUP = 'rbac.authorization.k8s.io'
const NAMESPACES = ['rbac-a', 'rbac-b', 'rbac-c']
const REQUEST_NAMESPACES = [...NAMESPACES, ...NAMESPACES, '', '', 'default', 'kube-system', 'kube-public', 'elsewhere']
const USERS = ['alice', 'bob', 'carol', 'dave']
const OTHER_USERS = ['mallory', 'system:anonymous', 'system:kube-scheduler', 'system:kube-controller-manager', 'system:kube-proxy']
const GROUPS = ['dev', 'ops', 'qa']
const OTHER_GROUPS = ['nobody', 'system:authenticated', 'system:unauthenticated', 'system:serviceaccounts', 'system:nodes',
  'system:bootstrappers', 'system:monitoring', 'system:serviceaccounts:rbac-b']
const SERVICE_ACCOUNTS = ['builder', 'reader', 'default']
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']
const ODD_VERBS = ['escalate', 'bind', 'impersonate', 'use', 'proxy', 'approve', 'GET']
const RULE_GROUPS = ['', 'apps', '*']
const REQUEST_GROUPS = ['', '', 'apps', 'apps', 'batch', RBAC_GROUP, 'coordination.k8s.io', 'authorization.k8s.io', 'policy']
const RULE_RESOURCES = ['configmaps', 'pods', 'pods/log', 'pods/status', 'deployments', 'deployments/scale', '*/scale', '*',
  'secrets', 'services', 'pods/*', 'replicasets/scale']
const REQUEST_RESOURCES = ['configmaps', 'pods', 'deployments', 'secrets', 'services', 'nodes', 'namespaces', 'events',
  'endpoints', 'leases', 'roles', 'replicasets', 'jobs', 'serviceaccounts', 'selfsubjectaccessreviews', 'poddisruptionbudgets']
const SUBRESOURCES = ['log', 'status', 'scale', 'exec', 'token', 'eviction']
const NAMES = ['a', 'b', 'c']
const RULE_URLS = ['/healthz', '/metrics', '/logs/*', '/api/*', '*', '/version', '/healthz/*', '/readyz', '/livez', '/apis*']
const REQUEST_PATHS = ['/healthz', '/healthz/etcd', '/healthz/ping', '/metrics', '/logs', '/logs/', '/logs/kube-apiserver.log',
  '/api', '/api/v1', '/apis', '/apis/apps', '/version', '/livez', '/readyz', '/readyz/ping', '/openapi/v2', '/foo',
  '/metrics/slis', '/.well-known/openid-configuration', '/openid/v1/jwks']
const URL_VERBS = ['get', 'get', 'get', 'post', 'put', 'delete', 'patch', 'head']
const RULE_URL_VERBS = ['get', 'post', '*', 'put']
const POOL = 'ems.test/pool'
const AGGREGATE_TO_VIEW = 'rbac.authorization.k8s.io/aggregate-to-view'

// ---------------------------------------------------------------------------------------------
// The random policy.

function resourceRule (): PolicyRule {
  const rule: PolicyRule = {
    verbs: chance(0.15) ? ['*'] : some(VERBS, 1, 3),
    apiGroups: some(RULE_GROUPS, 1, 2),
    resources: some(RULE_RESOURCES, 1, 3),
  }
  if (chance(0.25)) rule.resourceNames = some(NAMES, 1, 2)
  return rule
}
function urlRule (): PolicyRule {
  return { verbs: some(RULE_URL_VERBS, 1, 2), nonResourceURLs: some(RULE_URLS, 1, 3) }
}
const rules = (clusterScoped: boolean): PolicyRule[] =>
  Array.from({ length: int(1, 3) }, () => (clusterScoped && chance(0.3) ? urlRule() : resourceRule()))

function randomLabels (): Record<string, string> {
  const labels: Record<string, string> = {}
  if (chance(0.6)) labels['ems.test/color'] = pick(['red', 'green', 'blue'])
  if (chance(0.5)) labels['ems.test/size'] = pick(['s', 'm'])
  if (chance(0.3)) labels['ems.test/flag'] = 'true'
  return labels
}

function randomSelector (pool: string): LabelSelector {
  const selector: LabelSelector = { matchLabels: { [POOL]: pool } }
  const exprs = []
  for (let n = int(0, 2); n > 0; n--) {
    const key = pick(['ems.test/color', 'ems.test/size', 'ems.test/flag'])
    const values = key === 'ems.test/color' ? some(['red', 'green', 'blue'], 1, 2) : key === 'ems.test/size' ? some(['s', 'm'], 1, 1) : ['true']
    switch (pick(['In', 'NotIn', 'Exists', 'DoesNotExist', 'matchLabels'])) {
      case 'In': exprs.push({ key, operator: 'In', values }); break
      case 'NotIn': exprs.push({ key, operator: 'NotIn', values }); break
      case 'Exists': exprs.push({ key, operator: 'Exists' }); break
      case 'DoesNotExist': exprs.push({ key, operator: 'DoesNotExist' }); break
      default: selector.matchLabels![key] = values[0]!
    }
  }
  if (exprs.length > 0) selector.matchExpressions = exprs
  return selector
}

function randomSubject (namespaced: boolean): Subject {
  const r = rand()
  if (r < 0.35) return { kind: 'User', apiGroup: RBAC_GROUP, name: chance(0.9) ? pick(USERS) : 'ghost-user' }
  if (r < 0.65) {
    return { kind: 'Group', apiGroup: RBAC_GROUP, name: chance(0.85) ? pick(GROUPS) : pick(['ghost-group', 'system:serviceaccounts:rbac-b', 'system:authenticated']) }
  }
  const name = chance(0.9) ? pick(SERVICE_ACCOUNTS) : 'ghost-sa'
  // A RoleBinding may leave the namespace out: it then means the binding's namespace.
  if (namespaced && chance(0.3)) return { kind: 'ServiceAccount', name }
  return { kind: 'ServiceAccount', name, namespace: pick([...NAMESPACES, 'default']) }
}

interface Generated {
  roles: Role[]
  clusterRoles: ClusterRole[]
  roleBindings: RoleBinding[]
  clusterRoleBindings: RoleBinding[]
}

function generatePolicy (): Generated {
  const roles: Role[] = []
  for (const ns of NAMESPACES) {
    for (let i = int(2, 4); i > 0; i--) roles.push({ metadata: { name: `role-${i}`, namespace: ns }, rules: rules(false) })
  }
  const clusterRoles: ClusterRole[] = []
  for (let i = int(6, 10); i > 0; i--) {
    const labels = randomLabels()
    if (chance(0.8)) labels[POOL] = 'src'
    if (chance(0.12)) labels[AGGREGATE_TO_VIEW] = 'true' // flows into view → edit → admin
    clusterRoles.push({ metadata: { name: `ems-cr-${i}`, labels }, rules: rules(true) })
  }
  // Aggregated roles. ems-agg-0 also aggregates the "nested" ones, which aggregate sources only:
  // a two-level hierarchy without cycles.
  const aggregates = int(3, 4)
  for (let i = 0; i < aggregates; i++) {
    const selectors: LabelSelector[] = Array.from({ length: int(1, 2) }, () => randomSelector('src'))
    if (i === 0) selectors.push({ matchLabels: { [POOL]: 'nested' } })
    if (i > 0 && chance(0.3)) selectors.push({ matchLabels: { [AGGREGATE_TO_VIEW]: 'true' } })
    const labels = i > 0 && chance(0.7) ? { ...randomLabels(), [POOL]: 'nested' } : {}
    // Stale rules the controller must replace.
    clusterRoles.push({ metadata: { name: `ems-agg-${i}`, labels }, aggregationRule: { clusterRoleSelectors: selectors }, rules: chance(0.5) ? rules(true) : [] })
  }
  const clusterRoleNames = () => chance(0.1)
    ? `missing-cr-${int(1, 3)}`
    : chance(0.15) ? pick(['view', 'edit', 'admin', 'system:basic-user']) : pick(clusterRoles).metadata.name
  const roleBindings: RoleBinding[] = []
  for (const ns of NAMESPACES) {
    const nsRoles = roles.filter((r) => r.metadata.namespace === ns)
    for (let i = int(3, 6); i > 0; i--) {
      const toRole = chance(0.5)
      const roleRef = toRole
        ? { apiGroup: RBAC_GROUP, kind: 'Role', name: chance(0.1) ? 'missing-role' : pick(nsRoles).metadata.name }
        : { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: clusterRoleNames() }
      roleBindings.push({ metadata: { name: `rb-${i}`, namespace: ns }, roleRef, subjects: Array.from({ length: int(1, 3) }, () => randomSubject(true)) })
    }
  }
  const clusterRoleBindings: RoleBinding[] = []
  for (let i = int(5, 8); i > 0; i--) {
    clusterRoleBindings.push({
      metadata: { name: `ems-crb-${i}` },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: clusterRoleNames() },
      subjects: Array.from({ length: int(1, 3) }, () => randomSubject(false)),
    })
  }
  // Always some dangling roleRefs (they grant nothing and show up in the deny reason), two
  // distinct ones cluster-wide so the bracketed multi-error form occurs too.
  for (const ns of NAMESPACES) {
    roleBindings.push({
      metadata: { name: 'rb-dangling', namespace: ns },
      roleRef: chance(0.5) ? { apiGroup: RBAC_GROUP, kind: 'Role', name: 'missing-role' } : { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: 'missing-cr-1' },
      subjects: Array.from({ length: int(1, 2) }, () => randomSubject(true)),
    })
  }
  for (const n of [1, 2]) {
    clusterRoleBindings.push({
      metadata: { name: `ems-crb-dangling-${n}` },
      roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: `missing-cr-${n}` },
      subjects: Array.from({ length: int(1, 2) }, () => randomSubject(false)),
    })
  }
  return { roles, clusterRoles, roleBindings, clusterRoleBindings }
}

// ---------------------------------------------------------------------------------------------
// Random users and requests.

function randomUser (): UserInfo {
  const r = rand()
  if (r < 0.02) return { name: 'root', groups: ['system:masters', 'system:authenticated'] } // the superuser short-circuit
  if (r < 0.35) return { name: pick(USERS), groups: [...some([...GROUPS, ...OTHER_GROUPS], 0, 3), ...(chance(0.8) ? ['system:authenticated'] : [])] }
  if (r < 0.65) {
    const u = serviceAccountUser(pick([...NAMESPACES, 'default', 'kube-system']), chance(0.9) ? pick(SERVICE_ACCOUNTS) : 'other')
    if (chance(0.15)) u.groups = some(u.groups, 0, 2)
    return u
  }
  if (r < 0.85) {
    const name = pick(OTHER_USERS)
    return { name, groups: name === 'system:anonymous' ? ['system:unauthenticated'] : some([...GROUPS, ...OTHER_GROUPS], 0, 2) }
  }
  return { name: `user-${int(1, 99)}`, groups: some([...GROUPS, ...OTHER_GROUPS], 1, 3) }
}

function randomAttributes (): RbacAttributes {
  if (chance(0.2)) {
    return { isResourceRequest: false, verb: pick(URL_VERBS), path: pick(REQUEST_PATHS), apiGroup: '', resource: '', subresource: '', name: '', namespace: '' }
  }
  return {
    isResourceRequest: true,
    verb: chance(0.9) ? pick(VERBS) : pick(ODD_VERBS),
    apiGroup: pick(REQUEST_GROUPS),
    resource: chance(0.97) ? pick(REQUEST_RESOURCES) : '*',
    subresource: chance(0.7) ? '' : chance(0.95) ? pick(SUBRESOURCES) : '*',
    name: chance(0.4) ? '' : pick(NAMES),
    namespace: pick(REQUEST_NAMESPACES),
    path: '',
  }
}

/** A request some rule grants: a random binding of the read-back policy, one of its subjects, one of its rules. */
function grantedRequest (policy: RbacPolicy): { user: UserInfo, attrs: RbacAttributes } | undefined {
  const namespaced = chance(0.5)
  const binding = namespaced ? pick(policy.roleBindings) : pick(policy.clusterRoleBindings)
  const subjects = binding.subjects ?? []
  if (subjects.length === 0) return undefined
  const ns = binding.metadata.namespace ?? ''
  const role = binding.roleRef.kind === 'Role'
    ? policy.roles.find((r) => r.metadata.namespace === ns && r.metadata.name === binding.roleRef.name)
    : policy.clusterRoles.find((r) => r.metadata.name === binding.roleRef.name)
  const rule = role?.rules?.length ? pick(role.rules) : undefined
  if (rule === undefined) return undefined
  const subject = pick(subjects)
  let user: UserInfo
  switch (subject.kind) {
    case 'User': user = { name: subject.name, groups: some(GROUPS, 0, 1) }; break
    case 'Group': user = { name: `member-${int(1, 9)}`, groups: [subject.name, ...some(GROUPS, 0, 1)] }; break
    default: user = serviceAccountUser(subject.namespace || ns || 'nowhere', subject.name)
  }
  const verb = (rule.verbs ?? []).length === 0 ? 'get' : pick(rule.verbs!)
  const concreteVerb = verb === '*' ? pick([...VERBS, ...ODD_VERBS]) : verb
  if ((rule.nonResourceURLs ?? []).length > 0) {
    const u = pick(rule.nonResourceURLs!)
    const path = u === '*' ? pick(REQUEST_PATHS) : u.endsWith('*') ? u.replace(/\*+$/, '') + pick(['', 'x', 'etcd', 'v1/pods']) : u
    // A non-resource SubjectAccessReview has no namespace (nor does RequestInfo give one): the
    // grant comes from a ClusterRoleBinding, and a RoleBinding's nonResourceURLs grant nothing.
    return { user, attrs: { isResourceRequest: false, verb: concreteVerb, path, apiGroup: '', resource: '', subresource: '', name: '', namespace: '' } }
  }
  const group = pick(rule.apiGroups ?? [''])
  const res = pick(rule.resources ?? ['*'])
  let resource: string
  let subresource = ''
  if (res === '*') {
    resource = pick(REQUEST_RESOURCES)
    if (chance(0.3)) subresource = pick(SUBRESOURCES)
  } else if (res.startsWith('*/')) {
    resource = pick(REQUEST_RESOURCES)
    subresource = res.slice(2)
  } else {
    [resource, subresource = ''] = res.split('/') as [string, string?]
  }
  const names = rule.resourceNames ?? []
  return {
    user,
    attrs: {
      isResourceRequest: true,
      verb: concreteVerb,
      apiGroup: group === '*' ? pick(REQUEST_GROUPS) : group,
      resource,
      subresource,
      name: names.length > 0 ? pick(names) : chance(0.5) ? '' : pick(NAMES),
      namespace: namespaced ? ns : pick(REQUEST_NAMESPACES),
      path: '',
    },
  }
}

// ---------------------------------------------------------------------------------------------
// Comparison helpers.

/** The order of several role-resolution errors in a deny reason follows the apiserver's informer map order. */
function normalizeReason (reason: string): string {
  return reason.replace(/RBAC: \[(.*)\]$/, (_, inner: string) => `RBAC: [${inner.split(', ').sort().join(', ')}]`)
}

function sameRules (a: PolicyRule[] | null | undefined, b: PolicyRule[] | null | undefined): boolean {
  const x = a ?? []
  const y = b ?? []
  return x.length === y.length && x.every((r, i) => policyRulesEqual(r, y[i]!))
}

async function pool<T> (items: readonly T[], concurrency: number, work: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++
      await work(items[i]!, i)
    }
  }))
}

const describeRequest = (user: UserInfo, attrs: RbacAttributes): string =>
  JSON.stringify({ user: user.name, groups: user.groups, ...attrs })

// ---------------------------------------------------------------------------------------------

const cluster = await TestCluster.start()
t.comment(`cluster started in ${cluster.startMs} ms`)
t.teardown(() => cluster.stop())
const admin = cluster.admin
// The apiserver's authorizer chain words a deny reason by release (src/kube/rbac.ts chainDenyReason):
// the local reasons are compared in the form of the release actually answering.
const kubeVersion = ((await admin.get('/version')).body as { gitVersion: string }).gitVersion
t.comment(`kube-apiserver ${kubeVersion}`)
const started = Date.now()

const generated = generatePolicy()
const RBAC_API = '/apis/rbac.authorization.k8s.io/v1'
for (const ns of NAMESPACES) await admin.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } })
const create = (path: string, kind: string, obj: object) =>
  admin.must('POST', `${RBAC_API}${path}`, { body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind, ...obj } })
await Promise.all([
  ...generated.roles.map((r) => create(`/namespaces/${r.metadata.namespace}/roles`, 'Role', r)),
  ...generated.clusterRoles.map((r) => create('/clusterroles', 'ClusterRole', r)),
])
await Promise.all([
  ...generated.roleBindings.map((b) => create(`/namespaces/${b.metadata.namespace}/rolebindings`, 'RoleBinding', b)),
  ...generated.clusterRoleBindings.map((b) => create('/clusterrolebindings', 'ClusterRoleBinding', b)),
])

async function readPolicy (): Promise<RbacPolicy> {
  const [roles, clusterRoles, roleBindings, clusterRoleBindings] = await Promise.all(
    ['roles', 'clusterroles', 'rolebindings', 'clusterrolebindings'].map(async (r) => (await admin.must('GET', `${RBAC_API}/${r}`)).items))
  return { roles, clusterRoles, roleBindings, clusterRoleBindings }
}

// Aggregated ClusterRoles (ours and the bootstrap admin/edit/view) converge to what
// aggregateClusterRoles predicts from the same objects.
let aggregationRounds = 0
await waitFor('the aggregation controller to converge', async () => {
  aggregationRounds++
  const { clusterRoles } = await readPolicy()
  const predicted = aggregateClusterRoles(clusterRoles)
  const pending = clusterRoles.filter((c, i) => c.aggregationRule != null && !sameRules(c.rules, predicted[i]!.rules))
  return pending.length === 0 ? true : undefined
}, { timeoutMs: 90_000, intervalMs: 500, failIf: () => cluster.healthy ? undefined : `a control-plane process exited; see ${cluster.dir}` })

// The apiserver authorizes from informer caches. Sentinels created last, one per object kind,
// prove each informer has seen everything before them.
const SENTINEL = 'ems-rbac-sentinel'
const sentinelRule: PolicyRule = { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: [SENTINEL] }
await create('/clusterroles', 'ClusterRole', { metadata: { name: SENTINEL }, rules: [sentinelRule] })
await create(`/namespaces/${NAMESPACES[0]}/roles`, 'Role', { metadata: { name: SENTINEL, namespace: NAMESPACES[0] }, rules: [sentinelRule] })
await create('/clusterrolebindings', 'ClusterRoleBinding', {
  metadata: { name: SENTINEL }, roleRef: { apiGroup: RBAC_GROUP, kind: 'ClusterRole', name: SENTINEL },
  subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: `${SENTINEL}-cluster` }],
})
await create(`/namespaces/${NAMESPACES[0]}/rolebindings`, 'RoleBinding', {
  metadata: { name: SENTINEL, namespace: NAMESPACES[0] }, roleRef: { apiGroup: RBAC_GROUP, kind: 'Role', name: SENTINEL },
  subjects: [{ kind: 'User', apiGroup: RBAC_GROUP, name: `${SENTINEL}-ns` }],
})

interface SarAnswer { allowed: boolean, denied: boolean, reason: string, evaluationError: string }
async function sar (user: UserInfo, attrs: RbacAttributes): Promise<SarAnswer> {
  const spec: Record<string, unknown> = { user: user.name, groups: user.groups }
  if (attrs.isResourceRequest) {
    spec.resourceAttributes = {
      namespace: attrs.namespace, verb: attrs.verb, group: attrs.apiGroup, resource: attrs.resource, subresource: attrs.subresource, name: attrs.name,
    }
  } else {
    spec.nonResourceAttributes = { path: attrs.path, verb: attrs.verb }
  }
  const review = await admin.must('POST', '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
    body: { apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview', spec },
  })
  const s = review.status ?? {}
  return { allowed: s.allowed === true, denied: s.denied === true, reason: s.reason ?? '', evaluationError: s.evaluationError ?? '' }
}

await waitFor('the apiserver\'s RBAC informers to see the sentinels', async () => {
  const get = (name: string, namespace: string): RbacAttributes =>
    ({ isResourceRequest: true, verb: 'get', apiGroup: '', resource: 'configmaps', subresource: '', name, namespace, path: '' })
  const a = await sar({ name: `${SENTINEL}-cluster`, groups: [] }, get(SENTINEL, 'x'))
  const b = await sar({ name: `${SENTINEL}-ns`, groups: [] }, get(SENTINEL, NAMESPACES[0]!))
  return a.allowed && b.allowed ? true : undefined
}, { timeoutMs: 30_000, intervalMs: 200 })

const policy = await readPolicy()
const compiled: RbacAuthorizer = compilePolicy(policy)
const dangling = [...policy.roleBindings, ...policy.clusterRoleBindings].filter((b) => b.roleRef.kind === 'Role'
  ? !policy.roles.some((r) => r.metadata.namespace === b.metadata.namespace && r.metadata.name === b.roleRef.name)
  : !policy.clusterRoles.some((r) => r.metadata.name === b.roleRef.name))
const loadMs = Date.now() - started
t.comment(`policy: ${policy.roles.length} Roles, ${policy.clusterRoles.length} ClusterRoles ` +
  `(${policy.clusterRoles.filter((c) => c.aggregationRule != null).length} aggregated), ${policy.roleBindings.length} RoleBindings, ` +
  `${policy.clusterRoleBindings.length} ClusterRoleBindings (${dangling.length} bindings with a dangling roleRef); loaded, aggregated (${aggregationRounds} polls) and synced in ${loadMs} ms`)

t.test('the aggregated ClusterRoles are what aggregateClusterRoles predicts', async (t) => {
  const predicted = aggregateClusterRoles(policy.clusterRoles)
  let checked = 0
  for (const [i, c] of policy.clusterRoles.entries()) {
    if (c.aggregationRule == null) continue
    checked++
    t.ok(sameRules(c.rules, predicted[i]!.rules), `${c.metadata.name}: ${c.rules?.length ?? 0} rules`)
  }
  t.ok(checked >= 6, `${checked} aggregated ClusterRoles (ours and the bootstrap ones)`)
  // The controller did the work: wherever the converged rules differ from what was created, it
  // is the one that wrote them.
  let rewritten = 0
  for (const created of generated.clusterRoles.filter((c) => c.aggregationRule != null)) {
    const live = policy.clusterRoles.find((c) => c.metadata.name === created.metadata.name)!
    if (sameRules(live.rules, created.rules)) continue
    rewritten++
    const managers = ((live.metadata.managedFields ?? []) as Array<{ manager?: string }>).map((m) => m.manager)
    t.ok(managers.includes('clusterrole-aggregation-controller'), `${live.metadata.name} rewritten by the aggregation controller`)
  }
  t.ok(rewritten > 0, `${rewritten} of our aggregated ClusterRoles were rewritten by the controller`)
  // Sources labelled aggregate-to-view reached admin through view and edit.
  const viewSources = policy.clusterRoles.filter((c) => c.metadata.labels?.[AGGREGATE_TO_VIEW] === 'true' && c.metadata.name.startsWith('ems-'))
  const adminRole = policy.clusterRoles.find((c) => c.metadata.name === 'admin')!
  for (const s of viewSources) {
    for (const r of s.rules ?? []) t.ok(adminRole.rules!.some((x) => policyRulesEqual(x, r)), `admin has ${s.metadata.name}'s rule`)
  }
})

t.test('serviceAccountUser is the user a ServiceAccount token authenticates as', async (t) => {
  const ns = NAMESPACES[1]!
  const sa = await admin.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'token-check' } } })
  const tr = await admin.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts/token-check/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { audiences: [], expirationSeconds: 600 } },
  })
  const review = await admin.must('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: tr.status.token } },
  })
  const want = serviceAccountUser(ns, 'token-check', sa.metadata.uid)
  t.same({ name: review.status.user.username, uid: review.status.user.uid, groups: review.status.user.groups },
    { name: want.name, uid: want.uid, groups: want.groups })
})

t.test(`SubjectAccessReview and the local evaluator agree (${RANDOM_REQUESTS} random + ${GRANT_REQUESTS} granted requests)`, async (t) => {
  const cases: Array<{ user: UserInfo, attrs: RbacAttributes, kind: 'random' | 'granted' }> = []
  for (let i = 0; i < RANDOM_REQUESTS; i++) cases.push({ user: randomUser(), attrs: randomAttributes(), kind: 'random' })
  while (cases.length < RANDOM_REQUESTS + GRANT_REQUESTS) {
    const g = grantedRequest(policy)
    if (g !== undefined) cases.push({ ...g, kind: 'granted' })
  }
  const mismatches: string[] = []
  const split = { random: { allow: 0, deny: 0 }, granted: { allow: 0, deny: 0 } }
  let reasonsChecked = 0
  let denyReasons = 0
  const began = Date.now()
  await pool(cases, CONCURRENCY, async ({ user, attrs, kind }) => {
    const theirs = await sar(user, attrs)
    const ours = compiled.authorize(user, attrs)
    split[kind][theirs.allowed ? 'allow' : 'deny']++
    const problems: string[] = []
    if (theirs.allowed !== ours.ok) problems.push('allowed differs')
    if (theirs.denied) problems.push('apiserver says denied (RBAC never denies)')
    if (theirs.evaluationError !== '') problems.push(`evaluationError ${theirs.evaluationError}`)
    const explanation = compiled.explain(user, attrs)
    if (theirs.allowed && ours.ok && problems.length === 0) {
      // Several bindings may allow; the apiserver names the first in its informer's order.
      const possible = theirs.reason === '' ? [''] : explanation.matches.map((m) => `RBAC: allowed by ${m.source}`)
      if (ours.reason === '' ? theirs.reason !== '' : !possible.includes(theirs.reason)) problems.push('allow reason differs')
    }
    if (!theirs.allowed && !ours.ok && normalizeReason(theirs.reason) !== normalizeReason(chainDenyReason(ours.reason, kubeVersion))) problems.push('deny reason differs')
    if (!theirs.allowed && theirs.reason !== '') denyReasons++
    if (problems.length === 0) { reasonsChecked++; return }
    mismatches.push([
      `MISMATCH (${problems.join('; ')}) RBAC_SEED=${SEED} ${kind}`,
      `  request: ${describeRequest(user, attrs)}`,
      `  apiserver: ${JSON.stringify(theirs)}`,
      `  local:     ${JSON.stringify(ours)}`,
      `  local matching rules: ${JSON.stringify(explanation.matches.map((m) => ({ source: m.source, rule: m.rule })))}`,
      `  local resolution errors: ${JSON.stringify(explanation.errors)}`,
    ].join('\n'))
  })
  const ms = Date.now() - began
  t.comment(`allow/deny: random ${split.random.allow}/${split.random.deny}, granted ${split.granted.allow}/${split.granted.deny}; ` +
    `${cases.length} SubjectAccessReviews in ${ms} ms (${CONCURRENCY} at a time); ${denyReasons} denials carried a reason (dangling roleRefs)`)
  for (const m of mismatches.slice(0, 20)) t.comment(m)
  t.equal(mismatches.length, 0, `zero mismatches out of ${cases.length} (allowed and reason text)`)
  t.equal(reasonsChecked, cases.length)
  t.ok(split.random.allow + split.granted.allow >= GRANT_REQUESTS / 2, 'allow paths are well represented')
})

// Real requests, impersonating random users: the apiserver's 403 is the Status the evaluator renders.
const dispatcher = new Agent({ connect: { ca: cluster.pki.caPem }, connections: CONCURRENCY })
t.teardown(() => dispatcher.close())

async function impersonated (user: UserInfo, method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> {
  const headers: Record<string, string | string[]> = {
    authorization: `Bearer ${cluster.adminToken}`, accept: 'application/json', 'impersonate-user': user.name,
  }
  if (user.groups.length > 0) headers['impersonate-group'] = user.groups
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await request(new URL(path, cluster.url), { method: method as 'GET', headers, dispatcher, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
  const text = await res.body.text()
  let parsed: unknown = text
  try { parsed = JSON.parse(text) } catch {}
  return { status: res.statusCode, body: parsed }
}

function randomPath (): string {
  if (chance(0.2)) return pick(REQUEST_PATHS)
  const group = pick(['', '', 'apps'])
  const resource = group === 'apps' ? pick(['deployments', 'replicasets', 'deployments']) : pick(['configmaps', 'pods', 'secrets', 'services', 'nodes', 'namespaces'])
  const ns = pick(REQUEST_NAMESPACES)
  const base = group === '' ? '/api/v1' : `/apis/${group}/v1`
  const scope = ns === '' ? base : `${base}/namespaces/${ns}`
  if (chance(0.35)) return `${scope}/${resource}${chance(0.3) ? `?fieldSelector=metadata.name%3D${pick(NAMES)}` : ''}`
  const name = pick(NAMES)
  return `${scope}/${resource}/${name}${chance(0.3) ? `/${pick(['status', 'log', 'scale'])}` : ''}`
}

t.test(`real GETs under impersonation: 403 bodies are forbiddenStatus (${REAL_REQUESTS} requests)`, async (t) => {
  const cases = Array.from({ length: REAL_REQUESTS }, () => {
    let user = randomUser()
    while (user.groups.includes('system:masters')) user = randomUser()
    return { user, path: randomPath() }
  })
  // What impersonation makes of the headers (k8s.io/apiserver endpoints/filters/impersonation.go),
  // cross-checked with a SelfSubjectReview wherever the user may create one.
  const impersonatedUser = (user: UserInfo): UserInfo => {
    let groups = [...user.groups]
    const sa = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(user.name)
    if (sa !== null && groups.length === 0) groups = serviceAccountUser(sa[1]!, sa[2]!).groups.slice(0, 2)
    if (user.name !== 'system:anonymous') {
      if (!groups.some((g) => g === 'system:authenticated' || g === 'system:unauthenticated')) groups.push('system:authenticated')
    } else if (!groups.includes('system:unauthenticated')) {
      groups.push('system:unauthenticated')
    }
    return { name: user.name, groups }
  }
  const effective = new Map<string, Promise<UserInfo>>()
  let selfReviews = 0
  const whoAmI = (user: UserInfo): Promise<UserInfo> => {
    const key = JSON.stringify(user)
    let p = effective.get(key)
    if (p === undefined) {
      const expected = impersonatedUser(user)
      effective.set(key, p = impersonated(user, 'POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews',
        { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }).then((r) => {
        if (r.status === 403) return expected // no right to ask; the authorization of that was compared below anyway
        if (r.status !== 201) throw new Error(`SelfSubjectReview as ${key}: ${r.status} ${JSON.stringify(r.body)}`)
        selfReviews++
        const info = r.body.status.userInfo
        t.same({ name: info.username, groups: info.groups ?? [] }, expected, `impersonation of ${key}`)
        return expected
      }))
    }
    return p
  }
  const mismatches: string[] = []
  let forbidden = 0
  let withReason = 0
  await pool(cases, CONCURRENCY, async ({ user, path }) => {
    const who = await whoAmI(user)
    const info = requestInfo('GET', path)
    if (!info.ok) throw new Error(info.message)
    const attrs = info.info
    const ours = compiled.authorize(who, attrs)
    const res = await impersonated(user, 'GET', path)
    const theirsAllowed = res.status !== 403
    let problem: string | undefined
    if (theirsAllowed !== ours.ok) {
      problem = 'allowed differs'
    } else if (!ours.ok) {
      forbidden++
      if (ours.reason !== '') withReason++
      const want = forbiddenStatus(attrs, who, chainDenyReason(ours.reason, kubeVersion))
      const got = res.body as { message?: string }
      const norm = (s: { message?: string }) => JSON.stringify({ ...s, message: (s.message ?? '').replace(/RBAC: \[(.*)\]$/, (_, inner: string) => `RBAC: [${inner.split(', ').sort().join(', ')}]`) })
      if (norm(got) !== norm(want)) problem = `403 body differs\n  want ${JSON.stringify(want)}\n  got  ${JSON.stringify(got)}`
    }
    if (problem !== undefined) {
      mismatches.push(`MISMATCH (${problem}) RBAC_SEED=${SEED}\n  GET ${path} as ${JSON.stringify(who)} -> ${res.status}\n  local: ${JSON.stringify(ours)}`)
    }
  })
  t.comment(`${forbidden} of ${cases.length} real requests were 403 (${withReason} with an RBAC reason); ${selfReviews} impersonated identities confirmed by SelfSubjectReview`)
  for (const m of mismatches.slice(0, 20)) t.comment(m)
  t.equal(mismatches.length, 0, `zero mismatches out of ${cases.length}`)
  t.ok(forbidden > 0 && forbidden < cases.length, 'both outcomes seen')
})

t.test('the cluster stayed healthy', async (t) => {
  t.equal(cluster.healthy, true)
  t.comment(`differential test body ran in ${Date.now() - started} ms after cluster start`)
})
