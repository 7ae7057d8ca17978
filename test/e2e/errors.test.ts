// Every refusal on the request path is a Kubernetes Status with the right code, and comes from the
// right place: the apiserver's own answers pass through unchanged; node restriction and missing
// credentials are answered by the shim; a stranger's certificate never gets past the TLS handshake.
import t from 'tap'
import http2 from 'node:http2'
import { readFile } from 'node:fs/promises'
import { binaries } from '../cluster/cluster.js'
import { CertificateAuthority } from '../cluster/pki.js'
import { RestClient } from '../cluster/rest.js'
import { Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-errors'
const edge = await stack.startEdge(NODE)
const edgeUrl = `https://127.0.0.1:${edge.listening.server!.port}`
const viaEdge = new RestClient(edgeUrl, stack.cluster.pki.caPem)
const direct = new RestClient(stack.cluster.url, stack.cluster.pki.caPem)
// A second node with requireAuthorization off (plain HTTP on loopback, no checks at the edge):
// whatever the edge lets through, the shim must still refuse. Defence in depth, tested. Its own
// node identity: the shim lets only the newest connection of one identity live (a second edge with
// the same certificate supersedes the first), so the two edges here cannot share a node.
const OPEN_NODE = 'edge-errors-open'
const openEdge = await stack.startEdge(OPEN_NODE, { extraYaml: ['featureGates:', '  requireAuthorization: false'] })
const viaOpenEdge = new RestClient(`http://127.0.0.1:${openEdge.listening.server!.port}`, stack.cluster.pki.caPem)
t.teardown(async () => { await viaEdge.close(); await direct.close(); await viaOpenEdge.close() })

const ns = await stack.fixtures.namespace('errors')
const reader = await stack.fixtures.podIdentity(ns, NODE, {
  serviceAccount: 'reader',
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create'] }],
})
await stack.fixtures.configMap(ns, 'present')

t.test('an RBAC denial is the apiserver\'s own 403 Status, byte for byte', async (t) => {
  const path = `/api/v1/namespaces/${ns}/secrets`
  const [e, d] = await Promise.all([viaEdge.withToken(reader.token).get(path), direct.withToken(reader.token).get(path)])
  t.equal(e.status, 403)
  t.equal(e.raw.toString(), d.raw.toString())
  t.match(e.body, {
    kind: 'Status', reason: 'Forbidden', code: 403,
    message: `secrets is forbidden: User "system:serviceaccount:${ns}:reader" cannot list resource "secrets" in API group "" in the namespace "${ns}"`,
  })
})

t.test('a 404 and a 409 from the apiserver pass through unchanged', async (t) => {
  const missing = `/api/v1/namespaces/${ns}/configmaps/absent`
  const [e404, d404] = await Promise.all([viaEdge.withToken(reader.token).get(missing), direct.withToken(reader.token).get(missing)])
  t.equal(e404.status, 404)
  t.equal(e404.raw.toString(), d404.raw.toString())
  const dup = await viaEdge.withToken(reader.token).post(`/api/v1/namespaces/${ns}/configmaps`,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'present' } })
  t.equal(dup.status, 409)
  t.match(dup.body, { reason: 'AlreadyExists', message: 'configmaps "present" already exists' })
})

t.test('the token of a pod bound to another node is refused, by the edge and by the shim', async (t) => {
  const other = await stack.fixtures.podIdentity(ns, 'some-other-node', {
    serviceAccount: 'reader', podName: 'elsewhere',
  })
  for (const [who, client, node] of [['edge', viaEdge, NODE], ['shim', viaOpenEdge, OPEN_NODE]] as const) {
    const res = await client.withToken(other.token).get(`/api/v1/namespaces/${ns}/configmaps/present`)
    t.equal(res.status, 403, who)
    t.match(res.body, {
      kind: 'Status', reason: 'Forbidden', code: 403,
      message: `User "system:serviceaccount:${ns}:reader" cannot use the edge tunnel of node "${node}": the token is bound to pod ${ns}/elsewhere on node "some-other-node"`,
    }, who)
    t.equal(res.headers['x-ems-origin'], undefined, 'internal markers never reach the pod')
  }
  // The same token works directly: it is the node binding, not RBAC, that refused it.
  t.equal((await direct.withToken(other.token).get(`/api/v1/namespaces/${ns}/configmaps/present`)).status, 200)
})

t.test('a token not bound to any pod is refused, by the edge and by the shim', async (t) => {
  const res = await stack.admin.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts/reader/token`, {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 600 } },
  })
  for (const [who, client] of [['edge', viaEdge], ['shim', viaOpenEdge]] as const) {
    const r = await client.withToken(res.status.token).get(`/api/v1/namespaces/${ns}/configmaps/present`)
    t.equal(r.status, 403, who)
    t.match(r.body.message, /the token is not bound to a pod/, who)
  }
})

t.test('the cluster admin\'s token is not accepted through an edge', async (t) => {
  // Not a service-account JWT: the edge cannot even authenticate it.
  const atEdge = await viaEdge.withToken(stack.cluster.adminToken).get(`/api/v1/namespaces/${ns}/configmaps/present`)
  t.equal(atEdge.status, 401)
  // The shim authenticates it (TokenReview) and refuses it: not a pod of this node.
  const atShim = await viaOpenEdge.withToken(stack.cluster.adminToken).get(`/api/v1/namespaces/${ns}/configmaps/present`)
  t.equal(atShim.status, 403)
  t.match(atShim.body.message, /only service account tokens of pods on this node are accepted/)
})

t.test('no token: 401 on resources, anonymous discovery and version still work', async (t) => {
  const r = await viaEdge.get(`/api/v1/namespaces/${ns}/configmaps`)
  t.equal(r.status, 401)
  t.same(r.body, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 })
  const bogus = await viaEdge.withToken('not-a-token').get(`/api/v1/namespaces/${ns}/configmaps`)
  t.equal(bogus.status, 401)
  const version = await viaEdge.get('/version')
  t.equal(version.status, 200)
  t.equal(version.body.gitVersion, (await binaries()).KUBE_VERSION)
  t.equal((await viaEdge.get('/apis')).status, 200)
})

t.test('a token of a deleted pod is refused', async (t) => {
  const doomed = await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: 'reader', podName: 'doomed' })
  // The same through the open edge, which checks nothing itself: a pod bound to its node.
  const doomedThere = await stack.fixtures.podIdentity(ns, OPEN_NODE, { serviceAccount: 'reader', podName: 'doomed-open' })
  const path = `/api/v1/namespaces/${ns}/configmaps/present`
  t.equal((await viaEdge.withToken(doomed.token).get(path)).status, 200)
  t.equal((await viaOpenEdge.withToken(doomedThere.token).get(path)).status, 200)
  await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/pods/doomed`, { query: { gracePeriodSeconds: 0 } })
  await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/pods/doomed-open`, { query: { gracePeriodSeconds: 0 } })
  // The edge learns of the deletion from its policy bundle (a watch away) and refuses at once.
  await waitUntil(async () => (await viaEdge.withToken(doomed.token).get(path)).status === 403, 10_000, 'refusal at the edge')
  const atEdge = await viaEdge.withToken(doomed.token).get(path)
  t.match(atEdge.body.message, `pod ${ns}/doomed (uid ${doomed.pod.uid}) is not bound to this node or no longer exists`)
  // kube-apiserver caches successful token authentications for 10 s: its own refusal (and so
  // the shim's, which relays the token) may lag that long.
  await waitUntil(async () => (await direct.withToken(doomed.token).get(path)).status === 401, 20_000, 'direct refusal')
  await waitUntil(async () => (await viaOpenEdge.withToken(doomedThere.token).get(path)).status === 401, 20_000, 'refusal through the shim')
  t.match((await viaOpenEdge.withToken(doomedThere.token).get(path)).body, { kind: 'Status', reason: 'Unauthorized', code: 401 }, 'the shim relays kube-apiserver\'s 401')
})

t.test('Impersonate-* headers reach kube-apiserver, which judges them', async (t) => {
  const r = await viaEdge.withToken(reader.token).get(`/api/v1/namespaces/${ns}/configmaps/present`,
    { headers: { 'impersonate-user': 'system:admin' } })
  t.equal(r.status, 403)
  // The wording is kube-apiserver's and changes by release (1.37's constrained impersonation asks
  // for `impersonate-on:user-info:get` on the target first; 1.34 asked for `impersonate` on users):
  // the edge's answer must be the apiserver's own, byte for byte.
  const straight = await direct.withToken(reader.token).get(`/api/v1/namespaces/${ns}/configmaps/present`,
    { headers: { 'impersonate-user': 'system:admin' } })
  t.same(r.body, straight.body, 'exactly what kube-apiserver answers the same request')
  t.match(r.body.message, `is forbidden: User "system:serviceaccount:${ns}:reader" cannot impersonate`)
})

t.test('an oversized body is refused with 413 and nothing reaches the apiserver', async (t) => {
  const big = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'too-big' }, data: { blob: 'x'.repeat(3 * 1024 * 1024 + 1) } }
  const r = await viaEdge.withToken(reader.token).post(`/api/v1/namespaces/${ns}/configmaps`, big)
  t.equal(r.status, 413)
  t.match(r.body, { kind: 'Status', reason: 'RequestEntityTooLarge', code: 413 })
  t.equal((await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/too-big`)).status, 404)
})

t.test('an edge certificate from another CA is refused during the TLS handshake', async (t) => {
  const rogueCa = await CertificateAuthority.create(await stack.cluster.tempDir('rogue'), 'rogue-ca', 'rogue')
  const rogue = await rogueCa.issue('node-rogue', { cn: `system:node:${NODE}`, organizations: ['system:nodes'], usage: 'client' })
  const [tunnelCa, cert, key] = await Promise.all([readFile(stack.tunnelPki.ca.certFile, 'utf8'), readFile(rogue.certFile, 'utf8'), readFile(rogue.keyFile, 'utf8')])
  const refusedBefore = await handshakeFailures()
  const outcome = await tryTunnel(tunnelCa, cert, key)
  t.not(outcome, 'served')
  t.equal(await handshakeFailures(), refusedBefore + 1, 'the cloud counted one refused handshake')
})

/** Opens a tunnel connection with the given identity and tries one request through it. */
function tryTunnel (ca: string, cert: string, key: string): Promise<string> {
  return new Promise<string>((resolve) => {
    const session = http2.connect(`https://127.0.0.1:${stack.cloud.tunnelPort}`, { ca, cert, key, minVersion: 'TLSv1.3' })
    session.on('error', (err: NodeJS.ErrnoException) => resolve(`error: ${err.code ?? ''} ${err.message}`))
    session.on('close', () => resolve('closed'))
    // With TLS 1.3 the client may only learn of the rejection when it reads: send a request.
    session.on('connect', () => {
      const req = session.request({ ':path': '/version' })
      req.on('response', () => { resolve('served'); session.destroy() })
      req.on('error', () => {})
      req.end()
    })
  })
}

const handshakeFailures = (): Promise<number> => stack.cloudMetric('edge_metaserver_cloud_tunnel_handshake_failures_total')

t.test('a tunnel-CA certificate that is not a node identity gets no session', async (t) => {
  const notNode = await stack.tunnelPki.ca.issue('not-a-node', { cn: 'someone', usage: 'client' })
  const [tunnelCa, cert, key] = await Promise.all([readFile(stack.tunnelPki.ca.certFile, 'utf8'), readFile(notNode.certFile, 'utf8'), readFile(notNode.keyFile, 'utf8')])
  const outcome = await tryTunnel(tunnelCa, cert, key)
  t.not(outcome, 'served')
})

t.test('repeated requests cost one TokenReview per token', async (t) => {
  const me = await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: 'reader', podName: 'cached' })
  const before = stack.cloud.tokenReviewer.reviewsSent
  const results = await Promise.all(Array.from({ length: 20 }, () => viaEdge.withToken(me.token).get(`/api/v1/namespaces/${ns}/configmaps/present`)))
  t.same(results.map((r) => r.status), Array(20).fill(200))
  t.equal(stack.cloud.tokenReviewer.reviewsSent - before, 1)
})

t.test('tunnel down: fast 503 Status with Retry-After; health says why', async (t) => {
  // An edge whose cloud is not there at all (nothing listens on the port).
  const { freePort } = await import('../cluster/processes.js')
  const lonely = await stack.startEdge('edge-lonely', { tunnelPort: await freePort(), waitForTunnel: false })
  const url = `https://127.0.0.1:${lonely.listening.server!.port}`
  const client = new RestClient(url, stack.cluster.pki.caPem, reader.token)
  t.teardown(() => client.close())
  const r = await client.get(`/api/v1/namespaces/${ns}/configmaps/present`)
  t.equal(r.status, 503)
  // A never-connected edge has no keys or policy yet; with them (persisted) it would say the cloud is unreachable.
  t.match(r.body, { kind: 'Status', reason: 'ServiceUnavailable', code: 503, message: /(policy has not been received from the cloud|the cloud is unreachable)/ })
  t.equal(r.headers['retry-after'], '1')
  const ready = await client.withToken(undefined).get('/readyz?verbose')
  t.equal(ready.status, 500)
  t.match(ready.body, /\[-\]tunnel failed: disconnected since/)
  t.match(ready.body, /\[\+\]listeners ok/)
  t.equal((await client.withToken(undefined).get('/livez')).status, 200)
  t.equal((await client.withToken(undefined).get('/healthz')).status, 500)
  const connected = await viaEdge.get('/readyz?verbose')
  t.equal(connected.status, 200)
  t.match(connected.body, /\[\+\]tunnel ok/)
})

t.test('a short request that outlives modules.metaServer.requestTimeout gets a 504 Status; watches are exempt', async (t) => {
  // A node of its own (one identity, one live edge): a pod bound to it, then its edge.
  const IMPATIENT_NODE = 'edge-errors-impatient'
  const impatientPod = await stack.fixtures.podIdentity(ns, IMPATIENT_NODE, { serviceAccount: 'reader', podName: 'impatient' })
  const impatient = await stack.startEdge(IMPATIENT_NODE, { metaServer: ['requestTimeout: 1ms'] })
  const client = new RestClient(`https://127.0.0.1:${impatient.listening.server!.port}`, stack.cluster.pki.caPem, impatientPod.token)
  t.teardown(() => client.close())
  const r = await client.get(`/api/v1/namespaces/${ns}/configmaps/present`)
  t.equal(r.status, 504)
  t.match(r.body, { kind: 'Status', reason: 'Timeout', code: 504, message: /did not complete within/ })
  // A watch is long-running: the same 1 ms limit does not apply to it.
  const watch = await client.get(`/api/v1/namespaces/${ns}/configmaps`, { query: { watch: 1, timeoutSeconds: 1 } })
  t.equal(watch.status, 200)
  t.match(watch.raw.toString(), /"type":"ADDED"/)
})

t.test('a URL Go cannot parse is a 400 Status; a method kube-apiserver knows no verb for is decided as it does', async (t) => {
  const { execFile } = await import('node:child_process')
  const curl = (base: string, args: string[]): Promise<{ code: number, body: string }> => new Promise((resolve) => {
    execFile('curl', ['-s', '-w', '\\n%{http_code}', '--cacert', stack.cluster.pki.ca.certFile, '-H', `Authorization: Bearer ${reader.token}`,
      ...args.map((a) => a.replace('BASE', base))], (_err, stdout) => {
      const at = stdout.lastIndexOf('\n')
      resolve({ code: Number(stdout.slice(at + 1)), body: stdout.slice(0, at) })
    })
  })
  const badUrl = ['--path-as-is', 'BASE/api/v1/namespaces/%zz']
  const [viaEdgeBad, directBad] = await Promise.all([curl(edgeUrl, badUrl), curl(stack.cluster.url, badUrl)])
  t.equal(viaEdgeBad.code, 400)
  // Go's server writes its plain-text 400 and closes at once; curl may see only the reset (code 0).
  t.ok(directBad.code === 400 || directBad.code === 0, `kube-apiserver refuses it too (${directBad.code})`)
  t.match(JSON.parse(viaEdgeBad.body), { kind: 'Status', reason: 'BadRequest', code: 400 })
  const propfind = ['-X', 'PROPFIND', 'BASE/api']
  const [viaEdgeOdd, directOdd] = await Promise.all([curl(edgeUrl, propfind), curl(stack.cluster.url, propfind)])
  t.equal(viaEdgeOdd.code, directOdd.code, `PROPFIND /api: ${directOdd.code} from kube-apiserver, the same from the edge`)
  t.match(JSON.parse(viaEdgeOdd.body), { kind: 'Status' })
})
