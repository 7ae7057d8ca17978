// The shim holds the fleet's watches (issue 16 item 4). Before: every relayed watch held one of the
// shim's 128 HTTP/1.1 connections to kube-apiserver, so with 2 000 watches through one edge 123 got
// headers, 1 877 hung, and every short request and TokenReview queued behind them. Now watches are
// HTTP/2 streams to kube-apiserver and short requests have pools of their own; the shim's limits
// answer 429 with Retry-After instead of queueing.
//
// The scale test runs the shim and two edges as real CLI processes (their RSS is their own), with
// one raw HTTP/1.1 keep-alive TLS connection per watch from this process, as pods would.
import t from 'tap'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import tls from 'node:tls'
import { destination } from 'pino'
import { runCloud } from '../../src/cloud/run.js'
import { loadCloudConfig } from '../../src/config/index.js'
import { createLogger } from '../../src/obs/logger.js'
import { configMapPath, configMapRules } from '../cluster/fixtures.js'
import { RestClient } from '../cluster/rest.js'
import { writeCloudConfig, writeEdgeConfig } from './configs.js'
import { startCli, type CliProcess } from './process.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const WATCHES_A = Number(process.env.EMS_SCALE_WATCHES_A ?? 2000)
const WATCHES_B = Number(process.env.EMS_SCALE_WATCHES_B ?? 3000)
/** Watches opened at once (TLS handshakes are the cost on a small machine). */
const OPEN_PARALLEL = 100
/** Generous: the point is "all of them", not how fast (printed). */
const EVENT_BOUND_MS = 60_000
const HEADERS_BOUND_MS = 60_000

const stack = await Stack.start()
t.teardown(() => stack.stop())

/** A cloud shim config with extra keys under kubeAPIConfig. */
async function cloudConfigWith (kubeAPIConfig: string[], logLevel = 'info'): Promise<string> {
  const file = await writeCloudConfig(stack.cluster, stack.files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', logLevel })
  const text = await readFile(file, 'utf8')
  await writeFile(file, text.replace(/^(kubeAPIConfig:\n {2}kubeConfig: .*\n)/m, (head) => head + kubeAPIConfig.map((l) => `  ${l}\n`).join('')))
  return file
}

interface Watch {
  socket: tls.TLSSocket
  /** 0 when the connection ended (or the bound passed) before a status line. */
  status: Promise<number>
  /** Resolves with the time the marker was first seen in the body. */
  saw: (marker: string) => Promise<number>
  text: () => string
}

/** One watch on its own HTTP/1.1 keep-alive TLS connection; only the last few KiB of the body are kept. */
function openWatch (port: number, path: string, token: string): Watch {
  const socket = tls.connect({ host: '127.0.0.1', port, ca: stack.cluster.pki.caPem })
  socket.setNoDelay(true)
  socket.on('error', () => {})
  let head = ''
  let tail = ''
  // The body is chunked (HTTP/1.1): a chunk boundary may fall inside the marker, so the framing
  // ("\r\n<hex size>\r\n"; JSON never holds a raw CR LF) is removed before looking.
  const body = (): string => tail.replace(/\r\n[0-9a-fA-F]+\r\n/g, '')
  let settle: (code: number) => void = () => {}
  const status = new Promise<number>((resolve) => { settle = resolve })
  const timer = setTimeout(() => settle(0), HEADERS_BOUND_MS)
  const waiters = new Map<string, Array<(at: number) => void>>()
  socket.once('secureConnect', () => {
    socket.write(`GET ${path} HTTP/1.1\r\nHost: kubernetes.default.svc\r\nAuthorization: Bearer ${token}\r\nAccept: application/json\r\nConnection: keep-alive\r\n\r\n`)
  })
  socket.setEncoding('utf8').on('data', (chunk: string) => {
    if (head !== undefined && !head.includes('\r\n\r\n')) {
      head += chunk
      const end = head.indexOf('\r\n\r\n')
      if (end < 0) return
      clearTimeout(timer)
      settle(Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0))
      chunk = head.slice(end + 4)
    }
    tail = (tail + chunk).slice(-8192)
    if (waiters.size === 0) return
    const text = body()
    for (const [marker, list] of waiters) {
      if (!text.includes(marker)) continue
      const at = Date.now()
      for (const w of list) w(at)
      waiters.delete(marker)
    }
  })
  socket.once('close', () => { clearTimeout(timer); settle(0) })
  return {
    socket,
    status,
    saw: (marker) => new Promise((resolve) => {
      if (body().includes(marker)) { resolve(Date.now()); return }
      waiters.set(marker, [...(waiters.get(marker) ?? []), resolve])
    }),
    text: body,
  }
}

async function openWatches (n: number, port: number, path: string, token: string): Promise<{ watches: Watch[], statuses: number[], ms: number }> {
  const started = Date.now()
  const watches: Watch[] = []
  const statuses: number[] = []
  for (let i = 0; i < n; i += OPEN_PARALLEL) {
    const batch = Array.from({ length: Math.min(OPEN_PARALLEL, n - i) }, () => openWatch(port, path, token))
    watches.push(...batch)
    statuses.push(...await Promise.all(batch.map((w) => w.status)))
  }
  return { watches, statuses, ms: Date.now() - started }
}

function histogram (codes: number[]): Record<string, number> {
  const out: Record<string, number> = {}
  for (const c of codes) out[c] = (out[c] ?? 0) + 1
  return out
}

async function rssBytes (pid: number): Promise<number> {
  const m = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'))
  return Number(m?.[1] ?? 0) * 1024
}

async function timed<T> (fn: () => Promise<T>): Promise<{ value: T, ms: number }> {
  const started = Date.now()
  const value = await fn()
  return { value, ms: Date.now() - started }
}

t.test('the shim\'s limits answer 429 with Retry-After, never a hang, and slots come back', async (t) => {
  const file = await cloudConfigWith(['maxLongRunningRequests: 3', 'maxInflightRequests: 2'], 'debug')
  const shim = await runCloud(await loadCloudConfig(file),
    createLogger({ level: 'debug', role: 'cloud', destination: destination({ dest: join(stack.cluster.dir, 'cloud-limits.log'), sync: false }) }))
  t.teardown(() => shim.close())
  const edge = await stack.startEdge('limits', { tunnelPort: shim.tunnelPort })
  const { ns, token } = await stack.podWith(edge, 'limits', configMapRules(['get', 'list', 'watch', 'create']))
  const port = edge.listening.server!.port
  const client = new RestClient(`https://127.0.0.1:${port}`, stack.cluster.pki.caPem, token)
  t.teardown(() => client.close())

  const path = `${configMapPath(ns)}?watch=1`
  const held = [openWatch(port, path, token), openWatch(port, path, token), openWatch(port, path, token)]
  t.teardown(() => { for (const w of held) w.socket.destroy() })
  t.same(await Promise.all(held.map((w) => w.status)), [200, 200, 200], 'three watches fill the shim\'s long-running limit')

  const refused = await client.get(path)
  t.equal(refused.status, 429, 'the fourth watch is refused at once')
  t.equal(refused.headers['retry-after'], '1', 'with Retry-After')
  t.equal(refused.body.kind, 'Status', 'a Status')
  t.equal(refused.body.reason, 'TooManyRequests', 'reason TooManyRequests')
  t.equal(refused.headers['x-ems-error'], undefined, 'no tunnel marker reaches the pod')
  t.notMatch(String(refused.headers.warning ?? ''), /edge cache/, 'not answered from the edge cache')
  t.equal((await client.get(configMapPath(ns, 'kube-root-ca.crt'))).status, 200, 'short requests are not counted against watches')

  // Two creates whose bodies never finish hold both short-request slots (upstream, the shim waits
  // for the rest of the body); the next short request is refused at once, watches are not affected.
  const partial = [0, 1].map(() => {
    const socket = tls.connect({ host: '127.0.0.1', port, ca: stack.cluster.pki.caPem })
    socket.on('error', () => {})
    socket.once('secureConnect', () => socket.write(`POST ${configMapPath(ns)} HTTP/1.1\r\nHost: kubernetes.default.svc\r\n` +
      `Authorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"apiVersion":"v1",`))
    return socket
  })
  t.teardown(() => { for (const s of partial) s.destroy() })
  // Waited for on the shim's own gauge, not by polling with a GET: a probe in flight holds a slot
  // itself, and a create arriving meanwhile was refused 429 — leaving one slot free for good.
  const shortInFlight = async (): Promise<number> => metricSum(
    await fetch(`http://127.0.0.1:${shim.healthPort}/metrics`).then((r) => r.text()), 'edge_metaserver_cloud_upstream_requests_in_flight', 'kind="short"')
  await waitUntil(async () => await shortInFlight() === 2, 20_000, 'the two unfinished creates to hold both short-request slots')
  const busy = await client.get(configMapPath(ns, 'kube-root-ca.crt'))
  t.equal(busy.status, 429, 'a short request beyond maxInflightRequests is refused at once')
  t.equal(busy.headers['retry-after'], '1', 'with Retry-After')
  t.equal(busy.body.reason, 'TooManyRequests', 'reason TooManyRequests')
  for (const s of partial) s.destroy()
  await waitUntil(async () => (await client.get(configMapPath(ns, 'kube-root-ca.crt'))).status === 200, 20_000, 'the abandoned creates to return their slots')
  t.pass('abandoned requests returned their short-request slots')

  held.pop()!.socket.destroy()
  await waitUntil(async () => {
    const w = openWatch(port, path, token)
    const code = await w.status
    w.socket.destroy()
    return code === 200
  }, 20_000, 'a closed watch to return its slot')
  t.pass('a closed watch returned its slot')
})

t.test(`${WATCHES_A} watches through one edge and ${WATCHES_A + WATCHES_B} through one shim`, async (t) => {
  const limit = Number(/^Max open files\s+(\d+|unlimited)/m.exec(await readFile('/proc/self/limits', 'utf8'))?.[1]?.replace('unlimited', 'Infinity') ?? 0)
  const needed = WATCHES_A + WATCHES_B + 1000
  t.comment(`open-file limit ${limit} (ulimit -n), needed ~${needed}: one socket per watch here, one per watch in each edge`)
  if (!t.ok(limit >= needed, 'the open-file limit allows one socket per watch (raise ulimit -n otherwise)')) return

  const shimFile = await cloudConfigWith([])
  const shim = startCli(['cloud', '--config', shimFile], { logFile: join(stack.cluster.dir, 'cloud-scale.log') })
  t.teardown(() => shim.stop())
  const ready = await shim.waitForLog((l) => l.msg === 'cloud shim ready', 'cloud shim ready', 60_000)
  const edges: Array<{ name: string, proc: CliProcess, port: number }> = []
  for (const name of ['scale-a', 'scale-b']) {
    await stack.fixtures.node(name)
    const file = await writeEdgeConfig(stack.cluster, stack.files, name, { server: '127.0.0.1:0', tunnelPort: ready.tunnelPort, logLevel: 'info' })
    const proc = startCli(['edge', '--config', file], { logFile: join(stack.cluster.dir, `edge-${name}.log`) })
    t.teardown(() => proc.stop())
    const listening = await proc.waitForLog((l) => l.msg === 'listening' && l.listener === 'server', 'listening (server)', 60_000)
    edges.push({ name, proc, port: listening.port })
  }
  const [a, b] = edges as [typeof edges[0], typeof edges[0]]

  const ns = await stack.fixtures.namespace('scale')
  const rules = configMapRules(['get', 'list', 'watch'])
  const podA = await stack.fixtures.podIdentity(ns, a.name, { rules })
  const podB = await stack.fixtures.podIdentity(ns, b.name, { rules })
  const target = await stack.fixtures.configMap(ns, 'target', { v: '0' })
  const clientA = new RestClient(`https://127.0.0.1:${a.port}`, stack.cluster.pki.caPem, podA.token)
  const clientB = new RestClient(`https://127.0.0.1:${b.port}`, stack.cluster.pki.caPem, podB.token)
  t.teardown(() => Promise.all([clientA.close(), clientB.close()]))
  // The edges serve a pod once its identity reached their policy bundle.
  for (const client of [clientA, clientB]) {
    await waitUntil(async () => (await client.get(configMapPath(ns, 'target'))).status === 200, 30_000, 'the edges to serve the pods')
  }

  const memory = async (): Promise<{ rss: Record<string, number>, heap: Record<string, number> }> => {
    const shimMetrics = await fetch(`http://127.0.0.1:${ready.healthPort}/metrics`).then((r) => r.text())
    const edgeMetrics = await Promise.all([a, b].map(async (e) => (await new RestClient(`https://127.0.0.1:${e.port}`, stack.cluster.pki.caPem).get('/metrics')).body as string))
    const heap = (text: string): number => metricSum(text, 'nodejs_heap_size_used_bytes')
    return {
      rss: { shim: await rssBytes(shim.pid), a: await rssBytes(a.proc.pid), b: await rssBytes(b.proc.pid) },
      heap: { shim: heap(shimMetrics), a: heap(edgeMetrics[0]!), b: heap(edgeMetrics[1]!) },
    }
  }
  const kib = (bytes: number, n: number): string => `${(bytes / n / 1024).toFixed(1)} KiB`
  const path = `${configMapPath(ns)}?watch=1&fieldSelector=metadata.name%3Dtarget&resourceVersion=${target.metadata.resourceVersion}`
  const all: Watch[] = []
  t.teardown(() => { for (const w of all) w.socket.destroy() })

  // Pods whose tokens the shim has never seen, created while kube-apiserver is idle (under 5 000
  // watches on a small machine its writes can take long); each is used once, below, so each of
  // those requests needs a TokenReview at the shim while the watches are open.
  const fresh = [await stack.fixtures.podIdentity(ns, a.name, { rules }), await stack.fixtures.podIdentity(ns, a.name, { rules })]

  /** Short requests while the watches are open: plain GETs on both edges and a fresh token (a TokenReview at the shim). */
  const shortRequests = async (label: string): Promise<void> => {
    const gets = await timed(() => Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? clientA : clientB).get(configMapPath(ns, 'target')))))
    t.same(histogram(gets.value.map((r) => r.status)), { 200: 20 }, `${label}: 20 GETs through both edges are served`)
    const reviewed = await timed(async () => {
      const client = clientA.withToken(fresh.shift()!.token)
      let res = await client.get(configMapPath(ns, 'target'))
      // The edge serves a new pod once its identity is in the edge's policy bundle (pushed by the shim).
      const deadline = Date.now() + 30_000
      while (res.status === 403 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100))
        res = await client.get(configMapPath(ns, 'target'))
      }
      return res
    })
    t.equal(reviewed.value.status, 200, `${label}: a request with a fresh pod token (TokenReview at the shim) is served`)
    t.comment(`${label}: 20 GETs took ${gets.ms} ms in all; the fresh-token request ${reviewed.ms} ms`)
  }

  const eventReachesAll = async (label: string, watches: Watch[]): Promise<void> => {
    const marker = `go-${Date.now()}`
    const seen = Promise.all(watches.map((w) => w.saw(marker)))
    const started = Date.now()
    await stack.admin.must('PATCH', configMapPath(ns, 'target'), { body: { data: { v: marker } }, contentType: 'application/merge-patch+json' })
    const result = await Promise.race([seen, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), EVENT_BOUND_MS))])
    if (result === undefined) {
      const missing = watches.filter((w) => !w.text().includes(marker))
      t.fail(`${label}: ${missing.length} of ${watches.length} watches did not receive the event within ${EVENT_BOUND_MS} ms`)
      for (const w of missing.slice(0, 5)) {
        t.comment(`missing #${watches.indexOf(w)}: socket ${w.socket.destroyed ? 'closed' : 'open'}, read ${w.socket.bytesRead} bytes, body tail ${JSON.stringify(w.text().slice(-600))}`)
      }
      return
    }
    t.comment(`${label}: the update reached all ${watches.length} watches; the last got it ${Math.max(...result) - started} ms after the PATCH was sent`)
    t.pass(`${label}: the event reached every watch`)
  }

  const before = await memory()
  t.comment(`before: RSS shim ${(before.rss.shim! / 2 ** 20).toFixed(0)} MiB, edge A ${(before.rss.a! / 2 ** 20).toFixed(0)} MiB, edge B ${(before.rss.b! / 2 ** 20).toFixed(0)} MiB`)

  const phaseA = await openWatches(WATCHES_A, a.port, path, podA.token)
  all.push(...phaseA.watches)
  t.comment(`${WATCHES_A} watches through edge A opened in ${phaseA.ms} ms: ${JSON.stringify(histogram(phaseA.statuses))}`)
  t.same(histogram(phaseA.statuses), { 200: WATCHES_A }, `all ${WATCHES_A} watches through one edge got headers (200)`)
  await shortRequests(`${WATCHES_A} watches open`)
  await eventReachesAll(`edge A, ${WATCHES_A} watches`, phaseA.watches)
  const afterA = await memory()
  t.comment(`per watch (edge A, ${WATCHES_A}): edge RSS ${kib(afterA.rss.a! - before.rss.a!, WATCHES_A)}, heap ${kib(afterA.heap.a! - before.heap.a!, WATCHES_A)}; ` +
    `shim RSS ${kib(afterA.rss.shim! - before.rss.shim!, WATCHES_A)}, heap ${kib(afterA.heap.shim! - before.heap.shim!, WATCHES_A)}`)

  const phaseB = await openWatches(WATCHES_B, b.port, path, podB.token)
  all.push(...phaseB.watches)
  t.comment(`${WATCHES_B} watches through edge B opened in ${phaseB.ms} ms: ${JSON.stringify(histogram(phaseB.statuses))}`)
  t.same(histogram(phaseB.statuses), { 200: WATCHES_B }, `all ${WATCHES_B} watches through the second edge got headers (200)`)
  await shortRequests(`${WATCHES_A + WATCHES_B} watches open`)
  await eventReachesAll(`both edges, ${WATCHES_A + WATCHES_B} watches`, all)
  const afterB = await memory()
  const total = WATCHES_A + WATCHES_B
  t.comment(`per watch (edge B, ${WATCHES_B}): edge RSS ${kib(afterB.rss.b! - before.rss.b!, WATCHES_B)}, heap ${kib(afterB.heap.b! - before.heap.b!, WATCHES_B)}`)
  t.comment(`per watch (shim, ${total}): RSS ${kib(afterB.rss.shim! - before.rss.shim!, total)}, heap ${kib(afterB.heap.shim! - before.heap.shim!, total)}; ` +
    `RSS now: shim ${(afterB.rss.shim! / 2 ** 20).toFixed(0)} MiB, edge A ${(afterB.rss.a! / 2 ** 20).toFixed(0)} MiB, edge B ${(afterB.rss.b! / 2 ** 20).toFixed(0)} MiB`)
  const inflight = await fetch(`http://127.0.0.1:${ready.healthPort}/metrics`).then((r) => r.text())
  t.equal(metricSum(inflight, 'edge_metaserver_cloud_upstream_requests_in_flight', 'longRunning'), total, 'the shim counts every relayed watch as long-running')

  for (const w of all) w.socket.destroy()
  await waitUntil(async () => metricSum(await fetch(`http://127.0.0.1:${ready.healthPort}/metrics`).then((r) => r.text()),
    'edge_metaserver_cloud_upstream_requests_in_flight', 'longRunning') === 0, 60_000, 'the shim to release every watch\'s slot')
  t.pass('every slot returned once the clients went away')
})
