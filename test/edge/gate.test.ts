// The edge gate in-process, with keys it makes itself: signing-key rotation, persistence, the
// impersonation hand-off and the refusal codes (the e2e tests use the cluster's real keys).
import t from 'tap'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { exportJWK, generateKeyPair, SignJWT } from 'jose'
import { pino } from 'pino'
import { admit, type GateOptions } from '../../src/edge/gate.js'
import { CacheStore } from '../../src/edge/cache/store.js'
import { ReceivedPolicy, type DurableState } from '../../src/edge/received-policy.js'
import { requestInfo, type RequestInfo } from '../../src/kube/request-info.js'
import type { PolicyBundle } from '../../src/tunnel/control.js'

const ISS = 'https://kubernetes.default.svc.cluster.local'
const opts: GateOptions = { nodeName: 'edge-1', issuers: [ISS], audiences: [ISS], leewaySeconds: 60 }
const logger = pino({ level: 'silent' })

const bundle: PolicyBundle = {
  node: 'edge-1',
  pods: [{ namespace: 'ns', name: 'p', uid: 'pod-uid', serviceAccount: 'app' }],
  rbac: {
    roles: [{ metadata: { name: 'read', namespace: 'ns' }, rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] }],
    clusterRoles: [],
    roleBindings: [{ metadata: { name: 'read', namespace: 'ns' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read' }, subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'ns' }] }],
    clusterRoleBindings: [],
  },
}

async function key (kid: string): Promise<{ sign: (claims?: Record<string, unknown>) => Promise<string>, jwk: Record<string, unknown> }> {
  const { privateKey, publicKey } = await generateKeyPair('RS256')
  const jwk = { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' }
  const now = Math.floor(Date.now() / 1000)
  return {
    jwk,
    sign: (claims = {}) => new SignJWT({
      iss: ISS, aud: [ISS], sub: 'system:serviceaccount:ns:app', exp: now + 600, iat: now, nbf: now,
      'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'app', uid: 'sa-uid' }, pod: { name: 'p', uid: 'pod-uid' }, node: { name: 'edge-1', uid: 'n' } },
      ...claims,
    }).setProtectedHeader({ alg: 'RS256', kid }).sign(privateKey),
  }
}

function memoryState (): DurableState {
  const values = new Map<string, string>()
  return { getState: (k) => values.get(k), setState: (k, v) => { values.set(k, v) } }
}

const info = (method: string, url: string): RequestInfo => {
  const r = requestInfo(method, url)
  if (!r.ok) throw new Error(r.message)
  return r.info
}
const getConfigMap = info('GET', '/api/v1/namespaces/ns/configmaps/c')

t.test('no keys or policy yet: 503, never a guess', async (t) => {
  const state = new ReceivedPolicy(memoryState(), 'edge-1', logger)
  const v = await admit(state, opts, getConfigMap, { authorization: 'Bearer a.b.c' })
  t.match(v, { ok: false, status: { code: 503 } })
})

t.test('signing-key rotation: a token from a new key is accepted once the JWKS carries it', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gate-'))
  const store = CacheStore.open(dir, { maxSizeBytes: 1 << 20, logger, covers: () => true })
  const state = new ReceivedPolicy(store, 'edge-1', logger)
  const [oldKey, newKey] = [await key('old'), await key('new')]
  state.update({ type: 'policy', bundle })
  state.update({ type: 'jwks', jwks: { keys: [oldKey.jwk] } })
  const fromNew = await newKey.sign()
  t.match(await admit(state, opts, getConfigMap, { authorization: `Bearer ${fromNew}` }), { ok: false, status: { code: 401 } })
  state.update({ type: 'jwks', jwks: { keys: [oldKey.jwk, newKey.jwk] } })
  t.same(await admit(state, opts, getConfigMap, { authorization: `Bearer ${fromNew}` }), { ok: true, authorizedHere: true })
  t.same(await admit(state, opts, getConfigMap, { authorization: `Bearer ${await oldKey.sign()}` }), { ok: true, authorizedHere: true }, 'the old key still works')
  state.update({ type: 'jwks', jwks: { keys: [newKey.jwk] } })
  t.match(await admit(state, opts, getConfigMap, { authorization: `Bearer ${await oldKey.sign()}` }), { ok: false, status: { code: 401 } }, 'a retired key is refused')

  // Persisted: a fresh state over the reopened file loads the same keys and policy.
  store.close()
  const reopened = CacheStore.open(dir, { maxSizeBytes: 1 << 20, logger, covers: () => true })
  t.teardown(() => reopened.close())
  const reloaded = new ReceivedPolicy(reopened, 'edge-1', logger)
  reloaded.load()
  t.same(await admit(reloaded, opts, getConfigMap, { authorization: `Bearer ${fromNew}` }), { ok: true, authorizedHere: true })
})

t.test('RBAC at the edge, and Impersonate-* left to kube-apiserver', async (t) => {
  const state = new ReceivedPolicy(memoryState(), 'edge-1', logger)
  const k = await key('k')
  state.update({ type: 'policy', bundle })
  state.update({ type: 'jwks', jwks: { keys: [k.jwk] } })
  const token = await k.sign()
  const del = info('DELETE', '/api/v1/namespaces/ns/configmaps/c')
  const denied = await admit(state, opts, del, { authorization: `Bearer ${token}` })
  t.match(denied, {
    ok: false,
    status: { code: 403, message: 'configmaps "c" is forbidden: User "system:serviceaccount:ns:app" cannot delete resource "configmaps" in API group "" in the namespace "ns"' },
    user: 'system:serviceaccount:ns:app',
    why: /^rbac/,
  }, 'the refusal names who, for the audit line (admission.ts)')
  t.notOk(JSON.stringify(denied).includes(token), 'and never carries the token')
  t.same(await admit(state, opts, del, { authorization: `Bearer ${token}`, 'impersonate-user': 'someone' }), { ok: true, authorizedHere: false },
    'impersonation is authorized by kube-apiserver, not guessed here, and so never answered from the cache')
  t.match(await admit(state, opts, getConfigMap, { authorization: `Bearer ${await k.sign({ 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'app', uid: 'sa-uid' }, pod: { name: 'p', uid: 'other-uid' } } })}` }),
    { ok: false, status: { code: 403 } }, 'a pod uid this node does not have')
  t.match(await admit(state, opts, getConfigMap, { authorization: 'Basic dXNlcjpwdw==' }), { ok: false, status: { code: 401 } })
  t.same(await admit(state, opts, info('GET', '/apis/apps/v1'), {}), { ok: true, authorizedHere: true }, 'anonymous discovery')
  t.match(await admit(state, opts, getConfigMap, {}), { ok: false, status: { code: 401 } })
})

t.test('a bundle for another node is ignored', async (t) => {
  const state = new ReceivedPolicy(memoryState(), 'edge-1', logger)
  state.update({ type: 'policy', bundle: { ...bundle, node: 'edge-2' } })
  t.equal(state.bundle, undefined)
})

t.test('a deny reason is worded as the fronted apiserver release does (bundle kubeVersion)', async (t) => {
  const dangling = { ...bundle, rbac: { ...bundle.rbac, roleBindings: [{ metadata: { name: 'gone', namespace: 'ns' }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'gone' }, subjects: [{ kind: 'ServiceAccount', name: 'app', namespace: 'ns' }] }] } }
  const k = await key('k')
  const base = 'configmaps "c" is forbidden: User "system:serviceaccount:ns:app" cannot get resource "configmaps" in API group "" in the namespace "ns"'
  const reason = 'RBAC: role.rbac.authorization.k8s.io "gone" not found'
  for (const [kubeVersion, want] of [['v1.34.4', `${base}: ${reason}`], ['v1.37.2', `${base}: rbac: ${reason}`], [undefined, `${base}: rbac: ${reason}`]] as const) {
    const state = new ReceivedPolicy(memoryState(), 'edge-1', logger)
    state.update({ type: 'policy', bundle: kubeVersion === undefined ? dangling : { ...dangling, kubeVersion } })
    state.update({ type: 'jwks', jwks: { keys: [k.jwk] } })
    t.match(await admit(state, opts, getConfigMap, { authorization: `Bearer ${await k.sign()}` }), { ok: false, status: { code: 403, message: want } }, `fronting ${kubeVersion ?? 'an unknown release'}`)
  }
})

t.test('when the keys and policy were received is kept with them, so their age survives a restart', async (t) => {
  const durable = memoryState()
  const state = new ReceivedPolicy(durable, 'edge-1', logger)
  const k = await key('k')
  t.same(state.receivedAt, {}, 'nothing received yet')
  state.update({ type: 'jwks', jwks: { keys: [k.jwk] } })
  state.update({ type: 'policy', bundle })
  t.type(state.receivedAt.jwks, 'number')
  t.type(state.receivedAt.policy, 'number')
  const restarted = new ReceivedPolicy(durable, 'edge-1', logger)
  restarted.load()
  t.same(restarted.receivedAt, state.receivedAt, 'the same times after a reload from the persisted state')
  const legacy = memoryState()
  legacy.setState('control/jwks', JSON.stringify({ type: 'jwks', jwks: { keys: [k.jwk] } }))
  const old = new ReceivedPolicy(legacy, 'edge-1', logger)
  old.load()
  t.ok(old.keys !== undefined, 'state persisted before the time was kept still loads')
  t.same(old.receivedAt, {}, 'with its age unknown')
})
