// Issue 16, items 2 and 3: no pod request — any size, any timing, any disconnect — can crash,
// starve or blind the edge. The edge runs as a real process (the CLI), so its RSS and liveness are
// its own; so does the cloud shim, on the real test bed (kube-apiserver, etcd). Three phases, each
// followed by the same checks:
//   (a) a body larger than the tunnel's 1 MiB stream window, answered by kube-apiserver before it
//       is read (a PUT on a collection: 405), the pod disconnecting right after the answer;
//   (b) 10 000 seeded random malformed requests (raw TLS garbage, bad HTTP/1.1 framing, slowloris,
//       half-open peers, random methods/paths/bodies/disconnect points) — FUZZ_SEED=<n> replays;
//   (c) 1 500 pipelined GETs on connections dropped right after sending.
// After each phase: the edge process is alive, its RSS (sampled every 100 ms during the phase)
// stayed under RSS_BOUND_MIB, its in-flight gauge returns to zero, and a normal pod client (a
// token GET through the edge) was served during the phase and is served after it.
//
// Seeds: CI plays CI_SEED (a fixed population, printed first); FUZZ_SEED=<n> replays a run,
// FUZZ_SEED=random explores a new one, FUZZ_CASES=<n> changes the count of phase (b), and
// FUZZ_CASE=<i>[,<j>…] replays single cases of the run's seed. `npm run fuzz` is the longer soak
// (a random seed and more cases unless set). Every wait is bounded: a case that outlives its budget,
// a round or a phase that does not end, fails with what was pending, never hangs the file.
import t, { type Test } from 'tap'
import https from 'node:https'
import net from 'node:net'
import tls from 'node:tls'
import { randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { configMapRules, Fixtures } from '../cluster/fixtures.js'
import { TestCluster } from '../cluster/cluster.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig } from './configs.js'
import { cut, fuzzCase, playCase, refusedResets, runCases, tlsOverTcp, withDeadline, type FuzzTarget } from './fuzz-cases.js'
import { runCommand, startCli, type CliProcess } from './process.js'
import { metricSum, waitUntil } from './stack.js'

// The edge's (and the shim's) RSS must stay under this for the whole file (the README's bound).
// Measured on this machine (2 cores, Node 20, `node --import tsx`): ~105–140 MiB idle, peaks of
// 199–278 MiB (edge) and 173–208 MiB (shim) over 7 runs; 512 MiB leaves a clear margin. The bug
// of item 2 grows it by ~1.5 GiB/s: the sampler kills the edge (SIGKILL) — and the shim likewise —
// as soon as it passes KILL_AT_MIB, so a regression fails fast instead of taking the shared
// machine down.
const RSS_BOUND_MIB = 512
const KILL_AT_MIB = 1024
const FUZZ_CASES = Number(process.env.FUZZ_CASES ?? 10_000)
// FUZZ_CASE=<i>[,<j>…] (with the run's FUZZ_SEED) replays those cases, one at a time, in order.
const ONLY_CASES = process.env.FUZZ_CASE?.split(',').map(Number)
const FUZZ_WORKERS = 32
const PIPELINED_REQUESTS = 1500
const PIPELINE_DEPTH = 15
const CI_SEED = 20261202
const requestedSeed = process.env.FUZZ_SEED ?? ''
const SEED = requestedSeed === 'random' ? randomInt(2 ** 31) : requestedSeed === '' ? CI_SEED : Number(requestedSeed) >>> 0
// A case ends within its budget (2.5 s) whatever the edge does; one still pending this much later
// is a client that lost track of its socket, named with its seed and index.
const CASE_GRACE_MS = 10_000
// A phase that has not ended by then fails with what it was still waiting for. Phase (b) played
// 10 000 cases in 100–240 s here (32 workers, 2 cores shared with other test runs).
const PHASE_B_DEADLINE_MS = 60_000 + (ONLY_CASES?.length ?? FUZZ_CASES) * 40
const ROUND_DEADLINE_MS = 30_000
t.comment(`FUZZ_SEED=${SEED}${SEED === CI_SEED ? ' (CI\'s fixed seed; FUZZ_SEED=random explores)' : ''}; replay with FUZZ_SEED=${SEED} [FUZZ_CASE=<i>]`)
const fileStarted = Date.now()

// Both roles run as processes: a pod request that makes either of them spin must not take the
// test runner (and its RSS guard) down with it.
const cluster = await TestCluster.start()
const fixtures = new Fixtures(cluster.admin)
const files = await prepareStackFiles(cluster)
const cloudConfig = await writeCloudConfig(cluster, files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', logLevel: 'info' })
// Stopped in reverse order (the edge first: the shim's close waits for its tunnel connections);
// the last subtest already stopped the edge, this is for a failed run.
const daemons: CliProcess[] = []
t.teardown(async () => {
  for (const d of daemons.reverse()) await d.stop(3000)
  await cluster.stop()
})
const cloud = startCli(['cloud', '--config', cloudConfig], { logFile: join(cluster.dir, 'cloud-fuzz.log') })
daemons.push(cloud)
const tunnelPort: number = (await cloud.waitForLog((l) => l.msg === 'cloud shim ready', 'cloud shim ready')).tunnelPort
const NODE = 'edge-fuzz'
await fixtures.node(NODE)
const MAX_BODY = 4 << 20
// EMS_FUZZ_COMPRESSION=auto: the same phases with compressed answers on the tunnel (the edge's
// modules.edgeHub.compression; edge-fuzz-compressed.test.ts plays them so in CI).
const COMPRESSION = process.env.EMS_FUZZ_COMPRESSION ?? 'none'
t.comment(`the edge's tunnel compression: ${COMPRESSION}`)
const edgeConfig = await writeEdgeConfig(cluster, files, NODE, {
  server: '127.0.0.1:0', tunnelPort, logLevel: 'info', metaServer: ['maxRequestBodyBytes: 4Mi'], extraYaml: [`    compression: ${COMPRESSION}`],
})
const edge = startCli(['edge', '--config', edgeConfig], { logFile: join(cluster.dir, 'edge-fuzz.log') })
daemons.push(edge)
const port: number = (await edge.waitForLog((l) => l.msg === 'listening' && l.listener === 'server', 'listening (server)')).port
await edge.waitForLog((l) => l.msg === 'tunnel connected', 'tunnel connected')
const caPem = cluster.pki.caPem

// The fuzzer's pod may do anything to ConfigMaps in its namespace (so its requests reach
// kube-apiserver); the normal client is another pod, in a namespace the fuzzer cannot touch.
const ns = await fixtures.namespace('fuzz')
const me = await fixtures.podIdentity(ns, NODE, { rules: configMapRules(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete']) })
await fixtures.configMap(ns, 'target', { greeting: 'fuzz me' })
const target: FuzzTarget = { token: me.token, namespace: ns, configMap: 'target', maxBody: MAX_BODY }
const probeNs = await fixtures.namespace('fuzz-probe')
const prober = await fixtures.podIdentity(probeNs, NODE, { serviceAccount: 'prober', rules: configMapRules(['get']) })
await fixtures.configMap(probeNs, 'probe', { greeting: 'hello' })
await fixtures.configMap(probeNs, 'bulky', { notes: 'the quick brown fox jumps over the lazy dog; '.repeat(500) })

interface Answer { status: number, body: string }
function get (path: string, token?: string, timeoutMs = 10_000): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.get({
      host: '127.0.0.1', port, path, ca: caPem, agent: false, timeout: timeoutMs,
      headers: token === undefined ? {} : { authorization: `Bearer ${token}` },
    }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d })
      res.once('end', () => resolve({ status: res.statusCode!, body }))
      res.once('error', reject)
    })
    req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)))
    req.once('error', reject)
  })
}

/** What a normal pod does: GET its ConfigMap; a 429 is retried after its Retry-After, as client-go does. */
async function normalClient (): Promise<{ ok: boolean, detail: string }> {
  let last = ''
  for (let attempt = 0; attempt < 10; attempt++) {
    const r = await get(`/api/v1/namespaces/${probeNs}/configmaps/probe`, prober.token).catch((err: Error) => err)
    if (r instanceof Error) return { ok: false, detail: r.message }
    if (r.status === 200 && JSON.parse(r.body).data?.greeting === 'hello') return { ok: true, detail: `200 after ${attempt} retries` }
    last = `${r.status} ${r.body.slice(0, 200)}`
    if (r.status !== 429) return { ok: false, detail: last }
    await new Promise((resolve) => setTimeout(resolve, 1000))
  }
  return { ok: false, detail: `still refused after 10 attempts: ${last}` }
}

// The gate admits the pod once its policy bundle reached the edge.
await waitUntil(async () => (await normalClient()).ok, 30_000, 'the edge to admit the pod token')

t.test(`the tunnel carries answers ${COMPRESSION === 'none' ? 'uncompressed' : 'compressed'}, as this run says`, async (t) => {
  const responseBytes = (): Promise<number> => get('/metrics').then((r) => metricSum(r.body, 'edge_metaserver_relayed_bytes_total', 'resource="configmaps",direction="response"'))
  const before = await responseBytes()
  const bulky = await get(`/api/v1/namespaces/${probeNs}/configmaps/bulky`, prober.token)
  t.equal(bulky.status, 200)
  const onTunnel = await responseBytes() - before
  if (COMPRESSION === 'none') t.equal(onTunnel, Buffer.byteLength(bulky.body), `the answer crossed as it is (${onTunnel} bytes)`)
  else t.ok(onTunnel < Buffer.byteLength(bulky.body) / 4, `the answer crossed compressed (${onTunnel} bytes for ${Buffer.byteLength(bulky.body)})`)
})

async function rssMiB (p: CliProcess = edge): Promise<number> {
  const status = await readFile(`/proc/${p.pid}/status`, 'utf8')
  return Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]) / 1024
}

/** CPU seconds a process used so far (utime + stime, in USER_HZ = 100 ticks per second); for the timings printed, never asserted. */
async function cpuSeconds (p: CliProcess): Promise<number> {
  const stat = await readFile(`/proc/${p.pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}
const ownCpuSeconds = (): number => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6 }

async function edgeMetric (name: string): Promise<number> {
  const r = await get('/metrics')
  if (r.status !== 200) throw new Error(`/metrics answered ${r.status}`)
  return metricSum(r.body, name)
}
const inflight = (): Promise<number> => edgeMetric('edge_metaserver_inflight_requests')
/** The edge's warn line for a short request's slot returned at its deadline (src/edge/run.ts). */
const SLOT_EXPIRED = 'in-flight slot of a request that never ended returned at its deadline'
/** modules.metaServer.requestTimeout's default (the edge here keeps it): the longest a relayed request waits for its answer. */
const EDGE_REQUEST_TIMEOUT_MS = 60_000
/** Tunnel streams the edge opened and that have not closed yet (its control stream is one). */
const tunnelStreams = (): Promise<number> => edgeMetric('edge_metaserver_tunnel_streams')

/** The edge's TCP connections on its pod listener, by state (TIME-WAIT is the kernel's, not the edge's). */
async function listenerSockets (peers?: number[]): Promise<Record<string, number>> {
  const r = await runCommand('ss', ['-tanpH', 'state', 'all', `( sport = :${port} )`])
  const states: Record<string, number> = {}
  for (const line of r.stdout.trim().split('\n')) {
    const [state, , , , peer] = line.split(/\s+/)
    // Only sockets the edge still holds: an orphan (closed by the edge, FIN-WAIT-2 toward a peer
    // that vanished) is the kernel's to reap (tcp_fin_timeout).
    if (state === undefined || state === 'LISTEN' || !line.includes(`pid=${edge.pid},`)) continue
    states[state] = (states[state] ?? 0) + 1
    peers?.push(Number(peer?.split(':').pop()))
  }
  return states
}
const openSockets = (states: Record<string, number>): number => Object.values(states).reduce((a, b) => a + b, 0)

/** When a daemon's RSS first passed RSS_BOUND_MIB, or it died, in the current phase (to name the cases in flight then). */
let overBoundAt: number | undefined

interface PhaseOptions {
  /** The phase's traffic must have ended by then; past it, the phase fails naming `pending()`. */
  deadlineMs: number
  /** What the traffic is still waiting for (read when the deadline passes). */
  pending: () => string
  /** Set once the deadline passed: the traffic starts nothing new. */
  onDeadline?: () => void
  /** The fuzz case that used a client port (for connections the edge left open). */
  whoUsedPort?: (port: number) => string | undefined
}

/**
 * Runs `body` while sampling the edge's RSS every 100 ms and a normal client every 500 ms, then
 * checks the phase's promises. The sampler kills the edge past KILL_AT_MIB (see above).
 */
async function phase (t: Test, name: string, opts: PhaseOptions, body: () => Promise<void>): Promise<void> {
  const started = Date.now()
  const refusedBefore = refusedResets.length
  const watched = [{ name: 'edge', proc: edge }, { name: 'cloud shim', proc: cloud }].map((d) => ({ ...d, before: 0, peak: 0, killed: false, cpu: 0 }))
  for (const d of watched) {
    d.before = d.peak = await rssMiB(d.proc)
    d.cpu = await cpuSeconds(d.proc)
  }
  const ownCpu = ownCpuSeconds()
  const streamsBefore = await tunnelStreams()
  const linesBefore = edge.logLines().length
  let sampling = true
  overBoundAt = undefined
  for (const d of watched) void d.proc.exited.then(() => { overBoundAt ??= Date.now() })
  const sampler = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- `sampling` is cleared by the phase, between awaits
    while (sampling && watched.every((d) => d.proc.running)) {
      for (const d of watched) {
        const rss = await rssMiB(d.proc).catch(() => d.peak)
        d.peak = Math.max(d.peak, rss)
        if (rss > RSS_BOUND_MIB) overBoundAt ??= Date.now()
        if (rss > KILL_AT_MIB && !d.killed) {
          d.killed = true
          d.proc.child.kill('SIGKILL')
        }
      }
      await new Promise((resolve) => setTimeout(resolve, 100))
    }
  })()
  const probes: Array<{ ok: boolean, detail: string }> = []
  const prober = (async () => {
    // eslint-disable-next-line no-unmodified-loop-condition -- `sampling` is cleared by the phase, between awaits
    while (sampling && watched.every((d) => d.proc.running)) {
      const at = Date.now() - started
      const r = await normalClient()
      probes.push({ ...r, detail: `at ${at} ms: ${r.detail}` })
      await new Promise((resolve) => setTimeout(resolve, 500))
    }
  })()
  // A phase that throws (a daemon gone mid-phase) or outlives its deadline still gets its checks, which say why.
  const error = await withDeadline(body(), opts.deadlineMs, opts.pending).then(() => undefined, (err: Error) => {
    opts.onDeadline?.()
    return err
  })
  sampling = false
  await sampler
  await prober
  t.equal(error?.message, undefined, `the phase's traffic ran to its end${error === undefined ? '' : ` (seed ${SEED}): ${error.stack}`}`)
  // A reset Node refused leaks the client's socket, and the test process then never exits (see fuzz-cases.ts, cut).
  t.same(refusedResets.slice(refusedBefore, refusedBefore + 5), [], 'the test client closed every connection it opened')
  t.comment(`${name}: ${Date.now() - started} ms; ${watched.map((d) => `${d.name} RSS ${d.before.toFixed(0)} MiB before, peak ${d.peak.toFixed(0)} MiB`).join('; ')}`)
  const cpu = await Promise.all(watched.map(async (d) => d.proc.running ? `${d.name} ${(await cpuSeconds(d.proc) - d.cpu).toFixed(1)} s` : `${d.name} gone`))
  t.comment(`${name}: CPU used: ${cpu.join(', ')}, test client ${(ownCpuSeconds() - ownCpu).toFixed(1)} s`)
  for (const d of watched) {
    t.notOk(d.killed, `the ${d.name}'s RSS never passed ${KILL_AT_MIB} MiB${d.killed ? ` (killed at ${d.peak.toFixed(0)} MiB)` : ''}`)
    t.ok(d.proc.running, `the ${d.name} process is alive${d.proc.running ? '' : `\n${d.proc.output()}`}`)
    t.ok(d.peak < RSS_BOUND_MIB, `the ${d.name}'s RSS stayed under ${RSS_BOUND_MIB} MiB (peak ${d.peak.toFixed(0)} MiB)`)
  }
  if (!watched.every((d) => d.proc.running)) return
  t.ok(probes.length > 0, `a normal client ran during the phase (${probes.length} requests)`)
  const failed = probes.filter((p) => !p.ok)
  t.same(failed, [], `every normal request during the phase was served (${probes.length - failed.length}/${probes.length})`)
  // Slots return when the requests' lives end; most at once. The edge's own request timeout (60 s,
  // the default this test keeps) bounds every short request: whatever keeps one open, the timeout
  // answers it and its slot returns. CI once saw one slot still taken 20 s after this phase (its
  // connection gone within the socket check below; the mechanism is not traced — a half-close
  // mid-body is not it, that slot returns at once), so the bound is that timeout plus a margin. A
  // slot that leaks for good still fails here.
  let left = await inflight()
  const deadline = Date.now() + EDGE_REQUEST_TIMEOUT_MS + 10_000
  while (left !== 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    left = await inflight()
  }
  t.equal(left, 0, `in-flight requests return to zero (${left} left)`)
  // The slot deadline (inflight.ts) returns a slot nothing ended, and says so: such a line is the
  // leak itself, bounded, not an answer to it.
  const expired = edge.logLines().slice(linesBefore).filter((l) => l.msg === SLOT_EXPIRED)
  for (const line of expired.slice(0, 10)) {
    const peerPort = Number(String(line.socket?.peer).split(':').pop())
    t.comment(`slot expired: ${JSON.stringify(line)}; the connection from port ${peerPort}: ${opts.whoUsedPort?.(peerPort) ?? 'not a fuzz case'}`)
  }
  t.same(expired.length, 0, 'no request held its in-flight slot until the deadline')
  // Every tunnel stream the phase opened is released at both ends: one left half-open holds a slot
  // of the shim's per-node stream limit and a stream window of buffered body, for the tunnel's life.
  let streams = await tunnelStreams()
  while (streams > streamsBefore && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    streams = await tunnelStreams()
  }
  t.ok(streams <= streamsBefore, `tunnel streams return to what they were before the phase (${streamsBefore} before, ${streams} after)`)
  // Every connection the phase opened is closed by its client: the edge must close its end too
  // (a socket it never reads again would hold a file descriptor, and the shutdown, forever).
  let sockets = await listenerSockets()
  while (openSockets(sockets) > 0 && Date.now() < deadline + 10_000) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    sockets = await listenerSockets()
  }
  const peers: number[] = []
  sockets = await listenerSockets(peers)
  t.same(sockets, {}, 'the edge holds no pod connection once the clients have gone')
  for (const peer of peers.slice(0, 10)) t.comment(`left open: the connection from port ${peer}: ${opts.whoUsedPort?.(peer) ?? 'not a fuzz case'}`)
  if (peers.length > 0) t.comment((await runCommand('ss', ['-tanpH', 'state', 'all', `( dport = :${port} )`])).stdout)
  const after = await normalClient()
  t.ok(after.ok, `a normal client is served after the phase (${after.detail})`)
}

/** Opens a TLS connection to the edge over a TCP socket of our own (so a test can RST it); bounded in time. */
function connect (): Promise<{ raw: net.Socket, socket: tls.TLSSocket }> {
  const { raw, socket } = tlsOverTcp('127.0.0.1', port, caPem)
  return new Promise((resolve, reject) => {
    const fail = (why: string): void => { clearTimeout(timer); cut(raw, socket, false, 'connect'); reject(new Error(why)) }
    const timer = setTimeout(() => fail(`no TLS handshake within ${ROUND_DEADLINE_MS} ms`), ROUND_DEADLINE_MS)
    socket.once('secureConnect', () => { clearTimeout(timer); resolve({ raw, socket }) })
    socket.once('error', (err: Error) => fail(`TLS handshake failed: ${err.message}`))
    socket.once('close', () => fail('closed during the TLS handshake'))
  })
}

t.test('(a) a body larger than the stream window, answered early, then the pod disconnects', async (t) => {
  const path = `/api/v1/namespaces/${ns}/configmaps`
  // kube-apiserver's own answer to the same request, straight (the edge must relay exactly that).
  const direct = await cluster.admin.withToken(me.token).put(path, {})
  t.equal(direct.status, 405, 'kube-apiserver answers this pod\'s PUT on a collection with 405')
  const BODY = 3 << 20
  const ROUNDS = 10
  let round = 0
  let state = 'not started'
  const oneRound = async (): Promise<string> => {
    // The pod goes away as soon as it has its answer, with most of its body unsent: RST on odd rounds, FIN on even ones.
    const rst = round % 2 === 1
    state = 'TLS handshake'
    const { raw, socket } = await connect()
    try {
      state = 'waiting for the status line (0 bytes so far)'
      const statusLine = await new Promise<string>((resolve) => {
        let head = ''
        socket.on('data', (d: Buffer) => {
          if (head.length < 4096) head += d.toString('latin1')
          state = `waiting for the status line (${head.length} bytes so far)`
          if (head.includes('\r\n')) {
            cut(raw, socket, rst, `round ${round}`)
            resolve(head.split('\r\n')[0]!)
          }
        })
        socket.on('error', () => resolve(head.split('\r\n')[0] ?? ''))
        socket.on('close', () => resolve(head.split('\r\n')[0] ?? ''))
        socket.write(`PUT ${path} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer ${me.token}\r\n` +
          `Content-Type: application/json\r\nContent-Length: ${BODY}\r\n\r\n`)
        socket.write(Buffer.alloc(BODY, 0x7b))
      })
      state = 'waiting for the pod socket to close'
      await waitUntil(() => raw.destroyed, 5000, 'the pod socket to close')
      return statusLine
    } finally {
      cut(raw, socket, false, `round ${round}`)
    }
  }
  await phase(t, 'oversized body then disconnect', {
    deadlineMs: ROUNDS * ROUND_DEADLINE_MS,
    pending: () => `round ${round}: ${state}`,
  }, async () => {
    for (round = 0; round < ROUNDS; round++) {
      const statusLine = await withDeadline(oneRound(), ROUND_DEADLINE_MS, () => `round ${round}: ${state}`)
      t.match(statusLine, new RegExp(`^HTTP/1\\.1 ${direct.status} `), `round ${round}: kube-apiserver's early answer reached the pod (${statusLine})`)
    }
  })
})

t.test('(b) random malformed requests from a seeded fuzzer', async (t) => {
  const count = ONLY_CASES?.length ?? FUZZ_CASES
  const kinds = new Map<string, number>()
  const codes = new Map<string, number>()
  const leaks: string[] = []
  const edgeErrors: string[] = []
  const stuck: string[] = []
  const byPort = new Map<number, string>()
  const played: Array<{ what: string, start: number, end: number }> = []
  const inFlight = new Map<number, { what: string, start: number }>()
  let stopped = false
  const pending = (): string => `${played.length}/${count} cases played (seed ${SEED}); in flight: ` +
    [...inFlight.values()].slice(0, 10).map((c) => `${c.what}, for ${Date.now() - c.start} ms`).join('; ')
  await phase(t, `${ONLY_CASES === undefined ? `${FUZZ_CASES} fuzz cases` : `fuzz cases ${ONLY_CASES.join(',')}`} (seed ${SEED})`, {
    deadlineMs: PHASE_B_DEADLINE_MS, pending, onDeadline: () => { stopped = true }, whoUsedPort: (peer) => byPort.get(peer),
  }, async () => {
    await runCases(count, ONLY_CASES === undefined ? FUZZ_WORKERS : 1, async (n) => {
      if (!edge.running) return
      const i = ONLY_CASES?.[n] ?? n
      const c = fuzzCase(SEED, i, target)
      const what = `case ${i} (${c.kind}, ending ${c.ending}): ${c.what}`
      if (ONLY_CASES !== undefined) t.comment(`replaying ${what}`)
      const start = Date.now()
      inFlight.set(i, { what, start })
      const r = await withDeadline(playCase(c, '127.0.0.1', port, caPem), c.budgetMs + CASE_GRACE_MS, () => `${what} (seed ${SEED})`)
        .catch((err: Error) => { stuck.push(err.message); return undefined })
        .finally(() => inFlight.delete(i))
      if (r === undefined) return
      played.push({ what, start, end: Date.now() })
      if (r.localPort !== undefined) byPort.set(r.localPort, what)
      kinds.set(c.kind, (kinds.get(c.kind) ?? 0) + 1)
      const code = /^HTTP\/1\.[01] (\d{3})/.exec(r.statusLine)?.[1] ?? (r.bytesIn > 0 ? 'other' : 'none')
      codes.set(code, (codes.get(code) ?? 0) + 1)
      // A 500 is the edge's own "failed to relay": a bug, never an answer kube-apiserver gave.
      if (code === '500' && r.head.includes('edge-metaserver')) edgeErrors.push(`${what}: ${r.head.slice(r.head.indexOf('{'), r.head.indexOf('{') + 300)}`)
      // Whatever the edge answers, it never shows a stack trace or a framework's error body.
      if (/\n\s+at .+:\d+:\d+/.test(r.head) || /"statusCode":\d+,"(code|error)"/.test(r.head)) {
        leaks.push(`${what}: ${r.head.slice(0, 300)}`)
      }
    }, () => stopped)
  })
  // The cases in flight when a daemon's memory took off (for FUZZ_CASE=… replays).
  const onset = overBoundAt
  if (onset !== undefined) {
    for (const p of played.filter((p) => p.start <= onset && p.end >= onset - 1000)) t.comment(`in flight when a daemon's RSS took off or it died: ${p.what}`)
  }
  t.comment(`cases by kind: ${JSON.stringify(Object.fromEntries(kinds))}`)
  t.comment(`answers by status: ${JSON.stringify(Object.fromEntries([...codes].sort()))}`)
  t.same(stuck.slice(0, 5), [], 'every case ended within its budget')
  t.equal([...kinds.values()].reduce((a, b) => a + b, 0), count, 'every case was played')
  t.same(leaks.slice(0, 5), [], 'no answer carries a stack trace or a framework error body')
  t.same(edgeErrors.slice(0, 5), [], 'the edge never failed to relay a request (500 of its own)')
})

t.test('(c) pipelined GETs on connections dropped right after sending', async (t) => {
  const path = `/api/v1/namespaces/${ns}/configmaps/target`
  const one = `GET ${path} HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer ${me.token}\r\nAccept: application/json\r\n\r\n`
  const connections = PIPELINED_REQUESTS / PIPELINE_DEPTH
  let sent = 0
  let stopped = false
  const open = new Map<number, string>()
  const pending = (): string => `${sent}/${PIPELINED_REQUESTS} requests sent; connections pending: ` +
    [...open].slice(0, 10).map(([i, state]) => `#${i}: ${state}`).join('; ')
  await phase(t, `${PIPELINED_REQUESTS} pipelined GETs`, {
    deadlineMs: connections * ROUND_DEADLINE_MS / 10, pending, onDeadline: () => { stopped = true },
  }, async () => {
    await runCases(connections, 10, async (i) => {
      open.set(i, 'TLS handshake')
      const { raw, socket } = await connect()
      try {
        open.set(i, 'sending')
        await withDeadline(new Promise<void>((resolve) => socket.write(one.repeat(PIPELINE_DEPTH), () => resolve())), ROUND_DEADLINE_MS, () => `connection #${i}: sending`)
        sent += PIPELINE_DEPTH
        // Dropped right after sending: a FIN, an RST, or after the first answer byte.
        if (i % 3 === 0) cut(raw, socket, false, `pipeline #${i}`)
        else if (i % 3 === 1) cut(raw, socket, true, `pipeline #${i}`)
        else {
          open.set(i, 'waiting for the first answer byte')
          await withDeadline(new Promise<void>((resolve) => {
            socket.once('data', () => resolve())
            socket.once('close', () => resolve())
          }), ROUND_DEADLINE_MS, () => `connection #${i}: waiting for the first answer byte`)
        }
      } finally {
        cut(raw, socket, false, `pipeline #${i}`)
        open.delete(i)
      }
    }, () => stopped)
  })
  t.equal(sent, PIPELINED_REQUESTS, 'all pipelined requests were sent')
})

t.test('(d) after all that, SIGTERM still drains and the edge exits 0', async (t) => {
  // Nothing a pod left behind may hold the shutdown: the listeners' close waits for every
  // connection, so one the edge never closed would keep it up until systemd's SIGKILL.
  const GRACE_S = 2 // shutdownGracePeriod in configs.ts
  const ended = await edge.signal('SIGTERM', (GRACE_S + 28) * 1000)
  t.comment(`edge exited ${ended.ms} ms after SIGTERM; ${Date.now() - fileStarted} ms since the file started`)
  t.same({ code: ended.code, signal: ended.signal }, { code: 0, signal: null }, `exit code 0, not killed${ended.code === 0 ? '' : `\n${edge.output()}`}`)
})
