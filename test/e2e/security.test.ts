// The named cases of issue 9, one test each, every answer compared with kube-apiserver's own for
// the same bytes and the same pod token (test/helpers/raw-http.ts sends them exactly):
// impersonation never reaches the cache (offline, and online when the tunnel stream fails),
// 200 headers reach kube-apiserver, an over-limit chunked body is a 413, encoded paths and
// field-selector forms decide as kube-apiserver does, a namespace-less ServiceAccount subject
// grants at the edge, and oversized headers, long request lines and raw bytes get a Status.
// The generated counterpart is test/e2e/request-differential.test.ts.
import t, { type Test } from 'tap'
import type { EdgeDaemon } from '../../src/edge/run.js'
import { asStatus, header, printable, sendRaw, type RawRequest, type RawResponse, type RawTarget } from '../helpers/raw-http.js'
import { Partition } from './partition.js'
import { Stack, waitUntil } from './stack.js'

const MiB = 1024 * 1024
const BODY_LIMIT = 3 * MiB
const NODE = 'sec-edge'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const partition = await Partition.between(stack.cloud.tunnelPort)
t.teardown(() => partition.close())
const edge: EdgeDaemon = await stack.startEdge(NODE, { tunnelPort: partition.port, metaServer: [`maxRequestBodyBytes: ${BODY_LIMIT}`] })
const edgeTarget: RawTarget = { host: '127.0.0.1', port: edge.listening.server!.port, caPem: stack.cluster.pki.caPem }
const directTarget: RawTarget = { host: '127.0.0.1', port: stack.cluster.port, caPem: stack.cluster.pki.caPem }

const ns = await stack.fixtures.namespace('sec')
for (const name of ['cm1', 'n1', 'n2']) await stack.fixtures.configMap(ns, name, { k: name })
await stack.admin.must('POST', `/api/v1/namespaces/${ns}/secrets`, { body: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'top-secret' }, stringData: { password: 'hunter2' } } })
const read = ['get', 'list', 'watch']
const identity = async (sa: string, rules?: unknown[]): Promise<string> =>
  (await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: sa, podName: `pod-${sa}`, ...(rules === undefined ? {} : { rules }) })).token
const tokens = {
  reader: await identity('reader', [{ apiGroups: [''], resources: ['secrets', 'configmaps'], verbs: read }]),
  nobody: await identity('nobody'),
  cm1: await identity('cm1', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: ['cm1'] }]),
  n1: await identity('n1', [{ apiGroups: [''], resources: ['configmaps'], verbs: read, resourceNames: ['n1'] }]),
  writer: await identity('writer', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create'] }]),
}

function request (method: string, target: string, token: string | undefined, extra: Array<[string, string]> = [],
  body?: RawRequest['body']): RawRequest {
  const headers: Array<[string, string]> = [['Accept', 'application/json']]
  if (token !== undefined) headers.push(['Authorization', `Bearer ${token}`])
  return { method, target, headers: [...headers, ...extra], ...(body === undefined ? {} : { body }) }
}
const viaEdge = (r: RawRequest): Promise<RawResponse> => sendRaw(edgeTarget, withHost(r, edgeTarget))
const direct = (r: RawRequest): Promise<RawResponse> => sendRaw(directTarget, withHost(r, directTarget))
/** Absolute-form targets name the server they are sent to. */
function withHost (r: RawRequest, server: RawTarget): RawRequest {
  return { ...r, target: r.target.replace('{authority}', `${server.host}:${server.port}`) }
}
const fillers = (count: number, size = 16): Array<[string, string]> =>
  Array.from({ length: count }, (_, i) => [`X-Sec-Fill-${i}`, 'f'.repeat(size)] as [string, string])
const is2xx = (code: number): boolean => code >= 200 && code < 300
const fromCache = (r: RawResponse): boolean => /edge-metaserver: cloud unreachable/.test(header(r, 'warning') ?? '')
const say = (r: RawResponse): string => `${r.status}${r.error === undefined ? '' : ` (${r.error})`} ${r.body.subarray(0, 160).toString('latin1')}`

/** Asserts that a non-2xx answer of the edge is a Kubernetes Status carrying its code. */
function assertStatus (t: Test, r: RawResponse, what: string): void {
  if (is2xx(r.status)) return
  const s = asStatus(r)
  t.ok(s !== undefined && s.code === r.status, `${what}: the edge's ${r.status} is a Kubernetes Status with that code (got ${say(r)})`)
}

async function cut (): Promise<void> {
  partition.cut()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice the partition')
}
async function restore (): Promise<void> {
  partition.restore()
  await waitUntil(() => edge.tunnel.state.connected, 15_000, 'the edge to redial')
}

const secretPath = `/api/v1/namespaces/${ns}/secrets/top-secret`
const secretsPath = `/api/v1/namespaces/${ns}/secrets`

t.test('impersonation offline gets no cached data', async (t) => {
  // A pod allowed to read Secrets reads them through the edge: they are cached now.
  for (const path of [secretPath, secretsPath]) t.equal((await viaEdge(request('GET', path, tokens.reader))).status, 200, `reader GET ${path} online`)
  const impersonating = [['Impersonate-User', 'x']] as Array<[string, string]>
  for (const path of [secretPath, secretsPath]) {
    const theirs = await direct(request('GET', path, tokens.nobody, impersonating))
    t.not(theirs.status, 200, `kube-apiserver refuses a pod without rights impersonating (${theirs.status})`)
  }
  await cut()
  try {
    for (const token of [tokens.nobody, tokens.reader]) {
      for (const path of [secretPath, secretsPath]) {
        for (const extra of [impersonating, [['Impersonate-Group', 'system:masters'], ['Impersonate-User', 'admin']] as Array<[string, string]>]) {
          const ours = await viaEdge(request('GET', path, token, extra))
          const who = token === tokens.reader ? 'reader' : 'nobody'
          t.equal(ours.status, 503, `offline, ${who} GET ${path} with ${extra.map(([k]) => k).join('+')} is a 503 (got ${say(ours)})`)
          t.notOk(fromCache(ours), 'and nothing came from the cache')
          t.notOk(ours.body.includes('hunter2'), 'and no Secret data is in the answer')
          assertStatus(t, ours, 'offline impersonation')
        }
      }
    }
    // Without impersonation the reader still gets its cached Secret: the cache itself works.
    const own = await viaEdge(request('GET', secretPath, tokens.reader))
    t.equal(own.status, 200, 'offline, the reader\'s own cached read still works')
    t.ok(fromCache(own), 'with the cache warning')
  } finally {
    await restore()
  }
})

t.test('impersonation online with a forced tunnel-stream error (200 headers) gets no cached data', async (t) => {
  // The cache holds the Secret (read above and here); >128 headers is what the shim's HTTP/2
  // server refused with a stream error when this test was written.
  t.equal((await viaEdge(request('GET', secretPath, tokens.reader))).status, 200)
  for (const path of [secretPath, secretsPath]) {
    for (const count of [129, 200]) {
      const r = request('GET', path, tokens.nobody, [['Impersonate-User', 'x'], ...fillers(count)])
      const [theirs, ours] = [await direct(r), await viaEdge(r)]
      t.notOk(is2xx(theirs.status), `kube-apiserver refuses it (${theirs.status})`)
      t.notOk(is2xx(ours.status), `the edge does not answer 2xx to GET ${path} with ${count} headers + Impersonate-User (got ${say(ours)})`)
      t.notOk(fromCache(ours), 'nothing came from the cache')
      t.notOk(ours.body.includes('hunter2'), 'no Secret data in the answer')
      t.equal(ours.status, theirs.status, 'the edge answers what kube-apiserver answers')
      assertStatus(t, ours, `${count} headers`)
    }
  }
})

t.test('200 headers online reach kube-apiserver', async (t) => {
  const name = 'via-200-headers'
  const body = Buffer.from(JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: 'v' } }))
  const created = await viaEdge(request('POST', `/api/v1/namespaces/${ns}/configmaps`, tokens.writer,
    [['Content-Type', 'application/json'], ...fillers(200)], { bytes: body, framing: 'sized' }))
  t.equal(created.status, 201, `a create with 200 headers through the edge is created (got ${say(created)})`)
  const onServer = await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/${name}`)
  t.equal(onServer.status, 200, 'kube-apiserver has the object')
  if (created.status === 201) t.equal(JSON.parse(created.body.toString()).metadata.uid, onServer.body.metadata?.uid, 'the answer is kube-apiserver\'s own (same uid)')

  const got = await viaEdge(request('GET', `/api/v1/namespaces/${ns}/configmaps/cm1`, tokens.reader, fillers(200)))
  const truth = await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/cm1`)
  t.equal(got.status, 200, `a GET with 200 headers is answered 200 (got ${say(got)})`)
  t.notOk(fromCache(got), 'not from the cache')
  if (got.status === 200) t.equal(JSON.parse(got.body.toString()).metadata.resourceVersion, truth.body.metadata.resourceVersion, 'the current version')
  // An object that exists but was never read through the edge: no false 404.
  const fresh = await viaEdge(request('GET', `/api/v1/namespaces/${ns}/configmaps/${name}`, tokens.writer, fillers(200)))
  t.equal(fresh.status, 200, `an existing object is 200, never a false 404 (got ${say(fresh)})`)
})

t.test('a body over maxRequestBodyBytes gets 413, chunked or sized', async (t) => {
  for (const framing of ['chunked', 'sized'] as const) {
    const name = `too-big-${framing}`
    const shell = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { k: '' } })
    const bytes = Buffer.from(shell.replace('"k":""', `"k":"${'x'.repeat(3.5 * MiB - shell.length)}"`))
    t.equal(bytes.length, 3.5 * MiB)
    const r = request('POST', `/api/v1/namespaces/${ns}/configmaps`, tokens.writer, [['Content-Type', 'application/json']], { bytes, framing })
    const theirs = await direct(r)
    const ours = await viaEdge(r)
    t.equal(theirs.status, 413, `kube-apiserver answers a ${framing} 3.5 MiB body with 413`)
    t.equal(ours.status, 413, `the edge answers a ${framing} 3.5 MiB body with 413 (got ${say(ours)})`)
    assertStatus(t, ours, `${framing} 3.5 MiB body`)
    t.equal((await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/${name}`)).status, 404, 'nothing was created')
  }
})

/** Online: the edge's code is kube-apiserver's. Offline: never 2xx where kube-apiserver refused. Returns the online pairs. */
async function decidesAsApiserver (t: Test, token: string, targets: string[]): Promise<void> {
  const online: Array<[string, RawResponse, RawResponse]> = []
  for (const target of targets) {
    const r = request('GET', target, token)
    const [theirs, ours] = [await direct(r), await viaEdge(r)]
    online.push([target, theirs, ours])
    t.equal(ours.status, theirs.status, `online ${printable(target)}: the edge answers ${theirs.status} like kube-apiserver (got ${say(ours)})`)
    assertStatus(t, ours, printable(target))
  }
  await cut()
  try {
    for (const [target, theirs] of online) {
      const ours = await viaEdge(request('GET', target, token))
      if (!is2xx(theirs.status)) t.notOk(is2xx(ours.status), `offline ${printable(target)}: kube-apiserver refused (${theirs.status}), the edge does not answer 2xx (got ${say(ours)})`)
      else t.ok(is2xx(ours.status) || ours.status === 503, `offline ${printable(target)}: a cached 2xx or a 503 (got ${ours.status})`)
      assertStatus(t, ours, `offline ${printable(target)}`)
    }
  } finally {
    await restore()
  }
}

t.test('encoded paths and absolute-form targets decide as kube-apiserver does', async (t) => {
  const encodedNs = ns.replace('s', '%73') // the "s" of "sec-…" percent-encoded
  await decidesAsApiserver(t, tokens.cm1, [
    `/api/v1/namespaces/${ns}/configmaps/cm1`,
    `/api/v1/namespaces/${ns}/configmaps%2Fcm1`,
    `/api/v1/namespaces/${ns}/configmaps%2fcm1`,
    `/api/v1/namespaces/${encodedNs}/configmaps/cm1`,
    `/api/v1/namespaces/${ns}/configmaps/%63m1`,
    `https://{authority}/api/v1/namespaces/${ns}/configmaps/cm1`,
    `/api/v1/namespaces/${ns}/configmaps/n1`,
    `/api/v1/namespaces/${ns}/configmaps%2Fn1`,
  ])
})

t.test('field-selector forms decide as kube-apiserver does (a Role on ConfigMap n1 only)', async (t) => {
  const list = `/api/v1/namespaces/${ns}/configmaps`
  // Fill the cache with the list n1 may see, so offline has something it could (wrongly) serve.
  t.equal((await viaEdge(request('GET', `${list}?fieldSelector=metadata.name%3Dn1`, tokens.n1))).status, 200)
  await decidesAsApiserver(t, tokens.n1, [
    `${list}?fieldSelector=metadata.name%3Dn1`,
    `${list}?fieldSelector=metadata.name==n1`,
    `${list}?fieldSelector=metadata.name%3D%20n1`,
    `${list}?fieldSelector=metadata.name%3Dn1%20`,
    `${list}?fieldSelector=metadata.name%3Dn1&limit=abc`,
    `${list}?fieldSelector=metadata.name%3Dn1&labelSelector===`,
    `${list}?fieldSelector=metadata.name%3Dn1&timeoutSeconds=x`,
    `${list}?fieldSelector=metadata.name%3Dn2,metadata.name%3Dn1`,
    `${list}?fieldSelector=metadata.name%3Dn1,metadata.name%3Dn2`,
    `${list}?fieldSelector=metadata.name%3Dn1&fieldSelector=metadata.name%3Dn2`,
    `${list}?fieldSelector=metadata.namespace%3D${ns},metadata.name%3Dn1`,
    `${list}?fieldSelector=metadata.name!%3Dn2`,
    `${list}?fieldSelector=metadata.name%3Dn1&watch=1&timeoutSeconds=1`,
  ])
})

t.test('a RoleBinding subject of kind ServiceAccount without namespace grants at the edge', async (t) => {
  const token = await identity('nsless')
  await stack.fixtures.role(ns, 'nsless-read', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }])
  await stack.fixtures.roleBinding(ns, 'nsless-read', { kind: 'Role', name: 'nsless-read' }, [{ kind: 'ServiceAccount', name: 'nsless' }])
  const r = request('GET', `/api/v1/namespaces/${ns}/configmaps/cm1`, token)
  await waitUntil(async () => (await direct(r)).status === 200, 20_000, 'kube-apiserver to grant through the namespace-less subject')
  let ours: RawResponse | undefined
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    ours = await viaEdge(r)
    if (ours.status === 200) break
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  t.equal(ours!.status, 200, `the edge grants it too, within 10 s (got ${say(ours!)})`)
})

t.test('oversized headers, long request lines and raw bytes get what kube-apiserver gives, as a Status', async (t) => {
  const path = `/api/v1/namespaces/${ns}/configmaps/cm1`
  const cases: Array<[string, RawRequest]> = [
    ['an 80 KiB header', request('GET', path, tokens.reader, [['X-Big', 'b'.repeat(80 * 1024)]])],
    ['a 100 KiB request line', request('GET', `${path}?pad=${'p'.repeat(100 * 1024)}`, tokens.reader)],
    ['512 KiB of headers in 8', request('GET', path, tokens.reader, fillers(8, 64 * 1024))],
    ['raw non-UTF-8 bytes in the name', request('GET', `/api/v1/namespaces/${ns}/configmaps/cm1\xff\xfe`, tokens.reader)],
    ['raw non-UTF-8 bytes in the namespace', request('GET', `/api/v1/namespaces/\xe9${ns}/configmaps/cm1`, tokens.reader)],
    ['over 1 MiB of headers', request('GET', path, tokens.reader, fillers(12, 100 * 1024))],
  ]
  for (const [what, r] of cases) {
    const [theirs, ours] = [await direct(r), await viaEdge(r)]
    if (/raw/.test(what) && ours.status === 400 && theirs.status >= 400) {
      // Node's parser refuses raw bytes >= 0x80 in the target, which Go accepts; kube-apiserver
      // refused these too, so the edge's own 400 Status is what issue 9 asks for here.
      t.match(asStatus(ours)?.message ?? '', /^malformed HTTP request/, `${what}: kube-apiserver refused (${theirs.status}), the edge's parser answers a 400 Status`)
    } else {
      t.equal(ours.status, theirs.status, `${what}: the edge answers ${theirs.status} like kube-apiserver (got ${say(ours)})`)
    }
    assertStatus(t, ours, what)
  }
})

t.test('repeated Impersonate-Group headers reach kube-apiserver as separate values', async (t) => {
  const token = await identity('impersonator')
  const name = `sec-impersonate-${ns}`
  await stack.fixtures.clusterRole(name, [{ apiGroups: [''], resources: ['users', 'groups'], verbs: ['impersonate'] }])
  await stack.fixtures.clusterRoleBinding(name, name, [{ kind: 'ServiceAccount', name: 'impersonator', namespace: ns }])
  const path = `/api/v1/namespaces/${ns}/configmaps/cm1`
  const r = request('GET', path, token, [['Impersonate-User', 'nobody-in-particular'], ['Impersonate-Group', 'devs'], ['Impersonate-Group', 'system:masters']])
  await waitUntil(async () => (await direct(r)).status === 200, 20_000, 'kube-apiserver to grant the impersonation')
  const ours = await viaEdge(r)
  t.equal(ours.status, 200, `the edge's answer is kube-apiserver's 200 for the group system:masters (got ${say(ours)})`)
  const one = request('GET', path, token, [['Impersonate-User', 'nobody-in-particular'], ['Impersonate-Group', 'devs, system:masters']])
  const [theirsJoined, oursJoined] = [await direct(one), await viaEdge(one)]
  t.equal(oursJoined.status, theirsJoined.status, `one header "devs, system:masters" is one group name for both (${theirsJoined.status})`)
})

t.test('about 1 MiB of headers in many fields neither takes the tunnel down nor gets a cached answer', async (t) => {
  const path = `/api/v1/namespaces/${ns}/configmaps/cm1`
  t.equal((await viaEdge(request('GET', path, tokens.reader))).status, 200, 'cm1 is cached')
  const before = edge.tunnel.state
  // Varied values: HPACK cannot shrink them, the header block really is ~960 KiB.
  const varied = (n: number, i: number): string => Array.from({ length: n }, (_, k) => 'abcdefghijklmnopqrstuvwxyz0123456789'[(k * 7919 + i * 31) % 36]).join('')
  const r = request('GET', path, tokens.reader, Array.from({ length: 16 }, (_, i) => [`X-Sec-Big-${i}`, varied(60 * 1024, i)] as [string, string]))
  const [theirs, ours] = [await direct(r), await viaEdge(r)]
  t.equal(theirs.status, 200, 'kube-apiserver accepts it')
  t.equal(ours.status, 200, `the edge answers 200 (got ${say(ours)})`)
  t.notOk(fromCache(ours), 'from kube-apiserver, not from the cache')
  const after = edge.tunnel.state
  t.ok(after.connected && before.connected && after.since === before.since, 'the tunnel stayed up: the same connection before and after')
})
