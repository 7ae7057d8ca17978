// Issue 9, items 3 and 4, against the real kube-apiserver: the edge decides on the request
// kube-apiserver parses (decoded path, absolute-form targets, Go's query parsing, ListOptions that
// fail to decode, field-selector terms sorted and untrimmed), and a namespace-less ServiceAccount
// subject of a RoleBinding grants at the edge. Every request goes through the edge and straight to
// the apiserver with the same token, sent byte for byte as written (raw request line): the edge
// answers what the apiserver answers, and is never more permissive.
import t, { type Test } from 'tap'
import { request } from 'node:https'
import { Partition } from './partition.js'
import { Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-parsing'
const edge = await stack.startEdge(NODE)
const edgeAddress = edge.listening.server!
const apiserver = new URL(stack.cluster.url)

const ns = await stack.fixtures.namespace('parse')
const me = await stack.fixtures.podIdentity(ns, NODE, {
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'], resourceNames: ['n1'] }],
})
await stack.fixtures.configMap(ns, 'n1', { k: 'v' })
await stack.fixtures.configMap(ns, 'n2', { k: 'v' })

/** One HTTP/1.1 request whose request line carries `target` exactly as given. */
function send (host: string, port: number, target: string, token: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, method: 'GET', path: target, ca: stack.cluster.pki.caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = []
      res.on('data', (c: Buffer) => chunks.push(c))
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }))
      res.on('error', reject)
    })
    req.setTimeout(30_000, () => req.destroy(new Error(`timeout on ${target}`)))
    req.on('error', reject)
    req.end()
  })
}

const viaEdge = (target: string, token = me.token) => send(edgeAddress.host, edgeAddress.port, target, token)
const direct = (target: string, token = me.token) => send(apiserver.hostname, Number(apiserver.port), target, token)

/** Sends `target` both ways (absolute-form targets name each server's own authority) and compares. */
async function compare (t: Test, target: (authority: string) => string, expected: number, what: string, opts: { token?: string } = {}): Promise<void> {
  const atEdge = await viaEdge(target(`${edgeAddress.host}:${edgeAddress.port}`), opts.token)
  const atApiserver = await direct(target(`${apiserver.hostname}:${apiserver.port}`), opts.token)
  t.equal(atApiserver.status, expected, `${what}: kube-apiserver answers ${expected}`)
  t.ok(atEdge.status >= 300 || atApiserver.status < 300, `${what}: the edge is never more permissive`)
  const same = `${what}: the edge answers as kube-apiserver (edge: ${atEdge.body.slice(0, 160)})`
  t.equal(atEdge.status, atApiserver.status, same)
}

const CM = `/api/v1/namespaces/${ns}/configmaps`

t.test('a Role on ConfigMap n1 only: the field-selector forms decide as kube-apiserver', async (t) => {
  const cases: Array<[string, number, string]> = [
    [`${CM}?fieldSelector=metadata.name%3Dn1`, 200, 'pinned to n1'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&watch=0`, 200, 'pinned, watch=0'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&limit=abc`, 403, 'limit fails to decode: the pin is dropped'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&limit=`, 403, 'an empty limit fails too'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&labelSelector=%3D%3D%3D`, 403, 'a label selector labels.Parse refuses'],
    [`${CM}?fieldSelector=metadata.name%3D+n1`, 403, 'no trimming: the name is " n1"'],
    [`${CM}?fieldSelector=metadata.name%3Dn1,metadata.name%3Dm`, 403, 'terms sorted: the pin is "m"'],
    [`${CM}?fieldSelector=metadata.name%3Dn1,metadata.name%3Do`, 200, 'terms sorted: the pin is "n1"'],
    [`${CM}?fieldSelector=metadata.name%3Dn1;x`, 403, 'a pair with ; is dropped by url.ParseQuery'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&x=%zz`, 200, 'another pair with a bad escape is dropped, the pin stays'],
    [`${CM}?fieldSelector=metadata.name%3Dn1&fieldSelector=metadata.name%3Dn2`, 200, 'the first fieldSelector counts'],
    [`${CM}`, 403, 'an unpinned list'],
  ]
  for (const [target, code, what] of cases) await compare(t, () => target, code, what)
})

t.test('the decoded path decides: encoded slashes, encoded letters, absolute-form targets', async (t) => {
  const encodedNs = ns.replace(/^p/, '%70')
  const cases: Array<[(authority: string) => string, number, string]> = [
    [() => `${CM}/n1`, 200, 'plain'],
    [() => `${CM}%2Fn1`, 200, 'configmaps%2Fn1'],
    [() => `/api/v1/namespaces/${encodedNs}/configmaps/n1`, 200, 'a percent-encoded letter in the namespace'],
    [() => `${CM}/n2`, 403, 'another name'],
    [() => `${CM}%2Fn2`, 403, 'another name, encoded'],
  ]
  for (const [target, code, what] of cases) await compare(t, target, code, what)
  // The edge authorizes the absolute-form target like the apiserver; relaying it needs relay.ts to
  // send the origin form (RequestInfo.originForm) as :path instead of the target as received.
  await compare(t, (a) => `https://${a}${CM}/n1`, 200, 'absolute-form')
  await compare(t, (a) => `https://${a}${CM}/n2`, 403, 'absolute-form, another name')
})

t.test('targets Go refuses are refused at the edge too', async (t) => {
  for (const target of [`${CM}/%zz`, '/api/v1/watch']) {
    const atEdge = await viaEdge(target)
    const atApiserver = await direct(target)
    t.comment(`${target}: edge ${atEdge.status}, kube-apiserver ${atApiserver.status}`)
    t.ok(atApiserver.status >= 400, `${target}: kube-apiserver refuses it`)
    t.ok(atEdge.status >= 400, `${target}: so does the edge`)
  }
})

t.test('targets Go serves with an empty path (no origin form) are refused at the edge, never more permissive', async (t) => {
  for (const target of [(a: string) => `https://${a}`, (a: string) => `https://${a}?x=1`, () => 'http:api']) {
    const atEdge = await viaEdge(target(`${edgeAddress.host}:${edgeAddress.port}`))
    const atApiserver = await direct(target(`${apiserver.hostname}:${apiserver.port}`))
    t.comment(`${target('host')}: edge ${atEdge.status}, kube-apiserver ${atApiserver.status}`)
    t.equal(atEdge.status, 400, `${target('host')}: the edge answers 400`)
    t.ok(atApiserver.status >= 300, `${target('host')}: kube-apiserver does not serve it either`)
  }
})

t.test('a RoleBinding ServiceAccount subject without namespace grants at the edge (item 4)', async (t) => {
  const other = await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: 'unqualified' })
  await stack.fixtures.role(ns, 'read-n2', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['n2'] }])
  await stack.fixtures.roleBinding(ns, 'read-n2', { kind: 'Role', name: 'read-n2' }, [{ kind: 'ServiceAccount', name: 'unqualified' }])
  await waitUntil(() => edge.policy!.bundle!.rbac.roleBindings.some((b: any) => b.metadata.name === 'read-n2' && b.metadata.namespace === ns),
    10_000, 'the namespace-less binding to reach the edge')
  await compare(t, () => `${CM}/n2`, 200, 'granted by the binding', { token: other.token })
  await compare(t, () => `${CM}/n1`, 403, 'nothing else', { token: other.token })
})

t.test('offline, the cache answers only what kube-apiserver would allow (the tunnel cut)', async (t) => {
  const NODE2 = 'edge-parsing-offline'
  const partition = await Partition.between(stack.cloud.tunnelPort)
  t.teardown(() => partition.close())
  const cached = await stack.startEdge(NODE2, { tunnelPort: partition.port, extraYaml: ['  cache:', '    watchBookmarkInterval: 1s'] })
  const at = cached.listening.server!
  const ns2 = await stack.fixtures.namespace('parse-off')
  const id = await stack.fixtures.podIdentity(ns2, NODE2, {
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'], resourceNames: ['n1'] }],
  })
  const lister = await stack.fixtures.podIdentity(ns2, NODE2, {
    serviceAccount: 'lister', rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['list'] }],
  })
  await stack.fixtures.configMap(ns2, 'n1', { k: 'v' })
  await stack.fixtures.configMap(ns2, 'n2', { k: 'v' })
  const CM2 = `/api/v1/namespaces/${ns2}/configmaps`
  // Online: the pinned list, the object and the whole list reach the cache.
  t.equal((await send(at.host, at.port, `${CM2}?fieldSelector=metadata.name%3Dn1`, id.token)).status, 200)
  t.equal((await send(at.host, at.port, CM2, lister.token)).status, 200)
  t.equal((await send(at.host, at.port, `${CM2}/n1`, id.token)).status, 200)
  partition.cut()
  await waitUntil(() => !cached.tunnel.state.connected, 10_000, 'the edge to notice the partition')
  const cases: Array<[string, number]> = [
    [`${CM2}?fieldSelector=metadata.name%3Dn1`, 200],
    [`${CM2}%2Fn1`, 200],
    [`${CM2}?fieldSelector=metadata.name%3Dn1&limit=abc`, 403],
    [`${CM2}?fieldSelector=metadata.name%3Dn1&labelSelector=%3D%3D%3D`, 403],
    [`${CM2}?fieldSelector=metadata.name%3D+n1`, 403],
    [`${CM2}?fieldSelector=metadata.name%3Dn1,metadata.name%3Dm`, 403],
    [`${CM2}%2Fn2`, 403],
  ]
  // Allowed to list everything: what kube-apiserver's list handler refuses, the cache refuses.
  const listerCases: Array<[string, number]> = [
    [`${CM2}?limit=abc`, 400],
    [`${CM2}?labelSelector=%3D%3D%3D`, 400],
    [`${CM2}?fieldSelector=+metadata.name%3Dn1`, 400],
    [`${CM2}?fieldSelector=metadata.name%3D+n1`, 200],
  ]
  for (const [target, code, token] of [...cases.map(([a, b]) => [a, b, id.token] as const), ...listerCases.map(([a, b]) => [a, b, lister.token] as const)]) {
    const offline = await send(at.host, at.port, target, token)
    const atApiserver = await direct(target, token)
    t.equal(atApiserver.status, code, `${target}: kube-apiserver answers ${code}`)
    t.ok(offline.status >= 300 || atApiserver.status < 300, `${target}: offline, never more permissive (edge ${offline.status})`)
    t.equal(offline.status, code, `${target}: the edge answers ${code} offline (${offline.body.slice(0, 120)})`)
  }
  partition.restore()
})
