// Kubernetes RBAC evaluated locally, with kube-apiserver's exact semantics (DESIGN decision 4): the
// edge answers allow/deny for a pod's request from a policy bundle, and a denial carries the very
// 403 message the apiserver would write. Pure: no I/O, no clock.
//
// Upstream sources mirrored here (Kubernetes v1.34, and v1.37 where noted):
//   plugin/pkg/auth/authorizer/rbac/rbac.go          RBACAuthorizer.Authorize, RuleAllows
//   pkg/apis/rbac/v1/evaluation_helpers.go           VerbMatches, APIGroupMatches, ResourceMatches,
//                                                    ResourceNameMatches, NonResourceURLMatches
//   pkg/registry/rbac/validation/rule.go             VisitRulesFor, appliesToUser, describers
//   pkg/kubeapiserver/authorizer/reload.go           system:masters authorizer ahead of RBAC
//   apiserver/pkg/authorization/union/union.go       deny reasons named by authorizer (v1.37)
//   pkg/controller/clusterroleaggregation/...        the ClusterRole aggregation controller
//   apiserver/pkg/endpoints/handlers/responsewriters/errors.go   ForbiddenStatusError, forbiddenMessage
//   apimachinery/pkg/api/errors/errors.go            NewForbidden, NewNotFound
//
// Who the user is (name, groups) is the caller's business, exactly as in the apiserver, where the
// authenticator adds implicit groups before authorization runs: a ServiceAccount token user carries
// `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`
// (see serviceAccountUser); any other authenticated user carries `system:authenticated`;
// `system:anonymous` carries `system:unauthenticated`. RBAC matches groups literally and adds none.

import { goQuote } from './go-quote.js'
import type { ClusterRole, LabelSelector, PolicyRule, RbacPolicy, Role, RoleBinding, RoleRef, Subject } from './rbac-objects.js'
import type { RequestInfo } from './request-info.js'
import { forbidden, type Status, type StatusDetails } from './status.js'
import { serviceAccountUsername, type UserInfo } from './users.js'

/** The request attributes RBAC looks at: a subset of RequestInfo (a full RequestInfo will do). */
export type RbacAttributes = Pick<RequestInfo,
  'verb' | 'apiGroup' | 'resource' | 'subresource' | 'name' | 'namespace' | 'path' | 'isResourceRequest'>

export type Decision = { ok: true, reason: string } | { ok: false, reason: string }

/** One rule that allows a request, and the binding it came through (for explanations and tests). */
export interface RuleMatch {
  /** The upstream describer text, e.g. `ClusterRoleBinding "b" of ClusterRole "r" to User "u"`. */
  source: string
  bindingKind: 'ClusterRoleBinding' | 'RoleBinding'
  bindingNamespace: string
  bindingName: string
  roleRef: RoleRef
  subject: Subject
  rule: PolicyRule
}

export interface Explanation {
  decision: Decision
  /** Every (binding, rule) pair that allows the request, in evaluation order. */
  matches: RuleMatch[]
  /** Role-resolution errors of the bindings that apply to the user (upstream's deny reason). */
  errors: string[]
}

/** A policy compiled for decisions: the RBAC authorizer kube-apiserver would run over it. */
export interface RbacAuthorizer {
  /** kube-apiserver's decision for `--authorization-mode=RBAC`: privileged groups, then RBAC. */
  authorize (user: UserInfo, attrs: RbacAttributes): Decision
  /** Like authorize, but also lists every allowing rule and every resolution error. Slower. */
  explain (user: UserInfo, attrs: RbacAttributes): Explanation
  /** The number of bindings indexed (cluster-wide plus namespaced). */
  readonly size: number
}

export interface CompileOptions {
  /**
   * Groups allowed everything before RBAC runs. kube-apiserver always installs
   * `system:masters` here (pkg/kubeapiserver/authorizer/reload.go); pass [] for pure RBAC.
   */
  privilegedGroups?: string[]
}

export const SYSTEM_PRIVILEGED_GROUP = 'system:masters'

// ---------------------------------------------------------------------------------------------
// Rule matching (evaluation_helpers.go + rbac.go RuleAllows).

const ALL = '*'

interface CompiledRule {
  readonly rule: PolicyRule
  readonly allVerbs: boolean
  readonly verbs: ReadonlySet<string>
  readonly allGroups: boolean
  readonly groups: ReadonlySet<string>
  readonly allResources: boolean
  /** Exact `resource` or `resource/subresource` strings. */
  readonly resources: ReadonlySet<string>
  /** `sub` for every `*\/sub` entry. */
  readonly anyResourceSubresources: ReadonlySet<string>
  /** null when the rule has no resourceNames (any name, including none). */
  readonly names: ReadonlySet<string> | null
  readonly allURLs: boolean
  readonly urls: ReadonlySet<string>
  /** Prefixes of `prefix*` entries (all trailing `*` trimmed, as strings.TrimRight does). */
  readonly urlPrefixes: readonly string[]
}

function list (v: string[] | null | undefined): string[] {
  return v ?? []
}

function compileRule (rule: PolicyRule): CompiledRule {
  const verbs = list(rule.verbs)
  const groups = list(rule.apiGroups)
  const resources = list(rule.resources)
  const names = list(rule.resourceNames)
  const urls = list(rule.nonResourceURLs)
  const anyResourceSubresources = new Set<string>()
  for (const r of resources) if (r.startsWith('*/')) anyResourceSubresources.add(r.slice(2))
  const urlPrefixes: string[] = []
  for (const u of urls) if (u.endsWith('*')) urlPrefixes.push(u.replace(/\*+$/, ''))
  return {
    rule,
    allVerbs: verbs.includes(ALL),
    verbs: new Set(verbs),
    allGroups: groups.includes(ALL),
    groups: new Set(groups),
    allResources: resources.includes(ALL),
    resources: new Set(resources),
    anyResourceSubresources,
    names: names.length === 0 ? null : new Set(names),
    allURLs: urls.includes(ALL),
    urls: new Set(urls),
    urlPrefixes,
  }
}

function compiledRuleAllows (r: CompiledRule, a: RbacAttributes): boolean {
  if (!r.allVerbs && !r.verbs.has(a.verb)) return false
  if (a.isResourceRequest) {
    if (!r.allGroups && !r.groups.has(a.apiGroup)) return false
    if (!r.allResources) {
      const combined = a.subresource === '' ? a.resource : `${a.resource}/${a.subresource}`
      // `*/sub` matches any resource's `sub`; there is no `resource/*` wildcard upstream.
      if (!r.resources.has(combined) && !(a.subresource !== '' && r.anyResourceSubresources.has(a.subresource))) return false
    }
    return r.names === null || r.names.has(a.name)
  }
  if (r.allURLs || r.urls.has(a.path)) return true
  for (const p of r.urlPrefixes) if (a.path.startsWith(p)) return true
  return false
}

/** RuleAllows from rbac.go: does this one rule allow the request? */
export function ruleAllows (attrs: RbacAttributes, rule: PolicyRule): boolean {
  return compiledRuleAllows(compileRule(rule), attrs)
}

// ---------------------------------------------------------------------------------------------
// Subjects (rule.go appliesToUser) and describers.

/** A ServiceAccount subject's namespace: its own, else the binding's ("" in a ClusterRoleBinding). */
function subjectNamespace (s: Subject, bindingNamespace: string): string {
  const own = s.namespace ?? ''
  return own !== '' ? own : bindingNamespace
}

/** appliesToUser: does this binding subject name the user? `namespace` is the binding's ("" for cluster). */
export function subjectMatches (user: UserInfo, subject: Subject, bindingNamespace: string): boolean {
  switch (subject.kind) {
    case 'User': return user.name === subject.name
    case 'Group': return user.groups.includes(subject.name)
    case 'ServiceAccount': {
      // An unqualified ServiceAccount subject means "in the binding's namespace"; in a
      // ClusterRoleBinding there is none, so it matches nobody.
      const ns = subjectNamespace(subject, bindingNamespace)
      if (ns === '') return false
      // serviceaccount.MatchesUsername is exactly this string comparison.
      return user.name === serviceAccountUsername(ns, subject.name)
    }
    default: return false
  }
}

function describeSubject (s: Subject, bindingNamespace: string): string {
  if (s.kind === 'ServiceAccount') return `${s.kind} ${goQuote(`${s.name}/${subjectNamespace(s, bindingNamespace)}`)}`
  return `${s.kind} ${goQuote(s.name)}`
}

// ---------------------------------------------------------------------------------------------
// Compilation: roles' rules compiled and indexed once, bindings resolved to them and indexed by
// the user name / group they name, so a decision looks at a handful of rules.

/** A role's rules, compiled, and indexed by the resource strings they name. */
interface CompiledRules {
  readonly all: readonly CompiledRule[]
  /** Each resource rule under every entry of its `resources` (`*`, `pods`, `pods/log`, `*\/scale`). */
  readonly byResource: ReadonlyMap<string, readonly CompiledRule[]>
  /** The rules with nonResourceURLs: no other rule can match a non-resource request. */
  readonly nonResource: readonly CompiledRule[]
}

const NO_RULES: CompiledRules = { all: [], byResource: new Map(), nonResource: [] }

function compileRules (rules: readonly PolicyRule[]): CompiledRules {
  if (rules.length === 0) return NO_RULES
  const all = rules.map(compileRule)
  const byResource = new Map<string, CompiledRule[]>()
  const nonResource: CompiledRule[] = []
  for (const r of all) {
    for (const resource of new Set(list(r.rule.resources))) {
      let bucket = byResource.get(resource)
      if (bucket === undefined) byResource.set(resource, bucket = [])
      bucket.push(r)
    }
    if (list(r.rule.nonResourceURLs).length > 0) nonResource.push(r)
  }
  return { all, byResource, nonResource }
}

function anyAllows (rules: readonly CompiledRule[] | undefined, a: RbacAttributes): boolean {
  if (rules !== undefined) for (const r of rules) if (compiledRuleAllows(r, a)) return true
  return false
}

/** RulesAllow over one role. `combined` is resource[/subresource]; `anySub` is `*\/sub` or undefined. */
function rulesAllow (rules: CompiledRules, a: RbacAttributes, combined: string, anySub: string | undefined): boolean {
  if (!a.isResourceRequest) return anyAllows(rules.nonResource, a)
  // A rule can only match through `*`, the exact combined resource or `*\/sub` (ResourceMatches).
  return anyAllows(rules.byResource.get(combined), a) || anyAllows(rules.byResource.get(ALL), a) ||
    (anySub !== undefined && anyAllows(rules.byResource.get(anySub), a))
}

interface IndexedBinding {
  /** Position in the visiting order: cluster bindings first, then namespaced ones, as listed. */
  readonly order: number
  readonly kind: 'ClusterRoleBinding' | 'RoleBinding'
  readonly name: string
  readonly namespace: string
  readonly roleRef: RoleRef
  readonly subjects: readonly Subject[]
  readonly rules: CompiledRules
  /** Set when the roleRef does not resolve: the binding grants nothing and this is reported. */
  readonly error?: string
  /** Describer text per subject index, built on first use. */
  readonly sources: Array<string | undefined>
}

interface SubjectIndex {
  /** "u" + user name (User subjects, and ServiceAccount subjects by their user name), or "g" + group. */
  readonly buckets: Map<string, IndexedBinding[]>
  /** Candidate bindings per user (name and groups), bounded. */
  readonly memo: Map<string, readonly IndexedBinding[]>
}

const MEMO_LIMIT = 1024
const EMPTY: readonly IndexedBinding[] = []
const userKey = (name: string): string => `u${name}`
const groupKey = (name: string): string => `g${name}`

function subjectKey (s: Subject, bindingNamespace: string): string | undefined {
  switch (s.kind) {
    case 'User': return userKey(s.name)
    case 'Group': return groupKey(s.name)
    case 'ServiceAccount': {
      const ns = subjectNamespace(s, bindingNamespace)
      return ns === '' ? undefined : userKey(serviceAccountUsername(ns, s.name))
    }
    default: return undefined
  }
}

function addToIndex (index: SubjectIndex, b: IndexedBinding): void {
  const seen = new Set<string>()
  for (const s of b.subjects) {
    const key = subjectKey(s, b.namespace)
    if (key === undefined || seen.has(key)) continue
    seen.add(key)
    let bucket = index.buckets.get(key)
    if (bucket === undefined) index.buckets.set(key, bucket = [])
    bucket.push(b)
  }
}

/** An unambiguous key for a user's name and groups (length-prefixed, so no separator can collide). */
function identityKey (user: UserInfo): string {
  let key = `${user.name.length}:${user.name}`
  for (const g of user.groups) key += `${g.length}:${g}`
  return key
}

/** The bindings of an index that name the user or one of its groups, in list order, each once. */
function candidates (index: SubjectIndex | undefined, user: UserInfo, identity: string): readonly IndexedBinding[] {
  if (index === undefined || index.buckets.size === 0) return EMPTY
  const hit = index.memo.get(identity)
  if (hit !== undefined) return hit
  const found = new Set<IndexedBinding>()
  for (const b of index.buckets.get(userKey(user.name)) ?? EMPTY) found.add(b)
  for (const g of user.groups) for (const b of index.buckets.get(groupKey(g)) ?? EMPTY) found.add(b)
  const out = found.size === 0 ? EMPTY : [...found].sort((x, y) => x.order - y.order)
  if (index.memo.size >= MEMO_LIMIT) index.memo.clear()
  index.memo.set(identity, out)
  return out
}

function notFound (resource: string, name: string): string {
  // apierrors.NewNotFound(rbacv1.Resource(resource), name).Error(), as the listers return it.
  return `${resource}.rbac.authorization.k8s.io ${goQuote(name)} not found`
}

/**
 * Builds the per-request evaluator. ClusterRole `rules` are authoritative (the apiserver's
 * aggregation controller has materialised them); run aggregateClusterRoles first to re-derive them.
 * The policy objects must not be mutated afterwards (compile a new policy instead).
 */
export function compilePolicy (policy: RbacPolicy, opts: CompileOptions = {}): RbacAuthorizer {
  const privileged = opts.privilegedGroups ?? [SYSTEM_PRIVILEGED_GROUP]
  const compiled = new Map<Role, CompiledRules>()
  const rulesOf = (role: Role): CompiledRules => {
    let c = compiled.get(role)
    if (c === undefined) compiled.set(role, c = compileRules(role.rules ?? []))
    return c
  }
  const roles = new Map<string, Role>()
  for (const r of policy.roles) roles.set(`${r.metadata.namespace ?? ''}/${r.metadata.name}`, r)
  const clusterRoles = new Map<string, ClusterRole>()
  for (const r of policy.clusterRoles) clusterRoles.set(r.metadata.name, r)

  // GetRoleReferenceRules
  const resolve = (ref: RoleRef, namespace: string): { rules: CompiledRules, error?: string } => {
    switch (ref.kind) {
      case 'Role': {
        const role = roles.get(`${namespace}/${ref.name}`)
        return role === undefined ? { rules: NO_RULES, error: notFound('role', ref.name) } : { rules: rulesOf(role) }
      }
      case 'ClusterRole': {
        const role = clusterRoles.get(ref.name)
        return role === undefined ? { rules: NO_RULES, error: notFound('clusterrole', ref.name) } : { rules: rulesOf(role) }
      }
      default:
        return { rules: NO_RULES, error: `unsupported role reference kind: ${goQuote(ref.kind)}` }
    }
  }

  let order = 0
  const index = (kind: IndexedBinding['kind'], b: RoleBinding, namespace: string): IndexedBinding => {
    const { rules, error } = resolve(b.roleRef, namespace)
    return {
      order: order++, kind, name: b.metadata.name, namespace, roleRef: b.roleRef, subjects: b.subjects ?? [], rules,
      ...(error === undefined ? {} : { error }), sources: [],
    }
  }
  const newIndex = (): SubjectIndex => ({ buckets: new Map(), memo: new Map() })
  const cluster = newIndex()
  for (const b of policy.clusterRoleBindings) addToIndex(cluster, index('ClusterRoleBinding', b, ''))
  const namespaced = new Map<string, SubjectIndex>()
  for (const b of policy.roleBindings) {
    const ns = b.metadata.namespace ?? ''
    if (ns === '') continue // never listed for a namespace (ListRoleBindings needs one)
    let idx = namespaced.get(ns)
    if (idx === undefined) namespaced.set(ns, idx = newIndex())
    addToIndex(idx, index('RoleBinding', b, ns))
  }

  // The describer of upstream's allow reason names the first subject that applies.
  const describe = (b: IndexedBinding, user: UserInfo): { source: string, subject: Subject } => {
    const i = b.subjects.findIndex((s) => subjectMatches(user, s, b.namespace))
    const subject = b.subjects[i]!
    let source = b.sources[i]
    if (source === undefined) {
      const name = b.kind === 'RoleBinding' ? `${b.name}/${b.namespace}` : b.name
      source = b.sources[i] =
        `${b.kind} ${goQuote(name)} of ${b.roleRef.kind} ${goQuote(b.roleRef.name)} to ${describeSubject(subject, b.namespace)}`
    }
    return { source, subject }
  }

  const isPrivileged = (user: UserInfo): boolean => {
    for (const g of user.groups) if (privileged.includes(g)) return true
    return false
  }

  const visit = (user: UserInfo, namespace: string): Array<readonly IndexedBinding[]> => {
    const identity = identityKey(user)
    const own = candidates(cluster, user, identity)
    return namespace === '' ? [own] : [own, candidates(namespaced.get(namespace), user, identity)]
  }

  const authorize = (user: UserInfo, attrs: RbacAttributes): Decision => {
    if (isPrivileged(user)) return { ok: true, reason: '' }
    const combined = attrs.subresource === '' ? attrs.resource : `${attrs.resource}/${attrs.subresource}`
    const anySub = attrs.subresource === '' ? undefined : `*/${attrs.subresource}`
    let errors: string[] | undefined
    for (const bindings of visit(user, attrs.namespace)) {
      for (const b of bindings) {
        if (b.error !== undefined) { (errors ??= []).push(b.error); continue }
        if (rulesAllow(b.rules, attrs, combined, anySub)) return { ok: true, reason: `RBAC: allowed by ${describe(b, user).source}` }
      }
    }
    return { ok: false, reason: errors === undefined ? '' : `RBAC: ${aggregateErrorMessage(errors)}` }
  }

  const explain = (user: UserInfo, attrs: RbacAttributes): Explanation => {
    const matches: RuleMatch[] = []
    const errors: string[] = []
    for (const bindings of visit(user, attrs.namespace)) {
      for (const b of bindings) {
        if (b.error !== undefined) { errors.push(b.error); continue }
        for (const r of b.rules.all) {
          if (!compiledRuleAllows(r, attrs)) continue
          const { source, subject } = describe(b, user)
          matches.push({
            source, bindingKind: b.kind, bindingNamespace: b.namespace, bindingName: b.name, roleRef: b.roleRef, subject, rule: r.rule,
          })
        }
      }
    }
    return { decision: authorize(user, attrs), matches, errors }
  }

  return { authorize, explain, size: order }
}

/** utilerrors.NewAggregate(errs).Error(): one message as is; several de-duplicated in brackets. */
export function aggregateErrorMessage (messages: readonly string[]): string {
  if (messages.length === 0) return ''
  if (messages.length === 1) return messages[0]!
  const seen = [...new Set(messages)]
  return seen.length === 1 ? seen[0]! : `[${seen.join(', ')}]`
}

// ---------------------------------------------------------------------------------------------
// ClusterRole aggregation (clusterroleaggregation_controller.go syncClusterRole).

/** metav1.LabelSelectorAsSelector(selector).Matches(labels); undefined if the selector is invalid. */
export function labelSelectorMatches (selector: LabelSelector, labels: Record<string, string> | null | undefined): boolean | undefined {
  const have = labels ?? {}
  const has = (k: string): boolean => Object.prototype.hasOwnProperty.call(have, k)
  const matchLabels = Object.entries(selector.matchLabels ?? {})
  const exprs = selector.matchExpressions ?? []
  let ok = true
  for (const [k, v] of matchLabels) if (!has(k) || have[k] !== v) ok = false
  for (const e of exprs) {
    const values = e.values ?? []
    switch (e.operator) {
      case 'In':
        if (values.length === 0) return undefined
        if (!has(e.key) || !values.includes(have[e.key]!)) ok = false
        break
      case 'NotIn':
        if (values.length === 0) return undefined
        if (has(e.key) && values.includes(have[e.key]!)) ok = false
        break
      case 'Exists':
        if (values.length !== 0) return undefined
        if (!has(e.key)) ok = false
        break
      case 'DoesNotExist':
        if (values.length !== 0) return undefined
        if (has(e.key)) ok = false
        break
      default:
        return undefined
    }
  }
  return ok // no requirements at all: labels.Everything()
}

function sameList (a: string[] | null | undefined, b: string[] | null | undefined): boolean {
  const x = a ?? []
  const y = b ?? []
  if (x.length !== y.length) return false
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false
  return true
}

/** equality.Semantic.DeepEqual on two PolicyRules (nil and empty lists are equal; order matters). */
export function policyRulesEqual (a: PolicyRule, b: PolicyRule): boolean {
  return sameList(a.verbs, b.verbs) && sameList(a.apiGroups, b.apiGroups) && sameList(a.resources, b.resources) &&
    sameList(a.resourceNames, b.resourceNames) && sameList(a.nonResourceURLs, b.nonResourceURLs)
}

function ruleListsEqual (a: PolicyRule[] | null | undefined, b: PolicyRule[] | null | undefined): boolean {
  const x = a ?? []
  const y = b ?? []
  return x.length === y.length && x.every((r, i) => policyRulesEqual(r, y[i]!))
}

/**
 * What the aggregation controller converges to: every ClusterRole with an aggregationRule gets the
 * union of the rules of the other ClusterRoles its selectors match (selectors in order, matches by
 * name, duplicates dropped), repeated until nothing changes, so aggregated roles that are themselves
 * aggregated (view → edit → admin) come out complete. A role whose selector is invalid keeps its
 * rules (the controller errors on it). Cyclic aggregation has no unique result; iteration stops
 * after a bound. Returns new objects for the aggregated roles, the others unchanged.
 */
export function aggregateClusterRoles<T extends ClusterRole> (clusterRoles: readonly T[]): T[] {
  const current = clusterRoles.slice()
  const byName = [...current.keys()].sort((i, j) => compareStrings(current[i]!.metadata.name, current[j]!.metadata.name))
  const aggregated = byName.filter((i) => current[i]!.aggregationRule !== null && current[i]!.aggregationRule !== undefined)
  for (let round = 0; round <= aggregated.length + 1; round++) {
    let changed = false
    for (const i of aggregated) {
      const role = current[i]!
      const next: PolicyRule[] = []
      let invalid = false
      for (const selector of role.aggregationRule!.clusterRoleSelectors ?? []) {
        // clusterRoleSelectors is []metav1.LabelSelector (values): a JSON null is the empty
        // selector, which matches everything.
        for (const j of byName) {
          const source = current[j]!
          const m = labelSelectorMatches(selector ?? {}, source.metadata.labels)
          if (m === undefined) { invalid = true; break }
          if (!m || source.metadata.name === role.metadata.name) continue
          for (const rule of source.rules ?? []) if (!next.some((r) => policyRulesEqual(r, rule))) next.push(rule)
        }
        if (invalid) break
      }
      // The controller writes its result with server-side apply as its own field manager: an
      // empty result applies no rules at all, so rules another manager wrote (the creator's) stay.
      // (Rules the controller itself owned would be released; this predicts from creation on.)
      if (invalid || next.length === 0 || ruleListsEqual(next, role.rules)) continue
      current[i] = { ...role, rules: next }
      changed = true
    }
    if (!changed) break
  }
  return current
}

function compareStrings (a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

// ---------------------------------------------------------------------------------------------
// The 403 as kube-apiserver writes it (responsewriters.ForbiddenStatusError).

/** forbiddenMessage(attributes): `User "u" cannot get resource "pods/log" in API group "" in the namespace "ns"`. */
export function forbiddenMessage (attrs: RbacAttributes, user: Pick<UserInfo, 'name'>): string {
  const u = goQuote(user.name)
  if (!attrs.isResourceRequest) return `User ${u} cannot ${attrs.verb} path ${goQuote(attrs.path)}`
  const resource = attrs.subresource === '' ? attrs.resource : `${attrs.resource}/${attrs.subresource}`
  const where = attrs.namespace === '' ? 'at the cluster scope' : `in the namespace ${goQuote(attrs.namespace)}`
  return `User ${u} cannot ${attrs.verb} resource ${goQuote(resource)} in API group ${goQuote(attrs.apiGroup)} ${where}`
}

const sanitize = (s: string): string => s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'))

/**
 * The `message` of the apiserver's 403 Status: `configmaps "name" is forbidden: User ...`,
 * `deployments.apps is forbidden: User ...`, `forbidden: User "u" cannot get path "/x"`, with
 * `: <reason>` appended when the authorizer gave one (e.g. an unresolvable roleRef).
 */
export function forbiddenStatusMessage (attrs: RbacAttributes, user: Pick<UserInfo, 'name'>, reason: string): string {
  const msg = sanitize(forbiddenMessage(attrs, user))
  const err = reason === '' ? msg : `${msg}: ${reason}`
  // NewForbidden(GroupResource{attrs.apiGroup, attrs.resource}, attrs.name, err)
  const gr = attrs.apiGroup === '' ? attrs.resource : `${attrs.resource}.${attrs.apiGroup}`
  if (attrs.apiGroup === '' && attrs.resource === '') return `forbidden: ${err}`
  if (attrs.name === '') return `${gr} is forbidden: ${err}`
  return `${gr} ${goQuote(attrs.name)} is forbidden: ${err}`
}

/**
 * The deny reason as kube-apiserver's authorizer chain hands it on (to the 403 and to
 * SubjectAccessReview status.reason), from the RBAC authorizer's own reason. Since v1.37 the union
 * authorizer prefixes each no-opinion reason with its authorizer's name — `rbac` for
 * `--authorization-mode=RBAC` — so `RBAC: [...]` reads `rbac: RBAC: [...]`; before, it passed the
 * reason through. `kubeVersion` is the apiserver's /version gitVersion; when unknown (or not a
 * release version) the newest form is used.
 */
export function chainDenyReason (rbacReason: string, kubeVersion: string | undefined): string {
  if (rbacReason === '') return ''
  const minor = /^v1\.(\d+)\./.exec(kubeVersion ?? '')?.[1]
  return minor !== undefined && Number(minor) < NAMED_REASONS_SINCE_MINOR ? rbacReason : `rbac: ${rbacReason}`
}

// kubernetes/kubernetes v1.37.0: union.NamedAuthorizer (union.go `fmt.Sprintf("%s: %s", name, reason)`).
const NAMED_REASONS_SINCE_MINOR = 37

/** The whole 403 Status (ForbiddenStatusError): message, and details {name, group, kind: resource}. */
export function forbiddenStatus (attrs: RbacAttributes, user: Pick<UserInfo, 'name'>, reason: string): Status {
  const details: StatusDetails = {}
  if (attrs.name !== '') details.name = attrs.name
  if (attrs.apiGroup !== '') details.group = attrs.apiGroup
  if (attrs.resource !== '') details.kind = attrs.resource
  return forbidden(forbiddenStatusMessage(attrs, user, reason), details)
}
