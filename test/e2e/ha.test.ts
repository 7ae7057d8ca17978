// HA without a load balancer: two cloud shims as real processes (the CLI), one edge whose
// modules.edgeHub.server lists both. A client-go and a client-node informer and a raw watch run
// through the edge while writes land on kube-apiserver. (1) kill -9 of the shim the edge is on:
// the edge moves to the other, requests keep working, the watch ends cleanly and is re-established,
// both informers converge. (2) The killed shim is back; the one now active is frozen (SIGSTOP):
// within the heartbeat timeout the edge moves back, and the same holds.
import t, { type Test } from 'tap'
import https from 'node:https'
import { once } from 'node:events'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { destination } from 'pino'
import { CoreV1Api, makeInformer, type V1ConfigMap } from '@kubernetes/client-node'
import { loadEdgeConfig } from '../../src/config/index.js'
import { runEdge } from '../../src/edge/run.js'
import { createLogger } from '../../src/obs/logger.js'
import { clientNodeConfig, LineChild, spawnClientGo } from '../cluster/clients.js'
import { configMapRules } from '../cluster/fixtures.js'
import { freePort } from '../cluster/processes.js'
import { RestClient } from '../cluster/rest.js'
import { writeCloudConfig, writeEdgeConfig } from './configs.js'
import { startCli, type CliProcess } from './process.js'
import { onJsonLines } from '../helpers/json-lines.js'
import { Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const NODE = 'edge-ha'
// Generous: the edge's heartbeat is 2 s period, 2 s timeout (test/e2e/configs.ts), backoff ≤ 1 s.
const FAILOVER_BOUND_MS = 30_000

// --- two shims, as processes, on fixed ports (a restart comes back at the same address) ---------
const ports = [await freePort(), await freePort()]
const shimFiles = await Promise.all(ports.map((port) =>
  writeCloudConfig(stack.cluster, stack.files, { address: `127.0.0.1:${port}`, healthzAddress: '127.0.0.1:0', logLevel: 'info' })))
const label = (i: number): string => `127.0.0.1:${ports[i]}`
const procs: CliProcess[] = []
const shims: CliProcess[] = []
async function startShim (i: number): Promise<CliProcess> {
  const proc = startCli(['cloud', '--config', shimFiles[i]!], { logFile: join(stack.cluster.dir, `ha-shim-${i}-${procs.length}.log`) })
  procs.push(proc)
  shims[i] = proc
  await proc.waitForLog((l) => l.msg === 'cloud shim ready', `shim ${i} ready`)
  return proc
}
// Whatever failed: thaw and end every shim this file started.
t.teardown(async () => {
  for (const p of procs) {
    p.child.kill('SIGCONT')
    await p.stop(3000)
  }
})
await startShim(0)
await startShim(1)

// --- the edge, in-process (its tunnel state is observable), configured with both shims ----------
await stack.fixtures.node(NODE)
const edgeLog = join(stack.cluster.dir, 'edge-ha.log')
const edge = await runEdge(await loadEdgeConfig(await writeEdgeConfig(stack.cluster, stack.files, NODE, { server: '127.0.0.1:0', tunnelPorts: ports })),
  createLogger({ level: 'debug', role: 'edge', destination: destination({ dest: edgeLog, sync: true }) }))
t.teardown(() => edge.close())
await waitUntil(() => edge.tunnel.state.connected, 20_000, 'the edge tunnel')
await waitUntil(() => edge.policy!.bundle !== undefined && edge.policy!.keys !== undefined, 20_000, 'the edge policy')

const ns = await stack.fixtures.namespace('ha')
const me = await stack.fixtures.podIdentity(ns, NODE, { rules: configMapRules(['get', 'list', 'watch']) })
await waitUntil(() => edge.policy!.bundle!.pods.some((p) => p.uid === me.pod.uid) &&
  edge.policy!.bundle!.rbac.roleBindings.some((b: any) => b.metadata.name === me.roleBinding), 20_000, 'the pod in the edge policy')
await waitUntil(async () => (await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`)).status === 200, 20_000, 'kube-root-ca.crt')
const edgePort = edge.listening.server!.port
const client = new RestClient(`https://127.0.0.1:${edgePort}`, stack.cluster.pki.caPem, me.token)
t.teardown(() => client.close())
const pod = await stack.podEnv(edge, me.token, ns)

// --- writes on kube-apiserver while things fail: creates, patches and deletes over 20 names -------
let writes = 0
let writeErrors = 0
const live = new Set<string>()
async function write (): Promise<void> {
  const name = `w-${writes % 20}`
  if (!live.has(name)) {
    await stack.fixtures.configMap(ns, name, { n: String(writes) })
    live.add(name)
  } else if (writes % 7 === 0) {
    await stack.admin.must('DELETE', `/api/v1/namespaces/${ns}/configmaps/${name}`)
    live.delete(name)
  } else {
    await stack.admin.must('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`,
      { body: { data: { n: String(writes) } }, contentType: 'application/merge-patch+json' })
  }
  writes++
}
for (let i = 0; i < 20; i++) await write()
/** A write every 50 ms until stopped (bounded in count and time); stop() waits for the last one. */
function startWriter (): { stop: () => Promise<number> } {
  let running = true
  const first = writes
  const loop = (async () => {
    const deadline = Date.now() + 5 * 60_000
    // eslint-disable-next-line no-unmodified-loop-condition -- `running` is cleared by the test, between awaits
    while (running && Date.now() < deadline && writes - first < 3000) {
      await write().catch(() => { writeErrors++ })
      await new Promise((resolve) => setTimeout(resolve, 50)) // pacing: a steady stream of changes, not an ordering sleep
    }
  })()
  return { stop: async () => { running = false; await loop; return writes - first } }
}

const truth = async (): Promise<string> =>
  (await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps`)).items.map((i: any) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort().join(',')

// --- client-node informer ------------------------------------------------------------------------
const kc = clientNodeConfig(pod)
const api = kc.makeApiClient(CoreV1Api)
const nodeInformer = makeInformer<V1ConfigMap>(kc, `/api/v1/namespaces/${ns}/configmaps`, () => api.listNamespacedConfigMap({ namespace: ns }))
let nodeError: unknown
nodeInformer.on('error', (err) => { nodeError = err })
await nodeInformer.start()
t.teardown(() => nodeInformer.stop())
const nodeStore = (): string => nodeInformer.list().map((o) => `${o.metadata!.name}@${o.metadata!.resourceVersion}`).sort().join(',')

// --- client-go informer (a real reflector, test/clients/go) --------------------------------------
const goInformer = new LineChild('client-go', await spawnClientGo(pod, ['informer', '--resource', 'configmaps', '--timeout', '10m']))
t.teardown(() => goInformer.stop())
const goStore = async (): Promise<string> => (await goInformer.store(10_000)).join(',')

// --- a raw watch: how it ends (complete chunked response, or cut) and what it saw -----------------
interface RawWatch { events: any[], ended: Promise<string>, lastRv: () => string | undefined, close: () => void }
function rawWatch (fromRv: string): RawWatch {
  const events: any[] = []
  let resolveEnded!: (how: string) => void
  const ended = new Promise<string>((resolve) => { resolveEnded = resolve })
  const req = https.get({
    host: '127.0.0.1', port: edgePort, ca: stack.cluster.pki.caPem,
    path: `/api/v1/namespaces/${ns}/configmaps?watch=1&resourceVersion=${fromRv}`,
    headers: { authorization: `Bearer ${me.token}`, accept: 'application/json' },
  })
  req.on('error', (err) => resolveEnded(`request error: ${err.message}`))
  req.on('response', (res) => {
    if (res.statusCode !== 200) resolveEnded(`status ${res.statusCode}`)
    onJsonLines(res, (e) => events.push(e))
    res.on('error', () => {})
    // complete: the terminating chunk arrived, i.e. the edge ended the response on purpose.
    res.once('close', () => resolveEnded(res.complete ? 'clean' : 'cut'))
  })
  return {
    events,
    ended,
    lastRv: () => events.filter((e) => e.type !== 'ERROR').at(-1)?.object?.metadata?.resourceVersion,
    close: () => req.destroy(),
  }
}

/** Both informers hold exactly the apiserver's state (names and resourceVersions); call with writes stopped. */
async function converged (t: Test, what: string): Promise<void> {
  const expected = await truth()
  const started = Date.now()
  await waitUntil(async () => nodeStore() === expected && await goStore() === expected, 60_000, `both informers to converge (${what})`)
  t.comment(`${what}: informers converged ${Date.now() - started} ms after the last write`)
  t.equal(nodeStore(), expected, `${what}: client-node store equals the apiserver list (names and resourceVersions)`)
  t.equal(await goStore(), expected, `${what}: client-go store equals the apiserver list (names and resourceVersions)`)
  t.equal(nodeError, undefined, `${what}: client-node informer reported no error`)
}

/** A watch through the edge that is known to be live: it delivered a marker written after it opened. */
let markers = 0
async function liveWatch (fromRv: string): Promise<RawWatch> {
  const watch = rawWatch(fromRv)
  const marker = `marker-${markers++}`
  await stack.fixtures.configMap(ns, marker)
  await waitUntil(() => watch.events.some((e) => e.type === 'ADDED' && e.object.metadata.name === marker), 20_000, `${marker} on the watch`)
  return watch
}

/** Waits until the writer's changes reach a watch through the edge (several events past where it stood). */
const EVENTS_FLOWING = 10
async function eventsFlow (watch: RawWatch, via: string): Promise<void> {
  const from = watch.events.length
  await waitUntil(() => watch.events.length >= from + EVENTS_FLOWING, 30_000, `${EVENTS_FLOWING} writes to reach the watch through ${via}`)
}

async function listRv (): Promise<string> {
  const list = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
  if (list.status !== 200) throw new Error(`list through the edge: ${list.status}`)
  return list.body.metadata.resourceVersion
}

/** The server of the edge's next 'connected' event (bounded by FAILOVER_BOUND_MS). */
async function nextConnection (): Promise<string> {
  const timer = setTimeout(() => edge.tunnel.emit('error', new Error(`no failover within ${FAILOVER_BOUND_MS} ms`)), FAILOVER_BOUND_MS)
  try {
    await once(edge.tunnel, 'connected')
  } finally { clearTimeout(timer) }
  const s = edge.tunnel.state
  return s.connected ? s.server : '(disconnected again)'
}

async function failoverLines (): Promise<any[]> {
  return (await readFile(edgeLog, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
    .filter((l) => l.msg === 'tunnel failing over to the next server')
}

t.test('the informers start in sync with the apiserver, through the first shim', async (t) => {
  t.match(edge.tunnel.state, { connected: true, server: label(0) }, 'the edge is on the first shim of its list')
  await converged(t, 'initial sync')
  const ready = await client.withToken(undefined).get('/readyz?verbose')
  t.match(ready.body, new RegExp(`\\[\\+\\]tunnel ok \\(connected to ${label(0).replaceAll('.', '\\.')}\\)`), '/readyz?verbose names the active shim')
})

t.test('kill -9 of the active shim: the edge fails over to the other; the watch ends cleanly and is re-established; the informers converge', async (t) => {
  const watch = await liveWatch(await listRv())
  const writer = startWriter()
  await eventsFlow(watch, 'the first shim')
  const next = nextConnection()
  const killed = Date.now()
  shims[0]!.child.kill('SIGKILL')
  const server = await next
  t.comment(`failover after kill -9: on ${server} ${Date.now() - killed} ms after the kill`)
  t.equal(server, label(1), 'the edge is on the second shim')
  t.equal(edge.tunnel.state.connected && edge.tunnel.state.server, label(1))

  t.equal(await Promise.race([watch.ended, new Promise((resolve) => setTimeout(() => resolve('still open'), FAILOVER_BOUND_MS))]), 'clean',
    'the watch on the dead shim ended with a complete response')
  const statuses = await Promise.all(Array.from({ length: 10 }, async () => {
    const r = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
    return `${r.status}${r.headers.warning === undefined ? '' : ' (warning)'}`
  }))
  t.same(statuses, Array(10).fill('200'), 'requests through the edge are answered by the cloud again')
  const rewatch = await liveWatch(watch.lastRv()!)
  t.teardown(() => rewatch.close())
  t.pass(`the watch was re-established from resourceVersion ${watch.lastRv()} (${watch.events.length} events before the kill)`)
  await eventsFlow(rewatch, 'the second shim')

  const n = await writer.stop()
  t.comment(`${n} writes during this test, ${writeErrors} failed on the apiserver`)
  await converged(t, 'after kill -9')
  t.match((await failoverLines())[0], { level: 'warn', from: label(0), to: label(1), servers: [label(0), label(1)], reason: /\S/ },
    'the failover was logged at warn with the reason and both servers')
  t.equal(shims[0]!.running, false)
})

t.test('the killed shim is back; the active one freezes (SIGSTOP): within the heartbeat timeout the edge moves back; watches end cleanly; the informers converge', async (t) => {
  await startShim(0)
  t.equal(edge.tunnel.state.connected && edge.tunnel.state.server, label(1), 'the edge stays on the shim that works (no fail-back)')
  const watch = await liveWatch(await listRv())
  const writer = startWriter()
  await eventsFlow(watch, 'the second shim')
  const disconnected = once(edge.tunnel, 'disconnected')
  const next = nextConnection()
  const frozen = Date.now()
  shims[1]!.child.kill('SIGSTOP')
  t.teardown(() => { shims[1]!.child.kill('SIGCONT') })
  const [reason] = await disconnected
  t.match(reason, /heartbeat timeout/, 'the keepalive declared the frozen shim dead')
  const server = await next
  t.comment(`failover after SIGSTOP: on ${server} ${Date.now() - frozen} ms after the freeze (heartbeat period 2 s, timeout 2 s)`)
  t.equal(server, label(0), 'the edge is back on the first shim')

  t.equal(await Promise.race([watch.ended, new Promise((resolve) => setTimeout(() => resolve('still open'), FAILOVER_BOUND_MS))]), 'clean',
    'the watch held on the frozen shim ended with a complete response')
  const r = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
  t.equal(r.status, 200)
  t.equal(r.headers.warning, undefined, 'answered by the cloud, not the cache')
  const rewatch = await liveWatch(watch.lastRv()!)
  t.teardown(() => rewatch.close())
  await eventsFlow(rewatch, 'the first shim again')

  const n = await writer.stop()
  t.comment(`${n} writes during this test, ${writeErrors} failed on the apiserver in total`)
  await converged(t, 'after SIGSTOP')
  t.match((await failoverLines()).at(-1), { level: 'warn', from: label(1), to: label(0), reason: /heartbeat timeout/ })

  shims[1]!.child.kill('SIGCONT')
  t.comment(`client-go stderr tail: ${goInformer.stderrTail()}`)
})
