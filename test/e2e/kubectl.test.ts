// kubectl, in in-cluster mode exactly as a pod on an edge node runs it, through the whole product:
// pod → edge daemon → HTTP/2 mTLS tunnel → cloud shim → kube-apiserver (with the pod's own token).
// Every write is verified on kube-apiserver directly (stack.admin), never only through the edge.
import t from 'tap'
import type { ChildProcess } from 'node:child_process'
import { parse as parseYaml } from 'yaml'
import { binaries } from '../cluster/cluster.js'
import { kubectl, spawnKubectl } from '../cluster/clients.js'
import { configMapPath, configMapRules } from '../cluster/fixtures.js'
import { Stack, waitUntil } from './stack.js'

const NODE = 'kubectl-edge'
const stack = await Stack.start()
t.teardown(() => stack.stop())
const edge = await stack.startEdge(NODE)
t.comment(`cluster started in ${stack.cluster.startMs} ms`)

const podWith = (prefix: string, rules: unknown[]) => stack.podWith(edge, prefix, rules)

async function adminConfigMap (ns: string, name: string): Promise<any> {
  return stack.admin.must('GET', configMapPath(ns, name))
}

async function adminConfigMapNames (ns: string): Promise<string[]> {
  const list = await stack.admin.must('GET', configMapPath(ns))
  return list.items.map((i: any) => i.metadata.name).sort()
}

/** Splits a kubectl table into rows of whitespace-separated cells. */
function tableRows (text: string): string[][] {
  return text.trimEnd().split('\n').map((line) => line.trim().split(/\s+/))
}

t.test('get: the default Table output shows the columns kube-apiserver computed', async (t) => {
  const { ns, pod } = await podWith('kc-table', configMapRules(['get', 'list']))
  await stack.fixtures.configMap(ns, 'three-keys', { a: '1', b: '2', c: '3' })

  // What the server itself computes for `as=Table` (the edge relays kubectl's Accept header as is).
  const table = await stack.admin.call('GET', configMapPath(ns), {
    headers: { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
  })
  t.equal(table.status, 200)
  t.equal(table.body.kind, 'Table')
  const serverColumns: string[] = table.body.columnDefinitions.map((c: any) => c.name.toUpperCase())
  t.same(serverColumns, ['NAME', 'DATA', 'AGE'], 'the server-side columns for ConfigMaps')

  const r = await kubectl(pod, ['get', 'configmaps'])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '')
  const rows = tableRows(r.stdout)
  t.same(rows[0], serverColumns, 'header row = the server\'s columnDefinitions (DATA exists only server-side)')
  const row = rows.find((cells) => cells[0] === 'three-keys')
  t.ok(row, 'a row for the ConfigMap created via admin')
  t.equal(row?.[1], '3', 'DATA = number of keys, as computed by the server')
  t.match(row?.[2], /^\d+s$/, 'AGE')
  t.same(rows.slice(1).map((cells) => cells[0]).sort(), await adminConfigMapNames(ns), 'one row per ConfigMap on the apiserver')
})

t.test('get -o yaml returns the object as stored on kube-apiserver', async (t) => {
  const { ns, pod } = await podWith('kc-yaml', configMapRules(['get']))
  await stack.fixtures.configMap(ns, 'as-yaml', { greeting: 'hello', multi: 'line one\nline two\n' }, { tier: 'edge' })
  const direct = await adminConfigMap(ns, 'as-yaml')

  const r = await kubectl(pod, ['get', 'configmap', 'as-yaml', '-o', 'yaml'])
  t.equal(r.code, 0, r.stderr)
  const obj = parseYaml(r.stdout)
  t.equal(obj.apiVersion, 'v1')
  t.equal(obj.kind, 'ConfigMap')
  t.equal(obj.metadata.name, 'as-yaml')
  t.equal(obj.metadata.namespace, ns)
  t.equal(obj.metadata.uid, direct.metadata.uid)
  t.equal(obj.metadata.resourceVersion, direct.metadata.resourceVersion)
  t.equal(obj.metadata.creationTimestamp, direct.metadata.creationTimestamp)
  t.same(obj.metadata.labels, { tier: 'edge' })
  t.same(obj.data, direct.data)
  t.equal(obj.data.multi, 'line one\nline two\n')
})

t.test('apply (client-side) creates, then updates a ConfigMap', async (t) => {
  const { ns, pod } = await podWith('kc-apply', configMapRules(['get', 'create', 'patch']))
  const manifest = (data: Record<string, string>): string =>
    ['apiVersion: v1', 'kind: ConfigMap', 'metadata:', '  name: applied', 'data:',
      ...Object.entries(data).map(([k, v]) => `  ${k}: "${v}"`), ''].join('\n')

  const created = await kubectl(pod, ['apply', '-f', '-'], { stdin: manifest({ a: '1', b: '2' }) })
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout.trim(), 'configmap/applied created')
  const first = await adminConfigMap(ns, 'applied')
  t.same(first.data, { a: '1', b: '2' })
  const lastApplied = JSON.parse(first.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'])
  t.same(lastApplied.data, { a: '1', b: '2' }, 'client-side apply records its last-applied-configuration')

  // b removed, a changed, c added: the three-way merge kubectl computes from last-applied.
  const updated = await kubectl(pod, ['apply', '-f', '-'], { stdin: manifest({ a: 'one', c: '3' }) })
  t.equal(updated.code, 0, updated.stderr)
  t.equal(updated.stdout.trim(), 'configmap/applied configured')
  const second = await adminConfigMap(ns, 'applied')
  t.same(second.data, { a: 'one', c: '3' })
  t.equal(second.metadata.uid, first.metadata.uid, 'updated in place, not re-created')
  t.not(second.metadata.resourceVersion, first.metadata.resourceVersion)

  const again = await kubectl(pod, ['apply', '-f', '-'], { stdin: manifest({ a: 'one', c: '3' }) })
  t.equal(again.code, 0, again.stderr)
  t.equal(again.stdout.trim(), 'configmap/applied unchanged')
  t.equal((await adminConfigMap(ns, 'applied')).metadata.resourceVersion, second.metadata.resourceVersion)
})

t.test('apply --server-side: kube-apiserver records kubectl as an Apply manager', async (t) => {
  const { ns, pod } = await podWith('kc-ssa', configMapRules(['get', 'create', 'patch']))
  const manifest = (v: string): string =>
    `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ssa\ndata:\n  owned: "${v}"\n`

  const created = await kubectl(pod, ['apply', '--server-side', '-f', '-'], { stdin: manifest('v1') })
  t.equal(created.code, 0, created.stderr)
  t.equal(created.stdout.trim(), 'configmap/ssa serverside-applied')
  const first = await adminConfigMap(ns, 'ssa')
  t.same(first.data, { owned: 'v1' })
  const applyEntries = first.metadata.managedFields.filter((m: any) => m.operation === 'Apply')
  t.equal(applyEntries.length, 1)
  t.equal(applyEntries[0].manager, 'kubectl')
  t.ok(applyEntries[0].fieldsV1['f:data']['f:owned'], 'kubectl owns data.owned')
  t.notOk(first.metadata.annotations?.['kubectl.kubernetes.io/last-applied-configuration'], 'no client-side annotation')

  const updated = await kubectl(pod, ['apply', '--server-side', '-f', '-'], { stdin: manifest('v2') })
  t.equal(updated.code, 0, updated.stderr)
  const second = await adminConfigMap(ns, 'ssa')
  t.same(second.data, { owned: 'v2' })
  t.equal(second.metadata.uid, first.metadata.uid)
  t.same(second.metadata.managedFields.map((m: any) => [m.manager, m.operation]), [['kubectl', 'Apply']])
})

t.test('patch --type json, --type merge and the default strategic merge', async (t) => {
  const { ns, pod } = await podWith('kc-patch', configMapRules(['get', 'patch']))
  const cm = await stack.admin.must('POST', configMapPath(ns), {
    body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'patched', finalizers: ['example.com/a'] }, data: { k: 'v' } },
  })
  t.teardown(() => stack.admin.patch(configMapPath(ns, 'patched'), { metadata: { finalizers: null } }))

  const json = await kubectl(pod, ['patch', 'configmap', 'patched', '--type', 'json', '-p',
    JSON.stringify([{ op: 'replace', path: '/data/k', value: 'from-json' }, { op: 'add', path: '/data/j', value: '1' }])])
  t.equal(json.code, 0, json.stderr)
  t.equal(json.stdout.trim(), 'configmap/patched patched')
  let now = await adminConfigMap(ns, 'patched')
  t.same(now.data, { k: 'from-json', j: '1' }, 'json patch applied')
  t.equal(now.metadata.uid, cm.metadata.uid)

  // metadata.finalizers has patchStrategy "merge": a strategic merge patch adds to the list,
  // a JSON merge patch replaces it. The two results prove each patch type reached the apiserver.
  const strategic = await kubectl(pod, ['patch', 'configmap', 'patched', '-p',
    JSON.stringify({ metadata: { finalizers: ['example.com/b'] }, data: { s: '2' } })])
  t.equal(strategic.code, 0, strategic.stderr)
  now = await adminConfigMap(ns, 'patched')
  t.same(now.data, { k: 'from-json', j: '1', s: '2' }, 'strategic merge patch applied')
  t.same([...now.metadata.finalizers].sort(), ['example.com/a', 'example.com/b'], 'strategic: finalizers merged')

  const merge = await kubectl(pod, ['patch', 'configmap', 'patched', '--type', 'merge', '-p',
    JSON.stringify({ metadata: { finalizers: ['example.com/c'] }, data: { j: null, m: '3' } })])
  t.equal(merge.code, 0, merge.stderr)
  now = await adminConfigMap(ns, 'patched')
  t.same(now.data, { k: 'from-json', s: '2', m: '3' }, 'merge patch applied (null deletes a key)')
  t.same(now.metadata.finalizers, ['example.com/c'], 'merge: the list replaced')

  // A JSON-patch `test` op that fails: kube-apiserver's own 422 (its message is generic) comes back.
  const failing = [{ op: 'test', path: '/data/k', value: 'not-the-value' }]
  const invalid = await kubectl(pod, ['patch', 'configmap', 'patched', '--type', 'json', '-p', JSON.stringify(failing)])
  t.equal(invalid.code, 1, 'a failing JSON-patch test op is rejected')
  t.equal(invalid.stderr.trim(), 'The request is invalid: the server rejected our request due to an error in our request')
  const raw = await stack.admin.call('PATCH', configMapPath(ns, 'patched'), { body: failing, contentType: 'application/json-patch+json' })
  t.match(raw, { status: 422, body: { kind: 'Status', reason: 'Invalid', code: 422 } }, 'the apiserver\'s own answer to that patch')
  t.equal((await adminConfigMap(ns, 'patched')).metadata.resourceVersion, now.metadata.resourceVersion, 'nothing changed')
})

t.test('delete one object', async (t) => {
  const { ns, pod } = await podWith('kc-delete', configMapRules(['get', 'list', 'delete']))
  await stack.fixtures.configMap(ns, 'doomed')
  await stack.fixtures.configMap(ns, 'kept')

  const r = await kubectl(pod, ['delete', 'configmap', 'doomed'])
  t.equal(r.code, 0, r.stderr)
  t.match(r.stdout, /configmap "doomed" deleted/)
  t.equal((await stack.admin.get(configMapPath(ns, 'doomed'))).status, 404, 'gone on the apiserver')
  t.same(await adminConfigMapNames(ns), ['kept', 'kube-root-ca.crt'])

  const missing = await kubectl(pod, ['delete', 'configmap', 'doomed'])
  t.equal(missing.code, 1)
  t.match(missing.stderr, 'Error from server (NotFound): configmaps "doomed" not found')
})

t.test('delete configmaps --all (kubectl lists, then deletes each one)', async (t) => {
  const { ns, pod } = await podWith('kc-delall', configMapRules(['get', 'list', 'delete']))
  for (const name of ['x1', 'x2', 'x3']) await stack.fixtures.configMap(ns, name)
  const rootCa = await adminConfigMap(ns, 'kube-root-ca.crt')

  const r = await kubectl(pod, ['delete', 'configmaps', '--all'])
  t.equal(r.code, 0, r.stderr)
  const deleted = [...r.stdout.matchAll(/configmap "([^"]+)" deleted/g)].map((m) => m[1]).sort()
  t.same(deleted, ['kube-root-ca.crt', 'x1', 'x2', 'x3'], '--all deletes kube-root-ca.crt too')

  // The apiserver's truth: our three are gone for good; kube-root-ca.crt was deleted as well and
  // kube-controller-manager's root-ca publisher re-creates it (a new object, new uid).
  for (const name of ['x1', 'x2', 'x3']) t.equal((await stack.admin.get(configMapPath(ns, name))).status, 404, `${name} is gone`)
  await waitUntil(async () => (await stack.admin.get(configMapPath(ns, 'kube-root-ca.crt'))).status === 200, 20_000,
    'kube-root-ca.crt to be re-published')
  const republished = await adminConfigMap(ns, 'kube-root-ca.crt')
  t.not(republished.metadata.uid, rootCa.metadata.uid, 'kube-root-ca.crt is a new object: the old one was deleted')
  t.same(await adminConfigMapNames(ns), ['kube-root-ca.crt'], 'nothing else is left')
})

t.test('delete --raw on the collection URL is a real deletecollection', async (t) => {
  const { ns, pod } = await podWith('kc-delcoll', configMapRules(['deletecollection']))
  for (const name of ['c1', 'c2']) await stack.fixtures.configMap(ns, name, {}, { batch: 'yes' })
  await stack.fixtures.configMap(ns, 'c3', {}, { batch: 'no' })

  // The SA may only deletecollection: a successful answer proves the verb kube-apiserver saw.
  const r = await kubectl(pod, ['delete', '--raw', `${configMapPath(ns)}?labelSelector=batch%3Dyes`])
  t.equal(r.code, 0, r.stderr)
  const body = JSON.parse(r.stdout)
  t.equal(body.kind, 'ConfigMapList')
  t.same(body.items.map((i: any) => i.metadata.name).sort(), ['c1', 'c2'])
  t.same(await adminConfigMapNames(ns), ['c3', 'kube-root-ca.crt'], 'only the selected ConfigMaps are gone')

  const single = await kubectl(pod, ['delete', 'configmap', 'c3'])
  t.equal(single.code, 1, 'a single delete is another verb, which this SA lacks')
  t.match(single.stderr, /cannot delete resource "configmaps"/)
})

t.test('get --watch through the edge sees a change made on kube-apiserver', async (t) => {
  const { ns, pod } = await podWith('kc-watch', configMapRules(['get', 'list', 'watch']))
  await stack.fixtures.configMap(ns, 'before', { v: '0' })

  // -o name ignores --output-watch-events; a jsonpath over the WatchEvent prints type and name.
  const child = await spawnKubectl(pod, ['get', 'configmaps', '--watch', '--output-watch-events',
    '-o', 'jsonpath={.type} {.object.metadata.name}{"\\n"}'])
  t.teardown(() => { child.kill('SIGKILL') })
  const out = lineReader(child)
  // The initial listing arrives as ADDED events.
  await out.waitFor((lines) => lines.length >= 2, 20_000, 'the initial listing')
  t.same([...out.lines].sort(), ['ADDED before', 'ADDED kube-root-ca.crt'], 'the initial listing')

  await stack.fixtures.configMap(ns, 'after', { v: '1' })
  await out.waitFor((lines) => lines.includes('ADDED after'), 20_000, 'ADDED after')
  await stack.admin.must('PATCH', configMapPath(ns, 'before'), { body: { data: { v: 'changed' } }, contentType: 'application/merge-patch+json' })
  await out.waitFor((lines) => lines.includes('MODIFIED before'), 20_000, 'MODIFIED before')
  await stack.admin.must('DELETE', configMapPath(ns, 'after'))
  await out.waitFor((lines) => lines.includes('DELETED after'), 20_000, 'DELETED after')

  t.equal(child.exitCode, null, 'kubectl is still watching')
  child.kill('SIGTERM')
  t.same(out.lines.slice(2), ['ADDED after', 'MODIFIED before', 'DELETED after'], 'exactly the admin\'s three changes, in order')
  t.equal(out.stderr(), '', 'no errors or warnings')
})

t.test('discovery, openapi v3, access reviews and version through the edge', async (t) => {
  const { ns, pod, token } = await podWith('kc-disc', configMapRules(['get']))
  const direct = await stack.directPodEnv(token, ns)

  t.test('api-resources', async (t) => {
    const r = await kubectl(pod, ['api-resources'])
    t.equal(r.code, 0, r.stderr)
    const rows = tableRows(r.stdout)
    t.same(rows[0], ['NAME', 'SHORTNAMES', 'APIVERSION', 'NAMESPACED', 'KIND'])
    t.same(rows.find((c) => c[0] === 'configmaps'), ['configmaps', 'cm', 'v1', 'true', 'ConfigMap'])
    t.same(rows.find((c) => c[0] === 'deployments'), ['deployments', 'deploy', 'apps/v1', 'true', 'Deployment'])
    t.same(rows.find((c) => c[0] === 'nodes'), ['nodes', 'no', 'v1', 'false', 'Node'])
    const straight = await kubectl(direct, ['api-resources'])
    t.equal(r.stdout, straight.stdout, 'identical to the same pod talking to kube-apiserver directly')
  })

  t.test('explain (openapi v3)', async (t) => {
    const data = await kubectl(pod, ['explain', 'configmap.data'])
    t.equal(data.code, 0, data.stderr)
    t.match(data.stdout, /^KIND:\s+ConfigMap\nVERSION:\s+v1\n/)
    t.match(data.stdout, /FIELD: data <map\[string\]string>/)
    t.match(data.stdout, /Data contains the configuration data/)
    const spec = await kubectl(pod, ['explain', 'pods.spec'])
    t.equal(spec.code, 0, spec.stderr)
    t.match(spec.stdout, /FIELD: spec <PodSpec>/)
    t.match(spec.stdout, /containers\s+<\[\]Container> -required-/)
    t.match(spec.stdout, /nodeName\s+<string>/)
    const straight = await kubectl(direct, ['explain', 'pods.spec'])
    t.equal(spec.stdout, straight.stdout, 'identical to the direct answer')
  })

  t.test('auth can-i', async (t) => {
    const yes = await kubectl(pod, ['auth', 'can-i', 'get', 'configmaps'])
    t.equal(yes.code, 0, yes.stderr)
    t.equal(yes.stdout.trim(), 'yes')
    const no = await kubectl(pod, ['auth', 'can-i', 'delete', 'nodes'])
    t.equal(no.code, 1, '"no" exits 1')
    t.equal(no.stdout.trim(), 'no')
    const notHere = await kubectl(pod, ['auth', 'can-i', 'delete', 'configmaps'])
    t.equal(notHere.code, 1)
    t.equal(notHere.stdout.trim(), 'no', 'only get was granted')
    const otherNs = await kubectl(pod, ['auth', 'can-i', 'get', 'configmaps', '-n', 'default'])
    t.equal(otherNs.stdout.trim(), 'no', 'the Role is namespaced')
  })

  t.test('version', async (t) => {
    const r = await kubectl(pod, ['version', '-o', 'json'])
    t.equal(r.code, 0, r.stderr)
    const v = JSON.parse(r.stdout)
    const server = await stack.admin.must('GET', '/version')
    t.equal(v.serverVersion.gitVersion, (await binaries()).KUBE_VERSION)
    t.same(v.serverVersion, server, 'exactly kube-apiserver\'s /version')
  })
})

t.test('the cluster is still healthy', async (t) => {
  t.equal(stack.cluster.healthy, true)
  t.equal(edge.tunnel.state.connected, true)
})

/** Collects a child's stdout as lines, with a deadline-bounded wait for a condition on them. */
function lineReader (child: ChildProcess): {
  lines: string[]
  stderr: () => string
  waitFor: (pred: (lines: string[]) => boolean, timeoutMs: number, what: string) => Promise<void>
} {
  const lines: string[] = []
  let partial = ''
  let err = ''
  child.stdout?.setEncoding('utf8').on('data', (d: string) => {
    const parts = (partial + d).split('\n')
    partial = parts.pop()!
    lines.push(...parts.filter((l) => l.trim() !== ''))
  })
  child.stderr?.setEncoding('utf8').on('data', (d: string) => { err += d })
  return {
    lines,
    stderr: () => err,
    waitFor: async (pred, timeoutMs, what) => {
      const deadline = Date.now() + timeoutMs
      while (!pred(lines)) {
        if (child.exitCode !== null || child.signalCode !== null) {
          throw new Error(`kubectl exited (${child.exitCode ?? child.signalCode}) before ${what}; stdout ${JSON.stringify(lines)}, stderr ${err}`)
        }
        if (Date.now() > deadline) throw new Error(`no ${what} within ${timeoutMs} ms; stdout ${JSON.stringify(lines)}, stderr ${err}`)
        await new Promise((resolve) => setTimeout(resolve, 50))
      }
    },
  }
}
