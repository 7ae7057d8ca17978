// npm run bench — GET and LIST latency (p50/p99) and throughput at concurrency 1 and 32, through
// edge → tunnel → shim versus straight to kube-apiserver, in the same run on the same cluster,
// printed as ratios; plus the edge's and the shim's memory. Then what the edge cache costs online
// (the same load through a second edge with the cache off) and what it gives offline (the shim is
// killed; the edge answers from SQLite, compared with the apiserver answering directly). All roles
// run as real CLI processes of the built dist/ (the npm script builds it), started the way the
// tests start them (test/helpers/product.ts), so their RSS is their own. Not a test: nothing here
// asserts. EMS_BENCH_SCALE (default 1) scales every request count, e.g. 0.1 for a quick run.
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Pool } from 'undici'
import { TestCluster } from '../test/cluster/cluster.js'
import { Fixtures } from '../test/cluster/fixtures.js'
import { freePort, waitFor } from '../test/cluster/processes.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig } from '../test/e2e/configs.js'
import { startCloudProcess, startEdgeProcess, type ProcessCloud, type ProcessEdge } from '../test/helpers/product.js'
import { tunnelRoundTrip } from './tunnel-roundtrip.js'

const NODE = 'bench-node'
const NODE_NO_CACHE = 'bench-node-no-cache'
const LIST_SIZE = 50
const SCALE = Number(process.env.EMS_BENCH_SCALE ?? 1)
const count = (n: number): number => Math.max(10, Math.round(n * SCALE))

interface Sample { p50: number, p99: number, rps: number }

async function main (): Promise<void> {
  if (!(SCALE > 0)) throw new Error(`EMS_BENCH_SCALE must be a positive number, not ${process.env.EMS_BENCH_SCALE}`)
  const cluster = await TestCluster.start()
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
    const rules = [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'create'] }]
    const me = await fx.podIdentity(ns, NODE, { rules })
    const plainMe = await fx.podIdentity(ns, NODE_NO_CACHE, { rules })
    for (let i = 0; i < LIST_SIZE; i++) await fx.configMap(ns, `cm-${i}`, { payload: 'x'.repeat(1024) })

    const log = (name: string): string => join(cluster.dir, `bench-${name}.log`)
    const cloud = await startCloudProcess({ configFile: cloudFile, logFile: log('cloud'), cli: 'dist' })
    roles.push(cloud)
    const edge = await startEdgeProcess({ configFile: edgeFile, logFile: log('edge'), cli: 'dist' })
    roles.push(edge)
    const plainEdge = await startEdgeProcess({ configFile: plainEdgeFile, logFile: log('edge-no-cache'), cli: 'dist' })
    roles.push(plainEdge)
    process.stdout.write(`roles started (dist/, logs in ${cluster.dir}/bench-*.log)\n`)
    const edgeUrl = `https://127.0.0.1:${edge.port}`
    const plainEdgeUrl = `https://127.0.0.1:${plainEdge.port}`
    for (const url of [edgeUrl, plainEdgeUrl]) await waitReady(url, cluster.pki.caPem)

    const targets = { direct: cluster.url, edge: edgeUrl }
    const ops = { GET: `/api/v1/namespaces/${ns}/configmaps/cm-0`, LIST: `/api/v1/namespaces/${ns}/configmaps` }
    const plan: Array<[keyof typeof ops, number, number]> = [['GET', 1, count(600)], ['GET', 32, count(4000)], ['LIST', 1, count(300)], ['LIST', 32, count(1200)]]
    const rows: string[] = []
    for (const [op, concurrency, count] of plan) {
      const result: Record<string, Sample> = {}
      // Alternate which target goes first so warm-up and drift favour neither.
      const order = ['direct', 'edge'] as const
      for (const target of concurrency === 1 ? order : [...order].reverse()) {
        result[target] = await load(targets[target], ops[op], me.token, cluster.pki.caPem, concurrency, count)
      }
      const d = result.direct!
      const e = result.edge!
      rows.push(`| ${op} | ${concurrency} | ${ms(d.p50)} / ${ms(d.p99)} | ${ms(e.p50)} / ${ms(e.p99)} | ` +
        `${(e.p50 / d.p50).toFixed(2)} | ${(e.p99 / d.p99).toFixed(2)} | ${d.rps.toFixed(0)} | ${e.rps.toFixed(0)} | ${(e.rps / d.rps).toFixed(2)} |`)
    }
    // Online, the cache tees every answer: the same load through an edge without it.
    const teeRows: string[] = []
    for (const [op, concurrency, count] of plan) {
      const withCache = await load(edgeUrl, ops[op], me.token, cluster.pki.caPem, concurrency, count)
      const without = await load(plainEdgeUrl, ops[op], plainMe.token, cluster.pki.caPem, concurrency, count)
      teeRows.push(`| ${op} | ${concurrency} | ${ms(without.p50)} / ${ms(without.p99)} | ${ms(withCache.p50)} / ${ms(withCache.p99)} | ` +
        `${(withCache.p50 / without.p50).toFixed(2)} | ${(withCache.p99 / without.p99).toFixed(2)} | ${(withCache.rps / without.rps).toFixed(2)} |`)
    }
    const [edgeMem, cloudMem] = [await memory(edge.pid), await memory(cloud.pid)]

    // Offline: the cloud shim dies; the edge answers from its cache.
    await cloud.proc.signal('SIGKILL')
    await waitFor('the edge to answer from its cache', async () => {
      const res = await fetchWarning(edgeUrl, ops.GET, me.token, cluster.pki.caPem)
      return res ? true : undefined
    }, { timeoutMs: 30_000 })
    const offlineRows: string[] = []
    for (const [op, concurrency, count] of plan) {
      const direct = await load(cluster.url, ops[op], me.token, cluster.pki.caPem, concurrency, count)
      const cached = await load(edgeUrl, ops[op], me.token, cluster.pki.caPem, concurrency, count)
      offlineRows.push(`| ${op} | ${concurrency} | ${ms(direct.p50)} / ${ms(direct.p99)} | ${ms(cached.p50)} / ${ms(cached.p99)} | ` +
        `${(cached.p50 / direct.p50).toFixed(2)} | ${(cached.p99 / direct.p99).toFixed(2)} | ${(cached.rps / direct.rps).toFixed(2)} |`)
    }
    const offlineWrite = await load(edgeUrl, ops.LIST, me.token, cluster.pki.caPem, 1, count(300),
      { body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { generateName: 'w-' } }), expect: 503 })
    const offlineMem = await memory(edge.pid)
    const tunnel = await tunnelRoundTrip(count(3000))
    process.stdout.write([
      '',
      `edge-metaserver bench — ${new Date().toISOString()}, node ${process.version}, ${LIST_SIZE}-item LIST (~${LIST_SIZE} KiB)` +
        (SCALE === 1 ? '' : `, request counts scaled by ${SCALE}`),
      '',
      '| op | concurrency | direct p50 / p99 (ms) | via edge p50 / p99 (ms) | p50 ratio | p99 ratio | direct req/s | edge req/s | throughput ratio |',
      '|---|---|---|---|---|---|---|---|---|',
      ...rows,
      '',
      `edge RSS ${edgeMem.rss} MiB (peak ${edgeMem.peak} MiB); cloud shim RSS ${cloudMem.rss} MiB (peak ${cloudMem.peak} MiB)`,
      `tunnel round trip alone (edge TunnelClient ↔ cloud TunnelServer in one process, 1 KiB answer): p50 ${ms(tunnel.p50)} ms, p99 ${ms(tunnel.p99)} ms`,
      '',
      'Online cost of the cache tee (edge with cache vs edge without, same run):',
      '',
      '| op | concurrency | cache off p50 / p99 (ms) | cache on p50 / p99 (ms) | p50 ratio | p99 ratio | throughput ratio |',
      '|---|---|---|---|---|---|---|',
      ...teeRows,
      '',
      'Offline (cloud shim killed): edge answering from its cache vs kube-apiserver answering directly:',
      '',
      '| op | concurrency | direct p50 / p99 (ms) | edge cache p50 / p99 (ms) | p50 ratio | p99 ratio | throughput ratio |',
      '|---|---|---|---|---|---|---|',
      ...offlineRows,
      '',
      `offline write (POST, answered 503 + Retry-After), concurrency 1: p50 ${ms(offlineWrite.p50)} ms, p99 ${ms(offlineWrite.p99)} ms`,
      `edge RSS after the offline runs ${offlineMem.rss} MiB (peak ${offlineMem.peak} MiB)`,
      '',
    ].join('\n'))
  } finally {
    for (const role of roles) await role.stop()
    await cluster.stop()
  }
}

/** `count` requests (GETs unless `write`) with `concurrency` keep-alive connections; latency percentiles and req/s. */
async function load (origin: string, path: string, token: string, ca: string, concurrency: number, count: number,
  write?: { body: string, expect: number }): Promise<Sample> {
  const pool = new Pool(origin, { connections: concurrency, connect: { ca } })
  const headers = { authorization: `Bearer ${token}`, accept: 'application/json', ...(write === undefined ? {} : { 'content-type': 'application/json' }) }
  const one = async (): Promise<number> => {
    const started = process.hrtime.bigint()
    const res = await pool.request({ path, method: write === undefined ? 'GET' : 'POST', headers, ...(write === undefined ? {} : { body: write.body }) })
    await res.body.arrayBuffer()
    if (res.statusCode !== (write?.expect ?? 200)) throw new Error(`${origin}${path}: HTTP ${res.statusCode}`)
    return Number(process.hrtime.bigint() - started) / 1e6
  }
  const run = async (n: number): Promise<number[]> => {
    const latencies: number[] = []
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < n) latencies.push(await one())
    }))
    return latencies
  }
  await run(Math.max(50, concurrency * 4)) // warm-up: connections, TLS sessions, token caches
  const started = process.hrtime.bigint()
  const latencies = (await run(count)).sort((a, b) => a - b)
  const seconds = Number(process.hrtime.bigint() - started) / 1e9
  await pool.close()
  const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
  return { p50: pick(0.5), p99: pick(0.99), rps: latencies.length / seconds }
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

const ms = (v: number): string => v.toFixed(2)

main().catch((err: Error) => {
  process.stderr.write(`bench failed: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
