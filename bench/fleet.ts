// npm run bench:fleet — the cloud shim at fleet scale (issue 15). On the test bed (a real
// kube-apiserver), the shim runs as a real CLI process; ONE load process (this one) dials N mTLS
// HTTP/2 sessions with distinct node certificates signed by the tunnel CA (one EC key, N
// certificates: src/pki issues them in microseconds), each with its control stream (the real
// protocol: tunnel/client.ts, tunnel/control.ts) and W watches relayed through the shim, while P
// pods bound across those nodes exist on kube-apiserver. Then pod churn and two RBAC changes (a
// Role/RoleBinding reaching some nodes' pods, a ClusterRole reaching every node): the shim's CPU per
// event (/proc/<pid>/stat), its RSS, and the time from each write until every affected simulated
// edge holds a bundle with the change in it (p50/p99). Not a test: nothing here asserts; what
// could not be reached is printed as missing.
//
// Knobs (env): EMS_FLEET_NODES (1000), EMS_FLEET_PODS (10 per node), EMS_FLEET_WATCHES (10 per
// node), EMS_FLEET_NAMESPACES (10), EMS_FLEET_SERVICE_ACCOUNTS (10 per namespace),
// EMS_FLEET_CHURN_RATE (100 pod writes/s), EMS_FLEET_CHURN_SECONDS (20), EMS_FLEET_SEED (1).
import { readFile } from 'node:fs/promises'
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import type { ClientHttp2Stream } from 'node:http2'
import { performance } from 'node:perf_hooks'
import { pino } from 'pino'
import { issueClientCertificate, newNodeKey, privateKeyPem } from '../src/pki/x509.js'
import { TunnelClient } from '../src/tunnel/client.js'
import { decodeControl, type PolicyBundle } from '../src/tunnel/control.js'
import { CONTROL_PATH, HEADER_CONTROL, MAX_CONTROL_LINE_BYTES } from '../src/tunnel/protocol.js'
import { LineSplitter } from '../src/util/lines.js'
import { TestCluster } from '../test/cluster/cluster.js'
import { freePort } from '../test/cluster/processes.js'
import type { RestClient } from '../test/cluster/rest.js'
import { prepareStackFiles, writeCloudConfig, type StackFiles } from '../test/e2e/configs.js'
import { prng } from '../test/helpers/prng.js'
import { startCloudProcess, type ProcessCloud } from '../test/helpers/product.js'

export interface FleetOptions {
  nodes: number
  pods: number
  watchesPerNode: number
  namespaces: number
  serviceAccounts: number
  churnRate: number
  churnSeconds: number
  seed: number
}

export function fleetOptionsFromEnv (env = process.env): FleetOptions {
  const num = (name: string, fallback: number): number => {
    const v = env[name] === undefined || env[name] === '' ? fallback : Number(env[name])
    if (!Number.isFinite(v) || v < 0) throw new Error(`${name} must be a non-negative number, not ${env[name]}`)
    return v
  }
  const nodes = Math.max(1, Math.round(num('EMS_FLEET_NODES', 1000)))
  return {
    nodes,
    pods: Math.max(nodes, Math.round(num('EMS_FLEET_PODS', nodes * 10))),
    watchesPerNode: Math.round(num('EMS_FLEET_WATCHES', 10)),
    namespaces: Math.max(1, Math.round(num('EMS_FLEET_NAMESPACES', 10))),
    serviceAccounts: Math.max(1, Math.round(num('EMS_FLEET_SERVICE_ACCOUNTS', 10))),
    churnRate: num('EMS_FLEET_CHURN_RATE', 100),
    churnSeconds: num('EMS_FLEET_CHURN_SECONDS', 20),
    seed: Math.round(num('EMS_FLEET_SEED', 1)),
  }
}

/** p50/p99/max of a propagation, in ms, and how many affected edges never got it (within the bound). */
export interface Propagation { affected: number, p50: number, p99: number, max: number, missing: number }

export interface FleetFigures {
  options: FleetOptions
  setupSeconds: { pods: number, connect: number, watches: number, firstBundles: number }
  watchesOpen: number
  watchesRefused: number
  watchesPending: number
  shimRssMiB: { connected: number, peak: number, afterChurn: number, end: number }
  loadRssMiB: number
  idleCpuMsPerSecond: number
  /** afterAnswer: the same arrivals counted from kube-apiserver's answer to the write (0 when the bundle came first). */
  churn: { writes: number, writeSeconds: number, seconds: number, cpuMsPerWrite: number, propagation: Propagation, afterAnswer: Propagation }
  roleChange: { cpuMs: number, propagation: Propagation, afterAnswer: Propagation, leaked: number }
  clusterRoleChange: { cpuMs: number, propagation: Propagation, afterAnswer: Propagation }
}

const RBAC = '/apis/rbac.authorization.k8s.io/v1'
const CREATE_PARALLEL = 48
const CONNECT_PARALLEL = 50
const WATCH_PARALLEL = 100
/** Generous bounds: the figure is how long it took; past these an edge counts as missing. */
const FIRST_BUNDLES_BOUND_MS = 600_000
const PROPAGATION_BOUND_MS = 120_000
const WATCH_HEADERS_BOUND_MS = 20_000
const log = (line: string): void => { process.stdout.write(`[fleet] ${line}\n`) }

/** A simulated edge: one tunnel session, its control stream, the last policy bundle it received. */
class SimEdge {
  bundle: PolicyBundle | undefined
  bundles = 0
  readonly watches: ClientHttp2Stream[] = []
  private waiters: Array<{ pred: (b: PolicyBundle) => boolean, resolve: (at: number | undefined) => void }> = []

  constructor (readonly name: string, readonly tunnel: TunnelClient) {}

  openControl (): void {
    const stream = this.tunnel.open({ ':method': 'GET', ':path': CONTROL_PATH, [HEADER_CONTROL]: '1' }, { endStream: true })
    const lines = new LineSplitter(MAX_CONTROL_LINE_BYTES)
    stream.on('error', () => {})
    stream.on('data', (chunk: Buffer) => {
      for (const line of lines.push(chunk)) {
        const message = decodeControl(line)
        if (message?.type === 'policy') this.received(message.bundle)
      }
    })
  }

  private received (bundle: PolicyBundle): void {
    const at = performance.now()
    this.bundle = bundle
    this.bundles++
    this.waiters = this.waiters.filter((w) => {
      if (!w.pred(bundle)) return true
      w.resolve(at)
      return false
    })
  }

  /** When a bundle satisfying `pred` arrives (now if the current one does); undefined after boundMs. */
  async when (pred: (b: PolicyBundle) => boolean, boundMs: number): Promise<number | undefined> {
    if (this.bundle !== undefined && pred(this.bundle)) return performance.now()
    return await new Promise((resolve) => {
      const waiter = { pred, resolve: (at: number | undefined) => { clearTimeout(timer); resolve(at) } }
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter)
        resolve(undefined)
      }, boundMs)
      this.waiters.push(waiter)
    })
  }
}

interface PodRef { ns: string, sa: string, name: string, node: string }

export async function runFleet (cluster: TestCluster, files: StackFiles, opts: FleetOptions): Promise<FleetFigures> {
  const admin = cluster.admin
  const random = prng(opts.seed)
  const run = Math.floor(random() * 0xffffff).toString(16)
  const nodeNames = Array.from({ length: opts.nodes }, (_, i) => `fleet-${run}-${i}`)
  const namespaces = Array.from({ length: opts.namespaces }, (_, i) => `fleet-${run}-${i}`)
  const accounts = Array.from({ length: opts.serviceAccounts }, (_, i) => `sa-${i}`)
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!
  const podsOn = new Map<string, Map<string, PodRef>>(nodeNames.map((n) => [n, new Map()]))
  const t0 = performance.now()

  // Cluster state: nodes (kube-controller-manager's pod GC deletes pods bound to missing nodes),
  // namespaces, service accounts, a Role letting every pod watch its namespace's ConfigMaps, the two
  // RBAC objects the changes edit, and the pods.
  const clusterRole = `fleet-${run}-all`
  const markerNs = namespaces[0]!
  await parallel(nodeNames, CREATE_PARALLEL, async (name) => {
    await admin.must('POST', '/api/v1/nodes', { body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'edge-metaserver.io/fleet': run } } } })
  })
  for (const ns of namespaces) {
    await admin.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } } })
    await parallel(accounts, 10, async (sa) => {
      await admin.must('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, { body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: sa } } })
    })
    await admin.must('POST', `${RBAC}/namespaces/${ns}/roles`, { body: role('watch', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }]) })
    await admin.must('POST', `${RBAC}/namespaces/${ns}/rolebindings`, {
      body: binding('watch', { kind: 'Role', name: 'watch' }, [{ kind: 'Group', name: `system:serviceaccounts:${ns}` }]),
    })
  }
  await admin.must('POST', `${RBAC}/namespaces/${markerNs}/roles`, { body: role('marker', markerRules('m-0')) })
  await admin.must('POST', `${RBAC}/namespaces/${markerNs}/rolebindings`, {
    body: binding('marker', { kind: 'Role', name: 'marker' }, [{ kind: 'ServiceAccount', name: accounts[0]!, namespace: markerNs }]),
  })
  await admin.must('POST', `${RBAC}/clusterroles`, { body: role(clusterRole, markerRules('m-0'), 'ClusterRole') })
  await admin.must('POST', `${RBAC}/clusterrolebindings`, {
    body: binding(clusterRole, { kind: 'ClusterRole', name: clusterRole }, [{ kind: 'Group', name: 'system:serviceaccounts' }]),
  })
  // Pod i is on node i mod N, so every node has one; the first pod of each node gives its token.
  const initial: PodRef[] = Array.from({ length: opts.pods }, (_, i) => ({ ns: pick(namespaces), sa: pick(accounts), name: `p-${i}`, node: nodeNames[i % opts.nodes]! }))
  const uids = new Map<string, string>()
  await parallel(initial, CREATE_PARALLEL, async (p) => {
    uids.set(`${p.ns}/${p.name}`, await createPod(admin, p))
    podsOn.get(p.node)!.set(`${p.ns}/${p.name}`, p)
  })
  const tokens = new Map<string, { token: string, ns: string }>()
  await parallel(initial.slice(0, opts.nodes), CREATE_PARALLEL, async (p) => {
    const res = await admin.must('POST', `/api/v1/namespaces/${p.ns}/serviceaccounts/${p.sa}/token`, {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200, boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: p.name, uid: uids.get(`${p.ns}/${p.name}`) } } },
    })
    tokens.set(p.node, { token: res.status.token, ns: p.ns })
  })
  const tPods = performance.now()
  log(`${opts.nodes} nodes, ${opts.pods} pods, ${opts.nodes} tokens created in ${secs(tPods - t0)} s`)

  const [tunnelPort, healthPort] = [await freePort(), await freePort()]
  const cloudFile = await writeCloudConfig(cluster, files, {
    address: `127.0.0.1:${tunnelPort}`, healthzAddress: `127.0.0.1:${healthPort}`, logLevel: 'info',
    kubeAPIConfig: [`maxLongRunningRequests: ${opts.nodes * opts.watchesPerNode + 1000}`],
  })
  const cloud: ProcessCloud = await startCloudProcess({ configFile: cloudFile, logFile: `${cluster.dir}/fleet-cloud.log`, cli: process.env.EMS_CLI === 'source' ? 'source' : 'dist' })
  const edges: SimEdge[] = []
  try {
    const caKey: KeyObject = createPrivateKey(await readFile(files.tunnelPki.ca.keyFile, 'utf8'))
    const caCertPem = await files.tunnelPki.ca.pem()
    const key = newNodeKey()
    const keyPem = privateKeyPem(key)
    const publicKey = createPublicKey(key)
    const notBefore = new Date(Date.now() - 60_000)
    const notAfter = new Date(Date.now() + 86_400_000)
    const silent = pino({ level: 'silent' })
    const tConnect = performance.now()
    await parallel(nodeNames, CONNECT_PARALLEL, async (name) => {
      const cert = issueClientCertificate({ caCertPem, caKey, subject: { cn: `system:node:${name}`, o: ['system:nodes'] }, publicKey, notBefore, notAfter })
      const tunnel = new TunnelClient({
        host: '127.0.0.1', port: tunnelPort, serverName: 'localhost', ca: caCertPem, cert, key: keyPem,
        heartbeatPeriodMs: 30_000, heartbeatTimeoutMs: 30_000, connectTimeoutMs: 60_000, backoffInitialMs: 500, backoffMaxMs: 5000, logger: silent,
      })
      const edge = new SimEdge(name, tunnel)
      edges.push(edge)
      const connected = new Promise<void>((resolve) => tunnel.once('connected', resolve))
      tunnel.start()
      await connected
      edge.openControl()
    })
    const tWatches = performance.now()
    log(`${edges.length} tunnels connected in ${secs(tWatches - tConnect)} s`)

    let watchesOpen = 0
    let watchesRefused = 0
    let watchesPending = 0
    const refusals = new Map<number, number>()
    const watchJobs = edges.flatMap((e) => Array.from({ length: opts.watchesPerNode }, () => e))
    await parallel(watchJobs, WATCH_PARALLEL, async (e) => {
      const { token, ns } = tokens.get(e.name)!
      const stream = e.tunnel.open({
        ':method': 'GET', ':path': `/api/v1/namespaces/${ns}/configmaps?watch=1&allowWatchBookmarks=true`, authorization: `Bearer ${token}`,
      }, { endStream: true })
      stream.on('error', () => {})
      stream.on('data', () => {})
      // A watch whose headers have not come within the bound is still held (the shim relays it and
      // counts it in flight): counted apart, as "no headers yet".
      const status = await new Promise<number>((resolve) => {
        const timer = setTimeout(() => resolve(-1), WATCH_HEADERS_BOUND_MS)
        stream.once('response', (h) => { clearTimeout(timer); resolve(Number(h[':status'])) })
        stream.once('close', () => { clearTimeout(timer); resolve(0) })
      })
      if (status === 200) { watchesOpen++; e.watches.push(stream) } else if (status === -1) { watchesPending++; e.watches.push(stream) } else { watchesRefused++; refusals.set(status, (refusals.get(status) ?? 0) + 1); stream.close() }
    })
    const tBundles = performance.now()
    log(`${watchesOpen} watches open (${watchesRefused} refused: ${JSON.stringify(Object.fromEntries(refusals))}) ${watchesPending} without headers after ${WATCH_HEADERS_BOUND_MS / 1000} s, in ${secs(tBundles - tWatches)} s`)

    // Every edge holds a bundle with exactly its pods.
    const holdsPods = (node: string) => (b: PolicyBundle): boolean => b.pods.length === podsOn.get(node)!.size
    await Promise.all(edges.map(async (e) => await e.when(holdsPods(e.name), FIRST_BUNDLES_BOUND_MS)))
    const tReady = performance.now()
    const connectedMem = await memory(cloud.pid)
    log(`every edge holds its first bundle after ${secs(tReady - tBundles)} s more; shim RSS ${connectedMem.rss} MiB`)

    const idleCpuMsPerSecond = await idleCpu(cloud.pid, 3000)

    // Pod churn: alternately create a pod on a random node and delete one created earlier in the
    // churn (grace 0: there is no kubelet to confirm a graceful one); each write's node must then hold
    // a bundle with (or without) that pod.
    const churnTimes: Array<Promise<number | undefined>> = []
    const churnStarts: number[] = []
    const churnAnswers: number[] = []
    const churned: Array<PodRef & { at: number }> = []
    const cpuBeforeChurn = await cpuMs(cloud.pid)
    const churnStart = performance.now()
    const writes = Math.round(opts.churnRate * opts.churnSeconds)
    const inFlight = new Set<Promise<void>>()
    for (let i = 0; i < writes; i++) {
      const due = churnStart + (i * 1000) / opts.churnRate
      const wait = due - performance.now()
      if (wait > 0) await sleep(wait)
      // The oldest churn pod, once it is a second old: a pod created and deleted within the shim's
      // coalescing window is never in any bundle, and its node would wait for it in vain.
      const remove = i % 2 === 1 && churned.length > 0 && churned[0]!.at < performance.now() - 1000
      const p = remove ? churned.shift()! : { ns: pick(namespaces), sa: pick(accounts), name: `c-${i}`, node: pick(nodeNames), at: 0 }
      const edge = edges.find((e) => e.name === p.node)!
      const podKey = `${p.ns}/${p.name}`
      const start = performance.now()
      churnStarts.push(start)
      churnTimes.push(edge.when((b) => b.pods.some((x) => `${x.namespace}/${x.name}` === podKey) === !remove, PROPAGATION_BOUND_MS))
      const n = churnAnswers.push(NaN) - 1
      const job = (remove ? deletePod(admin, p) : createPod(admin, p).then(() => {})).then(() => {
        churnAnswers[n] = performance.now()
        if (remove) podsOn.get(p.node)!.delete(podKey)
        else { podsOn.get(p.node)!.set(podKey, p); churned.push({ ...p, at: performance.now() }) }
      })
      inFlight.add(job)
      void job.finally(() => inFlight.delete(job))
      // A write outrunning kube-apiserver is not the shim's load: bound what is in flight.
      if (inFlight.size >= CREATE_PARALLEL) await Promise.race(inFlight)
    }
    await Promise.all(inFlight)
    const churnEnd = performance.now()
    const churnArrivals = await Promise.all(churnTimes)
    await settle(cloud.pid, idleCpuMsPerSecond)
    const churnCpu = (await cpuMs(cloud.pid)) - cpuBeforeChurn
    const churnWindowS = (performance.now() - churnStart) / 1000
    const churnProp = summarize(churnArrivals.map((at, i) => at === undefined ? undefined : at - churnStarts[i]!))
    const churnAfterAnswer = summarize(churnArrivals.map((at, i) => at === undefined ? undefined : Math.max(0, at - churnAnswers[i]!)))
    const afterChurnMem = await memory(cloud.pid)
    log(`churn: ${writes} pod writes in ${secs(churnEnd - churnStart)} s; propagation p50 ${churnProp.p50} ms p99 ${churnProp.p99} ms, missing ${churnProp.missing}`)

    // A Role edit reaching the nodes with a pod of markerNs/sa-0 only.
    const reached = (e: SimEdge): boolean => [...podsOn.get(e.name)!.values()].some((p) => p.ns === markerNs && p.sa === accounts[0])
    const hasRole = (marker: string) => (b: PolicyBundle): boolean =>
      b.rbac.roles.some((r) => r.metadata.name === 'marker' && r.metadata.namespace === markerNs && JSON.stringify(r.rules).includes(marker))
    const roleChange = await change(cloud.pid, idleCpuMsPerSecond, edges.filter(reached), hasRole('m-1'), async () => {
      await admin.must('PUT', `${RBAC}/namespaces/${markerNs}/roles/marker`, { body: role('marker', markerRules('m-1')) })
    })
    const leaked = edges.filter((e) => !reached(e) && e.bundle !== undefined && hasRole('m-1')(e.bundle)).length
    log(`Role change: ${roleChange.propagation.affected} affected edges, p50 ${roleChange.propagation.p50} ms p99 ${roleChange.propagation.p99} ms, missing ${roleChange.propagation.missing}; ${leaked} unaffected edges got it`)

    const hasClusterRole = (b: PolicyBundle): boolean => b.rbac.clusterRoles.some((r) => r.metadata.name === clusterRole && JSON.stringify(r.rules).includes('m-1'))
    const clusterRoleChange = await change(cloud.pid, idleCpuMsPerSecond, edges, hasClusterRole, async () => {
      await admin.must('PUT', `${RBAC}/clusterroles/${clusterRole}`, { body: role(clusterRole, markerRules('m-1'), 'ClusterRole') })
    })
    log(`ClusterRole change: ${clusterRoleChange.propagation.affected} edges, p50 ${clusterRoleChange.propagation.p50} ms p99 ${clusterRoleChange.propagation.p99} ms, missing ${clusterRoleChange.propagation.missing}`)
    const endMem = await memory(cloud.pid)

    return {
      options: opts,
      setupSeconds: { pods: secs(tPods - t0), connect: secs(tWatches - tConnect), watches: secs(tBundles - tWatches), firstBundles: secs(tReady - tBundles) },
      watchesOpen,
      watchesRefused,
      watchesPending,
      shimRssMiB: { connected: connectedMem.rss, peak: endMem.peak, afterChurn: afterChurnMem.rss, end: endMem.rss },
      loadRssMiB: Math.round(process.memoryUsage().rss / 1048576),
      idleCpuMsPerSecond,
      churn: { writes, writeSeconds: secs(churnEnd - churnStart), seconds: Math.round(churnWindowS * 10) / 10, cpuMsPerWrite: round2(Math.max(0, churnCpu - idleCpuMsPerSecond * churnWindowS) / Math.max(1, writes)), propagation: churnProp, afterAnswer: churnAfterAnswer },
      roleChange: { ...roleChange, leaked },
      clusterRoleChange,
    }
  } finally {
    await Promise.all(edges.map(async (e) => await e.tunnel.close(0)))
    await cloud.stop()
    // Leave the cluster as found (bench/run.ts may go on using it): pods first, with no grace.
    for (const ns of namespaces) {
      await admin.call('DELETE', `/api/v1/namespaces/${ns}/pods`, { query: { gracePeriodSeconds: 0 } })
      await admin.call('DELETE', `/api/v1/namespaces/${ns}`)
    }
    await admin.call('DELETE', `${RBAC}/clusterrolebindings/${clusterRole}`)
    await admin.call('DELETE', `${RBAC}/clusterroles/${clusterRole}`)
    await admin.call('DELETE', '/api/v1/nodes', { query: { labelSelector: `edge-metaserver.io/fleet=${run}` } })
  }
}

/** One RBAC write: the shim's CPU for it (above idle, until it settles) and its propagation to `affected`. */
async function change (pid: number, idleMsPerS: number, affected: SimEdge[], pred: (b: PolicyBundle) => boolean, write: () => Promise<void>): Promise<{ cpuMs: number, propagation: Propagation, afterAnswer: Propagation }> {
  const before = await cpuMs(pid)
  const start = performance.now()
  const arrivals = affected.map(async (e) => await e.when(pred, PROPAGATION_BOUND_MS))
  await write()
  const answered = performance.now()
  const times = await Promise.all(arrivals)
  await settle(pid, idleMsPerS)
  const window = (performance.now() - start) / 1000
  return {
    cpuMs: Math.round(Math.max(0, (await cpuMs(pid)) - before - idleMsPerS * window)),
    propagation: summarize(times.map((at) => at === undefined ? undefined : at - start)),
    afterAnswer: summarize(times.map((at) => at === undefined ? undefined : Math.max(0, at - answered))),
  }
}

function summarize (latencies: Array<number | undefined>): Propagation {
  const got = latencies.filter((x): x is number => x !== undefined).sort((a, b) => a - b)
  const q = (f: number): number => got.length === 0 ? NaN : Math.round(got[Math.min(got.length - 1, Math.ceil(f * got.length) - 1)]!)
  return { affected: latencies.length, p50: q(0.5), p99: q(0.99), max: q(1), missing: latencies.length - got.length }
}

const role = (name: string, rules: unknown[], kind = 'Role'): unknown => ({ apiVersion: 'rbac.authorization.k8s.io/v1', kind, metadata: { name }, rules })
const markerRules = (marker: string): unknown[] => [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'], resourceNames: [marker] }]
function binding (name: string, roleRef: { kind: string, name: string }, subjects: unknown[]): unknown {
  return { apiVersion: 'rbac.authorization.k8s.io/v1', kind: roleRef.kind === 'Role' ? 'RoleBinding' : 'ClusterRoleBinding', metadata: { name }, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef }, subjects }
}

async function createPod (admin: RestClient, p: PodRef): Promise<string> {
  const pod = await admin.must('POST', `/api/v1/namespaces/${p.ns}/pods`, {
    body: {
      apiVersion: 'v1', kind: 'Pod', metadata: { name: p.name },
      spec: { nodeName: p.node, serviceAccountName: p.sa, automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
    },
  })
  return pod.metadata.uid
}

async function deletePod (admin: RestClient, p: PodRef): Promise<void> {
  await admin.must('DELETE', `/api/v1/namespaces/${p.ns}/pods/${p.name}`, { query: { gracePeriodSeconds: 0 } })
}

/** Runs fn over items, at most `limit` at once. */
async function parallel<T> (items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
}

/** utime + stime of a process, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
async function cpuMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/** The shim's own CPU while nothing happens (keepalives, probes), ms per second. */
async function idleCpu (pid: number, ms: number): Promise<number> {
  const before = await cpuMs(pid)
  await sleep(ms)
  return round2(((await cpuMs(pid)) - before) / (ms / 1000))
}

/** Waits until the shim is back to idle: two 500 ms windows near its idle CPU, at most 60 s. */
async function settle (pid: number, idleMsPerS: number): Promise<void> {
  let calm = 0
  for (let i = 0; i < 120 && calm < 2; i++) {
    const before = await cpuMs(pid)
    await sleep(500)
    calm = (await cpuMs(pid)) - before <= idleMsPerS / 2 + 10 ? calm + 1 : 0
  }
}

async function memory (pid: number): Promise<{ rss: number, peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (field: string): number => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN)
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) }
}

const sleep = async (ms: number): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, ms)) }
const secs = (ms: number): number => Math.round(ms / 100) / 10
const round2 = (x: number): number => Math.round(x * 100) / 100

/** The figures as printed lines (the README quotes them). */
export function formatFleet (f: FleetFigures): string[] {
  const o = f.options
  const prop = (p: Propagation, over = 'edges'): string => `p50 ${p.p50} ms, p99 ${p.p99} ms, max ${p.max} ms over ${p.affected} ${over}${p.missing > 0 ? `, ${p.missing} MISSING after ${PROPAGATION_BOUND_MS / 1000} s` : ''}`
  const fromAnswer = (p: Propagation): string => ` (from kube-apiserver's answer to the write: p50 ${p.p50} ms, p99 ${p.p99} ms)`
  return [
    `Shim fleet simulation: ${o.nodes} edges × ${o.watchesPerNode} watches, ${o.pods} pods in ${o.namespaces} namespaces × ${o.serviceAccounts} service accounts (seed ${o.seed})`,
    `  setup: pods+tokens ${f.setupSeconds.pods} s, ${o.nodes} tunnels ${f.setupSeconds.connect} s, ${f.watchesOpen} watches open (${f.watchesRefused} refused, ${f.watchesPending} without headers yet) ${f.setupSeconds.watches} s, first bundles ${f.setupSeconds.firstBundles} s more`,
    `  shim RSS: ${f.shimRssMiB.connected} MiB with every edge and watch connected, ${f.shimRssMiB.afterChurn} MiB after the churn, ${f.shimRssMiB.end} MiB at the end (peak ${f.shimRssMiB.peak} MiB); load process ${f.loadRssMiB} MiB`,
    `  shim CPU idle (keepalives, probes): ${f.idleCpuMsPerSecond} ms/s`,
    `  pod churn: ${f.churn.writes} writes (creates and deletes) asked at ${o.churnRate}/s, done in ${f.churn.writeSeconds} s: shim CPU ${f.churn.cpuMsPerWrite} ms per pod write above idle; its node holds the change ${prop(f.churn.propagation, 'writes')}${fromAnswer(f.churn.afterAnswer)}`,
    `  Role edit (reaches some nodes): shim CPU ${f.roleChange.cpuMs} ms; ${prop(f.roleChange.propagation)}${fromAnswer(f.roleChange.afterAnswer)}; ${f.roleChange.leaked} unaffected edges received it`,
    `  ClusterRole edit (reaches every node): shim CPU ${f.clusterRoleChange.cpuMs} ms; ${prop(f.clusterRoleChange.propagation)}${fromAnswer(f.clusterRoleChange.afterAnswer)}`,
  ]
}

/** The fleet simulation on a test bed of its own, started and stopped here (`npm run bench` and `bench:fleet`). */
export async function runFleetBench (opts: FleetOptions): Promise<FleetFigures> {
  const limit = Number(/^Max open files\s+(\d+|unlimited)/m.exec(await readFile('/proc/self/limits', 'utf8'))?.[1]?.replace('unlimited', 'Infinity') ?? 0)
  // One socket per edge here and in the shim (same user, separate processes), plus kube-apiserver's pool.
  if (limit < opts.nodes + 1000) throw new Error(`open-file limit ${limit} (ulimit -n) is too low for ${opts.nodes} edges: raise it to ${opts.nodes + 1000} or more`)
  // No kube-controller-manager: nothing here needs it, and its controllers would add CPU to the machine.
  const cluster = await TestCluster.start({ controllerManager: false })
  try {
    return await runFleet(cluster, await prepareStackFiles(cluster), opts)
  } finally {
    await cluster.stop()
  }
}

async function main (): Promise<void> {
  const figures = await runFleetBench(fleetOptionsFromEnv())
  process.stdout.write(['', `edge-metaserver fleet bench — ${new Date().toISOString()}, node ${process.version}`, ...formatFleet(figures), ''].join('\n'))
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: Error) => {
    process.stderr.write(`fleet bench failed: ${err.stack ?? err.message}\n`)
    process.exitCode = 1
  })
}
