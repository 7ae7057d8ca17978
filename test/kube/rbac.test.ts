// RBAC evaluator: each behaviour of upstream's RBAC authorizer (rbac.go, evaluation_helpers.go,
// rule.go), the aggregation controller and the 403 messages, one named case at a time. The
// differential test in test/e2e/rbac-differential.test.ts checks the same code against a real
// kube-apiserver's SubjectAccessReview.
import t from 'tap'
import {
  aggregateClusterRoles, aggregateErrorMessage, chainDenyReason, compilePolicy, forbiddenMessage, forbiddenStatus, forbiddenStatusMessage,
  labelSelectorMatches, policyRulesEqual, ruleAllows, type RbacAttributes,
} from '../../src/kube/rbac.js'
import type {
  ClusterRole, ClusterRoleBinding, LabelSelector, PolicyRule, RbacPolicy, Role, RoleBinding, Subject,
} from '../../src/kube/rbac-objects.js'
import { serviceAccountUser, type UserInfo } from '../../src/kube/users.js'
import { requestInfo } from '../../src/kube/request-info.js'

const RBAC = 'rbac.authorization.k8s.io'

function res (verb: string, resource: string, more: Partial<RbacAttributes> = {}): RbacAttributes {
  const [r, sub] = resource.split('/') as [string, string | undefined]
  return { isResourceRequest: true, verb, apiGroup: '', resource: r, subresource: sub ?? '', name: '', namespace: '', path: '', ...more }
}
function url (verb: string, path: string): RbacAttributes {
  return { isResourceRequest: false, verb, path, apiGroup: '', resource: '', subresource: '', name: '', namespace: '' }
}

t.test('rule matching (RuleAllows and evaluation_helpers.go)', async (t) => {
  const cases: Array<[string, PolicyRule, RbacAttributes, boolean]> = [
    ['exact verb, group, resource', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', 'pods'), true],
    ['another verb does not match', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('list', 'pods'), false],
    ['verb * matches any verb', { verbs: ['*'], apiGroups: [''], resources: ['pods'] }, res('escalate', 'pods'), true],
    ['verbs are case-sensitive', { verbs: ['GET'], apiGroups: [''], resources: ['pods'] }, res('get', 'pods'), false],
    ['group "" is the core group only', { verbs: ['get'], apiGroups: [''], resources: ['deployments'] }, res('get', 'deployments', { apiGroup: 'apps' }), false],
    ['group * matches any group', { verbs: ['get'], apiGroups: ['*'], resources: ['deployments'] }, res('get', 'deployments', { apiGroup: 'apps' }), true],
    ['named group matches', { verbs: ['get'], apiGroups: ['batch', 'apps'], resources: ['deployments'] }, res('get', 'deployments', { apiGroup: 'apps' }), true],
    ['resource * matches any resource', { verbs: ['get'], apiGroups: [''], resources: ['*'] }, res('get', 'secrets'), true],
    ['resource * matches subresources too', { verbs: ['get'], apiGroups: [''], resources: ['*'] }, res('get', 'pods/log'), true],
    ['a resource does not grant its subresources', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', 'pods/log'), false],
    ['resource/subresource matches exactly', { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, res('get', 'pods/log'), true],
    ['a subresource does not grant the resource', { verbs: ['get'], apiGroups: [''], resources: ['pods/log'] }, res('get', 'pods'), false],
    ['*/subresource matches any resource with it', { verbs: ['get'], apiGroups: ['*'], resources: ['*/scale'] }, res('get', 'deployments/scale', { apiGroup: 'apps' }), true],
    ['*/subresource needs that subresource', { verbs: ['get'], apiGroups: ['*'], resources: ['*/scale'] }, res('get', 'deployments/status'), false],
    ['*/subresource does not match the bare resource', { verbs: ['get'], apiGroups: ['*'], resources: ['*/scale'] }, res('get', 'deployments'), false],
    ['resource/* is not a wildcard upstream', { verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }, res('get', 'pods/log'), false],
    ['resource/* matches only a literal "*" subresource', { verbs: ['get'], apiGroups: [''], resources: ['pods/*'] }, res('get', 'pods/*'), true],
    ['*/ matches no bare resource', { verbs: ['get'], apiGroups: [''], resources: ['*/'] }, res('get', 'pods'), false],
    ['resourceNames restrict to those names', { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, res('get', 'pods', { name: 'a' }), true],
    ['resourceNames: another name is denied', { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, res('get', 'pods', { name: 'b' }), false],
    ['resourceNames never match a nameless request (list)', { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, res('list', 'pods'), false],
    ['resourceNames never match a nameless request (create)', { verbs: ['create'], apiGroups: [''], resources: ['pods'], resourceNames: ['a'] }, res('create', 'pods'), false],
    ['resourceNames [""] literally matches the empty name', { verbs: ['list'], apiGroups: [''], resources: ['pods'], resourceNames: [''] }, res('list', 'pods'), true],
    ['no resourceNames: any name', { verbs: ['get'], apiGroups: [''], resources: ['pods'] }, res('get', 'pods', { name: 'zzz' }), true],
    ['a resource rule without apiGroups matches nothing', { verbs: ['get'], resources: ['pods'] }, res('get', 'pods'), false],
    ['a resource rule does not match a non-resource request', { verbs: ['*'], apiGroups: ['*'], resources: ['*'] }, url('get', '/healthz'), false],
    ['a non-resource rule does not match a resource request', { verbs: ['*'], nonResourceURLs: ['*'] }, res('get', 'pods'), false],
    ['nonResourceURL exact', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, url('get', '/healthz'), true],
    ['nonResourceURL exact is not a prefix', { verbs: ['get'], nonResourceURLs: ['/healthz'] }, url('get', '/healthz/etcd'), false],
    ['nonResourceURL trailing * is a prefix', { verbs: ['get'], nonResourceURLs: ['/logs/*'] }, url('get', '/logs/kube.log'), true],
    ['nonResourceURL prefix includes the slash', { verbs: ['get'], nonResourceURLs: ['/logs/*'] }, url('get', '/logs'), false],
    ['nonResourceURL prefix matches the bare prefix', { verbs: ['get'], nonResourceURLs: ['/logs/*'] }, url('get', '/logs/'), true],
    ['nonResourceURL prefix is textual (/api* matches /apis)', { verbs: ['get'], nonResourceURLs: ['/api*'] }, url('get', '/apis/apps'), true],
    ['nonResourceURL: all trailing * are trimmed', { verbs: ['get'], nonResourceURLs: ['/healthz**'] }, url('get', '/healthz'), true],
    ['nonResourceURL * matches every path', { verbs: ['get'], nonResourceURLs: ['*'] }, url('get', '/anything/at/all'), true],
    ['nonResourceURL: verb still checked', { verbs: ['get'], nonResourceURLs: ['*'] }, url('post', '/healthz'), false],
    ['nonResourceURL: * in the middle is literal', { verbs: ['get'], nonResourceURLs: ['/a/*/b'] }, url('get', '/a/x/b'), false],
  ]
  for (const [name, rule, attrs, want] of cases) t.equal(ruleAllows(attrs, rule), want, name)
})

const crb = (name: string, role: string, subjects: Subject[], kind = 'ClusterRole'): ClusterRoleBinding =>
  ({ metadata: { name }, roleRef: { apiGroup: RBAC, kind, name: role }, subjects })
const rb = (namespace: string, name: string, kind: string, role: string, subjects: Subject[]): RoleBinding =>
  ({ metadata: { name, namespace }, roleRef: { apiGroup: RBAC, kind, name: role }, subjects })
const user = (name: string): Subject => ({ kind: 'User', apiGroup: RBAC, name })
const group = (name: string): Subject => ({ kind: 'Group', apiGroup: RBAC, name })
const sa = (name: string, namespace?: string): Subject => ({ kind: 'ServiceAccount', name, ...(namespace === undefined ? {} : { namespace }) })
const getCM: PolicyRule = { verbs: ['get'], apiGroups: [''], resources: ['configmaps'] }

const policy: RbacPolicy = {
  roles: [
    { metadata: { name: 'cm-reader', namespace: 'a' }, rules: [getCM] },
    { metadata: { name: 'pod-reader', namespace: 'b' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }] },
  ],
  clusterRoles: [
    { metadata: { name: 'secret-reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }] },
    { metadata: { name: 'node-reader' }, rules: [{ verbs: ['get'], apiGroups: [''], resources: ['nodes'] }] },
    { metadata: { name: 'health' }, rules: [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }, { verbs: ['get'], apiGroups: [''], resources: ['events'] }] },
    { metadata: { name: 'empty' } },
  ],
  clusterRoleBindings: [
    crb('nodes-for-ops', 'node-reader', [group('ops')]),
    crb('nodes-for-sa', 'node-reader', [sa('robot', 'a')]),
    crb('nodes-for-unqualified-sa', 'node-reader', [sa('ghost')]),
    crb('health-for-carol', 'health', [user('carol')]),
    crb('dangling', 'no-such-role', [user('dave')]),
    crb('dangling-2', 'also-missing', [user('dave')]),
    crb('dangling-dup', 'no-such-role', [group('dup')]),
    crb('dangling-dup-2', 'no-such-role', [group('dup')]),
    crb('weird-kind', 'whatever', [user('erin')], 'Pod'),
    crb('unknown-subject-kind', 'node-reader', [{ kind: 'Robot', name: 'frank' }]),
    crb('first-subject-wins', 'secret-reader', [user('nobody'), group('devs'), user('gina')]),
    crb('empty-role', 'empty', [user('hank')]),
  ],
  roleBindings: [
    rb('a', 'read-cm', 'Role', 'cm-reader', [user('alice')]),
    rb('a', 'secrets-in-a', 'ClusterRole', 'secret-reader', [user('bob')]),
    rb('a', 'health-in-a', 'ClusterRole', 'health', [user('bob')]),
    rb('a', 'local-sa', 'ClusterRole', 'secret-reader', [sa('builder')]),
    rb('b', 'role-from-other-ns', 'Role', 'cm-reader', [user('ivy')]),
    rb('b', 'pods', 'Role', 'pod-reader', [user('alice')]),
    rb('b', 'user-named-like-sa', 'Role', 'pod-reader', [user('system:serviceaccount:a:robot')]),
  ],
}

const u = (name: string, groups: string[] = []): UserInfo => ({ name, groups })

t.test('authorization decisions (VisitRulesFor + appliesToUser)', async (t) => {
  const p = compilePolicy(policy)
  const cases: Array<[string, UserInfo, RbacAttributes, boolean, string?]> = [
    ['RoleBinding → Role grants in its namespace', u('alice'), res('get', 'configmaps', { namespace: 'a' }), true,
      'RBAC: allowed by RoleBinding "read-cm/a" of Role "cm-reader" to User "alice"'],
    ['RoleBinding → Role grants nothing in another namespace', u('alice'), res('get', 'configmaps', { namespace: 'b' }), false, ''],
    ['RoleBinding → Role grants nothing at cluster scope', u('alice'), res('get', 'configmaps'), false, ''],
    ['RoleBinding → ClusterRole grants its rules in the binding namespace', u('bob'), res('get', 'secrets', { namespace: 'a', name: 'x' }), true],
    ['RoleBinding → ClusterRole grants nothing elsewhere', u('bob'), res('get', 'secrets', { namespace: 'b' }), false],
    ['RoleBinding → ClusterRole grants nothing cluster-wide', u('bob'), res('get', 'secrets'), false],
    ['RoleBinding → ClusterRole never grants nonResourceURLs', u('bob'), url('get', '/healthz'), false],
    ['ClusterRoleBinding grants in every namespace', u('x', ['ops']), res('get', 'nodes', { namespace: 'zzz' }), true,
      'RBAC: allowed by ClusterRoleBinding "nodes-for-ops" of ClusterRole "node-reader" to Group "ops"'],
    ['ClusterRoleBinding grants at cluster scope', u('x', ['ops']), res('get', 'nodes', { name: 'n1' }), true],
    ['ClusterRoleBinding grants nonResourceURLs', u('carol'), url('get', '/healthz'), true],
    ['Group subject needs the group', u('x', ['dev']), res('get', 'nodes'), false],
    ['User subject matches the name exactly', u('Carol'), url('get', '/healthz'), false],
    ['ServiceAccount subject matches the SA user', serviceAccountUser('a', 'robot'), res('get', 'nodes'), true,
      'RBAC: allowed by ClusterRoleBinding "nodes-for-sa" of ClusterRole "node-reader" to ServiceAccount "robot/a"'],
    ['ServiceAccount subject: other namespace does not match', serviceAccountUser('b', 'robot'), res('get', 'nodes'), false],
    ['ServiceAccount subject: groups alone do not match', u('robot', ['system:serviceaccounts', 'system:serviceaccounts:a']), res('get', 'nodes'), false],
    ['ServiceAccount subject without namespace in a ClusterRoleBinding matches nobody', serviceAccountUser('', 'ghost'), res('get', 'nodes'), false],
    ['ServiceAccount subject without namespace in a RoleBinding means the binding namespace', serviceAccountUser('a', 'builder'),
      res('get', 'secrets', { namespace: 'a' }), true,
      'RBAC: allowed by RoleBinding "local-sa/a" of ClusterRole "secret-reader" to ServiceAccount "builder/a"'],
    ['unqualified RoleBinding SA subject: other namespace SA does not match', serviceAccountUser('b', 'builder'), res('get', 'secrets', { namespace: 'a' }), false],
    ['a User subject spelled like an SA user matches that SA', serviceAccountUser('a', 'robot'), res('get', 'pods', { namespace: 'b' }), true],
    ['Role is looked up in the binding namespace only', u('ivy'), res('get', 'configmaps', { namespace: 'b' }), false,
      'RBAC: role.rbac.authorization.k8s.io "cm-reader" not found'],
    ['unknown subject kind matches nobody', u('frank'), res('get', 'nodes'), false],
    ['an empty role grants nothing, without error', u('hank'), res('get', 'nodes'), false, ''],
    ['missing ClusterRole: no grant, reason names it (two distinct → brackets)', u('dave'), res('get', 'pods'), false,
      'RBAC: [clusterrole.rbac.authorization.k8s.io "no-such-role" not found, clusterrole.rbac.authorization.k8s.io "also-missing" not found]'],
    ['missing ClusterRole twice: de-duplicated without brackets', u('x', ['dup']), res('get', 'pods'), false,
      'RBAC: clusterrole.rbac.authorization.k8s.io "no-such-role" not found'],
    ['a missing role does not hide another grant', u('dave', ['ops']), res('get', 'nodes'), true],
    ['unsupported roleRef kind is reported', u('erin'), res('get', 'nodes'), false, 'RBAC: unsupported role reference kind: "Pod"'],
    ['errors are reported only for bindings of this user', u('zed'), res('get', 'pods'), false, ''],
    ['the describer names the first subject that applies', u('gina', ['devs']), res('get', 'secrets'), true,
      'RBAC: allowed by ClusterRoleBinding "first-subject-wins" of ClusterRole "secret-reader" to Group "devs"'],
    ['system:masters is allowed before RBAC, with no reason', u('root', ['system:masters']), res('delete', 'nodes'), true, ''],
    ['RoleBindings in the request namespace only (non-resource request with a namespace)', u('bob'),
      { ...url('get', '/healthz'), namespace: 'a' }, true],
  ]
  for (const [name, who, attrs, allowed, reason] of cases) {
    const d = p.authorize(who, attrs)
    t.equal(d.ok, allowed, name)
    if (reason !== undefined) t.equal(d.reason, reason, `${name} (reason)`)
  }
})

t.test('privilegedGroups: [] gives pure RBAC', async (t) => {
  const p = compilePolicy(policy, { privilegedGroups: [] })
  t.same(p.authorize(u('root', ['system:masters']), res('delete', 'nodes')), { ok: false, reason: '' })
})

t.test('a binding naming the user twice (by name and by group) is visited once', async (t) => {
  const p = compilePolicy({
    roles: [],
    clusterRoles: [{ metadata: { name: 'r' }, rules: [getCM] }],
    clusterRoleBindings: [crb('twice', 'r', [group('g'), user('u')]), crb('missing', 'nope', [group('g'), user('u'), group('h')])],
    roleBindings: [],
  })
  const e = p.explain(u('u', ['g', 'h']), res('get', 'configmaps', { namespace: 'n' }))
  t.equal(e.matches.length, 1)
  t.equal(e.matches[0]!.source, 'ClusterRoleBinding "twice" of ClusterRole "r" to Group "g"')
  t.same(e.errors, ['clusterrole.rbac.authorization.k8s.io "nope" not found'])
  t.equal(p.size, 2)
})

t.test('per-identity candidate caching never confuses two identities', async (t) => {
  const p = compilePolicy(policy)
  const nodes = res('get', 'nodes')
  // Identities a naive separator-joined cache key would conflate.
  t.equal(p.authorize(u('x', ['ops']), nodes).ok, true)
  t.equal(p.authorize(u('x', ['o', 'ps']), nodes).ok, false)
  t.equal(p.authorize(u('x\u0000ops', []), nodes).ok, false)
  t.equal(p.authorize(u('x', ['dev\u0000ops']), nodes).ok, false)
  t.equal(p.authorize(u('x', ['dev', 'ops']), nodes).ok, true)
  // Past the cache bound, answers stay right.
  let wrong = 0
  for (let i = 0; i < 3000; i++) if (p.authorize(u(`user-${i}`, i % 2 === 0 ? ['ops'] : ['dev']), nodes).ok !== (i % 2 === 0)) wrong++
  t.equal(wrong, 0, '3000 identities, cache bound 1024')
  t.equal(p.authorize(u('x', ['ops']), nodes).ok, true)
})

t.test('explain lists every allowing rule in evaluation order', async (t) => {
  const p = compilePolicy(policy)
  const e = p.explain(u('bob', ['ops']), res('get', 'secrets', { namespace: 'a' }))
  t.equal(e.decision.ok, true)
  t.same(e.matches.map((m) => m.source), ['RoleBinding "secrets-in-a/a" of ClusterRole "secret-reader" to User "bob"'])
  t.same(e.matches[0]!.rule, { verbs: ['get'], apiGroups: [''], resources: ['secrets'] })
  const none = p.explain(u('dave'), res('get', 'pods'))
  t.equal(none.matches.length, 0)
  t.equal(none.errors.length, 2)
})

t.test('serviceAccountUser is the user a SA token authenticates as', async (t) => {
  t.same(serviceAccountUser('ns', 'sa', 'uid-1'), {
    name: 'system:serviceaccount:ns:sa', uid: 'uid-1',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated'],
  })
  t.same(serviceAccountUser('ns', 'sa').uid, undefined)
  t.same(serviceAccountUser('ns', 'sa', 'u', { 'authentication.kubernetes.io/pod-name': ['p'] }).extra,
    { 'authentication.kubernetes.io/pod-name': ['p'] })
})

t.test('aggregateErrorMessage is utilerrors.NewAggregate(...).Error()', async (t) => {
  t.equal(aggregateErrorMessage([]), '')
  t.equal(aggregateErrorMessage(['a']), 'a')
  t.equal(aggregateErrorMessage(['a', 'a']), 'a')
  t.equal(aggregateErrorMessage(['a', 'b', 'a']), '[a, b]')
})

t.test('label selectors (metav1.LabelSelectorAsSelector)', async (t) => {
  const labels = { color: 'red', size: 'm' }
  const cases: Array<[string, LabelSelector, Record<string, string> | undefined, boolean | undefined]> = [
    ['empty selector matches everything', {}, labels, true],
    ['empty selector matches unlabelled', {}, undefined, true],
    ['matchLabels equal', { matchLabels: { color: 'red' } }, labels, true],
    ['matchLabels differs', { matchLabels: { color: 'blue' } }, labels, false],
    ['matchLabels absent key', { matchLabels: { shape: 'round' } }, labels, false],
    ['matchLabels are ANDed', { matchLabels: { color: 'red', size: 's' } }, labels, false],
    ['In: value in the set', { matchExpressions: [{ key: 'color', operator: 'In', values: ['blue', 'red'] }] }, labels, true],
    ['In: missing key does not match', { matchExpressions: [{ key: 'shape', operator: 'In', values: ['round'] }] }, labels, false],
    ['NotIn: value outside the set', { matchExpressions: [{ key: 'color', operator: 'NotIn', values: ['blue'] }] }, labels, true],
    ['NotIn: value in the set', { matchExpressions: [{ key: 'color', operator: 'NotIn', values: ['red'] }] }, labels, false],
    ['NotIn: missing key matches', { matchExpressions: [{ key: 'shape', operator: 'NotIn', values: ['round'] }] }, labels, true],
    ['Exists', { matchExpressions: [{ key: 'size', operator: 'Exists' }] }, labels, true],
    ['Exists: missing', { matchExpressions: [{ key: 'shape', operator: 'Exists' }] }, labels, false],
    ['DoesNotExist', { matchExpressions: [{ key: 'shape', operator: 'DoesNotExist' }] }, labels, true],
    ['DoesNotExist: present', { matchExpressions: [{ key: 'size', operator: 'DoesNotExist' }] }, labels, false],
    ['matchLabels AND matchExpressions', { matchLabels: { color: 'red' }, matchExpressions: [{ key: 'size', operator: 'In', values: ['s'] }] }, labels, false],
    ['invalid: In without values', { matchExpressions: [{ key: 'color', operator: 'In', values: [] }] }, labels, undefined],
    ['invalid: Exists with values', { matchExpressions: [{ key: 'color', operator: 'Exists', values: ['x'] }] }, labels, undefined],
    ['invalid: unknown operator', { matchExpressions: [{ key: 'color', operator: 'Gt', values: ['1'] }] }, labels, undefined],
  ]
  for (const [name, selector, l, want] of cases) t.equal(labelSelectorMatches(selector, l), want, name)
})

t.test('aggregateClusterRoles computes what the aggregation controller converges to', async (t) => {
  const r = (verb: string, resource: string): PolicyRule => ({ verbs: [verb], apiGroups: [''], resources: [resource] })
  const cr = (name: string, labels: Record<string, string>, rules: PolicyRule[], selectors?: LabelSelector[]): ClusterRole => ({
    metadata: { name, labels }, rules, ...(selectors === undefined ? {} : { aggregationRule: { clusterRoleSelectors: selectors } }),
  })
  const input: ClusterRole[] = [
    cr('top', {}, [r('stale', 'x')], [{ matchLabels: { 'to-top': 'true' } }]),
    cr('mid', { 'to-top': 'true' }, [], [{ matchLabels: { 'to-mid': 'true' } }, { matchExpressions: [{ key: 'tier', operator: 'In', values: ['gold'] }] }]),
    cr('z-src', { 'to-mid': 'true' }, [r('get', 'pods'), r('list', 'pods')]),
    cr('a-src', { 'to-mid': 'true', tier: 'gold' }, [r('get', 'pods'), r('get', 'secrets')]),
    cr('direct', { 'to-top': 'true' }, [r('watch', 'nodes'), { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: [] }]),
    cr('unrelated', { tier: 'silver' }, [r('delete', 'everything')]),
    cr('self', { 'to-self': 'true' }, [r('own', 'rule')], [{ matchLabels: { 'to-self': 'true' } }]),
    cr('broken', {}, [r('kept', 'as-is')], [{ matchExpressions: [{ key: 'k', operator: 'Bogus' }] }]),
    cr('everything-but-me', { 'to-top': 'no' }, [], [{}]),
  ]
  const out = aggregateClusterRoles(input)
  const rules = (name: string) => out.find((c) => c.metadata.name === name)!.rules
  // Selectors in order; within a selector, roles by name; duplicates (semantic equality) dropped.
  t.same(rules('mid'), [r('get', 'pods'), r('get', 'secrets'), r('list', 'pods')], 'union by selector, then name; duplicates dropped')
  // Transitive: top gets mid's aggregated rules, not mid's stale ones; empty resourceNames ≡ omitted.
  t.same(rules('top'), [r('watch', 'nodes'), { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: [] }, r('get', 'secrets'), r('list', 'pods')],
    'nested aggregation is transitive and replaces the stale rules')
  t.same(rules('self'), [r('own', 'rule')], 'a role never aggregates itself, and an empty result (nothing else matches) leaves the creator\'s rules (server-side apply)')
  t.same(rules('broken'), [r('kept', 'as-is')], 'an invalid selector leaves the rules alone')
  t.equal(out.find((c) => c.metadata.name === 'unrelated'), input[5], 'non-aggregated roles are returned unchanged')
  t.same(input[0]!.rules, [r('stale', 'x')], 'the input is not mutated')
  t.ok(rules('everything-but-me')!.some((x) => policyRulesEqual(x, r('delete', 'everything'))), 'an empty selector matches every role')
  t.notOk(rules('everything-but-me')!.some((x) => policyRulesEqual(x, r('stale', 'x'))), '... using the converged rules of aggregated ones')
  // Order of the input does not matter.
  const reversed = aggregateClusterRoles([...input].reverse())
  t.same(reversed.find((c) => c.metadata.name === 'top')!.rules, rules('top'))
})

t.test('policyRulesEqual is semantic equality', async (t) => {
  t.ok(policyRulesEqual({ verbs: ['get'], apiGroups: [''], resources: ['pods'] }, { verbs: ['get'], apiGroups: [''], resources: ['pods'], resourceNames: [] }))
  t.notOk(policyRulesEqual({ verbs: ['get', 'list'] }, { verbs: ['list', 'get'] }), 'order matters')
  t.notOk(policyRulesEqual({ verbs: ['get'], nonResourceURLs: ['/a'] }, { verbs: ['get'], nonResourceURLs: ['/b'] }))
})

t.test('403 messages are kube-apiserver\'s', async (t) => {
  const me = { name: 'system:serviceaccount:ns:sa' }
  const cases: Array<[string, RbacAttributes, string, string]> = [
    ['named, core group, namespaced', res('get', 'configmaps', { namespace: 'ns', name: 'cm' }), '',
      'configmaps "cm" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "configmaps" in API group "" in the namespace "ns"'],
    ['collection', res('list', 'configmaps', { namespace: 'ns' }), '',
      'configmaps is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "configmaps" in API group "" in the namespace "ns"'],
    ['subresource: resource/subresource in the message, resource in the prefix', res('get', 'pods/log', { namespace: 'ns', name: 'p' }), '',
      'pods "p" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods/log" in API group "" in the namespace "ns"'],
    ['named group: resource.group prefix', res('patch', 'deployments/scale', { apiGroup: 'apps', namespace: 'ns', name: 'web' }), '',
      'deployments.apps "web" is forbidden: User "system:serviceaccount:ns:sa" cannot patch resource "deployments/scale" in API group "apps" in the namespace "ns"'],
    ['cluster scope', res('list', 'nodes'), '',
      'nodes is forbidden: User "system:serviceaccount:ns:sa" cannot list resource "nodes" in API group "" at the cluster scope'],
    ['non-resource path', url('get', '/metrics'), '', 'forbidden: User "system:serviceaccount:ns:sa" cannot get path "/metrics"'],
    ['the authorizer reason is appended', res('get', 'pods', { namespace: 'ns' }), 'RBAC: clusterrole.rbac.authorization.k8s.io "x" not found',
      'pods is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods" in API group "" in the namespace "ns": RBAC: clusterrole.rbac.authorization.k8s.io "x" not found'],
    ['the user part is HTML-sanitised, the prefix is not', res('get', 'pods', { namespace: 'ns', name: 'a<b' }), '',
      'pods "a<b" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods" in API group "" in the namespace "ns"'],
  ]
  for (const [name, attrs, reason, want] of cases) t.equal(forbiddenStatusMessage(attrs, me, reason), want, name)
  t.equal(forbiddenMessage(url('get', '/x&<y>'), { name: 'u' }), 'User "u" cannot get path "/x&<y>"')
  t.equal(forbiddenStatusMessage(url('get', '/x&<y>'), { name: 'u' }, ''), 'forbidden: User "u" cannot get path "/x&amp;&lt;y&gt;"')
  t.equal(forbiddenStatusMessage(res('get', 'pods', { namespace: 'n' }), { name: 'a "quoted"\\name' }, ''),
    'pods is forbidden: User "a \\"quoted\\"\\\\name" cannot get resource "pods" in API group "" in the namespace "n"')
})

t.test('403 messages from RequestInfo attributes', async (t) => {
  const attrs = (method: string, path: string): RbacAttributes => {
    const r = requestInfo(method, path)
    if (!r.ok) throw new Error(r.message)
    return r.info
  }
  const me = { name: 'system:serviceaccount:ns:sa' }
  t.equal(forbiddenStatusMessage(attrs('GET', '/api/v1/namespaces/ns/pods/p/log'), me, ''),
    'pods "p" is forbidden: User "system:serviceaccount:ns:sa" cannot get resource "pods/log" in API group "" in the namespace "ns"')
  t.equal(forbiddenStatusMessage(attrs('GET', '/apis/apps/v1/deployments?watch=1'), me, ''),
    'deployments.apps is forbidden: User "system:serviceaccount:ns:sa" cannot watch resource "deployments" in API group "apps" at the cluster scope')
  t.equal(forbiddenStatusMessage(attrs('POST', '/healthz'), me, ''), 'forbidden: User "system:serviceaccount:ns:sa" cannot post path "/healthz"')
})

t.test('forbiddenStatus is the whole Status, fields in the apiserver\'s order', async (t) => {
  const s = forbiddenStatus(res('get', 'deployments', { apiGroup: 'apps', namespace: 'ns', name: 'web' }), { name: 'u' }, '')
  t.equal(JSON.stringify(s), '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":' +
    '"deployments.apps \\"web\\" is forbidden: User \\"u\\" cannot get resource \\"deployments\\" in API group \\"apps\\" in the namespace \\"ns\\"",' +
    '"reason":"Forbidden","details":{"name":"web","group":"apps","kind":"deployments"},"code":403}')
  t.same(forbiddenStatus(url('get', '/metrics'), { name: 'u' }, '').details, {})
})

t.test('a decision over hundreds of bindings takes microseconds', async (t) => {
  const namespaces = Array.from({ length: 20 }, (_, i) => `ns-${i}`)
  const roles: Role[] = []
  const roleBindings: RoleBinding[] = []
  const clusterRoles: ClusterRole[] = []
  const clusterRoleBindings: ClusterRoleBinding[] = []
  for (let i = 0; i < 100; i++) {
    clusterRoles.push({ metadata: { name: `cr-${i}` }, rules: Array.from({ length: 8 }, (_, j) => ({ verbs: ['get', 'list'], apiGroups: ['', 'apps'], resources: [`res-${i}-${j}`, 'pods/log'], resourceNames: j % 2 === 0 ? ['x'] : [] })) })
    clusterRoleBindings.push(crb(`crb-${i}`, `cr-${i}`, [group(i % 3 === 0 ? 'system:authenticated' : `g-${i}`), user(`u-${i}`)]))
  }
  for (const ns of namespaces) {
    for (let i = 0; i < 5; i++) {
      roles.push({ metadata: { name: `r-${i}`, namespace: ns }, rules: [{ verbs: ['get'], apiGroups: [''], resources: [`thing-${i}`] }] })
      roleBindings.push(rb(ns, `rb-${i}`, 'Role', `r-${i}`, [sa(`sa-${i}`), group('system:serviceaccounts')]))
      roleBindings.push(rb(ns, `rbc-${i}`, 'ClusterRole', `cr-${i}`, [sa(`sa-${i + 1}`, ns)]))
    }
  }
  const p = compilePolicy({ roles, clusterRoles, roleBindings, clusterRoleBindings })
  t.equal(p.size, 300)
  const who = serviceAccountUser('ns-7', 'sa-3')
  const denied = res('delete', 'secrets', { namespace: 'ns-7', name: 'x' })
  const allowed = res('get', 'thing-4', { namespace: 'ns-7', name: 'x' })
  t.equal(p.authorize(who, denied).ok, false)
  t.equal(p.authorize(who, allowed).ok, true)
  const n = 20_000
  const started = performance.now()
  for (let i = 0; i < n; i++) { p.authorize(who, denied); p.authorize(who, allowed) }
  const perDecisionUs = (performance.now() - started) * 1000 / (2 * n)
  // A figure, not an assertion: timings on a shared 2-core machine prove nothing (bench/ measures).
  t.comment(`${perDecisionUs.toFixed(2)} µs per decision over ${p.size} bindings`)
})

t.test('issue 9: a Role on ConfigMap n1 only, decided on the request kube-apiserver parses', async (t) => {
  // Expected verdicts are kube-apiserver's for these requests (requestinfo.go NewRequestInfo, then
  // RBAC): only a list/watch pinned to n1 by a decodable metadata.name selector gets resourceName n1.
  const p = compilePolicy({
    roles: [{ metadata: { name: 'n1-only', namespace: 'ns' }, rules: [{ verbs: ['get', 'list', 'watch'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['n1'] }] }],
    clusterRoles: [],
    roleBindings: [{ metadata: { name: 'b', namespace: 'ns' }, roleRef: { apiGroup: RBAC, kind: 'Role', name: 'n1-only' }, subjects: [{ kind: 'ServiceAccount', name: 'sa' }] }],
    clusterRoleBindings: [],
  }, { privilegedGroups: [] })
  const me = serviceAccountUser('ns', 'sa')
  const allowed = (method: string, target: string): boolean => {
    const r = requestInfo(method, target)
    if (!r.ok) throw new Error(r.message)
    return p.authorize(me, r.info).ok
  }
  const CM = '/api/v1/namespaces/ns/configmaps'
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1`), true)
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1&watch=1`), true)
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1&limit=abc`), false, 'ListOptions fail to decode: an unnamed list')
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1&labelSelector=%3D%3D%3D`), false)
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3D+n1`), false, 'the name is " n1"')
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1,metadata.name%3Dm`), false, 'sorted first: "m"')
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dm,metadata.name%3Dn1`), false)
  t.equal(allowed('GET', `${CM}?fieldSelector=metadata.name%3Dn1,metadata.name%3Do`), true, 'sorted first: "n1"')
  t.equal(allowed('GET', `${CM}%2Fn1`), true, 'the decoded path names n1')
  t.equal(allowed('GET', '/api/v1/namespaces/n%73/configmaps/n1'), true)
  t.equal(allowed('GET', `https://10.0.0.1:6443${CM}/n1`), true, 'absolute-form')
  t.equal(allowed('GET', `${CM}/n2`), false)
})

t.test('the deny reason as the authorizer chain of each release words it (union.go named reasons since 1.37)', async (t) => {
  const rbac = 'RBAC: role.rbac.authorization.k8s.io "gone" not found'
  t.equal(chainDenyReason(rbac, 'v1.34.4'), rbac, '1.34 passes the RBAC authorizer\'s reason through')
  t.equal(chainDenyReason(rbac, 'v1.36.3'), rbac)
  t.equal(chainDenyReason(rbac, 'v1.37.2'), `rbac: ${rbac}`, '1.37 prefixes the authorizer name')
  t.equal(chainDenyReason(rbac, 'v1.38.0-beta.0'), `rbac: ${rbac}`)
  t.equal(chainDenyReason(rbac, undefined), `rbac: ${rbac}`, 'unknown release: the newest form')
  t.equal(chainDenyReason(rbac, 'v0.0.0-master+$Format:%H$'), `rbac: ${rbac}`, 'unparseable: the newest form')
  t.equal(chainDenyReason('', 'v1.37.2'), '', 'no reason stays no reason')
})
