// exec / attach / port-forward over WebSocket (kubectl ≥ 1.31 tries it first) and over the SPDY
// fallback, differentially: every request is made once through the edge and once straight to
// kube-apiserver with the same pod token, and the two answers must be the same.
//
// The test bed has no kubelet, so the apiserver's answer depends on where the pod runs:
//   - on a Node whose kubelet address is a closed port (`unreachable`), a WebSocket exec/attach is
//     *accepted* (101) by the apiserver's stream translator, which only then dials the kubelet and
//     reports the failure inside the WebSocket (a Status on the v5 error channel, then a close
//     frame): the upgraded byte path through the edge, kubectl reading it as it would a real
//     session. Port-forward and SPDY dial the kubelet first and answer 500;
//   - on a Node without addresses (the edge's own node), the apiserver answers 500 before any upgrade;
//   - a pod that does not exist: 404;
//   - on a Node whose kubelet is a stand-in that accepts any upgrade (test/helpers/standin-kubelet.ts),
//     SPDY and port-forward's WebSocket tunnel complete, and every byte is checked both ways.
// And who may: `create` and/or `get` on pods/exec|attach|portforward. The filter authorizes a GET
// (WebSocket) upgrade as `get` and a POST (SPDY) one as `create`; kube-apiserver ≥ 1.35 also checks
// `create` on the WebSocket upgrade (AuthorizePodWebsocketUpgradeCreatePermission). The edge checks
// what the filter checks and leaves the rest to the apiserver, which always decides again: each grant
// below gets the same answer both ways, on whatever version the test bed runs (its text is never
// written down here). Last, the outages: kube-apiserver gone, then the cloud gone (503 Statuses).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import { collect, spawnInPod, type PodEnvironment, type RunResult } from '../cluster/clients.js'
import { binaries } from '../cluster/cluster.js'
import { sendRaw, type RawResponse, type RawTarget } from '../helpers/raw-http.js'
import { bannerOf, startStandinKubelet } from '../helpers/standin-kubelet.js'
import { headerOf, maskedFrame, upgradeSession, websocketAccept, websocketFrames } from '../helpers/upgrade-session.js'
import { Stack, waitUntil } from './stack.js'

const NODE = 'edge-ws'
const stack = await Stack.start()
t.teardown(() => stack.stop())
const edge = await stack.startEdge(NODE)
const ns = await stack.fixtures.namespace('ws')

const SUBRESOURCES = ['exec', 'attach', 'portforward'] as const
type Subresource = typeof SUBRESOURCES[number]

// Who may: what each pod's ServiceAccount holds on the three subresources, with `get pods` (which
// kubectl needs before it upgrades) — and one that holds nothing at all.
const GRANTS: Record<string, string[] | undefined> = { 'get+create': ['get', 'create'], 'get only': ['get'], 'create only': ['create'], none: [], nothing: undefined }
const callers: Record<string, { token: string, viaEdge: PodEnvironment, direct: PodEnvironment }> = {}
for (const [grant, verbs] of Object.entries(GRANTS)) {
  const rules: unknown[] = verbs === undefined ? [] : [{ apiGroups: [''], resources: ['pods'], verbs: ['get'] }]
  if (verbs !== undefined && verbs.length > 0) rules.push({ apiGroups: [''], resources: SUBRESOURCES.map((s) => `pods/${s}`), verbs })
  const me = await stack.fixtures.podIdentity(ns, NODE, { serviceAccount: `sa-${grant.replace(/\W+/g, '-')}`, rules })
  callers[grant] = { token: me.token, viaEdge: await stack.podEnv(edge, me.token, ns), direct: await stack.directPodEnv(me.token, ns) }
}

// Where to: a pod on a Node whose kubelet is 127.0.0.1:<closed port>, one on the edge's own Node
// (no addresses), and one that does not exist.
const kubeletPort = await closedPort()
const unreachableNode = 'ws-unreachable-kubelet'
await addressedNode(unreachableNode, kubeletPort)
const TARGETS = { unreachable: 'on-unreachable-kubelet', 'no address': 'on-edge-node', missing: 'no-such-pod' } as const
await runningPod(TARGETS.unreachable, unreachableNode)
await runningPod(TARGETS['no address'], NODE)

// And a pod whose Node's kubelet is a stand-in (test/helpers/standin-kubelet.ts) that accepts the
// upgrade: the apiserver completes it, and bytes flow both ways through the edge.
const BANNER_BYTES = 4 << 20
const ECHO_BYTES = 256 << 10
const kubeletCert = await stack.cluster.pki.ca.issue('standin-kubelet', { cn: 'standin-kubelet', ipSans: ['127.0.0.1'], usage: 'server' })
const kubelet = await startStandinKubelet({ cert: await readFile(kubeletCert.certFile, 'utf8'), key: await readFile(kubeletCert.keyFile, 'utf8') },
  { bannerBytes: BANNER_BYTES, echoBytes: ECHO_BYTES })
t.teardown(() => kubelet.close())
await addressedNode('ws-standin-kubelet', kubelet.port)
const STANDIN_POD = 'on-standin-kubelet'
await runningPod(STANDIN_POD, 'ws-standin-kubelet')

// Tunnel streams open before any upgrade (the control stream): every session must give its own back.
const baseStreams = edge.tunnel.openStreams

const edgeTarget: RawTarget = { host: edge.listening.server!.host, port: edge.listening.server!.port, caPem: stack.cluster.pki.caPem }
const directTarget: RawTarget = { host: '127.0.0.1', port: stack.cluster.port, caPem: stack.cluster.pki.caPem }

t.test('raw WebSocket and SPDY handshakes: the same status, headers and body through the edge as direct', async (t) => {
  let upgraded = 0
  for (const [grant, caller] of Object.entries(callers)) {
    for (const [where, pod] of Object.entries(TARGETS)) {
      for (const sub of SUBRESOURCES) {
        for (const protocol of ['websocket', 'spdy'] as const) {
          const what = `${protocol} ${sub} on the pod ${where}, caller ${grant}`
          const request = handshake(protocol, sub, pod, caller.token)
          const viaEdge = await sendRaw(edgeTarget, request, { timeoutMs: 20_000 })
          const direct = await sendRaw(directTarget, request, { timeoutMs: 20_000 })
          t.equal(viaEdge.error, direct.error, `${what}: the connection ends the same way`)
          t.equal(viaEdge.status, direct.status, `${what}: status`)
          t.same(comparableHeaders(viaEdge), comparableHeaders(direct), `${what}: headers`)
          t.equal(viaEdge.body.toString('latin1'), direct.body.toString('latin1'), `${what}: body`)
          t.notOk(viaEdge.headers.some(([k]) => k.toLowerCase().startsWith('x-ems-')), `${what}: no header of the edge's own`)
          if (direct.status === 101) upgraded++
        }
      }
    }
  }
  // The WebSocket exec/attach on the unreachable kubelet is upgraded at least for the caller that
  // holds both verbs: without that, this file would only prove refusals.
  t.ok(upgraded >= 2, `${upgraded} handshakes were upgraded (101), their frames compared byte for byte`)
})

t.test('handshakes that are not quite right: the same answer through the edge as direct', async (t) => {
  const caller = callers['get+create']!
  const ws = (sub: Subresource): Array<[string, string]> => handshake('websocket', sub, TARGETS.unreachable, caller.token).headers
  const without = (headers: Array<[string, string]>, ...names: string[]): Array<[string, string]> =>
    headers.filter(([k]) => !names.includes(k.toLowerCase()))
  const cases: Array<{ what: string, method: string, sub: Subresource, headers: Array<[string, string]> }> = []
  for (const sub of SUBRESOURCES) {
    cases.push(
      { what: 'no Connection: Upgrade', method: 'GET', sub, headers: without(ws(sub), 'connection') },
      { what: 'Connection: keep-alive, Upgrade', method: 'GET', sub, headers: [...without(ws(sub), 'connection'), ['Connection', 'keep-alive, Upgrade']] },
      { what: 'no Sec-WebSocket-Key', method: 'GET', sub, headers: without(ws(sub), 'sec-websocket-key') },
      { what: 'Sec-WebSocket-Version: 8', method: 'GET', sub, headers: [...without(ws(sub), 'sec-websocket-version'), ['Sec-WebSocket-Version', '8']] },
      { what: 'no subprotocol', method: 'GET', sub, headers: without(ws(sub), 'sec-websocket-protocol') },
      { what: 'an unknown subprotocol', method: 'GET', sub, headers: [...without(ws(sub), 'sec-websocket-protocol'), ['Sec-WebSocket-Protocol', 'v9.channel.k8s.io']] },
      { what: 'no upgrade at all (GET)', method: 'GET', sub, headers: [['Authorization', `Bearer ${caller.token}`]] },
      { what: 'no upgrade at all (POST)', method: 'POST', sub, headers: [['Authorization', `Bearer ${caller.token}`], ['Content-Length', '0']] },
      { what: 'Upgrade: h2c', method: 'GET', sub, headers: [['Authorization', `Bearer ${caller.token}`], ['Connection', 'Upgrade'], ['Upgrade', 'h2c']] }
    )
  }
  for (const c of cases) {
    const base = handshake('websocket', c.sub, TARGETS.unreachable, caller.token)
    const request = { method: c.method, target: base.target, headers: c.headers }
    const viaEdge = await sendRaw(edgeTarget, request, { timeoutMs: 20_000 })
    const direct = await sendRaw(directTarget, request, { timeoutMs: 20_000 })
    const what = `${c.sub}, ${c.what}`
    t.equal(viaEdge.status, direct.status, `${what}: status ${direct.status}`)
    t.same(comparableHeaders(viaEdge), comparableHeaders(direct), `${what}: headers`)
    t.equal(viaEdge.body.toString('latin1'), direct.body.toString('latin1'), `${what}: body`)
  }
})

t.test('an upgraded WebSocket exec carries the apiserver\'s frames: its Status on the error channel, then a close frame', async (t) => {
  const request = handshake('websocket', 'exec', TARGETS.unreachable, callers['get+create']!.token)
  const viaEdge = await sendRaw(edgeTarget, request, { timeoutMs: 20_000 })
  t.equal(viaEdge.status, 101)
  t.equal(headerOf(viaEdge, 'sec-websocket-protocol'), 'v5.channel.k8s.io')
  t.equal(headerOf(viaEdge, 'sec-websocket-accept'), websocketAccept(request.headers.find(([k]) => k === 'Sec-WebSocket-Key')![1]), 'the accept key answers this request\'s key (RFC 6455)')
  const frames = websocketFrames(viaEdge.body)
  t.ok(frames.length >= 2, `${frames.length} frames`)
  const status = frames.find((f) => f.opcode === 2 && f.payload[0] === 3)
  t.ok(status, 'a binary frame on channel 3 (error)')
  const decoded = JSON.parse(status!.payload.subarray(1).toString('utf8'))
  t.equal(decoded.status, 'Failure')
  t.match(decoded.message, `127.0.0.1:${kubeletPort}`, 'the apiserver dialled the Node\'s kubelet address')
  t.equal(frames.at(-1)!.opcode, 8, 'the apiserver closed the WebSocket')
})

t.test('after the 101 the edge carries the bytes both ways: SPDY exec/attach/port-forward and port-forward\'s WebSocket tunnel to a kubelet that answers', async (t) => {
  const caller = callers['get+create']!
  const payload = randomBytes(ECHO_BYTES)
  const expected = Buffer.concat([bannerOf(BANNER_BYTES), payload])
  // kube-apiserver keeps port-forward's WebSocket open after the kubelet's side ended (it waits for
  // the client), so that session is read until all the bytes are in; the SPDY ones until the close.
  const sessions: Array<{ what: string, request: ReturnType<typeof handshake>, send: Buffer[], data: (bytes: Buffer) => Buffer, untilAll?: boolean }> = [
    ...SUBRESOURCES.map((sub) => ({ what: `SPDY ${sub}`, request: handshake('spdy', sub, STANDIN_POD, caller.token), send: [payload], data: (b: Buffer) => b })),
    {
      // The apiserver speaks SPDY to the kubelet and carries it in binary WebSocket messages to the client.
      what: 'WebSocket port-forward (SPDY tunnelled in WebSocket)',
      request: handshake('websocket', 'portforward', STANDIN_POD, caller.token),
      send: Array.from({ length: Math.ceil(ECHO_BYTES / 32768) }, (_, i) => maskedFrame(payload.subarray(i * 32768, (i + 1) * 32768))),
      data: (b: Buffer) => Buffer.concat(websocketFrames(b).filter((f) => f.opcode === 2 || f.opcode === 0).map((f) => f.payload)),
      untilAll: true,
    },
  ]
  for (const { what, request, send, data, untilAll } of sessions) {
    const before = kubelet.requests.length
    const started = Date.now()
    const opts = {
      onUpgraded: send,
      maxBytes: 2 * expected.length + (1 << 20),
      ...(untilAll === true ? { until: (b: Buffer) => data(b).length >= expected.length } : {}),
    }
    const viaEdge = await upgradeSession(edgeTarget, request, opts)
    const edgeMs = Date.now() - started
    const direct = await upgradeSession(directTarget, request, opts)
    t.comment(`${what}: through the edge ${edgeMs} ms, direct ${Date.now() - started - edgeMs} ms`)
    t.equal(kubelet.requests.length, before + 2, `${what}: the apiserver reached the kubelet both times`)
    t.equal(direct.status, 101, `${what}: direct, upgraded`)
    t.equal(viaEdge.status, 101, `${what}: through the edge, upgraded`)
    t.same(comparableHeaders({ status: viaEdge.status, headers: viaEdge.headers } as RawResponse),
      comparableHeaders({ status: direct.status, headers: direct.headers } as RawResponse), `${what}: the same 101 headers`)
    t.equal(viaEdge.error, undefined, `${what}: through the edge, read until the server closed`)
    const got = data(viaEdge.bytes)
    t.equal(got.length, expected.length, `${what}: through the edge, ${got.length} of ${expected.length} bytes`)
    t.ok(got.equals(expected), `${what}: through the edge, the banner then the echo, byte for byte`)
    t.equal(direct.error, undefined, `${what}: direct, read until the server closed`)
    t.ok(data(direct.bytes).equals(expected), `${what}: direct, the same bytes`)
  }
})

t.test('kubectl exec, attach and port-forward: the same upgrades, exit code and error through the edge as direct', async (t) => {
  const commands: Record<Subresource, (pod: string) => string[]> = {
    exec: (pod) => ['exec', pod, '--', 'true'],
    attach: (pod) => ['attach', pod],
    portforward: (pod) => ['port-forward', pod, ':80'],
  }
  const cases: Array<{ grant: string, where: keyof typeof TARGETS }> = [
    ...Object.keys(TARGETS).map((where) => ({ grant: 'get+create', where: where as keyof typeof TARGETS })),
    ...Object.keys(GRANTS).filter((g) => g !== 'get+create').map((grant) => ({ grant, where: 'unreachable' as const })),
  ]
  const seen = { websocket101: 0, fallback: 0 }
  for (const { grant, where } of cases) {
    for (const sub of SUBRESOURCES) {
      for (const websockets of [true, false]) {
        const what = `kubectl ${commands[sub]('POD')[0]} (${websockets ? 'WebSocket first' : 'SPDY only'}) on the pod ${where}, caller ${grant}`
        const env = { KUBECTL_REMOTE_COMMAND_WEBSOCKETS: String(websockets), KUBECTL_PORT_FORWARD_WEBSOCKETS: String(websockets) }
        const args = ['-v=6', ...commands[sub](TARGETS[where])]
        const viaEdge = summarise(await runKubectl(callers[grant]!.viaEdge, args, env), edgeTarget)
        const direct = summarise(await runKubectl(callers[grant]!.direct, args, env), directTarget)
        t.not(direct.code, 0, `${what}: no kubelet, so the apiserver cannot run it`)
        t.equal(viaEdge.code, direct.code, `${what}: exit code`)
        t.same(viaEdge.upgrades, direct.upgrades, `${what}: the same upgrade requests and answers`)
        t.equal(viaEdge.output, direct.output, `${what}: the same output`)
        t.notMatch(viaEdge.output, /edge-metaserver/, `${what}: the edge added nothing of its own`)
        if (grant === 'nothing') t.same(direct.upgrades, [], `${what}: refused reading the pod, before any upgrade`)
        else if (where === 'missing') t.same(direct.upgrades, [], `${what}: kubectl stops at the pod's 404, before any upgrade`)
        else if (!websockets) t.notOk(direct.upgrades.some((u) => u.startsWith('GET')), `${what}: SPDY only`)
        else t.ok(direct.upgrades[0]?.startsWith('GET'), `${what}: WebSocket first`)
        if (direct.upgrades.some((u) => u.endsWith(' 101'))) seen.websocket101++
        if (direct.upgrades.length > 1) seen.fallback++
      }
    }
  }
  t.comment(`${seen.websocket101} kubectl runs upgraded to WebSocket, ${seen.fallback} fell back to SPDY`)
  t.ok(seen.websocket101 > 0, 'some kubectl runs read an upgraded WebSocket through the edge')
  t.ok(seen.fallback > 0, 'some kubectl runs fell back from WebSocket to SPDY through the edge')
})

t.test('every upgrade, refused or upgraded, gave its tunnel stream back', async (t) => {
  await waitUntil(() => edge.tunnel.openStreams === baseStreams, 20_000, `the tunnel streams to return to ${baseStreams} (now ${edge.tunnel.openStreams})`)
  t.equal(edge.tunnel.openStreams, baseStreams)
})

// Outages last: they take kube-apiserver, then the cloud shim, away for good.

t.test('kube-apiserver unreachable from the shim: an upgrade gets a 503 Status through the edge, WebSocket and SPDY', async (t) => {
  const caller = callers['get+create']!
  // The shim has reviewed this token (and caches the review): the outage is met by the upgrade
  // itself, not by the token review before it.
  const before = await sendRaw(edgeTarget, handshake('spdy', 'exec', TARGETS['no address'], caller.token), { timeoutMs: 20_000 })
  t.equal(before.status, 500, 'before the outage: the apiserver\'s own answer')
  await stack.cluster.stopApiserver()
  for (const protocol of ['websocket', 'spdy'] as const) {
    const r = await sendRaw(edgeTarget, handshake(protocol, 'exec', TARGETS.unreachable, caller.token), { timeoutMs: 20_000 })
    t.equal(r.status, 503, `${protocol}: 503`)
    t.equal(headerOf(r, 'content-type'), 'application/json', `${protocol}: a Status, not an empty answer`)
    t.match(jsonOf(r.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /kube-apiserver is unreachable/ }, protocol)
    t.notOk(r.headers.some(([k]) => k.toLowerCase().startsWith('x-ems-')), `${protocol}: the shim's markers stay in the tunnel`)
  }
  // kubectl reads the pod first; the edge answers that from its cache only if it holds it, so the
  // exec itself is what this checks when the GET passes (its answer is a Status either way).
  const r = await runKubectl(caller.viaEdge, ['exec', TARGETS.unreachable, '--', 'true'], {})
  t.not(r.code, 0)
  t.match(r.stderr, /ServiceUnavailable|unreachable/, 'kubectl prints the reason')
})

t.test('the tunnel down: the edge itself answers an upgrade with a 503 Status', async (t) => {
  await stack.cloud.close()
  await waitUntil(() => !edge.tunnel.state.connected, 20_000, 'the edge to notice the cloud is gone')
  const caller = callers['get+create']!
  for (const protocol of ['websocket', 'spdy'] as const) {
    const r = await sendRaw(edgeTarget, handshake(protocol, 'portforward', TARGETS.unreachable, caller.token), { timeoutMs: 20_000 })
    t.equal(r.status, 503, `${protocol}: 503`)
    t.match(jsonOf(r.body), { kind: 'Status', code: 503, reason: 'ServiceUnavailable', message: /^edge-metaserver: the cloud is unreachable/ }, protocol)
  }
})

// ---------------------------------------------------------------------------------------------

/** A port nothing listens on (bound, then closed): the kubelet address of a Node that has none. */
async function closedPort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  await new Promise((resolve) => server.close(resolve))
  return port
}

/** A Node whose kubelet the apiserver finds at 127.0.0.1:`port` (its status: an InternalIP and the kubelet endpoint). */
async function addressedNode (name: string, port: number): Promise<void> {
  await stack.fixtures.node(name)
  const node = await stack.admin.must('GET', `/api/v1/nodes/${name}`)
  node.status = { addresses: [{ type: 'InternalIP', address: '127.0.0.1' }], daemonEndpoints: { kubeletEndpoint: { Port: port } } }
  await stack.admin.must('PUT', `/api/v1/nodes/${name}/status`, { body: node })
}

/** A pod bound to `nodeName` whose status says Running (kubectl attach and port-forward insist on it). */
async function runningPod (name: string, nodeName: string): Promise<void> {
  await stack.fixtures.pod(ns, name, { nodeName, serviceAccount: 'default' })
  const pod = await stack.admin.must('GET', `/api/v1/namespaces/${ns}/pods/${name}`)
  const startedAt = new Date().toISOString()
  pod.status = {
    phase: 'Running',
    containerStatuses: [{ name: 'app', ready: true, restartCount: 0, image: 'registry.invalid/app:1', imageID: '', state: { running: { startedAt } } }],
  }
  await stack.admin.must('PUT', `/api/v1/namespaces/${ns}/pods/${name}/status`, { body: pod })
  await waitUntil(async () => (await stack.admin.get(`/api/v1/namespaces/${ns}/pods/${name}`)).body?.status?.phase === 'Running', 10_000, `pod ${name} Running`)
}

/** The upgrade request each client sends: a WebSocket GET (RFC 6455) or a SPDY/3.1 POST, with the subprotocols kubectl offers. */
function handshake (protocol: 'websocket' | 'spdy', sub: Subresource, pod: string, token: string) {
  const query = sub === 'portforward' ? 'ports=80' : sub === 'exec' ? 'command=true&stdout=true&stderr=true' : 'stdout=true&stderr=true'
  const headers: Array<[string, string]> = [['Authorization', `Bearer ${token}`], ['Connection', 'Upgrade']]
  if (protocol === 'websocket') {
    headers.push(['Upgrade', 'websocket'], ['Sec-WebSocket-Key', randomBytes(16).toString('base64')], ['Sec-WebSocket-Version', '13'],
      ['Sec-WebSocket-Protocol', sub === 'portforward' ? 'SPDY/3.1+portforward.k8s.io' : 'v5.channel.k8s.io, v4.channel.k8s.io'])
  } else {
    headers.push(['Upgrade', 'SPDY/3.1'], ['Content-Length', '0'])
    for (const v of sub === 'portforward' ? ['portforward.k8s.io'] : ['v5.channel.k8s.io', 'v4.channel.k8s.io']) headers.push(['X-Stream-Protocol-Version', v])
  }
  return { method: protocol === 'websocket' ? 'GET' : 'POST', target: `/api/v1/namespaces/${ns}/pods/${pod}/${sub}?${query}`, headers }
}

/**
 * The headers that carry meaning, by lower-cased name. Left out: Date and Audit-Id (per request;
 * HTTP/2 also stamps a Date on the 101, which Go's 101 lacks), and the hop-by-hop Connection and
 * Keep-Alive on answers that are not upgrades (the edge closes a refused upgrade's connection:
 * `Connection: close`; Node's server announces its keep-alive timeout on the others).
 */
function comparableHeaders (res: RawResponse): string[] {
  return res.headers
    .map(([k, v]) => [k.toLowerCase(), v] as const)
    .filter(([k]) => k !== 'date' && k !== 'audit-id' && ((k !== 'connection' && k !== 'keep-alive') || res.status === 101))
    .map(([k, v]) => `${k}: ${v}`)
    .sort()
}

/** The body as JSON, or its text when it is not JSON (an assertion then shows what came). */
function jsonOf (body: Buffer): unknown {
  try { return JSON.parse(body.toString('utf8')) } catch { return body.toString('utf8') }
}

async function runKubectl (pod: PodEnvironment, args: string[], env: NodeJS.ProcessEnv): Promise<RunResult> {
  return collect(spawnInPod(pod, (await binaries()).KUBECTL, args, env), { timeoutMs: 60_000 })
}

/**
 * What a kubectl run shows: its exit code, the upgrade requests it made with the answers
 * (`GET exec 101`, from its -v=6 log), and what it printed apart from that log — with the address
 * it talked to written as HOST:PORT (the edge's and the apiserver's differ; the kubelet's is kept).
 */
function summarise (r: RunResult, target: RawTarget): { code: number | null, upgrades: string[], output: string } {
  const upgrades: string[] = []
  const output: string[] = []
  for (const line of (r.stdout + r.stderr).split('\n')) {
    if (!/^[IWEF]\d{4} /.test(line)) { output.push(line.split(`${target.host}:${target.port}`).join('HOST:PORT')); continue }
    const m = /"Response" verb="(\w+)" url="[^"]*\/(exec|attach|portforward)(?:\?[^"]*)?" status="([^"]*)"/.exec(line)
    if (m !== null) upgrades.push(`${m[1]} ${m[2]} ${m[3]!.split(' ')[0]}`)
  }
  return { code: r.code, upgrades, output: output.join('\n').trim() }
}
