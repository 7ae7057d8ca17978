// requireAuthorization through the edge with the real clients: allowed requests pass, forbidden
// ones are answered by the edge (the cloud never sees them), bad tokens are refused, and RBAC
// changes on kube-apiserver reach the edge within seconds. The apiserver's own verdict is the
// reference for every answer.
import t, { type Test } from 'tap'
import { readFile } from 'node:fs/promises'
import { createPrivateKey } from 'node:crypto'
import { generateKeyPair, SignJWT } from 'jose'
import { binaries } from '../cluster/cluster.js'
import { clientGo, jsonLines, kubectl, python } from '../cluster/clients.js'
import { RestClient, type RestResponse } from '../cluster/rest.js'
import { Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-authz'
const edge = await stack.startEdge(NODE)
const viaEdge = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem)
const direct = new RestClient(stack.cluster.url, stack.cluster.pki.caPem)
t.teardown(async () => { await viaEdge.close(); await direct.close() })

const ns = await stack.fixtures.namespace('authz')
const me = await stack.fixtures.podIdentity(ns, NODE, {
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
})
await stack.fixtures.configMap(ns, 'open', { k: 'v' })
const pod = await stack.podEnv(edge, me.token, ns)

/** Requests kube-apiserver received through the shim so far (the cloud's own counter). */
const cloudRequests = (): Promise<number> => stack.cloudMetric('edge_metaserver_cloud_requests_total')

t.test('allowed requests pass with every client', async (t) => {
  const k = await kubectl(pod, ['get', 'configmap', 'open', '-o', 'jsonpath={.data.k}'])
  t.equal(k.stdout, 'v', k.stderr)
  const g = await clientGo(pod, ['list', '--resource', 'configmaps'])
  t.equal(g.code, 0, g.stderr)
  t.ok(jsonLines(g.stdout).at(-1).names.includes('open'))
  const p = await python(pod, ['get', ns, 'open'])
  t.equal(p.code, 0, p.stderr)
})

/** `path` as `me` through the edge (a 403 the cloud never sees) and straight at kube-apiserver. */
async function refusedAtEdge (t: Test, path: string): Promise<{ atEdge: RestResponse, atApiserver: RestResponse }> {
  const before = await cloudRequests()
  const atEdge = await viaEdge.withToken(me.token).get(path)
  t.equal(await cloudRequests(), before, 'answered at the edge: the cloud saw nothing')
  t.equal(atEdge.status, 403)
  return { atEdge, atApiserver: await direct.withToken(me.token).get(path) }
}

t.test('a forbidden request is answered by the edge, byte-identical to the apiserver, without reaching the cloud', async (t) => {
  // The counter is live: a relayed request moves it (so "unchanged" below means something).
  const idle = await cloudRequests()
  t.equal((await viaEdge.withToken(me.token).get(`/api/v1/namespaces/${ns}/configmaps/open`)).status, 200)
  t.ok(await cloudRequests() > idle, 'an allowed request is counted at the cloud')
  const before = await cloudRequests()
  const { atEdge, atApiserver } = await refusedAtEdge(t, `/api/v1/namespaces/${ns}/secrets/some-secret`)
  t.equal(atEdge.raw.toString(), atApiserver.raw.toString())
  // And with the real clients: kubectl shows the apiserver's own message.
  const k = await kubectl(pod, ['delete', 'configmap', 'open'])
  t.not(k.code, 0)
  t.match(k.stderr, `configmaps "open" is forbidden: User "system:serviceaccount:${ns}:app" cannot delete resource "configmaps" in API group "" in the namespace "${ns}"`)
  const g = await clientGo(pod, ['get', '--resource', 'secrets', '--name', 'x'])
  t.match(jsonLines(g.stdout)[0], { type: 'error', code: 403 })
  t.equal(await cloudRequests(), before, 'still nothing at the cloud')
  t.equal((await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/open`)).status, 200, 'the ConfigMap is still there')
})

t.test('a deny reason (a RoleBinding to a missing Role) is worded as the fronted release words it, byte-identical to the apiserver', async (t) => {
  // 1.37 prefixes the authorizer's name (`rbac: RBAC: ...`), 1.34 did not: the edge learns the
  // release from the shim (the policy bundle's kubeVersion) and must match either way.
  await stack.fixtures.roleBinding(ns, 'dangling', { kind: 'Role', name: 'no-such-role' }, [{ kind: 'ServiceAccount', name: me.serviceAccount, namespace: ns }])
  await waitUntil(() => edge.policy?.bundle?.rbac.roleBindings.some((b) => b.metadata.name === 'dangling') === true, 15_000, 'the dangling RoleBinding in the edge bundle')
  const version = ((await direct.get('/version')).body as { gitVersion: string }).gitVersion
  t.equal(edge.policy?.bundle?.kubeVersion, version, 'the bundle carries kube-apiserver\'s /version')
  const { atEdge, atApiserver } = await refusedAtEdge(t, `/api/v1/namespaces/${ns}/secrets/some-secret`)
  t.match(atApiserver.body.message, /RBAC: \[?role.rbac.authorization.k8s.io "no-such-role" not found/, 'kube-apiserver gives the reason')
  t.equal(atEdge.raw.toString(), atApiserver.raw.toString(), `${version}: the edge's 403 is kube-apiserver's, reason included`)
})

t.test('anonymous: /version works, resources get 401', async (t) => {
  const version = await viaEdge.get('/version')
  t.equal(version.status, 200)
  t.equal(version.body.gitVersion, (await binaries()).KUBE_VERSION)
  const pods = await viaEdge.get('/api/v1/pods')
  t.equal(pods.status, 401)
  t.equal(pods.body.reason, 'Unauthorized')
  t.equal((await viaEdge.post('/api', {})).status, 401, 'only GET is anonymous')
})

t.test('bad tokens are refused at the edge', async (t) => {
  const jwks = await stack.admin.must('GET', '/openid/v1/jwks', { headers: { accept: 'application/jwk-set+json' } })
  const kid: string = jwks.keys[0].kid
  const realKey = createPrivateKey(await readFile(stack.cluster.pki.serviceAccount.privateKeyFile))
  const claims = (over: Record<string, unknown> = {}): Record<string, unknown> => {
    const payload = JSON.parse(Buffer.from(me.token.split('.')[1]!, 'base64url').toString())
    return { ...payload, ...over }
  }
  const sign = (payload: Record<string, unknown>, key: Parameters<SignJWT['sign']>[0], keyId: string): Promise<string> =>
    new SignJWT(payload).setProtectedHeader({ alg: 'RS256', kid: keyId }).sign(key)
  const now = Math.floor(Date.now() / 1000)
  const path = `/api/v1/namespaces/${ns}/configmaps/open`
  const cases: Array<[string, string]> = [
    // Signed with the cluster's real key, so only the claim makes it invalid.
    ['expired', await sign(claims({ exp: now - 3600, iat: now - 7200, nbf: now - 7200 }), realKey, kid)],
    ['wrong issuer', await sign(claims({ iss: 'https://evil.example' }), realKey, kid)],
    ['forged signature (key not in the JWKS)', await sign(claims(), (await generateKeyPair('RS256')).privateKey, 'forged-kid')],
    ['forged signature (known kid, other key)', await sign(claims(), (await generateKeyPair('RS256')).privateKey, kid)],
    ['tampered payload', `${me.token.split('.')[0]}.${Buffer.from(JSON.stringify(claims({ sub: 'system:serviceaccount:kube-system:admin' }))).toString('base64url')}.${me.token.split('.')[2]}`],
  ]
  const before = await cloudRequests()
  for (const [name, token] of cases) {
    const [e, d] = await Promise.all([viaEdge.withToken(token).get(path), direct.withToken(token).get(path)])
    t.equal(e.status, 401, `${name}: refused at the edge`)
    t.equal(d.status, 401, `${name}: kube-apiserver agrees`)
  }
  t.equal(await cloudRequests(), before, 'none of them reached the cloud')

  // A real token minted for another audience.
  const otherAudience = await stack.fixtures.podToken(ns, me.serviceAccount, me.pod, { audiences: ['vault'] })
  const wrongAud = await viaEdge.withToken(otherAudience).get(path)
  t.equal(wrongAud.status, 401, 'wrong audience')
})

t.test('a token of a pod bound to another node is refused at the edge', async (t) => {
  const other = await stack.fixtures.podIdentity(ns, 'another-node', { podName: 'far-away' })
  const before = await cloudRequests()
  const r = await viaEdge.withToken(other.token).get(`/api/v1/namespaces/${ns}/configmaps/open`)
  t.equal(r.status, 403)
  t.match(r.body.message, 'on node "another-node"')
  t.equal(await cloudRequests(), before)
})

t.test('a RoleBinding created on kube-apiserver takes effect at the edge within seconds; deleting it revokes', async (t) => {
  const path = `/api/v1/namespaces/${ns}/secrets`
  t.equal((await viaEdge.withToken(me.token).get(path)).status, 403)
  await stack.fixtures.role(ns, 'secret-reader', [{ apiGroups: [''], resources: ['secrets'], verbs: ['list'] }])
  const started = Date.now()
  await stack.fixtures.roleBinding(ns, 'secret-reader', { kind: 'Role', name: 'secret-reader' },
    [{ kind: 'ServiceAccount', name: me.serviceAccount, namespace: ns }])
  await waitUntil(async () => (await viaEdge.withToken(me.token).get(path)).status === 200, 10_000, 'the grant to reach the edge')
  const grantMs = Date.now() - started
  t.comment(`grant took effect at the edge ${grantMs} ms after the RoleBinding was created`)

  const revoked = Date.now()
  await stack.admin.must('DELETE', `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings/secret-reader`)
  await waitUntil(async () => (await viaEdge.withToken(me.token).get(path)).status === 403, 10_000, 'the revocation to reach the edge')
  const revokeMs = Date.now() - revoked
  t.comment(`revocation took effect at the edge ${revokeMs} ms after the RoleBinding was deleted`)
})

t.test('a RoleBinding in another namespace grants too (KubeEdge syncs only the pod\'s namespace)', async (t) => {
  const elsewhere = await stack.fixtures.namespace('elsewhere')
  await stack.fixtures.configMap(elsewhere, 'remote', { r: '1' })
  const path = `/api/v1/namespaces/${elsewhere}/configmaps/remote`
  t.equal((await viaEdge.withToken(me.token).get(path)).status, 403)
  await stack.fixtures.roleBinding(elsewhere, 'cross', { kind: 'ClusterRole', name: 'view' },
    [{ kind: 'ServiceAccount', name: me.serviceAccount, namespace: ns }])
  await waitUntil(async () => (await viaEdge.withToken(me.token).get(path)).status === 200, 10_000, 'the cross-namespace grant')
  t.equal((await direct.withToken(me.token).get(path)).status, 200, 'kube-apiserver agrees')
})

t.test('the edge keeps its keys and policy on disk: restarted without the cloud, it still refuses locally', async (t) => {
  const stateDir = edge.stateDir
  const { freePort } = await import('../cluster/processes.js')
  const offline = await stack.startEdge(NODE, { tunnelPort: await freePort(), waitForTunnel: false, stateDir })
  const client = new RestClient(`https://127.0.0.1:${offline.listening.server!.port}`, stack.cluster.pki.caPem, me.token)
  t.teardown(() => client.close())
  const forbidden = await client.get(`/api/v1/namespaces/${ns}/pods`)
  t.equal(forbidden.status, 403, 'decided from the persisted policy')
  const allowed = await client.get(`/api/v1/namespaces/${ns}/configmaps/open`)
  t.equal(allowed.status, 200, 'allowed, and answered from the edge cache (issue #5)')
  t.match(allowed.headers.warning, /served from edge cache/)
  t.equal((await client.withToken('garbage').get(`/api/v1/namespaces/${ns}/configmaps/open`)).status, 401)
})
