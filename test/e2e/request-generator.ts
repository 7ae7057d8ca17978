// Seeded generator for the request-level differential test (test/e2e/request-differential.test.ts):
// a random but valid RBAC policy in every subject and binding shape kube-apiserver accepts, and
// thousands of random requests — verbs and odd methods, paths with encodings and odd segments,
// absolute-form targets, raw bytes, query parameters valid and invalid, label and field selectors
// in every form, impersonation, header counts and sizes up to kube-apiserver's limits and past
// them, bodies sized or chunked around the edge's body limit. Everything comes from one seed, so a
// run replays exactly (REQUEST_SEED). Writes always carry `dryRun=All` as an untouched parameter of
// their own, so nothing the test sends changes kube-apiserver's state between the sends.

import { prng } from '../helpers/prng.js'

export { prng }

export class Dice {
  constructor (readonly rand: () => number) {}
  chance (p: number): boolean { return this.rand() < p }
  int (lo: number, hi: number): number { return lo + Math.floor(this.rand() * (hi - lo + 1)) }
  pick<T> (xs: readonly T[]): T { return xs[Math.floor(this.rand() * xs.length)]! }
  some<T> (xs: readonly T[], lo: number, hi: number): T[] {
    const pool = [...xs]
    const out: T[] = []
    for (let n = Math.min(this.int(lo, hi), pool.length); n > 0; n--) out.push(pool.splice(Math.floor(this.rand() * pool.length), 1)[0]!)
    return out
  }
}

// ---------------------------------------------------------------------------------------------
// The world both the policy and the requests talk about. Fixed names: the cluster is fresh per
// run, and a printed reproduction can then be pasted as is.

export const NS = { a: 'rd-a', b: 'rd-b', c: 'rd-c' } as const
/** Namespaces with pods on the edge's node (a, b) and one without (c), plus some that are not there. */
export const NAMESPACES = [NS.a, NS.b, NS.c]
export const CONFIGMAPS = ['n1', 'n2', 'n3']
export const SECRETS = ['s1', 's2']
export const CM_LABELS: Record<string, Record<string, string>> = {
  n1: { app: 'x', tier: 'front' }, n2: { app: 'y', tier: 'front' }, n3: { app: 'x' },
}

/** Pods on the edge's node: identity name → namespace/serviceAccount. */
export const IDENTITIES = [
  { id: 'alpha', namespace: NS.a, serviceAccount: 'alpha' },
  { id: 'beta', namespace: NS.a, serviceAccount: 'beta' },
  { id: 'gamma', namespace: NS.b, serviceAccount: 'gamma' },
  { id: 'delta', namespace: NS.b, serviceAccount: 'delta' },
] as const
/** A pod bound to another node: the edge refuses its token by design (node restriction). */
export const FOREIGN = { id: 'omega', namespace: NS.a, serviceAccount: 'omega' } as const

export const saUser = (namespace: string, sa: string): string => `system:serviceaccount:${namespace}:${sa}`

// ---------------------------------------------------------------------------------------------
// The policy.

const RBAC = 'rbac.authorization.k8s.io'
const VERBS = ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection']
const RULE_RESOURCES = ['configmaps', 'secrets', 'pods', 'services', 'serviceaccounts', 'configmaps', 'secrets', '*']

export interface PolicyObjects {
  /** In creation order; some bindings come before the role they reference. */
  objects: Array<{ path: string, body: Record<string, unknown>, shape: string }>
  /** What the policy grants to which pods, where ('' = every namespace): requests built from these are often allowed. */
  grants: Grant[]
}

export interface Grant { ids: string[], namespace: string, rules: Rule[] }
interface Rule { apiGroups?: string[], resources?: string[], verbs?: string[], resourceNames?: string[] }

function randomRules (d: Dice): unknown[] {
  return Array.from({ length: d.int(1, 2) }, () => {
    const rule: Record<string, unknown> = {
      apiGroups: d.chance(0.85) ? [''] : d.pick([['', 'apps'], ['*']]),
      resources: d.some(RULE_RESOURCES, 1, 2),
      verbs: d.chance(0.1) ? ['*'] : d.some(VERBS, 1, 4),
    }
    if (d.chance(0.4)) rule.resourceNames = d.some([...CONFIGMAPS, ...SECRETS, 'nope'], 1, 2)
    return rule
  })
}

/** Narrow rules for bindings that reach everyone (groups): a name or two, reads only. */
function narrowRules (d: Dice): unknown[] {
  return [{ apiGroups: [''], resources: [d.pick(['configmaps', 'secrets'])], verbs: d.some(['get', 'list', 'watch'], 1, 2), resourceNames: [d.pick([...CONFIGMAPS, ...SECRETS])] }]
}

export function generatePolicy (d: Dice): PolicyObjects {
  const objects: PolicyObjects['objects'] = []
  const grants: Grant[] = []
  const rulesOf = new Map<string, Rule[]>() // "ns/role" or "/clusterrole"
  let n = 0
  const role = (ns: string, name: string, rules: unknown[], shape: string): void => {
    rulesOf.set(`${ns}/${name}`, rules as Rule[])
    objects.push({ path: `/apis/${RBAC}/v1/namespaces/${ns}/roles`, shape, body: { apiVersion: `${RBAC}/v1`, kind: 'Role', metadata: { name }, rules } })
  }
  const clusterRole = (name: string, rules: unknown[], shape: string): void => {
    rulesOf.set(`/${name}`, rules as Rule[])
    objects.push({ path: `/apis/${RBAC}/v1/clusterroles`, shape, body: { apiVersion: `${RBAC}/v1`, kind: 'ClusterRole', metadata: { name }, rules } })
  }
  const roleBinding = (ns: string, roleRef: { kind: string, name: string }, subjects: unknown[], shape: string): void => {
    objects.push({
      path: `/apis/${RBAC}/v1/namespaces/${ns}/rolebindings`, shape,
      body: { apiVersion: `${RBAC}/v1`, kind: 'RoleBinding', metadata: { name: `rd-rb-${++n}` }, roleRef: { apiGroup: RBAC, ...roleRef }, subjects },
    })
  }
  const clusterRoleBinding = (roleName: string, subjects: unknown[], shape: string): void => {
    objects.push({
      path: `/apis/${RBAC}/v1/clusterrolebindings`, shape,
      body: { apiVersion: `${RBAC}/v1`, kind: 'ClusterRoleBinding', metadata: { name: `rd-crb-${++n}` }, roleRef: { apiGroup: RBAC, kind: 'ClusterRole', name: roleName }, subjects },
    })
  }
  const identity = (): typeof IDENTITIES[number] => d.pick(IDENTITIES)
  const bindingNs = (): string => d.pick(NAMESPACES)
  const saSubject = (i: { namespace: string, serviceAccount: string }): unknown => ({ kind: 'ServiceAccount', name: i.serviceAccount, namespace: i.namespace })

  // Every shape at least once; most twice, with random rules each time.
  for (let k = d.int(1, 2); k > 0; k--) { // RoleBinding → Role, ServiceAccount subject with namespace
    const i = identity(); const ns = d.chance(0.6) ? i.namespace : bindingNs(); const name = `rd-role-${++n}`
    role(ns, name, randomRules(d), 'sa-subject')
    roleBinding(ns, { kind: 'Role', name }, [saSubject(i)], 'sa-subject')
  }
  for (let k = d.int(1, 2); k > 0; k--) { // ServiceAccount subject without namespace: the binding's namespace
    const i = identity(); const name = `rd-role-${++n}`
    role(i.namespace, name, randomRules(d), 'sa-subject-no-namespace')
    roleBinding(i.namespace, { kind: 'Role', name }, [{ kind: 'ServiceAccount', name: i.serviceAccount }], 'sa-subject-no-namespace')
  }
  for (let k = d.int(1, 2); k > 0; k--) { // a RoleBinding in a namespace without pods, for an SA of another namespace
    const i = identity(); const name = `rd-role-${++n}`
    role(NS.c, name, randomRules(d), 'cross-namespace')
    roleBinding(NS.c, { kind: 'Role', name }, [saSubject(i)], 'cross-namespace')
  }
  for (let k = d.int(1, 2); k > 0; k--) { // a ClusterRole referenced by a RoleBinding
    const i = identity(); const name = `rd-cr-${++n}`
    clusterRole(name, randomRules(d), 'clusterrole-via-rolebinding')
    roleBinding(d.chance(0.5) ? i.namespace : bindingNs(), { kind: 'ClusterRole', name }, [saSubject(i)], 'clusterrole-via-rolebinding')
  }
  for (let k = d.int(1, 2); k > 0; k--) { // ClusterRoleBinding
    const i = identity(); const name = `rd-cr-${++n}`
    clusterRole(name, randomRules(d), 'clusterrolebinding')
    clusterRoleBinding(name, [saSubject(i)], 'clusterrolebinding')
  }
  for (let k = d.int(1, 2); k > 0; k--) { // User subject spelling out a service account
    const i = identity(); const ns = d.chance(0.5) ? i.namespace : bindingNs(); const name = `rd-role-${++n}`
    role(ns, name, randomRules(d), 'user-serviceaccount')
    roleBinding(ns, { kind: 'Role', name }, [{ kind: 'User', apiGroup: RBAC, name: saUser(i.namespace, i.serviceAccount) }], 'user-serviceaccount')
  }
  { // Group of all service accounts of one namespace
    const ns = bindingNs(); const name = `rd-role-${++n}`
    role(ns, name, narrowRules(d), 'group-serviceaccounts-namespace')
    roleBinding(ns, { kind: 'Role', name }, [{ kind: 'Group', apiGroup: RBAC, name: `system:serviceaccounts:${d.pick([NS.a, NS.b])}` }], 'group-serviceaccounts-namespace')
  }
  // Group of all service accounts, and all authenticated users
  for (const group of ['system:serviceaccounts', 'system:authenticated']) {
    const ns = bindingNs(); const name = `rd-role-${++n}`
    role(ns, name, narrowRules(d), `group-${group}`)
    roleBinding(ns, { kind: 'Role', name }, [{ kind: 'Group', apiGroup: RBAC, name: group }], `group-${group}`)
  }

  { // A binding whose Role appears only later
    const i = identity(); const name = `rd-role-${++n}`
    roleBinding(i.namespace, { kind: 'Role', name }, [saSubject(i)], 'roleref-appears-later')
    role(i.namespace, name, randomRules(d), 'roleref-appears-later')
  }
  { // A dangling roleRef: grants nothing
    const i = identity()
    roleBinding(i.namespace, { kind: 'Role', name: 'rd-missing-role' }, [saSubject(i)], 'dangling-roleref')
  }
  { // Several subjects in one binding, mixing shapes
    const i = identity(); const j = identity(); const name = `rd-cr-${++n}`
    clusterRole(name, randomRules(d), 'mixed-subjects')
    roleBinding(j.namespace, { kind: 'ClusterRole', name }, [
      { kind: 'User', apiGroup: RBAC, name: 'nobody' }, { kind: 'Group', apiGroup: RBAC, name: 'no-such-group' },
      { kind: 'ServiceAccount', name: j.serviceAccount }, saSubject(i),
    ], 'mixed-subjects')
  }
  // Users and groups no pod is, but a pod may impersonate: their rights are what kube-apiserver
  // then checks. Two pods get impersonation rights, one of them narrowed by resourceNames.
  for (const ns of [NS.a, NS.b]) {
    const name = `rd-role-${++n}`
    role(ns, name, [{ apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: ['get', 'list', 'watch'] }], 'impersonated-user-rights')
    roleBinding(ns, { kind: 'Role', name }, [{ kind: 'User', apiGroup: RBAC, name: 'alice' }, { kind: 'Group', apiGroup: RBAC, name: 'devs' }], 'impersonated-user-rights')
  }
  {
    const [i, j] = d.some(IDENTITIES, 2, 2) as [typeof IDENTITIES[number], typeof IDENTITIES[number]]
    clusterRole('rd-impersonate-all', [{ apiGroups: [''], resources: ['users', 'groups', 'serviceaccounts'], verbs: ['impersonate'] }], 'impersonate')
    clusterRoleBinding('rd-impersonate-all', [saSubject(i)], 'impersonate')
    clusterRole('rd-impersonate-alice', [{ apiGroups: [''], resources: ['users'], verbs: ['impersonate'], resourceNames: ['alice'] }], 'impersonate')
    clusterRoleBinding('rd-impersonate-alice', [saSubject(j)], 'impersonate')
  }
  // Who each binding reaches among the pods, and with which rules (roles may come after their binding).
  for (const o of objects) {
    const kind = o.body.kind as string
    if (!kind.endsWith('Binding')) continue
    const ns = kind === 'RoleBinding' ? o.path.split('/')[5]! : ''
    const roleRef = o.body.roleRef as { kind: string, name: string }
    const rules = rulesOf.get(roleRef.kind === 'Role' ? `${ns}/${roleRef.name}` : `/${roleRef.name}`)
    if (rules === undefined) continue
    const ids = IDENTITIES.filter((i) => (o.body.subjects as Array<{ kind: string, name: string, namespace?: string }>).some((sub) =>
      (sub.kind === 'ServiceAccount' && sub.name === i.serviceAccount && (sub.namespace ?? ns) === i.namespace) ||
      (sub.kind === 'User' && sub.name === saUser(i.namespace, i.serviceAccount)) ||
      (sub.kind === 'Group' && ['system:serviceaccounts', 'system:authenticated', `system:serviceaccounts:${i.namespace}`].includes(sub.name)))).map((i) => i.id)
    if (ids.length > 0) grants.push({ ids, namespace: ns, rules })
  }
  return { objects, grants }
}

// ---------------------------------------------------------------------------------------------
// The requests.

export type Auth = { kind: 'pod', id: string } | { kind: 'none' } | { kind: 'raw', value: string, note: string } |
  { kind: 'two-pods', first: string, second: string }

export interface BodySpec {
  size: number
  framing: 'sized' | 'chunked'
  /** JSON of the resource's kind padded to `size`, or bytes that are no JSON at all. */
  kind: 'json' | 'junk'
}

export interface RequestCase {
  index: number
  method: string
  /** Origin-form target, one character per byte (latin1). */
  target: string
  /** Absolute-form request target: with the server's own authority, or another one. */
  absolute: 'no' | 'self' | 'foreign'
  auth: Auth
  /** Extra headers besides Host, Authorization and the body framing; filler headers are described by `filler`. */
  headers: Array<[string, string]>
  /** `count` headers `x-rd-fill-<n>` whose values add up to about `bytes` bytes. */
  filler?: { count: number, bytes: number }
  body?: BodySpec
  /** A watch (or might be one): read only the status line and headers of a 2xx. */
  watchLike: boolean
  tags: string[]
}

export const MiB = 1024 * 1024
export const BODY_LIMIT = 3 * MiB

const ODD_METHODS = ['OPTIONS', 'TRACE', 'get', 'Get', 'FOO', 'PROPFIND', 'CONNECT', 'PURGE']
const ACCEPTS = [
  'application/json', 'application/json', 'application/json', 'application/json, */*',
  'application/json;as=Table;v=v1;g=meta.k8s.io,application/json',
  'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json',
  'application/vnd.kubernetes.protobuf', 'application/vnd.kubernetes.protobuf,application/json',
  'application/yaml', '*/*', 'text/html', 'application/json;as=Bogus;v=v1;g=meta.k8s.io',
]
const NON_RESOURCE = ['/api', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/version', '/openapi/v3', '/apis/rbac.authorization.k8s.io/v1',
  '/foo', '/', '/apis/apps/v9', '/logs', '/api/v2', '/apis/authorization.k8s.io/v1', '/.well-known/openid-configuration', '/openid/v1/jwks']
const LABEL_SELECTORS = ['app=x', 'app=y', 'app = x', 'app==x', 'app in (x,y)', 'app notin (x)', 'app!=x', 'app', '!app', 'tier=front,app=x',
  '===', 'app=x,app=y', 'app=%20x', 'a b', 'app%3Dx', 'app=x,', ',', 'app in (x', 'tier', 'app=x%2Capp%3Dy', '', 'app=x&labelSelector=app=y']
const FIELD_SELECTORS = ['metadata.name=n1', 'metadata.name==n1', 'metadata.name%3Dn1', 'metadata.name=%20n1', 'metadata.name%3D%20n1',
  'metadata.name=n1%20', 'metadata.name=n1,metadata.name=n2', 'metadata.name=n2,metadata.name=n1', 'metadata.name!=n1',
  'metadata.namespace=rd-a', 'metadata.namespace=rd-a,metadata.name=n1', 'metadata.name=n1,metadata.namespace=rd-b', 'metadata.name=n1%5C,x',
  'metadata.name=n1\\,x', 'spec.bogus=x', '=', 'metadata.name', 'metadata.name=n1&fieldSelector=metadata.name%3Dn2', 'metadata.name=s1',
  'metadata.name=', 'metadata.name=n1,metadata.name=n1', 'type=Opaque', 'metadata.name in (n1)', 'metadata.name%3Dn1%2Cmetadata.name%3Dn2']
const QUERY_PARAMS: Array<[string, string[]]> = [
  ['limit', ['1', '2', '500', 'abc', '-1', '', '1e3', '0']],
  ['timeoutSeconds', ['1', 'x', '-5', '']],
  ['resourceVersion', ['0', '', 'abc', '999999999', '1']],
  ['resourceVersionMatch', ['NotOlderThan', 'Exact', 'bogus']],
  ['continue', ['garbage', '']],
  ['pretty', ['true', 'x']],
  ['allowWatchBookmarks', ['true', 'junk']],
  ['sendInitialEvents', ['true', 'false']],
  ['includeObject', ['Object', 'None', 'x']],
  ['propagationPolicy', ['Background', 'Nope']],
  ['fieldManager', ['rd', '']],
  ['unknownParam', ['1']],
  ['%6cimit', ['abc']],
  ['field%53elector', ['metadata.name=n1']],
]
const WATCH_VALUES = ['1', 'true', 'True', 'false', '0', 'yes', 'f', '', 'FALSE']
const IMPERSONATE_USERS = ['alice', 'alice', 'nobody', saUser(NS.a, 'beta'), saUser(NS.b, 'gamma'), 'system:anonymous', 'system:admin', '']
const IMPERSONATE_GROUPS = ['devs', 'system:masters', 'system:authenticated', 'nobody']

interface Scope { base: string, resource: string, namespaced: boolean, group: string, names: string[] }

function resourceScope (d: Dice): Scope {
  const r = d.rand()
  if (r < 0.45) return { base: '/api/v1', resource: 'configmaps', namespaced: true, group: '', names: [...CONFIGMAPS, 'missing'] }
  if (r < 0.7) return { base: '/api/v1', resource: 'secrets', namespaced: true, group: '', names: [...SECRETS, 'missing', 'n1'] }
  if (r < 0.76) return { base: '/api/v1', resource: 'pods', namespaced: true, group: '', names: ['p-missing'] }
  if (r < 0.8) return { base: '/api/v1', resource: 'services', namespaced: true, group: '', names: ['svc-missing'] }
  if (r < 0.84) return { base: '/api/v1', resource: 'serviceaccounts', namespaced: true, group: '', names: ['alpha', 'missing'] }
  if (r < 0.88) return { base: '/apis/apps/v1', resource: 'deployments', namespaced: true, group: 'apps', names: ['d-missing'] }
  if (r < 0.91) return { base: '/apis/rbac.authorization.k8s.io/v1', resource: d.pick(['roles', 'rolebindings']), namespaced: true, group: RBAC, names: ['rd-missing'] }
  if (r < 0.94) return { base: '/api/v1', resource: 'namespaces', namespaced: false, group: '', names: [...NAMESPACES, 'default'] }
  if (r < 0.96) return { base: '/api/v1', resource: 'nodes', namespaced: false, group: '', names: ['rd-edge', 'missing'] }
  if (r < 0.98) return { base: '/api/v1', resource: 'bogusthings', namespaced: true, group: '', names: ['x'] }
  return { base: '/apis/rbac.authorization.k8s.io/v1', resource: 'clusterroles', namespaced: false, group: RBAC, names: ['view', 'rd-impersonate-all'] }
}

const SUBRESOURCES: Record<string, string[]> = {
  configmaps: ['status', 'bogus'], secrets: ['status'], pods: ['status', 'log', 'exec', 'eviction', 'binding', 'proxy'],
  services: ['status', 'proxy'], serviceaccounts: ['token'], deployments: ['scale', 'status'], namespaces: ['status', 'finalize'],
  nodes: ['status', 'proxy'],
}

function kindOf (resource: string): { apiVersion: string, kind: string } {
  const kinds: Record<string, [string, string]> = {
    configmaps: ['v1', 'ConfigMap'], secrets: ['v1', 'Secret'], pods: ['v1', 'Pod'], services: ['v1', 'Service'],
    serviceaccounts: ['v1', 'ServiceAccount'], deployments: ['apps/v1', 'Deployment'], namespaces: ['v1', 'Namespace'], nodes: ['v1', 'Node'],
  }
  const [apiVersion, kind] = kinds[resource] ?? ['v1', 'ConfigMap']
  return { apiVersion, kind }
}

/** The segments of a path mutated one way or another (tags name what was done). */
function mutatePath (d: Dice, path: string, tags: string[], write: boolean): string {
  let segs = path.split('/') // ['', 'api', 'v1', ...]
  const inner = (): number => d.int(1, segs.length - 1)
  if (d.chance(0.07)) { // a percent-encoded letter
    const i = inner(); const s = segs[i]!
    const letters = [...s].map((c, k) => /[a-z]/.test(c) ? k : -1).filter((k) => k >= 0)
    if (letters.length > 0) {
      const k = d.pick(letters); const hex = s.charCodeAt(k).toString(16)
      segs[i] = s.slice(0, k) + '%' + (d.chance(0.5) ? hex : hex.toUpperCase()) + s.slice(k + 1)
      tags.push('path:encoded-letter')
    }
  }
  if (d.chance(0.05) && segs.length > 3) { // an encoded slash joining two segments
    const i = d.int(2, segs.length - 1)
    segs = [...segs.slice(0, i - 1), `${segs[i - 1]}${d.pick(['%2F', '%2f'])}${segs[i]}`, ...segs.slice(i + 1)]
    tags.push('path:encoded-slash')
  }
  if (d.chance(0.04)) { const i = inner(); segs.splice(i, 0, ''); tags.push('path:double-slash') }
  if (d.chance(0.03)) { const i = inner(); segs.splice(i, 0, '.'); tags.push('path:dot') }
  if (d.chance(0.03)) { const i = inner(); segs.splice(i, 0, d.pick(['x', 'configmaps', 'namespaces']), '..'); tags.push('path:dot-dot') }
  if (d.chance(0.01)) { const i = inner(); segs.splice(i, 0, '%2e%2e'); tags.push('path:encoded-dot-dot') }
  if (d.chance(0.03)) {
    const i = segs.length - 1
    segs[i] = segs[i]! + d.pick(['\xff', '\xc3\xa9', '%ff', '%C3%A9', '\x80abc', '%00', ';x=1'])
    tags.push('path:odd-bytes')
  }
  if (!write && d.chance(0.01)) { const i = segs.length - 1; segs[i] = segs[i]! + d.pick(['%3Fwatch=1', '%23frag', '#frag']); tags.push('path:encoded-query') }
  let out = segs.join('/')
  if (d.chance(0.04)) { out += '/'; tags.push('path:trailing-slash') }
  if (!write && d.chance(0.004)) { out += d.pick([' x', '\x01', '\x7f']); tags.push('path:control-byte') }
  return out
}

function queryFor (d: Dice, listish: boolean, write: boolean, tags: string[]): string[] {
  const params: string[] = []
  if (listish && d.chance(0.35)) { params.push(`fieldSelector=${d.pick(FIELD_SELECTORS)}`); tags.push('query:fieldSelector') }
  if (listish && d.chance(0.3)) { params.push(`labelSelector=${d.pick(LABEL_SELECTORS)}`); tags.push('query:labelSelector') }
  if (listish && d.chance(0.04)) { params.push(`fieldSelector=${d.pick(FIELD_SELECTORS)}`); tags.push('query:duplicate-selector') }
  for (let k = d.chance(0.45) ? d.int(1, 3) : 0; k > 0; k--) {
    const [name, values] = d.pick(QUERY_PARAMS)
    params.push(`${name}=${d.pick(values)}`)
    tags.push('query:params')
  }
  if (!write && d.chance(0.01)) { params.push(d.pick(['limit=1;watch=1', 'a=%zz', 'limit=%', '&&', '=x'])); tags.push('query:malformed') }
  return d.some(params, params.length, params.length) // shuffled
}

function authFor (d: Dice, tags: string[]): Auth {
  const r = d.rand()
  if (r < 0.88) return { kind: 'pod', id: d.pick(IDENTITIES).id }
  if (r < 0.91) { tags.push('auth:none'); return { kind: 'none' } }
  if (r < 0.94) {
    tags.push('auth:odd')
    return d.pick<Auth>([
      { kind: 'raw', value: 'Bearer abc.def.ghi', note: 'garbage token' },
      { kind: 'raw', value: 'Basic YWRtaW46YWRtaW4=', note: 'basic auth' },
      { kind: 'raw', value: 'Bearer', note: 'bearer without token' },
      { kind: 'raw', value: 'bearer {token:alpha}', note: 'lower-case scheme' },
      { kind: 'raw', value: 'Bearer {token:gamma}x', note: 'token with a byte appended' },
      { kind: 'raw', value: 'Bearer  {token:beta} ', note: 'extra spaces' },
    ])
  }
  if (r < 0.97) { tags.push('auth:foreign-node'); return { kind: 'pod', id: FOREIGN.id } }
  tags.push('auth:two-headers')
  return { kind: 'two-pods', first: d.pick(IDENTITIES).id, second: d.pick(IDENTITIES).id }
}

interface Base { method: string, path: string, listish: boolean, watchLike: boolean, params: string[], auth?: Auth }

const VERB_METHODS: Record<string, string> = {
  get: 'GET', list: 'GET', watch: 'GET', create: 'POST', update: 'PUT', patch: 'PATCH', delete: 'DELETE', deletecollection: 'DELETE',
}

/** A request one of the policy's rules grants to one of its pods (before the mutations every case gets). */
function grantedBase (d: Dice, grant: Grant, tags: string[]): Base {
  tags.push('from-grant')
  const rule = d.pick(grant.rules)
  const verbs = (rule.verbs ?? []).includes('*') ? VERBS : rule.verbs ?? ['get']
  const verb = d.pick(verbs)
  const resources = (rule.resources ?? []).map((r) => r === '*' ? d.pick(['configmaps', 'secrets', 'pods']) : r)
  const resource = d.pick(resources.length > 0 ? resources : ['configmaps'])
  const group = (rule.apiGroups ?? ['']).includes('') || (rule.apiGroups ?? []).includes('*') ? '' : 'apps'
  const base = group === '' ? '/api/v1' : '/apis/apps/v1'
  const ns = grant.namespace !== '' ? grant.namespace : d.pick(NAMESPACES)
  const collection = `${base}/namespaces/${ns}/${resource}`
  const pool = resource === 'secrets' ? SECRETS : resource === 'configmaps' ? CONFIGMAPS : ['missing']
  const name = rule.resourceNames !== undefined ? d.pick(rule.resourceNames) : d.pick(pool)
  const params: string[] = []
  const byName = rule.resourceNames !== undefined || d.chance(0.2)
  switch (verb) {
    case 'list': case 'watch': case 'deletecollection':
      if (byName) params.push(`fieldSelector=metadata.name%3D${name}`)
      if (verb === 'watch') params.push(d.pick(['watch=1', 'watch=true']), 'timeoutSeconds=1')
      return { method: VERB_METHODS[verb]!, path: collection, listish: true, watchLike: verb === 'watch', params, auth: { kind: 'pod', id: d.pick(grant.ids) } }
    case 'create':
      return { method: 'POST', path: collection, listish: false, watchLike: false, params, auth: { kind: 'pod', id: d.pick(grant.ids) } }
    default:
      return { method: VERB_METHODS[verb] ?? 'GET', path: `${collection}/${name}`, listish: false, watchLike: false, params, auth: { kind: 'pod', id: d.pick(grant.ids) } }
  }
}

/** A request anyone might send. */
function randomBase (d: Dice, tags: string[]): Base {
  const m = d.rand()
  const method = m < 0.66 ? 'GET' : m < 0.7 ? 'HEAD' : m < 0.77 ? 'POST' : m < 0.82 ? 'PUT' : m < 0.88 ? 'PATCH' : m < 0.95 ? 'DELETE' : d.pick(ODD_METHODS)
  if (m >= 0.95) tags.push('method:odd')
  if (d.chance(0.08)) {
    tags.push('path:non-resource')
    return { method, path: d.pick(NON_RESOURCE), listish: false, watchLike: false, params: [] }
  }
  const scope = resourceScope(d)
  const ns = d.chance(0.9) ? d.pick([NS.a, NS.a, NS.b, NS.b, NS.c, 'default', 'rd-nowhere']) : ''
  const named = d.chance(method === 'POST' ? 0.15 : 0.55)
  const name = named ? d.pick(scope.names) : ''
  const legacyWatch = method === 'GET' && d.chance(0.04)
  if (legacyWatch) tags.push('path:legacy-watch')
  const prefix = `${scope.base}${legacyWatch ? '/watch' : ''}`
  let path = scope.namespaced && ns !== '' ? `${prefix}/namespaces/${ns}/${scope.resource}` : `${prefix}/${scope.resource}`
  if (name !== '') {
    path += `/${name}`
    // Subresources only of objects that do not exist (no kubelet: log/exec/proxy must not wait).
    if (d.chance(0.08)) {
      const sub = d.pick(SUBRESOURCES[scope.resource] ?? ['status'])
      if (!(['log', 'exec', 'proxy'].includes(sub) && !/missing/.test(name))) { path += `/${sub}`; tags.push('path:subresource') }
    }
  }
  return { method, path, listish: name === '', watchLike: legacyWatch, params: [] }
}

/** One random request; about `grantShare` of them built from what the policy grants. */
export function generateCase (d: Dice, index: number, grants: Grant[] = [], grantShare = 0.45): RequestCase {
  const tags: string[] = []
  const headers: Array<[string, string]> = []
  const base = grants.length > 0 && d.chance(grantShare) ? grantedBase(d, d.pick(grants), tags) : randomBase(d, tags)
  const { method, listish } = base
  let { path, watchLike } = base
  const write = ['POST', 'PUT', 'PATCH', 'DELETE'].includes(method)
  path = mutatePath(d, path, tags, write)

  // Query.
  const params: string[] = []
  if (write) params.push('dryRun=All') // first, alone and never mutated: writes must not change the apiserver's state
  params.push(...d.some(base.params, base.params.length, base.params.length), ...queryFor(d, listish || d.chance(0.1), write, tags))
  if (method === 'GET' && listish && !watchLike && d.chance(0.12)) {
    params.push(`watch=${d.pick(WATCH_VALUES)}`)
    if (d.chance(0.9)) params.push('timeoutSeconds=1')
    tags.push('query:watch')
  }
  if (d.chance(0.005)) { params.push(`pad=${'a'.repeat(d.pick([8 * 1024, 100 * 1024]))}`); tags.push('query:long-line') }
  const target = params.length === 0 ? path : `${path}?${params.join('&')}`
  if (/watch/i.test(target)) watchLike = true

  // Absolute form.
  const abs = d.rand()
  const absolute = abs < 0.04 ? 'self' : abs < 0.05 ? 'foreign' : 'no'
  if (absolute !== 'no') tags.push(`target:absolute-${absolute}`)

  // Who: the grant's pod, mostly.
  const auth = base.auth !== undefined && d.chance(0.92) ? base.auth : authFor(d, tags)

  // Headers.
  if (d.chance(0.85)) headers.push(['Accept', d.pick(ACCEPTS)])
  if (d.chance(0.5)) headers.push(['User-Agent', d.pick(['kubectl/v1.34.4 (linux/amd64) kubernetes/abc', 'rd-test', 'python-requests/2.31'])])
  if (d.chance(0.08)) {
    const user = d.pick(IMPERSONATE_USERS)
    const name = d.pick(['Impersonate-User', 'impersonate-user', 'IMPERSONATE-USER'])
    if (d.chance(0.85)) headers.push([name, user])
    for (let k = d.int(0, 2); k > 0; k--) headers.push(['Impersonate-Group', d.pick(IMPERSONATE_GROUPS)])
    if (d.chance(0.15)) headers.push(['Impersonate-Uid', 'u-1'])
    if (d.chance(0.15)) headers.push(['Impersonate-Extra-Scopes', 'view'])
    tags.push('header:impersonate')
  }
  if (d.chance(0.03)) {
    headers.push(d.pick<[string, string]>([['X-Remote-User', 'system:admin'], ['X-Remote-Group', 'system:masters'], ['X-Forwarded-For', '10.0.0.1'],
      ['Connection', 'close'], ['Accept-Encoding', 'gzip'], ['X-Ems-Control', '1'], ['Content-Type', 'application/json']]))
    tags.push('header:other')
  }
  let filler: RequestCase['filler']
  const h = d.rand()
  if (h < 0.05) {
    const count = d.pick([20, 100, 127, 128, 129, 150, 200, 300])
    filler = { count, bytes: count * 24 }
    tags.push(`header:count-${count > 128 ? 'over-128' : 'up-to-128'}`)
  } else if (h < 0.08) {
    // Sizes around Node's 16 KiB default and Go's 1 MiB (+4 KiB slack) limit of kube-apiserver.
    const bytes = d.pick([8 * 1024, 17 * 1024, 64 * 1024, 80 * 1024, 512 * 1024, MiB - 64 * 1024, MiB + 64 * 1024, 1.5 * MiB])
    filler = { count: bytes > 256 * 1024 ? d.int(4, 16) : d.int(1, 3), bytes }
    tags.push(`header:size-${bytes > MiB ? 'over-1MiB' : 'up-to-1MiB'}`)
  }

  // Body.
  let body: BodySpec | undefined
  if (write && (method !== 'DELETE' || d.chance(0.3))) {
    const b = d.rand()
    const size = b < 0.93
      ? d.int(40, 2000)
      : b < 0.97
        ? d.pick([16 * 1024, 64 * 1024, 256 * 1024])
        : d.pick([BODY_LIMIT - 1, BODY_LIMIT, BODY_LIMIT + 1, 3.5 * MiB])
    body = { size, framing: d.chance(0.5) ? 'sized' : 'chunked', kind: d.chance(0.9) ? 'json' : 'junk' }
    if (size >= BODY_LIMIT - 1) tags.push(`body:${size > BODY_LIMIT ? 'over' : 'at'}-limit-${body.framing}`)
    const types = method === 'PATCH'
      ? ['application/merge-patch+json', 'application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml', 'text/plain']
      : ['application/json', 'application/json', 'application/yaml', 'text/plain']
    if (d.chance(0.95)) headers.push(['Content-Type', d.pick(types)])
  } else if (!write && d.chance(0.02)) {
    body = { size: d.int(1, 64), framing: d.chance(0.5) ? 'sized' : 'chunked', kind: 'junk' }
    tags.push('body:on-read')
  }
  return {
    index, method, target, absolute, auth, headers, ...(filler === undefined ? {} : { filler }), ...(body === undefined ? {} : { body }),
    watchLike, tags: [...new Set(tags)],
  }
}

/** The body bytes of a case (JSON of the resource's kind padded to the size, or junk). */
export function bodyBytes (c: RequestCase, resourceHint = 'configmaps'): Buffer {
  const spec = c.body!
  if (spec.kind === 'junk') return Buffer.alloc(spec.size, 'x')
  const mentioned = [...c.target.matchAll(/\/(configmaps|secrets|pods|services|serviceaccounts|deployments|namespaces|nodes)\b/g)]
  const resource = mentioned.at(-1)?.[1] ?? resourceHint
  const { apiVersion, kind } = kindOf(resource)
  const shell = JSON.stringify({ apiVersion, kind, metadata: { name: `rd-gen-${c.index}`, annotations: { pad: '' } } })
  const pad = Math.max(0, spec.size - shell.length)
  const text = shell.replace('"pad":""', `"pad":"${'p'.repeat(pad)}"`)
  return Buffer.from(text.length > spec.size ? text.slice(0, spec.size) : text)
}

/** A short human description of the headers and body, for reproductions. */
export function describeCase (c: RequestCase): string {
  const auth = c.auth.kind === 'pod' ? `pod:${c.auth.id}` : c.auth.kind === 'raw' ? `raw(${c.auth.note})` : c.auth.kind === 'two-pods' ? `two Authorization headers (${c.auth.first}, ${c.auth.second})` : 'none'
  const headers = c.headers.map(([k, v]) => `${k}: ${v.length > 60 ? `${v.slice(0, 60)}…` : v}`).join('; ')
  const filler = c.filler === undefined ? '' : ` + ${c.filler.count} filler headers (${c.filler.bytes} bytes)`
  const body = c.body === undefined ? 'no body' : `body ${c.body.size} bytes ${c.body.framing} ${c.body.kind}`
  return `auth=${auth}; headers: [${headers}]${filler}; ${body}; absolute-form: ${c.absolute}`
}
