// Differential test of field selectors (src/kube/object-fields.ts, src/kube/selectors.ts) on every
// built-in resource with its own selectable fields: a seeded generator writes field selectors
// (supported and unsupported labels, =/==/!=, values seen on the objects and random ones, escapes,
// malformed syntax) and each is asked three times with the same pod token — straight at
// kube-apiserver, through the edge online, and through the edge with its tunnel cut (answered from
// its cache, filled by one unselected LIST per resource beforehand, nothing written since).
//  - online the edge must answer exactly as kube-apiserver (status, item names, error message);
//  - offline it must never be more permissive: a 2xx only where the apiserver answered 2xx, with
//    exactly its items; a refusal (400) only with the apiserver's own message; otherwise it may only
//    decline (503: the cache cannot evaluate that selector).
// Replay a run with FIELD_SELECTOR_SEED=<seed> (printed first).
import t from 'tap'
import type { EdgeDaemon } from '../../src/edge/run.js'
import { selectableFields } from '../../src/kube/object-fields.js'
import { RestClient, type RestResponse } from '../cluster/rest.js'
import { prng } from '../helpers/prng.js'
import { Partition } from './partition.js'
import { Stack, waitUntil } from './stack.js'

const SEED = process.env.FIELD_SELECTOR_SEED !== undefined && process.env.FIELD_SELECTOR_SEED !== ''
  ? Number(process.env.FIELD_SELECTOR_SEED) >>> 0
  : Math.floor(Math.random() * 2 ** 32) >>> 0
const PER_RESOURCE = 60
t.comment(`FIELD_SELECTOR_SEED=${SEED}`)
const rand = prng(SEED)
const chance = (p: number): boolean => rand() < p
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!

interface Target {
  group: string
  resource: string
  /** The list path for the namespace (or cluster scope). */
  path: (ns: string) => string
  /** Labels kube-apiserver accepts on this resource (v1.34 and v1.37), plus a few it refuses. */
  labels: readonly string[]
}

const META = ['metadata.name', 'metadata.namespace']
const REF = ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']
// Labels no built-in resource here accepts, or accepted by another resource only.
const FOREIGN = ['spec.foo', 'status.replicas', 'type', 'spec.nodeName', 'metadata.labels', 'involvedObject.name', 'spec.pool.name', 'name']
const TARGETS: Target[] = [
  {
    group: '', resource: 'pods', path: (ns) => `/api/v1/namespaces/${ns}/pods`,
    labels: [...META, 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork',
      'status.phase', 'status.podIP', 'status.podIPs', 'status.nominatedNodeName', 'spec.host'],
  },
  { group: '', resource: 'secrets', path: (ns) => `/api/v1/namespaces/${ns}/secrets`, labels: [...META, 'type'] },
  { group: '', resource: 'services', path: (ns) => `/api/v1/namespaces/${ns}/services`, labels: [...META, 'spec.clusterIP', 'spec.type'] },
  { group: '', resource: 'replicationcontrollers', path: (ns) => `/api/v1/namespaces/${ns}/replicationcontrollers`, labels: [...META, 'status.replicas'] },
  { group: '', resource: 'configmaps', path: (ns) => `/api/v1/namespaces/${ns}/configmaps`, labels: META },
  {
    group: '', resource: 'events', path: (ns) => `/api/v1/namespaces/${ns}/events`,
    labels: [...META, ...REF.map((f) => `involvedObject.${f}`), 'reason', 'reportingComponent', 'source', 'type'],
  },
  {
    group: 'events.k8s.io', resource: 'events', path: (ns) => `/apis/events.k8s.io/v1/namespaces/${ns}/events`,
    labels: [...META, ...REF.map((f) => `regarding.${f}`), 'reason', 'reportingController', 'source', 'type', 'reportingComponent'],
  },
  { group: 'batch', resource: 'jobs', path: (ns) => `/apis/batch/v1/namespaces/${ns}/jobs`, labels: [...META, 'status.successful', 'status.succeeded'] },
  { group: 'apps', resource: 'replicasets', path: (ns) => `/apis/apps/v1/namespaces/${ns}/replicasets`, labels: [...META, 'status.replicas'] },
  { group: '', resource: 'namespaces', path: () => '/api/v1/namespaces', labels: ['metadata.name', 'status.phase', 'metadata.namespace'] },
  { group: '', resource: 'nodes', path: () => '/api/v1/nodes', labels: ['metadata.name', 'spec.unschedulable', 'metadata.namespace'] },
  {
    group: 'resource.k8s.io', resource: 'resourceslices', path: () => '/apis/resource.k8s.io/v1/resourceslices',
    labels: ['metadata.name', 'spec.nodeName', 'spec.driver', 'spec.pool.name', 'spec.pool'],
  },
  {
    group: 'certificates.k8s.io', resource: 'certificatesigningrequests', path: () => '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    labels: ['metadata.name', 'spec.signerName', 'metadata.namespace'],
  },
]

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-field-selectors'
const partition = await Partition.between(stack.cloud.tunnelPort)
t.teardown(() => partition.close())
const edge: EdgeDaemon = await stack.startEdge(NODE, { tunnelPort: partition.port })
const ns = await stack.fixtures.namespace('fsel')
const READ = ['get', 'list', 'watch']
const me = await stack.fixtures.podIdentity(ns, NODE, {
  rules: [{ apiGroups: ['', 'events.k8s.io', 'batch', 'apps'], resources: ['pods', 'secrets', 'services', 'replicationcontrollers', 'configmaps', 'events', 'jobs', 'replicasets'], verbs: READ }],
})
// Cluster-scoped resources: a ClusterRole bound to the pod's ServiceAccount.
await stack.fixtures.clusterRole('fsel-reader', [
  { apiGroups: [''], resources: ['namespaces', 'nodes'], verbs: READ },
  { apiGroups: ['resource.k8s.io'], resources: ['resourceslices'], verbs: READ },
  { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: READ },
])
await stack.fixtures.clusterRoleBinding('fsel-reader', 'fsel-reader', [{ kind: 'ServiceAccount', name: me.serviceAccount, namespace: ns }])
await waitUntil(() => edge.policy?.bundle?.rbac.clusterRoleBindings.some((b) => b.metadata.name === 'fsel-reader') === true, 15_000, 'the ClusterRoleBinding in the edge bundle')

const direct = new RestClient(stack.cluster.url, stack.cluster.pki.caPem, me.token)
const viaEdge = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, me.token)
const admin = stack.admin

// ---------------------------------------------------------------------------------------------
// Objects with varied selectable values (no controllers act on them in ways that matter: no kubelet).

const NODES = ['fsel-node-a', 'fsel-node-b']
for (const n of NODES) await stack.fixtures.node(n)
for (let i = 0; i < 6; i++) {
  const name = `p${i}`
  await admin.must('POST', `/api/v1/namespaces/${ns}/pods`, {
    body: {
      metadata: { name },
      spec: {
        ...(i % 3 === 2 ? {} : { nodeName: NODES[i % 2] }), restartPolicy: pick(['Always', 'Never', 'OnFailure']),
        ...(i % 2 === 0 ? { schedulerName: 'custom-scheduler' } : {}), hostNetwork: i % 4 === 0,
        containers: [{ name: 'c', image: 'example.invalid/c' }],
      },
    },
  })
  if (i % 2 === 1) {
    await admin.must('PATCH', `/api/v1/namespaces/${ns}/pods/${name}/status`, {
      body: { status: { phase: pick(['Running', 'Succeeded', 'Failed']), podIP: `10.0.0.${i}`, podIPs: [{ ip: `10.0.0.${i}` }], ...(i === 5 ? { nominatedNodeName: NODES[0] } : {}) } },
      contentType: 'application/merge-patch+json',
    })
  }
}
for (const [name, type, data] of [['s-opaque', 'Opaque', {}], ['s-custom', 'example.com/custom', {}], ['s-basic', 'kubernetes.io/basic-auth', { username: 'dQ==' }]] as const) {
  await admin.must('POST', `/api/v1/namespaces/${ns}/secrets`, { body: { metadata: { name }, type, data } })
}
await admin.must('POST', `/api/v1/namespaces/${ns}/services`, { body: { metadata: { name: 'svc-ip' }, spec: { ports: [{ port: 80 }] } } })
await admin.must('POST', `/api/v1/namespaces/${ns}/services`, { body: { metadata: { name: 'svc-headless' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } } })
await admin.must('POST', `/api/v1/namespaces/${ns}/services`, { body: { metadata: { name: 'svc-ext' }, spec: { type: 'ExternalName', externalName: 'example.invalid' } } })
await admin.must('POST', `/api/v1/namespaces/${ns}/services`, { body: { metadata: { name: 'svc-np' }, spec: { type: 'NodePort', ports: [{ port: 81 }] } } })
const template = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'example.invalid/c' }] } }
await admin.must('POST', `/api/v1/namespaces/${ns}/replicationcontrollers`, { body: { metadata: { name: 'rc-0' }, spec: { replicas: 0, selector: { app: 'x' }, template } } })
await admin.must('POST', `/apis/apps/v1/namespaces/${ns}/replicasets`, { body: { metadata: { name: 'rs-0' }, spec: { replicas: 0, selector: { matchLabels: { app: 'x' } }, template } } })
await admin.must('POST', `/apis/batch/v1/namespaces/${ns}/jobs`, {
  body: { metadata: { name: 'job-0' }, spec: { suspend: true, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'c', image: 'example.invalid/c' }] } } } },
})
const now = new Date().toISOString()
for (let i = 0; i < 4; i++) {
  await admin.must('POST', `/api/v1/namespaces/${ns}/events`, {
    body: {
      metadata: { name: `ev-core-${i}` }, reason: pick(['Started', 'Killing', 'Pulled']), message: 'm', type: pick(['Normal', 'Warning']),
      involvedObject: { kind: 'Pod', namespace: ns, name: `p${i}`, apiVersion: 'v1', uid: `uid-${i}`, fieldPath: i % 2 === 0 ? 'spec.containers{c}' : '' },
      ...(i % 2 === 0 ? { source: { component: 'kubelet', host: NODES[0] } } : {}),
      firstTimestamp: now, lastTimestamp: now, count: 1,
    },
  })
  await admin.must('POST', `/apis/events.k8s.io/v1/namespaces/${ns}/events`, {
    body: {
      metadata: { name: `ev-new-${i}` }, eventTime: new Date().toISOString().replace('Z', '000Z'), reason: pick(['Scheduled', 'Evicted']), note: 'n',
      type: pick(['Normal', 'Warning']), action: 'Binding', reportingController: pick(['example.com/ctl', 'default-scheduler']), reportingInstance: 'i',
      regarding: { kind: 'Pod', namespace: ns, name: `p${i}`, apiVersion: 'v1', uid: `uid-${i}` },
    },
  })
}
for (let i = 0; i < 3; i++) {
  const slice = {
    metadata: { name: `${ns}-slice-${i}` },
    spec: { driver: i === 0 ? 'gpu.example.com' : 'net.example.com', pool: { name: `pool-${i % 2}`, resourceSliceCount: 1, generation: 1 }, ...(i === 2 ? { allNodes: true } : { nodeName: NODES[i % 2] }) },
  }
  const r = await admin.post('/apis/resource.k8s.io/v1/resourceslices', slice)
  if (r.status !== 201) t.comment(`resourceslice not created (${r.status}): ${JSON.stringify(r.body).slice(0, 200)}`)
}

// ---------------------------------------------------------------------------------------------
// The generator.

const RANDOM_VALUES = ['', 'x', 'None', 'true', 'false', '0', '1', 'Always', 'Pending', 'Opaque', 'ClusterIP', 'Warning', 'kubelet', ns, NODES[0]!, 'a\\,b', 'a\\=b', 'p1']

function seenValues (target: Target, items: unknown[], label: string): string[] {
  return [...new Set(items.map((o) => selectableFields(target.group, target.resource, o)[label]).filter((v): v is string => v !== undefined))]
}

function escape (v: string): string {
  return v.replace(/[\\,=]/g, (c) => `\\${c}`)
}

function generate (target: Target, items: unknown[]): string {
  if (chance(0.06)) return pick(['spec.nodeName', '=x', 'a!x', 'metadata.name==', ',', 'metadata.name=a,', 'metadata.name!==x', 'metadata.name in (a)', ' metadata.name = p1 '])
  const n = chance(0.7) ? 1 : chance(0.7) ? 2 : 3
  const parts: string[] = []
  for (let i = 0; i < n; i++) {
    const label = chance(0.85) ? pick(target.labels) : pick(FOREIGN)
    const seen = seenValues(target, items, label)
    const value = seen.length > 0 && chance(0.7) ? pick(seen) : pick(RANDOM_VALUES)
    parts.push(`${label}${pick(['=', '==', '!='])}${value.includes('\\') ? value : escape(value)}`)
  }
  return parts.join(',')
}

interface Answer { status: number, names: string, message: string }

function answer (r: RestResponse): Answer {
  const body = r.body as { items?: Array<{ metadata: { name: string } }>, message?: string }
  return {
    status: r.status,
    names: Array.isArray(body?.items) ? body.items.map((i) => i.metadata.name).sort().join(',') : '',
    message: r.status >= 300 ? body?.message ?? '' : '',
  }
}

const show = (a: Answer): string => `${a.status} ${a.status < 300 ? `[${a.names}]` : a.message}`

// ---------------------------------------------------------------------------------------------

const cases: Array<{ target: Target, selector: string, direct: Answer, online: Answer }> = []

t.test('online: the edge answers every generated field selector exactly as kube-apiserver', async (t) => {
  const mismatches: string[] = []
  for (const target of TARGETS) {
    const path = target.path(ns)
    // The unselected LIST through the edge fills its cache for the offline half.
    const full = await viaEdge.get(path)
    t.equal(full.status, 200, `LIST ${path} through the edge`)
    const items = (full.body as { items: unknown[] }).items
    for (let i = 0; i < PER_RESOURCE; i++) {
      const selector = generate(target, items)
      const [d, o] = await Promise.all([direct.get(path, { query: { fieldSelector: selector } }), viaEdge.get(path, { query: { fieldSelector: selector } })])
      const c = { target, selector, direct: answer(d), online: answer(o) }
      cases.push(c)
      if (JSON.stringify(c.direct) !== JSON.stringify(c.online)) {
        mismatches.push(`MISMATCH FIELD_SELECTOR_SEED=${SEED} ${path}?fieldSelector=${selector}\n  apiserver: ${show(c.direct)}\n  edge:      ${show(c.online)}`)
      }
    }
  }
  const ok = cases.filter((c) => c.direct.status === 200).length
  const nonEmpty = cases.filter((c) => c.direct.status === 200 && c.direct.names !== '').length
  t.comment(`${cases.length} selectors over ${TARGETS.length} resources: ${ok} answered 200 by kube-apiserver (${nonEmpty} non-empty), ${cases.length - ok} refused`)
  for (const m of mismatches.slice(0, 20)) t.comment(m)
  t.equal(mismatches.length, 0, `zero online mismatches out of ${cases.length}`)
  t.ok(nonEmpty > 0 && ok < cases.length, 'both matches and refusals were generated')
})

t.test('offline: answered from the cache, never more permissive than kube-apiserver', async (t) => {
  partition.cut()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice the partition')
  t.teardown(() => partition.restore())
  const problems: string[] = []
  const outcome = { same: 0, sameRefusal: 0, declined: 0 }
  for (const c of cases) {
    const path = c.target.path(ns)
    const off = answer(await viaEdge.get(path, { query: { fieldSelector: c.selector } }))
    const where = `FIELD_SELECTOR_SEED=${SEED} ${path}?fieldSelector=${c.selector}\n  apiserver: ${show(c.direct)}\n  offline:   ${show(off)}`
    if (off.status === 200) {
      if (c.direct.status !== 200) problems.push(`MORE PERMISSIVE (answered what the apiserver refused) ${where}`)
      else if (off.names !== c.direct.names) problems.push(`DIFFERENT ITEMS ${where}`)
      else outcome.same++
    } else if (off.status === 400) {
      if (c.direct.status !== 400 || off.message !== c.direct.message) problems.push(`WRONG REFUSAL ${where}`)
      else outcome.sameRefusal++
    } else if (off.status === 503) {
      outcome.declined++
    } else {
      problems.push(`UNEXPECTED ${where}`)
    }
  }
  t.comment(`offline: ${outcome.same} same items, ${outcome.sameRefusal} same 400, ${outcome.declined} declined (503: not evaluable from the cache)`)
  for (const p of problems.slice(0, 20)) t.comment(p)
  t.equal(problems.length, 0, `offline never more permissive, never a different answer (${cases.length} selectors)`)
  t.ok(outcome.same > 0, 'the cache answered selectors offline')
})
