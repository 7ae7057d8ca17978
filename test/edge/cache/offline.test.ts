import t from 'tap'
import { EventEmitter } from 'node:events'
import { mkdtemp } from 'node:fs/promises'
import type { ServerResponse } from 'node:http'
import { PassThrough } from 'node:stream'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { heldWatchTimeoutMs, HeldWatches } from '../../../src/edge/cache/held-watch.js'
import { OfflineCacheAnswers } from '../../../src/edge/cache/offline.js'
import { rowCovers } from '../../../src/edge/cache/scope.js'
import { CacheStore } from '../../../src/edge/cache/store.js'
import { CacheTee } from '../../../src/edge/cache/tee.js'
import { CloudReachability } from '../../../src/edge/reachability.js'
import { decodeObject, decodeWatchEvent } from '../../../src/kube/protobuf/codec.js'
import { requestInfo } from '../../../src/kube/request-info.js'
import { FrameSplitter } from '../../../src/util/frames.js'
import type { TunnelClient } from '../../../src/tunnel/client.js'
import { waitUntil } from '../../helpers/wait.js'

const logger = pino({ level: 'silent' })
const SINCE = Date.parse('2026-11-26T06:00:00Z')
const CM = '/v1/configmaps'

/** Records what a handler writes, like a ServerResponse would send it. */
class FakeResponse extends EventEmitter {
  code = 0
  headers: Record<string, string> = {}
  body = ''
  headersSent = false
  destroyed = false
  writableEnded = false
  writeHead (code: number, headers: Record<string, string>): this { this.code = code; this.headers = headers; this.headersSent = true; return this }
  flushHeaders (): void {}
  // Bytes kept one char per byte (latin1) so protobuf answers can be read back exactly.
  write (chunk: string | Buffer): boolean { this.body += typeof chunk === 'string' ? chunk : chunk.toString('latin1'); return true }
  end (chunk?: string | Buffer): this { if (chunk !== undefined) this.write(chunk); this.writableEnded = true; this.emit('close'); return this }
  json (): any { return JSON.parse(this.body) }
  lines (): any[] { return this.body.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)) }
}

/** An upstream stream the test answers by hand (what TunnelClient.open returns). */
class FakeStream extends PassThrough {
  close (): void { this.destroy() }
  answer (headers: Record<string, string | number>, body: string): void {
    this.emit('response', headers)
    this.end(body)
  }
}

/** The tunnel as held watches see it: a state, 'connected' events, and streams the test answers. */
class FakeTunnel extends EventEmitter {
  state: { connected: boolean, since: number, lastError?: string } = { connected: false, since: SINCE, lastError: 'cut' }
  readonly opened: Array<{ headers: Record<string, unknown>, stream: FakeStream }> = []
  open (headers: Record<string, unknown>): FakeStream {
    const stream = new FakeStream()
    this.opened.push({ headers, stream })
    return stream
  }

  reconnect (): void {
    this.state = { connected: true, since: Date.now() }
    this.emit('connected')
  }
}

async function until (what: string, predicate: () => boolean): Promise<void> {
  await waitUntil(predicate, { what, timeoutMs: 5000, intervalMs: 5 })
}

async function setup (): Promise<{ store: CacheStore, server: OfflineCacheAnswers, tunnel: FakeTunnel, serve: (url: string, headers?: Record<string, string>, method?: string) => FakeResponse }> {
  const store = CacheStore.open(await mkdtemp(join(tmpdir(), 'offline-')), { maxSizeBytes: 1 << 24, logger, covers: rowCovers })
  const tunnel = new FakeTunnel()
  const tee = new CacheTee(store, logger, { maxBodyBytes: 1 << 20, maxCollectingBytes: 1 << 21 })
  const reachability = new CloudReachability(tunnel as unknown as TunnelClient)
  const watches = new HeldWatches({ store, tee, tunnel: tunnel as unknown as TunnelClient, reachability, logger, bookmarkIntervalMs: 20, timeoutMs: 60_000, retryMs: 30 })
  const server = new OfflineCacheAnswers(store, watches)
  const serve = (url: string, headers: Record<string, string> = {}, method = 'GET'): FakeResponse => {
    const parsed = requestInfo(method, url)
    if (!parsed.ok) throw new Error(parsed.message)
    const res = new FakeResponse()
    ;(res as unknown as { req: { method: string } }).req = { method }
    server.serve(parsed.info, url, headers, res as unknown as ServerResponse, SINCE)
    return res
  }
  const present = new Set<string>()
  for (const [ns, name, app, rv] of [['a', 'c1', 'x', '11'], ['a', 'c2', 'y', '12'], ['a', 'c3', 'x', '13'], ['b', 'c1', 'x', '14']] as const) {
    store.putObject(CM, ns, name, rv, JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns, resourceVersion: rv, labels: { app }, creationTimestamp: '2026-11-26T05:00:00Z' } }))
    present.add(`${ns}/${name}`)
  }
  const all = { resource: CM, namespace: '', labelSelector: '', fieldSelector: '' }
  store.commitList({ ...all, kind: 'ConfigMap', apiVersion: 'v1', rv: '20' }, present, (o) => rowCovers(all, o))
  t.teardown(() => store.close())
  return { store, server, tunnel, serve }
}

const WARNING = '299 - "edge-metaserver: cloud unreachable since 2026-11-26T06:00:00Z; served from edge cache"'

t.test('LIST: selectors evaluated locally, pages with continue tokens, the warning on every answer', async (t) => {
  const { serve } = await setup()
  const all = serve('/api/v1/configmaps')
  t.equal(all.code, 200)
  t.equal(all.headers.warning, WARNING)
  t.match(all.json(), { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '20' } })
  t.same(all.json().items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`), ['a/c1', 'a/c2', 'a/c3', 'b/c1'])

  t.same(serve('/api/v1/namespaces/a/configmaps?labelSelector=app%3Dx').json().items.map((i: any) => i.metadata.name), ['c1', 'c3'])
  t.same(serve('/api/v1/namespaces/a/configmaps?fieldSelector=metadata.name%3Dc2').json().items.map((i: any) => i.metadata.name), ['c2'])
  t.equal(serve('/api/v1/namespaces/a/configmaps?fieldSelector=data.x%3D1').code, 400, 'a field kube-apiserver does not support')
  t.equal(serve('/api/v1/namespaces/a/configmaps?labelSelector=%3D%3D').code, 400)

  const first = serve('/api/v1/configmaps?limit=3').json()
  t.same(first.items.map((i: any) => i.metadata.name), ['c1', 'c2', 'c3'])
  t.equal(first.metadata.remainingItemCount, 1)
  const second = serve(`/api/v1/configmaps?limit=3&continue=${encodeURIComponent(first.metadata.continue)}`).json()
  t.same(second.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`), ['b/c1'])
  t.equal(second.metadata.continue, undefined)
  t.equal(serve('/api/v1/configmaps?continue=bm90LWpzb24').code, 400, 'a malformed token')
  t.equal(serve('/api/v1/configmaps?resourceVersion=21').code, 503, 'newer than the cache knows')
  t.equal(serve('/api/v1/configmaps?resourceVersion=15&resourceVersionMatch=Exact').code, 503, 'an exact older snapshot is not in the cache')
  t.equal(serve('/api/v1/configmaps?resourceVersion=20&resourceVersionMatch=Exact').code, 200)
})

t.test('custom resources: metadata field selectors are evaluated, others (maybe CRD selectableFields) are a 503, not a 400', async (t) => {
  const { store, serve } = await setup()
  const W = 'example.com/v1/widgets'
  for (const name of ['w1', 'w2']) store.putObject(W, 'a', name, '30', JSON.stringify({ kind: 'Widget', apiVersion: 'example.com/v1', metadata: { name, namespace: 'a', resourceVersion: '30' }, spec: { color: 'red' } }))
  const scope = { resource: W, namespace: 'a', labelSelector: '', fieldSelector: '' }
  store.commitList({ ...scope, kind: 'Widget', apiVersion: 'example.com/v1', rv: '30' }, new Set(['a/w1', 'a/w2']), (o) => rowCovers(scope, o))
  const byName = serve('/apis/example.com/v1/namespaces/a/widgets?fieldSelector=metadata.name%3Dw2')
  t.equal(byName.code, 200)
  t.same(byName.json().items.map((i: any) => i.metadata.name), ['w2'])
  const byColor = serve('/apis/example.com/v1/namespaces/a/widgets?fieldSelector=spec.color%3Dred')
  t.equal(byColor.code, 503)
  t.match(byColor.json().message, /cannot evaluate the field selector "spec.color"/)
})

t.test('LIST as Table and as PartialObjectMetadataList; nothing acceptable is a 406', async (t) => {
  const { serve } = await setup()
  const tableAnswer = serve('/api/v1/namespaces/a/configmaps', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' })
  t.equal(tableAnswer.headers['content-type'], 'application/json', 'labelled plain JSON, as kube-apiserver does')
  const table = tableAnswer.json()
  t.match(table, { kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '20' } })
  t.same(table.columnDefinitions.map((c: any) => c.name), ['Name', 'Created At'])
  t.same(table.rows.map((r: any) => r.cells), [['c1', '2026-11-26T05:00:00Z'], ['c2', '2026-11-26T05:00:00Z'], ['c3', '2026-11-26T05:00:00Z']])
  const meta = serve('/api/v1/namespaces/b/configmaps', { accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io' }).json()
  t.match(meta, { kind: 'PartialObjectMetadataList', items: [{ kind: 'PartialObjectMetadata', metadata: { name: 'c1' } }] })
  t.equal(serve('/apis/example.com/v1/widgets', { accept: 'application/vnd.kubernetes.protobuf' }).code, 406, 'custom resources have no protobuf form')
})

t.test('protobuf clients are answered in protobuf from the same stored JSON: GET, LIST pages, metadata, watches', async (t) => {
  const { serve } = await setup()
  const PB = 'application/vnd.kubernetes.protobuf'
  const body = (r: FakeResponse): Buffer => Buffer.from(r.body, 'latin1')
  const json = serve('/api/v1/configmaps?limit=3').json()
  const pb = serve('/api/v1/configmaps?limit=3', { accept: `${PB}, application/json` })
  t.equal(pb.headers['content-type'], PB)
  t.equal(pb.headers.warning, WARNING)
  const decoded = decodeObject(body(pb))
  t.ok(decoded.ok)
  // The JSON page's items carry their kind (stored so a GET can be served alone); protobuf list items never do.
  const untyped = { ...json, items: json.items.map(({ kind, apiVersion, ...rest }: any) => rest) }
  if (decoded.ok) t.same(decoded.object, untyped, 'the protobuf page decodes to the JSON page')
  const one = decodeObject(body(serve('/api/v1/namespaces/a/configmaps/c2', { accept: PB })))
  t.match(one, { ok: true, kind: 'ConfigMap', object: { metadata: { name: 'c2', resourceVersion: '12' } } })
  const meta = decodeObject(body(serve('/api/v1/namespaces/a/configmaps', { accept: `${PB};as=PartialObjectMetadataList;g=meta.k8s.io;v=v1` })))
  t.match(meta, { ok: true, kind: 'PartialObjectMetadataList', object: { items: [{ metadata: { name: 'c1' } }, { metadata: { name: 'c2' } }, { metadata: { name: 'c3' } }] } })

  const w = serve('/api/v1/namespaces/a/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true', { accept: PB })
  t.equal(w.headers['content-type'], `${PB};stream=watch`)
  const frames = new FrameSplitter(1 << 20).push(body(w))
  const events = frames.map((f) => decodeWatchEvent(f)).map((e) => e.ok ? `${e.event.type} ${String((e.event.object.metadata as any)?.name ?? (e.event.object.metadata as any)?.resourceVersion)}` : e.message)
  t.same(events, ['ADDED c1', 'ADDED c2', 'ADDED c3', 'BOOKMARK 20'], 'ADDED frames, then the initial-events-end bookmark')
  w.end()
})

t.test('GET: the stored object; absent from a complete list is 404; nothing known is 503; writes are 503', async (t) => {
  const { serve } = await setup()
  const got = serve('/api/v1/namespaces/a/configmaps/c2')
  t.equal(got.code, 200)
  t.match(got.json(), { metadata: { name: 'c2', resourceVersion: '12' } })
  const missing = serve('/api/v1/namespaces/a/configmaps/nope')
  t.equal(missing.code, 404)
  t.equal(missing.headers.warning, WARNING)
  t.equal(serve('/api/v1/namespaces/a/secrets/s').code, 503, 'no list of secrets: unknown, not absent')
  t.equal(serve('/api/v1/namespaces/a/secrets').code, 503, 'never an empty list')
  const write = serve('/api/v1/namespaces/a/configmaps', {}, 'POST')
  t.equal(write.code, 503)
  t.equal(write.headers['retry-after'], undefined, 'no Retry-After: client-go would retry it ten times before failing')
  t.match(write.json().message, /writes are not accepted offline/)
  t.equal(serve('/version').code, 503, 'no /version cached')
})

t.test('requests kube-apiserver would validate in ways the cache does not reproduce get the outage 503, never a cached 200', async (t) => {
  const { serve } = await setup()
  const cases: Array<[string, string]> = [
    ['/api/v1/namespaces/a/configmaps?resourceVersionMatch=NotOlderThan', 'resourceVersionMatch without resourceVersion'],
    ['/api/v1/namespaces/a/configmaps?sendInitialEvents=true', 'sendInitialEvents on a list'],
    ['/api/v1/namespaces/a/configmaps?watch=1&sendInitialEvents=true', 'sendInitialEvents without resourceVersionMatch=NotOlderThan'],
    ['/api/v1/namespaces/a/configmaps?watch=1&resourceVersionMatch=NotOlderThan', 'resourceVersionMatch on a watch without sendInitialEvents'],
    ['/api/v1/namespaces/a/configmaps/c2?resourceVersion=999999', 'older than the requested 999999'],
    ['//api/v1/namespaces/a/configmaps/c2', 'as it is'],
    ['/api/v1/namespaces/a/configmaps/', 'as it is'],
    ['/api/v1/namespaces/a/configmaps?resourceVersion=abc', 'resourceVersion "abc"'],
    ['/api/v1/namespaces/a/configmaps?watch=1&continue=garbage', 'continue on a watch'],
  ]
  for (const [url, why] of cases) {
    const a = serve(url)
    t.equal(a.code, 503, url)
    t.match(a.json().message, why)
  }
  t.equal(serve('/api/v1/namespaces/a/configmaps/c2', {}, 'HEAD').code, 503, 'HEAD is not answered offline')
  t.equal(serve('/api/v1/namespaces/a/configmaps/c2?resourceVersion=12').code, 200, 'a version the cached copy reaches is served')
})

t.test('WATCH: initial ADDED events from scratch, held at the current version, 410 for an older one, bookmarks when asked', async (t) => {
  const { serve } = await setup()
  const fresh = serve('/api/v1/namespaces/a/configmaps?watch=1&labelSelector=app%3Dx')
  t.equal(fresh.code, 200)
  t.same(fresh.lines().map((e) => `${e.type} ${e.object.metadata.name}`), ['ADDED c1', 'ADDED c3'])
  t.notOk(fresh.writableEnded, 'held open')
  fresh.end()

  const stale = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=12')
  t.match(stale.lines(), [{ type: 'ERROR', object: { code: 410, reason: 'Expired', message: 'too old resource version: 12 (20)' } }])
  t.ok(stale.writableEnded)

  // Two watches held side by side; only the one that asked for bookmarks gets them.
  const held = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=20&allowWatchBookmarks=true')
  const quiet = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=20')
  await until('two bookmarks', () => held.lines().length >= 2)
  held.end()
  quiet.end()
  t.ok(held.lines().every((e) => e.type === 'BOOKMARK' && e.object.metadata.resourceVersion === '20' && e.object.kind === 'ConfigMap'), 'bookmarks at the last known version')
  t.equal(quiet.body, '', 'no bookmarks for a client that did not ask')

  const list = serve('/api/v1/namespaces/a/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true')
  list.end()
  const events = list.lines()
  t.same(events.slice(0, 3).map((e) => e.type), ['ADDED', 'ADDED', 'ADDED'])
  t.match(events[3], { type: 'BOOKMARK', object: { metadata: { resourceVersion: '20', annotations: { 'k8s.io/initial-events-end': 'true' } } } })
})

t.test('a held watch ends at the client\'s timeoutSeconds, else at a random time in [base, 2 x base)', async (t) => {
  t.equal(heldWatchTimeoutMs('30', 60_000, () => 0.9), 30_000)
  t.equal(heldWatchTimeoutMs(null, 60_000, () => 0), 60_000)
  t.equal(heldWatchTimeoutMs(null, 60_000, () => 0.5), 90_000)
  t.equal(heldWatchTimeoutMs('0', 60_000, () => 0.25), 75_000, 'timeoutSeconds=0 means none')
  const spread = new Set(Array.from({ length: 20 }, () => heldWatchTimeoutMs(null, 60_000)))
  t.ok(spread.size > 1, 'different watches get different deadlines')
  t.ok([...spread].every((ms) => ms >= 60_000 && ms < 120_000))
})

t.test('when the cloud is back a held watch resumes upstream from its version and the missed events flow (and are cached)', async (t) => {
  const { store, tunnel, serve } = await setup()
  const watch = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=20&labelSelector=app%3Dx', { authorization: 'Bearer pod-token' })
  t.teardown(() => watch.end())
  tunnel.reconnect()
  await until('the resume', () => tunnel.opened.length === 1)
  const { headers, stream } = tunnel.opened[0]!
  t.match(headers, { ':method': 'GET', accept: 'application/json', authorization: 'Bearer pod-token' })
  const query = new URLSearchParams(String(headers[':path']).split('?')[1])
  t.equal(query.get('resourceVersion'), '20', 'from the version the client holds')
  t.equal(query.get('labelSelector'), 'app=x', 'the same selection')
  stream.answer({ ':status': 200, 'content-type': 'application/json' },
    '{"type":"ADDED","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"name":"c9","namespace":"a","resourceVersion":"21","labels":{"app":"x"}}}}\n')
  await until('the event at the client', () => watch.lines().length === 1)
  t.match(watch.lines(), [{ type: 'ADDED', object: { metadata: { name: 'c9', resourceVersion: '21' } } }])
  await until('the event in the cache', () => store.getObject(CM, 'a', 'c9') !== undefined)
  t.equal(store.getObject(CM, 'a', 'c9')?.rv, '21')
})

t.test('a resume kube-apiserver refuses ends the watch with that Status as an ERROR event', async (t) => {
  const { tunnel, serve } = await setup()
  const watch = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=20')
  tunnel.reconnect()
  await until('the resume', () => tunnel.opened.length === 1)
  const gone = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 20 (35)', reason: 'Expired', code: 410 }
  tunnel.opened[0]!.stream.answer({ ':status': 410, 'content-type': 'application/json' }, JSON.stringify(gone))
  await until('the end of the watch', () => watch.writableEnded)
  t.same(watch.lines(), [{ type: 'ERROR', object: gone }])
})

t.test('a resume the cloud shim cannot carry out (apiserver unreachable) leaves the watch held and is tried again', async (t) => {
  const { tunnel, serve } = await setup()
  const watch = serve('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=20')
  t.teardown(() => watch.end())
  tunnel.reconnect()
  await until('the resume', () => tunnel.opened.length === 1)
  tunnel.opened[0]!.stream.answer({ ':status': 503, 'x-ems-error': 'upstream-unreachable' }, '{"kind":"Status"}')
  await until('a second attempt', () => tunnel.opened.length === 2)
  t.notOk(watch.writableEnded, 'still held')
  t.equal(watch.body, '', 'nothing was sent to the client')
  t.ok(tunnel.opened[0]!.stream.closed, 'the refused stream was cancelled')
})

const META_ACCEPT = 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io'
const DEPLOY = 'apps/v1/deployments'
const partial = (name: string, rv: string, labels: Record<string, string> = {}): any =>
  ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name, namespace: 'a', resourceVersion: rv, labels, creationTimestamp: '2026-11-26T05:00:00Z' } })

/** What a metadata informer leaves in the cache: metadata-only copies of Deployments, complete at 40. */
function metadataOnly (store: CacheStore): void {
  const scope = { resource: `${DEPLOY}#metadata`, namespace: 'a', labelSelector: '', fieldSelector: '' }
  for (const [name, rv] of [['d1', '31'], ['d2', '32']] as const) store.putObject(scope.resource, 'a', name, rv, JSON.stringify(partial(name, rv, { tier: name })))
  store.commitList({ ...scope, kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', rv: '40' }, new Set(['a/d1', 'a/d2']), (o) => rowCovers(scope, o))
}

t.test('metadata-only copies answer metadata requests, and never a request for whole objects', async (t) => {
  const { store, serve } = await setup()
  metadataOnly(store)
  const list = serve('/apis/apps/v1/namespaces/a/deployments?labelSelector=tier%3Dd2', { accept: META_ACCEPT })
  t.equal(list.code, 200)
  t.match(list.json(), { kind: 'PartialObjectMetadataList', metadata: { resourceVersion: '40' }, items: [{ kind: 'PartialObjectMetadata', metadata: { name: 'd2' } }] })
  t.equal(list.json().items.length, 1)
  const one = serve('/apis/apps/v1/namespaces/a/deployments/d1', { accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' })
  t.match(one.json(), { kind: 'PartialObjectMetadata', metadata: { name: 'd1', resourceVersion: '31' } })
  t.equal(serve('/apis/apps/v1/namespaces/a/deployments/nope', { accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' }).code, 404, 'absent from the complete metadata list')

  const whole = serve('/apis/apps/v1/namespaces/a/deployments')
  t.equal(whole.code, 503, 'a list of whole objects is not in the cache')
  t.match(whole.json().message, /holds no complete list/)
  t.equal(serve('/apis/apps/v1/namespaces/a/deployments/d1').code, 503, 'nor one whole object')
  t.equal(serve('/apis/apps/v1/namespaces/a/deployments', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }).code, 503, 'Tables come from whole objects only')
  const field = serve('/apis/apps/v1/namespaces/a/deployments?fieldSelector=status.replicas%3D1', { accept: META_ACCEPT })
  t.equal(field.code, 400, 'a field kube-apiserver refuses for Deployments is still its 400')
  const pods = { resource: '/v1/pods#metadata', namespace: 'a', labelSelector: '', fieldSelector: '' }
  store.putObject(pods.resource, 'a', 'p1', '41', JSON.stringify(partial('p1', '41')))
  store.commitList({ ...pods, kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', rv: '41' }, new Set(['a/p1']), (o) => rowCovers(pods, o))
  const byNode = serve('/api/v1/namespaces/a/pods?fieldSelector=spec.nodeName%3Dn1', { accept: META_ACCEPT })
  t.equal(byNode.code, 503, 'metadata copies cannot tell a pod\'s node')
  t.match(byNode.json().message, /only the metadata of pods/)
  t.equal(serve('/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dp1', { accept: META_ACCEPT }).json().items.length, 1)
})

t.test('a metadata watch offline: PartialObjectMetadata events and bookmarks; resumed upstream asking for metadata again', async (t) => {
  const { store, tunnel, serve } = await setup()
  metadataOnly(store)
  const list = serve('/apis/apps/v1/namespaces/a/deployments?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true', { accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' })
  t.equal(list.code, 200)
  const events = list.lines()
  t.same(events.map((e) => `${e.type} ${e.object.kind} ${e.object.metadata.name ?? ''}`), ['ADDED PartialObjectMetadata d1', 'ADDED PartialObjectMetadata d2', 'BOOKMARK PartialObjectMetadata '])
  t.match(events[2].object.metadata, { resourceVersion: '40', annotations: { 'k8s.io/initial-events-end': 'true' } })
  list.end()

  // From whole objects too: configmaps are cached whole, the client asked for metadata.
  const cms = serve('/api/v1/namespaces/b/configmaps?watch=1', { accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' })
  t.same(cms.lines().map((e) => Object.keys(e.object).sort().join(',')), ['apiVersion,kind,metadata'], 'only the metadata of the cached object')
  cms.end()
  t.equal(serve('/api/v1/namespaces/a/configmaps?watch=1', { accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' }).code, 503, 'Table watches are not served offline')

  const held = serve('/apis/apps/v1/namespaces/a/deployments?watch=1&resourceVersion=40', { accept: 'application/json;as=PartialObjectMetadata;v=v1;g=meta.k8s.io' })
  t.teardown(() => held.end())
  tunnel.reconnect()
  await until('the resume', () => tunnel.opened.length === 1)
  const { headers, stream } = tunnel.opened[0]!
  t.equal(headers.accept, 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1', 'upstream is asked for what the client asked for')
  stream.answer({ ':status': 200, 'content-type': 'application/json' }, JSON.stringify({ type: 'ADDED', object: partial('d3', '41') }) + '\n')
  await until('the event at the client', () => held.lines().length === 1)
  await until('the event in the metadata view', () => store.getObject(`${DEPLOY}#metadata`, 'a', 'd3') !== undefined)
  t.equal(store.getObject(DEPLOY, 'a', 'd3'), undefined, 'never among whole objects')
  t.equal(store.getList({ resource: `${DEPLOY}#metadata`, namespace: 'a', labelSelector: '', fieldSelector: '' })?.rv, '41', 'the metadata list moved forward with the resumed watch')
})

t.test('an offline LIST of a custom resource carries its own list kind', async (t) => {
  const { store, serve } = await setup()
  const W = 'example.com/v1/widgets'
  const scope = { resource: W, namespace: 'a', labelSelector: '', fieldSelector: '' }
  store.putObject(W, 'a', 'w1', '30', JSON.stringify({ kind: 'Widget', apiVersion: 'example.com/v1', metadata: { name: 'w1', namespace: 'a', resourceVersion: '30' } }))
  store.commitList({ ...scope, kind: 'Widget', listKind: 'WidgetCollection', apiVersion: 'example.com/v1', rv: '30' }, new Set(['a/w1']), (o) => rowCovers(scope, o))
  t.match(serve('/apis/example.com/v1/namespaces/a/widgets').json(), { kind: 'WidgetCollection', apiVersion: 'example.com/v1', items: [{ kind: 'Widget' }] })
})

t.test('a protobuf watch of a kind the schema does not know ends cleanly instead of throwing', async (t) => {
  const { store, serve } = await setup()
  const G = 'apps/v1/gizmos'
  const scope = { resource: G, namespace: 'a', labelSelector: '', fieldSelector: '' }
  store.putObject(G, 'a', 'g1', '30', JSON.stringify({ kind: 'Gizmo', apiVersion: 'apps/v1', metadata: { name: 'g1', namespace: 'a', resourceVersion: '30' } }))
  store.commitList({ ...scope, kind: 'Gizmo', apiVersion: 'apps/v1', rv: '30' }, new Set(['a/g1']), (o) => rowCovers(scope, o))
  const w = serve('/apis/apps/v1/namespaces/a/gizmos?watch=1', { accept: 'application/vnd.kubernetes.protobuf' })
  t.equal(w.code, 200)
  t.ok(w.writableEnded, 'the watch ended: the client re-watches')
  t.equal(w.body, '', 'no frame it could not decode')
  const held = serve('/apis/apps/v1/namespaces/a/gizmos?watch=1&resourceVersion=30&allowWatchBookmarks=true', { accept: 'application/vnd.kubernetes.protobuf' })
  await until('the first bookmark tick to end it', () => held.writableEnded)
  t.equal(held.body, '', 'a bookmark it cannot write ends the watch (no exception in the timer)')
})
