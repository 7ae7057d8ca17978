// The tunnel client against real tunnel peers: TunnelServers (TLS 1.3, HTTP/2, client
// certificates) on 127.0.0.1 or ::1, each behind a small TCP front that can be killed (RST and a
// refused port: kill -9) or frozen (bytes no longer read or forwarded: SIGSTOP).
import t from 'tap'
import { once } from 'node:events'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ServerHttp2Stream } from 'node:http2'
import { pino } from 'pino'
import { TunnelClient, type TunnelClientOptions } from '../../src/tunnel/client.js'
import { TunnelServer, type NodeRefusal } from '../../src/tunnel/server.js'
import type { Resolve, ServerEntry } from '../../src/tunnel/server-list.js'
import { CertificateAuthority, type KeyPair } from '../cluster/pki.js'
import { createPrivateKey, createPublicKey } from 'node:crypto'
import { issueClientCertificate, newNodeKey, privateKeyPem } from '../../src/pki/x509.js'
import { waitForValue, waitUntil } from '../helpers/wait.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-tunnel-client-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const ca = await CertificateAuthority.create(dir, 'ca', 'test-ca')
const read = (f: string): Promise<string> => readFile(f, 'utf8')
const caPem = await read(ca.certFile)
// By IP, as the test bed's shim certificate; and one valid only for a DNS name.
const byIp = await ca.issue('cloud-ip', { cn: 'cloud', usage: 'server', ipSans: ['127.0.0.1', '::1'] })
const byName = await ca.issue('cloud-name', { cn: 'cloud', usage: 'server', dnsSans: ['shims.test'] })
const node = await ca.issue('node', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
// Signed by the tunnel CA but no node identity: the shim completes the handshake, then closes.
const stranger = await ca.issue('stranger', { cn: 'stranger', usage: 'client' })

/** A tunnel peer behind a TCP front that can be killed or frozen. */
class Peer {
  /** Connections the front accepted (each one a dial by the client), by time. */
  readonly accepts: number[] = []
  private readonly sockets = new Set<net.Socket>()
  private frozen = false

  private constructor (readonly name: string, readonly tunnel: TunnelServer, private readonly front: net.Server,
    readonly host: string, readonly port: number, readonly held: ServerHttp2Stream[]) {}

  static async start (name: string, opts: { host?: string, port?: number, cert?: KeyPair, logs?: LogLine[], refuseNode?: (node: string) => NodeRefusal | undefined, refusals?: string[] } = {}): Promise<Peer> {
    const host = opts.host ?? '127.0.0.1'
    const front = net.createServer()
    front.listen(opts.port ?? 0, host)
    await once(front, 'listening')
    const cert = opts.cert ?? byIp
    const held: ServerHttp2Stream[] = []
    const tunnel = new TunnelServer({
      host: '127.0.0.1', port: 0, ca: caPem, cert: await read(cert.certFile), key: await read(cert.keyFile),
      maxConcurrentStreamsPerNode: 100, heartbeatPeriodMs: 60_000,
      logger: opts.logs === undefined ? pino({ level: 'silent' }) : pino({ level: 'info' }, { write: (s: string) => { opts.logs!.push(JSON.parse(s)) } }),
      refuseNode: opts.refuseNode,
      onConnectionRefused: (reason) => opts.refusals?.push(reason),
      onStream: (stream, headers) => {
        stream.respond({ ':status': 200 })
        // /hold: a long watch, answered and kept open.
        if (headers[':path'] === '/hold') { stream.write('held\n'); held.push(stream); return }
        stream.end(name)
      },
    })
    const upstream = (await tunnel.listen()).port
    const peer = new Peer(name, tunnel, front, host, (front.address() as net.AddressInfo).port, held)
    front.on('connection', (socket) => peer.accept(socket, upstream))
    return peer
  }

  get entry (): ServerEntry { return { host: this.host, port: this.port } }

  get label (): string { return `${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}` }

  private accept (socket: net.Socket, upstream: number): void {
    this.accepts.push(Date.now())
    this.sockets.add(socket)
    socket.once('close', () => this.sockets.delete(socket))
    socket.on('error', () => {})
    // A frozen process: the kernel accepts, nobody reads.
    if (this.frozen) { socket.pause(); return }
    const up = net.connect(upstream, '127.0.0.1')
    this.sockets.add(up)
    up.once('close', () => { this.sockets.delete(up); socket.destroy() })
    socket.once('close', () => up.destroy())
    up.on('error', () => {})
    socket.pipe(up).pipe(socket)
  }

  /** kill -9: every connection reset, the port refuses. */
  async kill (): Promise<void> {
    const closed = new Promise((resolve) => this.front.close(resolve))
    for (const s of this.sockets) s.resetAndDestroy()
    await closed
  }

  /** SIGSTOP: connections stay open, nothing is read or answered any more. */
  freeze (): void {
    this.frozen = true
    for (const s of this.sockets) { s.unpipe(); s.pause() }
  }

  async close (): Promise<void> {
    if (this.front.listening) await this.kill()
    for (const s of this.sockets) s.destroy()
    await this.tunnel.close(0)
  }
}

async function peers (n: number, opts: { cert?: KeyPair } = {}): Promise<Peer[]> {
  const all = await Promise.all(Array.from({ length: n }, (_, i) => Peer.start(String.fromCharCode(97 + i), opts)))
  t.teardown(() => Promise.all(all.map((p) => p.close())))
  return all
}

type LogLine = Record<string, any>

function client (servers: ServerEntry[], opts: Partial<TunnelClientOptions> & { keyPair?: KeyPair } = {}): { tunnel: TunnelClient, logs: LogLine[] } {
  const logs: LogLine[] = []
  const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s)) } })
  const keyPair = opts.keyPair ?? node
  const tunnel = new TunnelClient({
    servers, ca: caPem,
    heartbeatPeriodMs: 200, heartbeatTimeoutMs: 400, connectTimeoutMs: 2000, backoffInitialMs: 50, backoffMaxMs: 400,
    logger, ...opts,
    cert: pems.get(keyPair.certFile)!, key: pems.get(keyPair.keyFile)!,
  })
  t.teardown(() => tunnel.close(0))
  return { tunnel, logs }
}
/** The client key pairs' PEM text, by file. */
const pems = new Map<string, string>()
for (const kp of [node, stranger]) {
  pems.set(kp.certFile, await read(kp.certFile))
  pems.set(kp.keyFile, await read(kp.keyFile))
}

/** Resolves on the next 'connected' event (bounded). */
async function nextConnect (tunnel: TunnelClient, what: string, timeoutMs = 15_000): Promise<void> {
  const timer = setTimeout(() => tunnel.emit('error', new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs)
  try { await once(tunnel, 'connected') } finally { clearTimeout(timer) }
}

/** Starts the client and waits for its first connection. */
async function start (tunnel: TunnelClient, what = 'the first connection'): Promise<void> {
  const connected = nextConnect(tunnel, what)
  tunnel.start()
  await connected
}

async function get (tunnel: TunnelClient, path = '/'): Promise<string> {
  const stream = tunnel.open({ ':method': 'GET', ':path': path }, { endStream: true })
  let body = ''
  stream.setEncoding('utf8').on('data', (d: string) => { body += d })
  await once(stream, 'end')
  return body
}

/** Opens a held stream (a long watch) and resolves once its first bytes arrived; `ended` says how it ended. */
async function hold (tunnel: TunnelClient): Promise<{ ended: Promise<{ error: string | undefined, rstCode: number | undefined }> }> {
  const stream = tunnel.open({ ':method': 'GET', ':path': '/hold' }, { endStream: true })
  let error: string | undefined
  stream.on('error', (err) => { error = err.message })
  const ended = new Promise<{ error: string | undefined, rstCode: number | undefined }>((resolve) =>
    stream.once('close', () => resolve({ error, rstCode: stream.rstCode })))
  stream.resume()
  await once(stream, 'data')
  return { ended }
}

t.test('kill -9 of the connected server: the next one in order takes over; held streams end; back to the first in a new round', async (t) => {
  const [a, b, c] = await peers(3)
  const { tunnel, logs } = client([a!.entry, b!.entry, c!.entry])
  await start(tunnel)
  t.match(tunnel.state, { connected: true, server: a!.label }, 'the first server of the list')
  t.equal(await get(tunnel), 'a')
  const watch = await hold(tunnel)

  let next = nextConnect(tunnel, 'failover to b')
  const killed = Date.now()
  await a!.kill()
  await next
  t.comment(`failover a -> b took ${Date.now() - killed} ms`)
  t.match(tunnel.state, { connected: true, server: b!.label })
  t.equal(await get(tunnel), 'b', 'new streams go to the next server')
  const end = await watch.ended
  t.pass(`the held stream on the dead server ended (error: ${end.error ?? 'none'}, rstCode ${end.rstCode})`)
  const failover = logs.find((l) => l.msg === 'tunnel failing over to the next server')
  t.match(failover, { level: 40, from: a!.label, to: b!.label, servers: [a!.label, b!.label, c!.label], reason: /\S/ }, 'logged at warn with the reason and the servers')

  next = nextConnect(tunnel, 'failover to c')
  await b!.kill()
  await next
  t.match(tunnel.state, { connected: true, server: c!.label })

  // a comes back at its address; c dies: a new round starts with a.
  const a2 = await Peer.start('a2', { port: a!.port })
  t.teardown(() => a2.close())
  next = nextConnect(tunnel, 'failover to a again')
  await c!.kill()
  await next
  t.match(tunnel.state, { connected: true, server: a!.label })
  t.equal(await get(tunnel), 'a2')
  t.same(logs.filter((l) => l.msg === 'tunnel connected').map((l) => l.server), [a!.label, b!.label, c!.label, a!.label])
  t.ok(logs.filter((l) => l.msg === 'tunnel connected').slice(1).every((l) => typeof l.failoverMs === 'number'), 'each reconnection says how long failover took')
})

t.test('a frozen server (no PING answer within heartbeatTimeout): the session is destroyed, held streams end, the next server takes over', async (t) => {
  const [a, b] = await peers(2)
  const { tunnel, logs } = client([a!.entry, b!.entry])
  await start(tunnel)
  const watch = await hold(tunnel)
  t.equal(a!.held.length, 1)

  const disconnected = once(tunnel, 'disconnected')
  const next = nextConnect(tunnel, 'failover to b')
  const frozen = Date.now()
  a!.freeze()
  const [reason] = await disconnected
  t.match(reason, /heartbeat timeout/, 'the keepalive noticed')
  const end = await watch.ended
  t.comment(`held stream ended ${Date.now() - frozen} ms after the freeze (heartbeat 200 ms, timeout 400 ms): ${end.error ?? 'no error'}`)
  await next
  t.comment(`on b ${Date.now() - frozen} ms after the freeze`)
  t.match(tunnel.state, { connected: true, server: b!.label })
  t.equal(await get(tunnel), 'b')
  t.match(logs.find((l) => l.msg === 'tunnel failing over to the next server'), { level: 40, from: a!.label, to: b!.label, reason: /heartbeat timeout/ })
})

t.test('GOAWAY (a shim shutting down): new streams move to the next server at once, streams in flight finish on the old one', async (t) => {
  const [a, b] = await peers(2)
  const { tunnel, logs } = client([a!.entry, b!.entry], { heartbeatPeriodMs: 60_000, heartbeatTimeoutMs: 10_000 })
  await start(tunnel)
  const stream = tunnel.open({ ':method': 'GET', ':path': '/hold' }, { endStream: true })
  let body = ''
  stream.setEncoding('utf8').on('data', (d: string) => { body += d })
  await once(stream, 'data')

  const next = nextConnect(tunnel, 'failover to b')
  const closing = a!.tunnel.close(10_000) // GOAWAY, then waits for the held stream
  await next
  t.match(tunnel.state, { connected: true, server: b!.label })
  t.equal(await get(tunnel), 'b')
  a!.held[0]!.end('bye')
  await once(stream, 'end')
  t.equal(body, 'held\nbye', 'the stream in flight finished on the draining connection')
  await closing
  t.match(logs.find((l) => l.msg === 'tunnel failing over to the next server'), { from: a!.label, to: b!.label, reason: 'cloud sent GOAWAY' })
})

t.test('a DNS name with several addresses: each is a server; the certificate is checked against the name', async (t) => {
  let a: Peer | undefined
  let b: Peer | undefined
  // The same port on 127.0.0.1 and ::1, as one Service name would give.
  for (let i = 0; i < 20 && b === undefined; i++) {
    await a?.close()
    a = await Peer.start('a', { cert: byName })
    b = await Peer.start('b', { host: '::1', port: a.port, cert: byName }).catch(() => undefined)
  }
  t.ok(a !== undefined && b !== undefined, 'a port free on both loopback addresses')
  t.teardown(async () => { await a!.close(); await b!.close() })
  const lookups: string[] = []
  const resolve: Resolve = async (host) => { lookups.push(host); return host === 'shims.test' ? ['127.0.0.1', '::1'] : [] }
  const { tunnel } = client([{ host: 'shims.test', port: a!.port }], { resolve, random: () => 0.999999 })
  await start(tunnel)
  t.match(tunnel.state, { connected: true, server: `shims.test:${a!.port} (127.0.0.1)` })
  t.equal(await get(tunnel), 'a')

  const next = nextConnect(tunnel, 'failover to the second address')
  await a!.kill()
  await next
  t.match(tunnel.state, { connected: true, server: `shims.test:${a!.port} (::1)` })
  t.equal(await get(tunnel), 'b')
  t.same(lookups, ['shims.test'], 'resolved when the round started')

  // The name, not the address, is what the certificate must name: another serverName fails TLS.
  const { tunnel: wrong } = client([{ host: 'shims.test', port: b!.port }], { resolve, serverName: 'other.test', random: () => 0.999999 })
  wrong.start()
  await waitFor(() => !wrong.state.connected && /altnames|Hostname/i.test(wrong.state.lastError ?? ''), 'the TLS name check to fail')
  t.match(wrong.state, { connected: false, lastError: /other\.test/ })
})

t.test('the backoff does not hammer: one delay per failed dial across the whole list, growing until a connection proves itself', async (t) => {
  // Shims that complete TLS and then close at once (this client is no node): without the
  // proof-by-PING rule the handshake would reset the backoff every time.
  const [a, b, c] = await peers(3)
  const { tunnel } = client([a!.entry, b!.entry, c!.entry], { keyPair: stranger, random: () => 0.999999 })
  tunnel.start()
  const all = (): number[] => [...a!.accepts, ...b!.accepts, ...c!.accepts].sort((x, y) => x - y)
  await waitFor(() => all().length >= 7, 'seven dials')
  await tunnel.close(0)
  const dials = all()
  // random() pinned just below 1: delays are 49, 99, 199, 399, 399, 399 ms (cap 400).
  const delays = [49, 99, 199, 399, 399, 399]
  for (let k = 1; k < 7; k++) {
    const minimum = delays.slice(0, k).reduce((x, y) => x + y, 0)
    t.ok(dials[k]! - dials[0]! >= minimum - 5, `dial ${k + 1} came ${dials[k]! - dials[0]!} ms after the first (at least ${minimum} ms of backoff)`)
  }
  t.same([a!.accepts.length >= 2, b!.accepts.length >= 2, c!.accepts.length >= 2], [true, true, true], 'the dials went round the list')
  t.ok(a!.accepts[1]! > c!.accepts[0]! && b!.accepts[0]! > a!.accepts[0]! && c!.accepts[0]! > b!.accepts[0]!, 'in configured order')
})

t.test('the first server is down at start: the next one after a short delay; the dead one is reported', async (t) => {
  const [a, b] = await peers(2)
  await a!.kill()
  const { tunnel, logs } = client([a!.entry, b!.entry])
  await start(tunnel, 'a connection to b')
  t.match(tunnel.state, { connected: true, server: b!.label })
  t.match(logs.find((l) => l.msg === 'tunnel failing over to the next server'), { from: a!.label, to: b!.label, reason: /ECONNREFUSED/ })
})

t.test('a single server given as host and port still works (the one-server API)', async (t) => {
  const [a] = await peers(1)
  const { tunnel } = client([], { servers: undefined, host: a!.host, port: a!.port })
  await start(tunnel, 'the connection')
  t.match(tunnel.state, { connected: true, server: a!.label })
  t.equal(await get(tunnel), 'a')
})

async function waitFor (predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  await waitUntil(predicate, { what, timeoutMs, intervalMs: 20 })
}

t.test('useCredentials: the next connection uses the new certificate; a held stream on the old one runs to its end, then the old connection closes', async (t) => {
  const [a] = await peers(1)
  const { tunnel, logs } = client([a!.entry])
  await start(tunnel)
  const held = await hold(tunnel)
  const renewed = await ca.issue('node-renewed', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
  const replaced = once(tunnel, 'replaced')
  tunnel.useCredentials({ ca: caPem, cert: await read(renewed.certFile), key: await read(renewed.keyFile) })
  await replaced
  t.equal(a!.accepts.length, 2, 'one more dial')
  t.equal(await get(tunnel), 'a', 'new streams go through')
  t.equal(a!.tunnel.openConnections(), 2, 'the old connection stays while its held stream is open')
  a!.held[0]!.end('done\n')
  const ended = await held.ended
  t.same(ended, { error: undefined, rstCode: 0 }, 'the held stream ended normally, not cut')
  await waitFor(() => a!.tunnel.openConnections() === 1, 'the old connection to close once idle')
  t.ok(tunnel.state.connected, 'connected throughout')
  t.ok(logs.some((l) => l.msg === 'tunnel connected with the new certificate; the old connection closes when its streams end'))
  t.notOk(logs.some((l) => l.msg === 'tunnel disconnected'), 'never reported down')
})

t.test('two edges with one node identity: the newer connection wins, the older is told why and its held stream finishes; the shim logs both peers', async (t) => {
  const serverLogs: LogLine[] = []
  const a = await Peer.start('a', { logs: serverLogs })
  t.teardown(() => a.close())
  const first = client([a.entry], { backoffInitialMs: 5000, backoffMaxMs: 10_000 })
  await start(first.tunnel, 'the first edge')
  const held = await hold(first.tunnel)
  const second = client([a.entry], { backoffInitialMs: 5000, backoffMaxMs: 10_000 })
  await start(second.tunnel, 'the second edge')
  const told = await waitForValue(() => first.logs.find((l) => /replaced this tunnel connection by a newer one/.test(l.msg)), { what: 'the older edge told why' })
  t.equal(told.level, 40, 'the older edge logs it at warn')
  t.notOk(first.tunnel.state.connected, 'the older edge no longer counts itself connected')
  t.ok(second.tunnel.state.connected, 'the newer edge is connected')
  t.equal(await get(second.tunnel), 'a', 'the newer edge is served')
  const line = serverLogs.find((l) => /same node identity: the newer one wins/.test(l.msg))
  t.match(line, { level: 40, node: 'edge-1', remote: /^127\.0\.0\.1:\d+$/, previousRemote: /^127\.0\.0\.1:\d+$/ }, 'the shim logs both peer addresses at warn')
  t.not(line?.remote, line?.previousRemote, 'two different peers')
  a.held[0]!.end('done\n')
  t.same(await held.ended, { error: undefined, rstCode: 0 }, 'the older edge\'s held stream finished, not cut')
})

t.test('useCredentials with a certificate the shim refuses: the working connection stays', async (t) => {
  const [a] = await peers(1)
  const { tunnel, logs } = client([a!.entry])
  await start(tunnel)
  const other = await CertificateAuthority.create(join(dir, 'other-ca'), 'other', 'other-ca')
  const foreign = await other.issue('node-foreign', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
  tunnel.useCredentials({ ca: caPem, cert: await read(foreign.certFile), key: await read(foreign.keyFile) })
  await waitFor(() => logs.some((l) => l.msg === 'tunnel dial with the new certificate failed; keeping the current connection'), 'the refused dial')
  t.ok(tunnel.state.connected, 'still connected')
  t.equal(await get(tunnel), 'a', 'the old connection still carries requests')
})

t.test('an outage logs few warn lines: the first failed dial with its reason, then one per interval with a count; the reconnect says how long it was down', async (t) => {
  const [a] = await peers(1)
  let clock = 1_000_000
  const { tunnel, logs } = client([a!.entry], { dialFailureLogIntervalMs: 60_000, now: () => clock })
  let connected = nextConnect(tunnel, 'the first connection')
  tunnel.start()
  await connected
  await a!.kill()
  // Every failed dial schedules the next one (so does the disconnect itself, once).
  const dials = (): number => logs.filter((l) => l.msg === 'tunnel reconnect scheduled').length
  const warns = (): LogLine[] => logs.filter((l) => l.level === 40)
  // Ten failed dials within one (frozen) minute: the disconnect line and one dial-failure line.
  const before = dials() + 1
  await waitUntil(() => dials() >= before + 10, { what: 'ten failed dials', timeoutMs: 20_000 })
  t.same(warns().map((l) => l.msg), ['tunnel disconnected', 'tunnel dial failed'], `two warn lines for ${dials() - before} failed dials`)
  t.match(warns()[1], { reason: /ECONNREFUSED/, server: a!.label, failedDials: 1 }, 'the first failed dial, with its reason')
  // A minute later (the test's clock), the next failed dial logs once, with the count since the last line.
  clock += 60_000
  const mark = dials()
  await waitUntil(() => dials() >= mark + 3, { what: 'three more failed dials', timeoutMs: 20_000 })
  const still = warns().filter((l) => l.msg === 'tunnel still down: dials keep failing')
  t.equal(still.length, 1, 'one "still down" line for the second minute')
  t.ok(still[0]!.failedDials >= 10, `counting the dials since the last line, none logged one by one (${still[0]!.failedDials})`)
  t.equal(still[0]!.downSeconds, 60, 'and how long the tunnel has been down')

  clock += 30_000
  const back = await Peer.start('a2', { port: a!.port })
  t.teardown(() => back.close())
  connected = nextConnect(tunnel, 'the reconnection')
  await connected
  const reconnect = logs.filter((l) => l.msg === 'tunnel connected').at(-1)
  t.match(reconnect, { level: 30, downSeconds: 90 }, 'the reconnect line says how long the tunnel was down')
  t.ok(reconnect!.failedDials >= 13, `and how many dials failed (${reconnect!.failedDials})`)
  t.equal(warns().length, 3, 'three warn lines for the whole outage')
})

t.test('a server certificate from another CA: the first failed dial is a warn line that says so', async (t) => {
  const other = await CertificateAuthority.create(join(dir, 'other'), 'other-ca', 'another-ca')
  const foreign = await other.issue('foreign', { cn: 'cloud', usage: 'server', ipSans: ['127.0.0.1'] })
  const [a] = await peers(1, { cert: foreign })
  const { tunnel, logs } = client([a!.entry])
  tunnel.start()
  const line = await waitForValue(() => logs.find((l) => l.msg === 'tunnel dial failed'), { what: 'tunnel dial failed' })
  t.equal(line.level, 40, 'at warn')
  t.match(line.reason, /certificate/i, `naming the certificate problem: ${line.reason}`)
})

t.test('an expired client certificate: the shim refuses it after the handshake, the edge backs off (no reset on that connect) and its warn line names the expiry', async (t) => {
  const [a] = await peers(1)
  const key = newNodeKey()
  const expiredAt = new Date(Date.now() - 3_600_000)
  const cert = issueClientCertificate({
    caCertPem: caPem, caKey: createPrivateKey(await read(ca.keyFile)), subject: { cn: 'system:node:edge-1', o: ['system:nodes'] },
    publicKey: createPublicKey(key), notBefore: new Date(expiredAt.getTime() - 86_400_000), notAfter: expiredAt,
  })
  const { tunnel, logs } = client([a!.entry], { backoffInitialMs: 50, backoffMaxMs: 400, random: () => 0.9 })
  tunnel.useCredentials({ ca: caPem, cert, key: privateKeyPem(key) })
  const delays = (): number[] => logs.filter((l) => l.msg === 'tunnel reconnect scheduled').map((l) => l.delayMs as number)
  await waitUntil(() => delays().length >= 8, { what: 'eight failed dials', timeoutMs: 20_000 })
  t.notOk(tunnel.state.connected, 'never connected')
  // Full jitter draws each delay below a cap that doubles per failure (50, 100, 200, 400), here at
  // 0.9 of it: a reset after each TLS connect would keep every delay at 45 ms.
  t.ok(delays().slice(3).every((d) => d > 50), `the delays grow past the first cap: ${delays().join(', ')}`)
  const warn = logs.find((l) => l.msg === 'tunnel dial failed')
  t.equal(warn?.level, 40, 'a warn line')
  t.match(warn?.reason, new RegExp(`^client certificate expired at ${expiredAt.toISOString().slice(0, 19)}`), `naming the expiry: ${warn?.reason}`)
  t.equal(logs.filter((l) => l.level === 40).length, 1, 'one warn line for all these dials (rate-limited)')
  t.match(tunnel.state, { connected: false, lastError: /^client certificate expired at / }, 'the tunnel state (readyz) says so too')
})

t.test('a revoked node: the shim refuses it after the handshake (warn line with node and peer, counted as revoked); the edge backs off and never serves a stream', async (t) => {
  const serverLogs: LogLine[] = []
  const refusals: string[] = []
  const a = await Peer.start('a', { logs: serverLogs, refusals, refuseNode: (n) => n === 'edge-1' ? { reason: 'revoked', message: 'on the deny list' } : undefined })
  t.teardown(() => a.close())
  const { tunnel, logs } = client([a.entry], { backoffInitialMs: 50, backoffMaxMs: 400, random: () => 0.9 })
  tunnel.start()
  const delays = (): number[] => logs.filter((l) => l.msg === 'tunnel reconnect scheduled').map((l) => l.delayMs as number)
  await waitUntil(() => delays().length >= 6, { what: 'six failed dials', timeoutMs: 20_000 })
  t.notOk(tunnel.state.connected, 'never connected')
  t.notOk(logs.some((l) => l.msg === 'tunnel connected'), 'never reported connected')
  t.ok(delays().slice(3).every((d) => d > 50), `the backoff grows: ${delays().join(', ')}`)
  const line = serverLogs.find((l) => l.msg === 'tunnel connection refused: node revoked')
  t.match(line, { level: 40, node: 'edge-1', remote: /^127\.0\.0\.1:\d+$/, reason: 'on the deny list' }, 'the shim says whom it refused and why')
  t.ok(refusals.length >= 6 && refusals.every((r) => r === 'revoked'), `each refusal counted as revoked (${refusals.length})`)
  t.equal(a.tunnel.connectedNodes().length, 0, 'no node registered')
  t.match(logs.find((l) => l.msg === 'tunnel dial failed'), { level: 40, reason: 'the shim closed the connection: on the deny list' }, 'the edge\'s warn line gives the shim\'s reason')
  t.match(tunnel.state, { connected: false, lastError: 'the shim closed the connection: on the deny list' }, 'and so does its tunnel state (readyz)')
  // Another node on the same shim is served.
  const edge2 = await ca.issue('node-2', { cn: 'system:node:edge-2', organizations: ['system:nodes'], usage: 'client' })
  for (const f of [edge2.certFile, edge2.keyFile]) pems.set(f, await read(f))
  const other = client([a.entry], { keyPair: edge2 })
  await start(other.tunnel, 'the other node')
  t.equal(await get(other.tunnel), 'a', 'a node not on the list is served')
})

t.test('a node revoked while connected: recheck() closes its live connection with the reason (GOAWAY), counted; the edge logs why and backs off', async (t) => {
  const serverLogs: LogLine[] = []
  const refusals: string[] = []
  let revoked = false
  const a = await Peer.start('a', { logs: serverLogs, refusals, refuseNode: () => revoked ? { reason: 'no-node-object', message: 'no Node object with this name' } : undefined })
  t.teardown(() => a.close())
  const { tunnel, logs } = client([a.entry], { backoffInitialMs: 50, backoffMaxMs: 400, random: () => 0.9 })
  await start(tunnel)
  const held = await hold(tunnel)
  a.tunnel.recheck()
  t.equal(a.tunnel.connectedNodes().length, 1, 'a recheck with nothing refused keeps the connection')
  revoked = true
  a.tunnel.recheck()
  const ended = await held.ended
  t.ok(ended.error !== undefined || ended.rstCode !== undefined, `the held stream (a watch) is cut, not drained: ${JSON.stringify(ended)}`)
  const edgeLine = await waitForValue(() => logs.find((l) => l.msg === 'the shim closed this tunnel connection'), { what: 'the edge\'s warn line', timeoutMs: 5000 })
  t.match(edgeLine, { level: 40, reason: 'no Node object with this name' }, 'the edge logs the shim\'s reason')
  const shimLine = serverLogs.find((l) => l.msg === 'tunnel connection closed: no Node object')
  t.match(shimLine, { level: 40, node: 'edge-1', remote: /^127\.0\.0\.1:\d+$/, reason: 'no Node object with this name' }, 'the shim logs whom it cut off and why')
  t.equal(refusals[0], 'no-node-object', 'counted with its reason')
  await waitUntil(() => refusals.length >= 3, { what: 'redials refused too', timeoutMs: 10_000 })
  t.notOk(tunnel.state.connected, 'the edge stays disconnected')
  t.equal(a.tunnel.connectedNodes().length, 0, 'no node registered')
})
