// Held watches against real HTTP/2 streams (node:http2 on 127.0.0.1 playing the cloud shim), where
// the tunnel-stream bookkeeping is Node's own: a refused resume must free its stream, every retry
// must really go out, kube-apiserver answering again resumes at once, and when the clients are
// done no stream is left open.
import t from 'tap'
import { EventEmitter, once } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import http2, { type ClientHttp2Session, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { HeldWatches } from '../../../src/edge/cache/held-watch.js'
import { rowCovers } from '../../../src/edge/cache/scope.js'
import { CacheStore } from '../../../src/edge/cache/store.js'
import { CacheTee } from '../../../src/edge/cache/tee.js'
import { CloudReachability } from '../../../src/edge/reachability.js'
import { requestInfo } from '../../../src/kube/request-info.js'
import type { TunnelClient } from '../../../src/tunnel/client.js'
import { waitUntil } from '../../helpers/wait.js'

const logger = pino({ level: 'silent' })
const CM = '/v1/configmaps'

/** What a held watch writes to its client. */
class FakeResponse extends EventEmitter {
  body = ''
  headersSent = false
  destroyed = false
  writableEnded = false
  writeHead (): this { this.headersSent = true; return this }
  flushHeaders (): void {}
  write (chunk: string | Buffer): boolean { this.body += chunk.toString(); return true }
  end (chunk?: string | Buffer): this {
    if (this.writableEnded) return this
    if (chunk !== undefined) this.body += chunk.toString()
    this.writableEnded = true
    this.emit('close')
    return this
  }

  lines (): any[] { return this.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)) }
}

/** The tunnel as held watches use it, over one real h2c session; counts open streams like TunnelClient. */
class H2Tunnel extends EventEmitter {
  state: { connected: boolean, since: number, lastError?: string } = { connected: false, since: Date.now(), lastError: 'cut' }
  openStreams = 0
  opened = 0
  constructor (private readonly session: ClientHttp2Session) { super() }
  open (headers: OutgoingHttpHeaders, options: { endStream?: boolean } = {}): http2.ClientHttp2Stream {
    const stream = this.session.request(headers, { endStream: options.endStream ?? false })
    this.opened++
    this.openStreams++
    stream.once('close', () => { this.openStreams-- })
    return stream
  }

  reconnect (): void {
    this.state = { connected: true, since: Date.now() }
    this.emit('connected')
  }
}

type Answer = (s: ServerHttp2Stream) => void
const refuse: Answer = (s) => { s.respond({ ':status': 503, 'x-ems-error': 'upstream-unreachable', 'content-type': 'application/json' }); s.end('{"kind":"Status","code":503}') }
const event = (name: string, rv: string): string =>
  JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: 'a', resourceVersion: rv } } }) + '\n'

async function setup (t: Tap, retryMs: number, answers: Answer[]): Promise<{ tunnel: H2Tunnel, watches: HeldWatches, reachability: CloudReachability, hold: (rv: string) => FakeResponse, serverStreams: () => number }> {
  const store = CacheStore.open(await mkdtemp(join(tmpdir(), 'held-')), { maxSizeBytes: 1 << 24, logger, covers: rowCovers })
  t.teardown(() => store.close())
  store.putObject(CM, 'a', 'c1', '11', JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'c1', namespace: 'a', resourceVersion: '11' } }))
  const scope = { resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }
  store.commitList({ ...scope, kind: 'ConfigMap', apiVersion: 'v1', rv: '20' }, new Set(['a/c1']), (o) => rowCovers(scope, o))

  let serverOpen = 0
  const server = http2.createServer()
  server.on('stream', (s) => {
    serverOpen++
    s.once('close', () => { serverOpen-- })
    s.on('error', () => {})
    ;(answers.shift() ?? refuse)(s)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`)
  await once(session, 'connect')
  t.teardown(() => { session.destroy(); server.close() })

  const tunnel = new H2Tunnel(session)
  const reachability = new CloudReachability(tunnel as unknown as TunnelClient)
  const tee = new CacheTee(store, logger, { maxBodyBytes: 1 << 20, maxCollectingBytes: 1 << 21 })
  const watches = new HeldWatches({ store, tee, tunnel: tunnel as unknown as TunnelClient, reachability, logger, bookmarkIntervalMs: 60_000, timeoutMs: 60_000, retryMs })
  const hold = (rv: string): FakeResponse => {
    const url = `/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=${rv}`
    const parsed = requestInfo('GET', url)
    if (!parsed.ok) throw new Error(parsed.message)
    const res = new FakeResponse()
    watches.hold(parsed.info, url, {}, res as unknown as ServerResponse, Date.now())
    return res
  }
  return { tunnel, watches, reachability, hold, serverStreams: () => serverOpen }
}

interface Tap { teardown: (fn: () => void) => void }

async function until (what: string, predicate: () => boolean, timeoutMs = 10_000): Promise<void> {
  await waitUntil(predicate, { what, timeoutMs, intervalMs: 5 })
}

t.test('refused resumes free their streams and are retried until kube-apiserver answers; then nothing is left open', async (t) => {
  const watchStream: { s?: ServerHttp2Stream } = {}
  const answers: Answer[] = [refuse, refuse, refuse, (s) => {
    watchStream.s = s
    s.respond({ ':status': 200, 'content-type': 'application/json' })
    s.write(event('c9', '21'))
  }]
  const { tunnel, watches, hold, serverStreams } = await setup(t, 30, answers)
  const watch = hold('20')
  t.equal(watches.count, 1, 'held')
  tunnel.reconnect()
  await until('the resumed watch to deliver the missed event', () => watch.lines().length === 1)
  t.equal(tunnel.opened, 4, 'three refused attempts, then the one that got through')
  t.match(watch.lines(), [{ type: 'ADDED', object: { metadata: { name: 'c9', resourceVersion: '21' } } }])
  t.equal(tunnel.openStreams, 1, 'only the resumed watch holds a stream: the refused ones were released')
  t.equal(watches.count, 0, 'no longer held once resumed upstream')
  t.equal(watches.total, 1)

  watch.end() // the client goes away
  await until('the resumed stream to close', () => tunnel.openStreams === 0)
  await until('the shim side of it to close', () => serverStreams() === 0)
  t.equal(watches.total, 0)
})

t.test('kube-apiserver answering again resumes a held watch at once, not at its next retry', async (t) => {
  const answers: Answer[] = [refuse, (s) => { s.respond({ ':status': 200, 'content-type': 'application/json' }); s.write(event('c9', '21')) }]
  const { tunnel, watches, reachability, hold } = await setup(t, 600_000, answers)
  const watch = hold('20')
  tunnel.reconnect()
  await until('the first (refused) attempt', () => tunnel.opened === 1 && tunnel.openStreams === 0)
  t.ok(reachability.upstreamDown, 'the refusal is recorded: kube-apiserver is unreachable')
  t.equal(watches.count, 1)
  const back = Date.now()
  reachability.upstreamAnswered() // what the relay does when any answer of kube-apiserver comes back
  await until('the resume', () => watch.lines().length === 1)
  t.comment(`resumed ${Date.now() - back} ms after kube-apiserver answered (the retry period is 600 s)`)
  t.equal(tunnel.opened, 2)
  t.equal(watches.count, 0)
  watch.end()
  await until('no stream left', () => tunnel.openStreams === 0)
})

t.test('one held watch getting through resumes the others at once', async (t) => {
  const ok: Answer = (s) => { s.respond({ ':status': 200, 'content-type': 'application/json' }); s.write(event('c9', '21')) }
  const { tunnel, watches, reachability, hold } = await setup(t, 600_000, [refuse, ok, ok])
  const first = hold('20')
  tunnel.reconnect()
  await until('the first watch refused', () => tunnel.opened === 1 && tunnel.openStreams === 0)
  t.ok(reachability.upstreamDown)
  // A watch held while the tunnel is up tries at once; it gets through, and so the first one follows.
  const second = hold('20')
  await until('both resumed', () => first.lines().length === 1 && second.lines().length === 1)
  t.equal(tunnel.opened, 3)
  t.equal(watches.count, 0)
  t.notOk(reachability.upstreamDown, 'a resume that got through counts as kube-apiserver answering')
  first.end()
  second.end()
  await until('no stream left', () => tunnel.openStreams === 0)
})

t.test('a 429 from kube-apiserver (not ready yet) keeps the watch held and retries after Retry-After, no ERROR to the client', async (t) => {
  const busy: Answer = (s) => { s.respond({ ':status': 429, 'retry-after': '1', 'content-type': 'application/json' }); s.end('{"kind":"Status","code":429,"reason":"TooManyRequests"}') }
  const ok: Answer = (s) => { s.respond({ ':status': 200, 'content-type': 'application/json' }); s.write(event('c9', '21')) }
  const { tunnel, watches, hold } = await setup(t, 600_000, [busy, ok])
  const watch = hold('20')
  tunnel.reconnect()
  await until('the resume after Retry-After', () => watch.lines().length === 1)
  t.equal(tunnel.opened, 2)
  t.match(watch.lines(), [{ type: 'ADDED', object: { metadata: { name: 'c9' } } }], 'no ERROR event, the missed event')
  t.equal(watches.count, 0)
  watch.end()
  await until('no stream left', () => tunnel.openStreams === 0)
})
