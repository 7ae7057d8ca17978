// npm run bench — GET and LIST latency (p50/p99) and throughput at concurrency 1 and 32, through
// edge → tunnel → shim versus straight to kube-apiserver, in the same run on the same cluster,
// printed as ratios; plus the edge's and the shim's memory. Then what the edge cache costs online
// (the same load through a second edge with the cache off) and what it gives offline (the shim is
// killed; the edge answers from SQLite, compared with the apiserver answering directly). All roles
// run as real CLI processes of the built dist/ (the npm script builds it), started the way the
// tests start them (test/helpers/product.ts), so their RSS is their own. The encodings a typed
// client-go component uses are measured the same three ways (direct, through the edge online, from
// the edge cache offline): protobuf LISTs (whole and chunked with limit/continue) and WatchList syncs
// (until the initial-events-end BOOKMARK) in JSON and protobuf, over a few hundred objects. Not a
// test: nothing here asserts (the load generator does check every answer, bench/load.ts).
// Issue 15's figures come from the same run: each process's CPU per request (/proc/<pid>/stat,
// bench/cpu.ts) and the daemons' share against kube-apiserver's; the GET runs again pinned with
// taskset (control plane on core 0, daemons and load on core 1); the edge's RSS idle, after the
// load and with 1 000 watches open online and offline (bench/watches.ts); bytes on the tunnel
// against bytes kube-apiserver sent for an informer (bench/informer.ts); then the target table.
// EMS_BENCH_SCALE (default 1) scales every request count, e.g. 0.1 for a quick run.
import { readFileSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { join } from 'node:path'
import { Pool } from 'undici'
import { TestCluster } from '../test/cluster/cluster.js'
import { Fixtures } from '../test/cluster/fixtures.js'
import { freePort, waitFor } from '../test/cluster/processes.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig, type StackFiles } from '../test/e2e/configs.js'
import { startCloudProcess, startEdgeProcess, type ProcessCloud, type ProcessEdge } from '../test/helpers/product.js'
import { chunkedList, measure, request, watchList, type Op, type Sample, type Target } from './load.js'
import { PROTOBUF_MEDIA_TYPE } from '../src/kube/protobuf/codec.js'
import { tunnelRoundTrip } from './tunnel-roundtrip.js'
import { fleetOptionsFromEnv, formatFleet, runFleetBench, type FleetFigures } from './fleet.js'
import { ALL_CPUS, pin, type Measured } from './cpu.js'
import { countingRelay, informerRun } from './informer.js'
import { holdWatches } from './watches.js'
import { unitNodeOptions, withNodeOptions } from './stack.js'

const NODE = 'bench-node'
const NODE_NO_CACHE = 'bench-node-no-cache'
const NODE_INFORMER = 'bench-node-informer'
/** The informer workload (bytes on the tunnel): ConfigMaps listed, then updates watched. */
const INFORMER_CONFIGMAPS = 500
const INFORMER_UPDATES = 1000
/** Watches held open through the edge for its memory figure (not scaled: the figure is for 1 000). */
const WATCHES = 1000
const LIST_SIZE = 50
/** The encodings phase's namespace: a few hundred ConfigMaps and Pods, about what a node agent lists. */
const MANY_CONFIGMAPS = 300
const MANY_PODS = 200
const CHUNK = 100
const SCALE = Number(process.env.EMS_BENCH_SCALE ?? 1)
const count = (n: number): number => Math.max(10, Math.round(n * SCALE))
/** Edges run with the systemd unit's V8 heap flags, as on a node. */
const EDGE_NODE_OPTIONS = unitNodeOptions()
const EDGE_ENV = withNodeOptions(EDGE_NODE_OPTIONS)

/** One bench line: an operation at a concurrency, `count` times. */
interface Step { label: string, concurrency: number, count: number, op: Op, warmup?: number }

async function main (): Promise<void> {
  if (!(SCALE > 0)) throw new Error(`EMS_BENCH_SCALE must be a positive number, not ${process.env.EMS_BENCH_SCALE}`)
  const cluster = await TestCluster.start()
  let report: string[]
  let figures: Omit<Parameters<typeof targets>[0], 'fleet'>
  const roles: Array<ProcessCloud | ProcessEdge> = []
  try {
    const files = await prepareStackFiles(cluster)
    const [tunnelPort, healthPort] = [await freePort(), await freePort()]
    // info: the starter waits for the roles' own "ready" lines; nothing is logged per request at info.
    const cloudFile = await writeCloudConfig(cluster, files, { address: `127.0.0.1:${tunnelPort}`, healthzAddress: `127.0.0.1:${healthPort}`, logLevel: 'info' })
    const edgeFile = await writeEdgeConfig(cluster, files, NODE, { server: '127.0.0.1:0', tunnelPort, logLevel: 'info' })
    const plainEdgeFile = await writeEdgeConfig(cluster, files, NODE_NO_CACHE, {
      server: '127.0.0.1:0', tunnelPort, logLevel: 'info', extraYaml: ['  cache:', '    enable: false'],
    })
    const fx = new Fixtures(cluster.admin)
    const ns = await fx.namespace('bench')
    const rules = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create'] }]
    const me = await fx.podIdentity(ns, NODE, { rules })
    const plainMe = await fx.podIdentity(ns, NODE_NO_CACHE, { rules })
    for (let i = 0; i < LIST_SIZE; i++) await fx.configMap(ns, `cm-${i}`, { payload: 'x'.repeat(1024) })
    const manyNs = await manyObjects(fx, me.serviceAccount, ns)
    const sizes = await listSizes(cluster.admin, manyNs)

    const log = (name: string): string => join(cluster.dir, `bench-${name}.log`)
    const cloud = await startCloudProcess({ configFile: cloudFile, logFile: log('cloud'), cli: 'dist' })
    roles.push(cloud)
    const edge = await startEdgeProcess({ configFile: edgeFile, logFile: log('edge'), cli: 'dist', env: EDGE_ENV })
    roles.push(edge)
    const plainEdge = await startEdgeProcess({ configFile: plainEdgeFile, logFile: log('edge-no-cache'), cli: 'dist', env: EDGE_ENV })
    roles.push(plainEdge)
    process.stdout.write(`roles started (dist/, logs in ${cluster.dir}/bench-*.log)\n`)
    const ca = cluster.pki.caPem
    const procs: Measured[] = [...controlPlane(cluster), { name: 'edge', pid: edge.pid }, { name: 'shim', pid: cloud.pid }, { name: 'load', pid: process.pid }]
    const direct: Target = { origin: cluster.url, token: me.token, ca }
    const viaEdge: Target = { origin: `https://127.0.0.1:${edge.port}`, token: me.token, ca }
    const viaPlainEdge: Target = { origin: `https://127.0.0.1:${plainEdge.port}`, token: plainMe.token, ca }
    for (const target of [viaEdge, viaPlainEdge]) await waitReady(target.origin, ca)
    // Idle: started, policy and keys in, a few seconds without requests.
    await sleep(5000)
    const [edgeIdle, cloudIdle] = [await memory(edge.pid), await memory(cloud.pid)]
    const partsIdle = await memoryParts(viaEdge)

    const ops = { GET: `/api/v1/namespaces/${ns}/configmaps/cm-0`, LIST: `/api/v1/namespaces/${ns}/configmaps` }
    const plan: Step[] = [
      { label: 'GET', concurrency: 1, count: count(600), op: request(ops.GET) },
      { label: 'GET', concurrency: 32, count: count(4000), op: request(ops.GET) },
      { label: 'LIST', concurrency: 1, count: count(300), op: request(ops.LIST, { listKind: 'ConfigMapList' }) },
      { label: 'LIST', concurrency: 32, count: count(1200), op: request(ops.LIST, { listKind: 'ConfigMapList' }) },
    ]
    const configMaps = `/api/v1/namespaces/${manyNs}/configmaps`
    const pods = `/api/v1/namespaces/${manyNs}/pods`
    // Each WatchList opens a connection of its own (it is closed at the bookmark): a short warm-up.
    const encodingPlan: Step[] = [
      { label: `protobuf LIST ${MANY_CONFIGMAPS} ConfigMaps`, concurrency: 1, count: count(200), op: request(configMaps, { encoding: 'protobuf', listKind: 'ConfigMapList' }) },
      { label: `protobuf LIST ${MANY_CONFIGMAPS} ConfigMaps`, concurrency: 16, count: count(600), op: request(configMaps, { encoding: 'protobuf', listKind: 'ConfigMapList' }) },
      { label: `protobuf LIST ${MANY_PODS} Pods`, concurrency: 1, count: count(200), op: request(pods, { encoding: 'protobuf', listKind: 'PodList' }) },
      { label: `protobuf LIST ${MANY_CONFIGMAPS} ConfigMaps, limit=${CHUNK}`, concurrency: 1, count: count(100), op: chunkedList(configMaps, CHUNK, 'protobuf', 'ConfigMapList') },
      { label: `WatchList sync ${MANY_CONFIGMAPS} ConfigMaps, JSON`, concurrency: 1, count: count(100), warmup: 10, op: watchList(configMaps, 'json', MANY_CONFIGMAPS) },
      { label: `WatchList sync ${MANY_CONFIGMAPS} ConfigMaps, protobuf`, concurrency: 1, count: count(100), warmup: 10, op: watchList(configMaps, 'protobuf', MANY_CONFIGMAPS) },
      { label: `WatchList sync ${MANY_PODS} Pods, protobuf`, concurrency: 1, count: count(100), warmup: 10, op: watchList(pods, 'protobuf', MANY_PODS) },
    ]
    // Alternate which target goes first so warm-up and drift favour neither.
    const compare = async (steps: Step[], first: Target, second: Target): Promise<Array<[Step, Sample, Sample]>> => {
      const rows: Array<[Step, Sample, Sample]> = []
      for (const [i, step] of steps.entries()) {
        const [a, b] = i % 2 === 0 ? [first, second] : [second, first]
        const sa = await measure(a, step.concurrency, step.count, step.op, step.warmup, procs)
        const sb = await measure(b, step.concurrency, step.count, step.op, step.warmup, procs)
        rows.push(a === first ? [step, sa, sb] : [step, sb, sa])
      }
      return rows
    }
    progress('online')
    const online = await compare(plan, direct, viaEdge)
    // Pinned: etcd + kube-apiserver on core 0, the daemons and the load generator on core 1, so
    // the apiserver's own work no longer competes with the daemons' (other processes on the machine
    // still may). Undone before the next phase.
    const daemons = [edge.pid, plainEdge.pid, cloud.pid, process.pid]
    progress('pinned')
    await pin(controlPlane(cluster).map((p) => p.pid), '0')
    await pin(daemons, '1')
    let pinned: Rows
    try {
      pinned = await compare(plan.slice(0, 2), direct, viaEdge)
    } finally {
      await pin([...controlPlane(cluster).map((p) => p.pid), ...daemons], ALL_CPUS)
    }
    progress('encodings online, cache tee')
    const encodingsOnline = await compare(encodingPlan, direct, viaEdge)
    // Online, the cache tees every answer: the same load through an edge without it.
    const tee = await compare(plan, viaPlainEdge, viaEdge)
    const [edgeMem, cloudMem] = [await memory(edge.pid), await memory(cloud.pid)]
    const partsLoaded = await memoryParts(viaEdge)
    progress('informer bytes')
    const bytes = await informerBytes(cluster, files, fx, tunnelPort, log('edge-informer'))

    // The edge's memory with WATCHES watches open (one connection each), online then offline.
    const watchPath = `/api/v1/namespaces/${ns}/configmaps?watch=1&fieldSelector=metadata.name%3Dcm-0&allowWatchBookmarks=true`
    progress(`${WATCHES} watches`)
    const watches = holdWatches(viaEdge, watchPath, WATCHES)
    let watchMem: { online: Mem, offline: Mem }
    let partsWatches: Parts | undefined
    try {
      const allOpen = async (what: string): Promise<void> => {
        await waitFor(`${WATCHES} watches open through the edge (${what})`, async () => watches.open() >= WATCHES ? true : undefined, {
          timeoutMs: 180_000, intervalMs: 500,
        }).catch((err: Error) => { throw new Error(`${err.message}: ${watches.open()} open; ${watches.problems()}`) })
        await sleep(3000)
      }
      await allOpen('online')
      const online = await memory(edge.pid)
      partsWatches = await memoryParts(viaEdge)
      // Offline: the cloud shim dies; the edge answers from its cache (the watches too).
      await cloud.proc.signal('SIGKILL')
      await waitFor('the edge to answer from its cache', async () => {
        const res = await fetchWarning(viaEdge.origin, ops.GET, me.token, ca)
        return res ? true : undefined
      }, { timeoutMs: 30_000 })
      await allOpen('offline')
      watchMem = { online, offline: await memory(edge.pid) }
    } finally {
      await watches.close()
    }
    progress('offline')
    const offline = await compare(plan, direct, viaEdge)
    const encodingsOffline = await compare(encodingPlan, direct, viaEdge)
    const offlineWrite = await measure(viaEdge, 1, count(300), request(ops.LIST, {
      write: { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'w-' } }), expect: 503 },
    }))
    const offlineMem = await memory(edge.pid)
    const tunnel = await tunnelRoundTrip(count(3000))
    report = [
      '',
      `edge-metaserver bench — ${new Date().toISOString()}, node ${process.version}, ${LIST_SIZE}-item LIST (~${LIST_SIZE} KiB)` +
        (SCALE === 1 ? '' : `, request counts scaled by ${SCALE}`) + `; edges with NODE_OPTIONS="${EDGE_NODE_OPTIONS}" (systemd unit)`,
      ...table('', ['direct', 'via edge'], online, true),
      ...cpuTable('CPU per request (ms, from /proc/<pid>/stat over each measured run; ratio: edge + shim over kube-apiserver answering the pod directly):', online),
      ...table('Pinned (taskset: etcd + kube-apiserver on core 0; edge, shim and load generator on core 1):', ['direct', 'via edge'], pinned, true),
      ...cpuTable('CPU per request, pinned:', pinned),
      `edge RSS idle ${edgeIdle.rss} MiB, after the load ${edgeMem.rss} MiB (peak ${edgeMem.peak} MiB), with ${WATCHES} watches open ${watchMem.online.rss} MiB online, ` +
        `${watchMem.offline.rss} MiB offline (peak ${watchMem.offline.peak} MiB)`,
      `edge memory by part (${EDGE_NODE_OPTIONS}) — ${partsLine('idle', partsIdle)}; ${partsLine('after the load', partsLoaded)}; ` +
        (partsWatches === undefined ? '' : partsLine(`with ${WATCHES} watches online`, partsWatches)),
      `cloud shim RSS with 2 edges connected: idle ${cloudIdle.rss} MiB, after the load ${cloudMem.rss} MiB (peak ${cloudMem.peak} MiB); per edge at fleet scale: bench/fleet.ts`,
      `informer (LIST ${INFORMER_CONFIGMAPS} ConfigMaps, JSON, then WATCH through ${INFORMER_UPDATES} updates), bytes on the wire: kube-apiserver sent ${kib(bytes.direct.down)} KiB ` +
        `(received ${kib(bytes.direct.up)} KiB); tunnel shim → edge ${kib(bytes.tunnel.down)} KiB, edge → shim ${kib(bytes.tunnel.up)} KiB: ` +
        `ratio ${(bytes.tunnel.down / bytes.direct.down).toFixed(2)} (both ways ${((bytes.tunnel.down + bytes.tunnel.up) / (bytes.direct.down + bytes.direct.up)).toFixed(2)})`,
      `tunnel round trip alone (edge TunnelClient ↔ cloud TunnelServer in one process, 1 KiB answer): p50 ${ms(tunnel.p50)} ms, p99 ${ms(tunnel.p99)} ms`,
      '',
      ...table('Online cost of the cache tee (edge with cache vs edge without, same run):', ['cache off', 'cache on'], tee, false),
      ...table('Offline (cloud shim killed): edge answering from its cache vs kube-apiserver answering directly:', ['direct', 'edge cache'], offline, false),
      `offline write (POST, answered 503), concurrency 1: p50 ${ms(offlineWrite.p50)} ms, p99 ${ms(offlineWrite.p99)} ms`,
      `edge RSS after the offline runs ${offlineMem.rss} MiB (peak ${offlineMem.peak} MiB)`,
      '',
      ...table(`Encodings of typed client-go components, online (${sizes}; WatchList = until the initial-events-end BOOKMARK):`,
        ['direct', 'via edge'], encodingsOnline, true),
      ...table('The same offline (cloud shim killed): edge answering from its cache vs kube-apiserver answering directly:',
        ['direct', 'edge cache'], encodingsOffline, false),
    ]
    figures = { online, pinned, edgeIdle, edgeMem, watchMem, bytes }
  } finally {
    for (const role of roles) await role.stop()
    await cluster.stop()
  }
  // The shim at fleet scale, on a test bed of its own (bench/fleet.ts; EMS_FLEET_* size it).
  progress('fleet simulation')
  const fleet = await runFleetBench(fleetOptionsFromEnv())
  process.stdout.write([...report, '', ...formatFleet(fleet), ...targets({ ...figures, fleet })].join('\n'))
}

type Mem = Awaited<ReturnType<typeof memory>>
type Rows = Array<[Step, Sample, Sample]>

/** etcd and kube-apiserver of the test bed, by their command names. */
function controlPlane (cluster: TestCluster): Measured[] {
  return cluster.pids().flatMap((pid) => {
    const name = readFileSync(`/proc/${pid}/comm`, 'utf8').trim()
    return name === 'etcd' || name === 'kube-apiserver' ? [{ name, pid }] : []
  })
}

/**
 * The informer workload direct (a counting relay in front of kube-apiserver) and through an edge of
 * its own whose tunnel goes through a counting relay in front of the shim: the bytes each way.
 */
async function informerBytes (cluster: TestCluster, files: StackFiles, fx: Fixtures, tunnelPort: number, logFile: string):
Promise<{ direct: { up: number, down: number }, tunnel: { up: number, down: number } }> {
  const ns = await fx.namespace('bench-informer')
  const me = await fx.podIdentity(ns, NODE_INFORMER, { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] })
  for (let i = 0; i < INFORMER_CONFIGMAPS; i += 10) {
    await Promise.all(Array.from({ length: Math.min(10, INFORMER_CONFIGMAPS - i) }, async (_, j) => await fx.configMap(ns, `cm-${i + j}`, { payload: 'z'.repeat(256) })))
  }
  const collection = `/api/v1/namespaces/${ns}/configmaps`
  const apiRelay = await countingRelay(cluster.port)
  const tunnelRelay = await countingRelay(tunnelPort)
  let edge: ProcessEdge | undefined
  try {
    await informerRun({ origin: `https://127.0.0.1:${apiRelay.port}`, token: me.token, ca: cluster.pki.caPem }, cluster.admin, collection, INFORMER_UPDATES, 0)
    // Compression is opt-in on the edge (README, "Compression on the tunnel"): this edge opts in.
    const edgeFile = await writeEdgeConfig(cluster, files, NODE_INFORMER, { server: '127.0.0.1:0', tunnelPort: tunnelRelay.port, logLevel: 'info', extraYaml: ['    compression: auto'] })
    edge = await startEdgeProcess({ configFile: edgeFile, logFile, cli: 'dist', env: EDGE_ENV })
    const viaEdge = { origin: `https://127.0.0.1:${edge.port}`, token: me.token, ca: cluster.pki.caPem }
    await waitReady(viaEdge.origin, viaEdge.ca)
    await sleep(2000) // what the edge's start-up moved on the tunnel (policy, keys) is not the informer's
    const before = tunnelRelay.bytes()
    await informerRun(viaEdge, cluster.admin, collection, INFORMER_UPDATES, 1)
    const after = tunnelRelay.bytes()
    return { direct: apiRelay.bytes(), tunnel: { up: after.up - before.up, down: after.down - before.down } }
  } finally {
    await edge?.stop()
    await apiRelay.close()
    await tunnelRelay.close()
  }
}

/** CPU ms per request of each process, direct and via the edge, and the daemons' share against kube-apiserver's. */
function cpuTable (title: string, rows: Rows): string[] {
  const f = (v: number | undefined): string => (v ?? 0).toFixed(2)
  return [title, '',
    '| op | concurrency | direct: kube-apiserver / etcd / load | via edge: kube-apiserver / etcd / load | edge | shim | (edge + shim) / kube-apiserver direct | (edge + shim) / kube-apiserver via edge |',
    '|---|---|---|---|---|---|---|---|',
    ...rows.map(([step, d, e]) => {
      const [dc, ec] = [d.cpu ?? {}, e.cpu ?? {}]
      const daemons = (ec.edge ?? 0) + (ec.shim ?? 0)
      return `| ${step.label} | ${step.concurrency} | ${f(dc['kube-apiserver'])} / ${f(dc.etcd)} / ${f(dc.load)} | ${f(ec['kube-apiserver'])} / ${f(ec.etcd)} / ${f(ec.load)} | ` +
        `${f(ec.edge)} | ${f(ec.shim)} | ${(daemons / (dc['kube-apiserver'] ?? NaN)).toFixed(2)} | ${(daemons / (ec['kube-apiserver'] ?? NaN)).toFixed(2)} |`
    }), '']
}

/** The issue's target table with this run's figures. */
function targets (r: {
  online: Rows, pinned: Rows, edgeIdle: Mem, edgeMem: Mem, watchMem: { online: Mem, offline: Mem },
  bytes: { direct: { down: number }, tunnel: { down: number } }, fleet: FleetFigures
}): string[] {
  const find = (rows: Rows, label: string, concurrency: number): [Sample, Sample] => {
    const hit = rows.find(([s]) => s.label === label && s.concurrency === concurrency)!
    return [hit[1], hit[2]]
  }
  const [d32, e32] = find(r.online, 'GET', 32)
  const cpuRatio = ((e32.cpu?.edge ?? 0) + (e32.cpu?.shim ?? 0)) / (d32.cpu?.['kube-apiserver'] ?? NaN)
  const [p1d, p1e] = find(r.pinned, 'GET', 1)
  const pinnedP50 = p1e.p50 / p1d.p50
  const throughput = e32.rps / d32.rps
  const tunnelRatio = r.bytes.tunnel.down / r.bytes.direct.down
  const met = (ok: boolean): string => ok ? 'yes' : 'no'
  const watchRss = Math.max(r.watchMem.online.rss, r.watchMem.offline.rss)
  return ['', 'Targets (issue 15):', '',
    '| figure | today | target | met? |', '|---|---|---|---|',
    `| edge + shim CPU per relayed GET / kube-apiserver's CPU for it (GET, concurrency 32) | ${cpuRatio.toFixed(2)} | ≤ 0.5 | ${met(cpuRatio <= 0.5)} |`,
    `| GET p50 via edge / direct, concurrency 1, pinned | ${pinnedP50.toFixed(2)} | ≤ 1.3 | ${met(pinnedP50 <= 1.3)} |`,
    `| throughput via edge / direct, GET concurrency 32, unpinned | ${throughput.toFixed(2)} | ≥ 0.7 | ${met(throughput >= 0.7)} |`,
    `| edge RSS idle · after load · ${WATCHES} watches (online / offline) | ${r.edgeIdle.rss} · ${r.edgeMem.rss} · ${r.watchMem.online.rss} / ${r.watchMem.offline.rss} MiB | ≤ 60 · ≤ 100 · ≤ 120 MiB | ` +
      `${met(r.edgeIdle.rss <= 60)} · ${met(r.edgeMem.rss <= 100)} · ${met(watchRss <= 120)} |`,
    fleetRow(r.fleet),
    `| tunnel bytes / apiserver bytes, informer (LIST ${INFORMER_CONFIGMAPS} + ${INFORMER_UPDATES} updates) | ${tunnelRatio.toFixed(2)} | ≤ 0.3 | ${met(tunnelRatio <= 0.3)} |`,
    '']
}

/** The fleet target: shim RSS with every edge and watch connected, and the slowest policy propagation of the run. */
function fleetRow (f: FleetFigures): string {
  const p99 = Math.max(f.churn.propagation.p99, f.roleChange.propagation.p99, f.clusterRoleChange.propagation.p99)
  const missing = f.churn.propagation.missing + f.roleChange.propagation.missing + f.clusterRoleChange.propagation.missing
  const ok = f.shimRssMiB.connected <= 600 && p99 <= 1000 && missing === 0
  return `| shim with ${f.options.nodes} edges × ${f.options.watchesPerNode} watches: RSS · policy p99 (churn, Role, ClusterRole) | ` +
    `${f.shimRssMiB.connected} MiB · ${p99} ms${missing > 0 ? ` (${missing} never arrived)` : ''} | ≤ 600 MiB · ≤ 1 000 ms | ${ok ? 'yes' : 'no'} |`
}

const kib = (bytes: number): string => (bytes / 1024).toFixed(0)

/** A markdown table of `base` against `other` (`names`), under `title`, followed by a blank line. */
function table (title: string, names: [string, string], rows: Rows, rps: boolean): string[] {
  const [b, o] = names
  return [
    ...(title === '' ? [''] : [title, '']),
    `| op | concurrency | ${b} p50 / p99 (ms) | ${o} p50 / p99 (ms) | p50 ratio | p99 ratio | ${rps ? `${b} req/s | ${o} req/s | ` : ''}throughput ratio |`,
    `|---|---|---|---|---|---|---|${rps ? '---|---|' : ''}`,
    ...rows.map(([step, base, other]) => row(step, base, other, rps)),
    '',
  ]
}

/** One table row: `base` and `other` latencies, their ratios, and the throughput ratio (`rps`: both req/s as well). */
function row (step: Step, base: Sample, other: Sample, rps: boolean): string {
  return `| ${step.label} | ${step.concurrency} | ${ms(base.p50)} / ${ms(base.p99)} | ${ms(other.p50)} / ${ms(other.p99)} | ` +
    `${(other.p50 / base.p50).toFixed(2)} | ${(other.p99 / base.p99).toFixed(2)} | ` +
    (rps ? `${base.rps.toFixed(0)} | ${other.rps.toFixed(0)} | ` : '') + `${(other.rps / base.rps).toFixed(2)} |`
}

/**
 * A namespace with MANY_CONFIGMAPS ConfigMaps (~256 B of data each) and MANY_PODS Pods bound to the
 * bench node, readable (get/list/watch) by `serviceAccount` of `home`; its name.
 */
async function manyObjects (fx: Fixtures, serviceAccount: string, home: string): Promise<string> {
  const many = await fx.namespace('bench-many')
  const role = 'bench-reader'
  await fx.role(many, role, [{ apiGroups: [''], resources: ['configmaps', 'pods'], verbs: ['get', 'list', 'watch'] }])
  await fx.roleBinding(many, role, { kind: 'Role', name: role }, [{ kind: 'ServiceAccount', name: serviceAccount, namespace: home }])
  const inBatches = async (n: number, create: (i: number) => Promise<unknown>): Promise<void> => {
    for (let i = 0; i < n; i += 10) await Promise.all(Array.from({ length: Math.min(10, n - i) }, async (_, j) => await create(i + j)))
  }
  await inBatches(MANY_CONFIGMAPS, async (i) => await fx.configMap(many, `cm-${i}`, { payload: 'y'.repeat(256) }, { app: 'bench', shard: String(i % 10) }))
  await fx.serviceAccount(many, 'app')
  await inBatches(MANY_PODS, async (i) => await fx.pod(many, `pod-${i}`, { nodeName: NODE, serviceAccount: 'app' }))
  return many
}

/** What the encodings phase moves: its lists' sizes in JSON and protobuf, as kube-apiserver serves them. */
async function listSizes (admin: TestCluster['admin'], ns: string): Promise<string> {
  const sizes: string[] = []
  for (const resource of ['configmaps', 'pods']) {
    for (const accept of ['application/json', PROTOBUF_MEDIA_TYPE]) {
      const res = await admin.call('GET', `/api/v1/namespaces/${ns}/${resource}`, { headers: { accept } })
      sizes.push(`${resource} ${accept === PROTOBUF_MEDIA_TYPE ? 'protobuf' : 'JSON'} ${(res.raw.length / 1024).toFixed(0)} KiB`)
    }
  }
  return `lists: ${sizes.join(', ')}`
}

async function waitReady (url: string, ca: string): Promise<void> {
  const probe = new Pool(url, { connect: { ca } })
  await waitFor(`${url}/readyz`, async () => {
    const res = await probe.request({ path: '/readyz', method: 'GET' })
    await res.body.text()
    return res.statusCode === 200 ? true : undefined
  }, { timeoutMs: 30_000 })
  await probe.close()
}

/** Whether a GET is answered (200) from the edge cache, i.e. with the offline Warning. */
async function fetchWarning (url: string, path: string, token: string, ca: string): Promise<boolean> {
  const pool = new Pool(url, { connect: { ca } })
  try {
    const res = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } })
    await res.body.text()
    return res.statusCode === 200 && String(res.headers.warning ?? '').includes('served from edge cache')
  } finally {
    await pool.close()
  }
}

async function memory (pid: number): Promise<{ rss: number, peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  const kib = (key: string): number => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0)
  return { rss: Math.round(kib('VmRSS') / 1024), peak: Math.round(kib('VmHWM') / 1024) }
}

/** Where an edge's RSS is (MiB), from its own /metrics (prom-client's process and nodejs gauges): V8's heap, memory V8 tracks outside it, and the rest. */
async function memoryParts (edge: Target): Promise<{ heapUsed: number, heapTotal: number, external: number, other: number }> {
  const pool = new Pool(edge.origin, { connect: { ca: edge.ca } })
  try {
    const res = await pool.request({ path: '/metrics', method: 'GET' })
    const text = await res.body.text()
    if (res.statusCode !== 200) throw new Error(`GET /metrics on the edge answered ${res.statusCode}: ${text.slice(0, 200)}`)
    const mib = (name: string): number => Number(new RegExp(`^${name}(?:\\{[^}]*\\})? (\\S+)`, 'm').exec(text)?.[1] ?? NaN) / 2 ** 20
    const [rss, heapTotal, heapUsed, external] = ['process_resident_memory_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_heap_size_used_bytes', 'nodejs_external_memory_bytes'].map(mib)
    const round = (x: number): number => Math.round(x)
    return { heapUsed: round(heapUsed), heapTotal: round(heapTotal), external: round(external), other: round(rss - heapTotal - external) }
  } finally {
    await pool.close()
  }
}

type Parts = Awaited<ReturnType<typeof memoryParts>>
const partsLine = (label: string, p: Parts): string =>
  `${label}: JS heap ${p.heapUsed} used of ${p.heapTotal} MiB, external (Buffers and other memory V8 is told of) ${p.external} MiB, the rest of RSS (code, native TLS/HTTP/2, malloc, stacks) ${p.other} MiB`

const ms = (v: number): string => v.toFixed(2)

/** Which phase the bench is in, on stderr (the figures are printed at the end, on stdout). */
function progress (phase: string): void {
  process.stderr.write(`${new Date().toISOString().slice(11, 19)} ${phase}\n`)
}

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
