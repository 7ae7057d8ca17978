import t from 'tap'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { pino } from 'pino'
import { rowCovers } from '../../../src/edge/cache/scope.js'
import { CacheStore } from '../../../src/edge/cache/store.js'
import { CacheTee } from '../../../src/edge/cache/tee.js'
import { encodeObject, encodeWatchEvent } from '../../../src/kube/protobuf/codec.js'
import { requestInfo } from '../../../src/kube/request-info.js'

const logger = pino({ level: 'silent' })
const CM = '/v1/configmaps'
const cm = (name: string, rv: string, labels: Record<string, string> = {}): any =>
  ({ metadata: { name, namespace: 'a', resourceVersion: rv, labels } })

async function setup (opts: { maxBodyBytes?: number, maxCollectingBytes?: number } = {}): Promise<{ store: CacheStore, answer: (url: string, body: string | Buffer, headers?: Record<string, string>) => Promise<void>, watch: (url: string, accept?: string, headers?: Record<string, string>) => PassThrough }> {
  const store = CacheStore.open(await mkdtemp(join(tmpdir(), 'tee-')), { maxSizeBytes: 1 << 24, logger, covers: rowCovers })
  t.teardown(() => store.close())
  const tee = new CacheTee(store, logger, { maxBodyBytes: opts.maxBodyBytes ?? 1 << 20, maxCollectingBytes: opts.maxCollectingBytes ?? 1 << 21 })
  const observe = (url: string, headers: Record<string, string>, accept?: string): PassThrough => {
    const parsed = requestInfo('GET', url)
    if (!parsed.ok) throw new Error(parsed.message)
    const body = new PassThrough()
    tee.observe(parsed.info, url, accept, { ':status': 200 as any, 'content-type': 'application/json', ...headers }, body)
    body.resume()
    return body
  }
  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
    store.flush()
  }
  return {
    store,
    answer: async (url, body, headers = {}) => {
      const stream = observe(url, headers)
      // Several chunks, split inside the JSON, as the tunnel delivers them.
      const bytes = Buffer.from(body)
      for (let i = 0; i < bytes.length; i += 7) stream.write(bytes.subarray(i, i + 7))
      stream.end()
      await settle()
    },
    watch: (url, accept, headers = {}) => observe(url, headers, accept),
  }
}

t.test('a LIST in chunks (limit/continue) becomes one complete list, pruning what vanished', async (t) => {
  const { store, answer } = await setup()
  store.putObject(CM, 'a', 'gone', '3', JSON.stringify(cm('gone', '3')))
  await answer('/api/v1/namespaces/a/configmaps?limit=2', JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10', continue: 'tok1' }, items: [cm('c1', '5'), cm('c2', '6')] }))
  t.equal(store.getList({ resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }), undefined, 'not complete after the first chunk')
  await answer('/api/v1/namespaces/a/configmaps?limit=2&continue=tok1', JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [cm('c3', '7')] }))
  t.match(store.getList({ resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }), { rv: '10', kind: 'ConfigMap', apiVersion: 'v1' })
  t.same(store.scopeObjects(CM, 'a').map((o) => o.name), ['c1', 'c2', 'c3'])
  t.match(JSON.parse(store.getObject(CM, 'a', 'c1')!.body), { kind: 'ConfigMap', apiVersion: 'v1' }, 'list items get their kind back')
})

t.test('gzip bodies are read; a chunk that follows an unknown token is ignored', async (t) => {
  const { store, answer } = await setup()
  await answer('/api/v1/namespaces/a/configmaps/z', gzipSync(JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', ...cm('z', '9') })), { 'content-encoding': 'gzip' })
  // gunzip runs on the thread pool: wait for it rather than for a fixed time.
  for (let waited = 0; store.getObject(CM, 'a', 'z') === undefined && waited < 5000; waited += 5) await new Promise((resolve) => setTimeout(resolve, 5))
  t.equal(store.getObject(CM, 'a', 'z')?.rv, '9')
  await answer('/api/v1/namespaces/a/configmaps?continue=never-seen', JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [cm('late', '8')] }))
  t.equal(store.getObject(CM, 'a', 'late'), undefined)
  t.equal(store.getList({ resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }), undefined)
})

t.test('bodies over the bound, or over the budget for all bodies at once, pass through uncached', async (t) => {
  const big = JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [{ ...cm('c1', '5'), data: { x: 'x'.repeat(2000) } }] })
  const small = await setup({ maxBodyBytes: 1000 })
  await small.answer('/api/v1/namespaces/a/configmaps', big)
  t.equal(small.store.getObject(CM, 'a', 'c1'), undefined)
  const busy = await setup({ maxBodyBytes: 1 << 20, maxCollectingBytes: 1000 })
  await busy.answer('/api/v1/namespaces/a/configmaps', big)
  t.equal(busy.store.getObject(CM, 'a', 'c1'), undefined)
  const fine = await setup()
  await fine.answer('/api/v1/namespaces/a/configmaps', big)
  t.equal(fine.store.getObject(CM, 'a', 'c1')?.rv, '5', 'the same body within the bounds is stored')
})

t.test('watch events move a list forward only when the watch started inside what the cache knew', async (t) => {
  const { store, answer, watch } = await setup()
  await answer('/api/v1/namespaces/a/configmaps?labelSelector=app%3Dx', JSON.stringify({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [cm('x1', '5', { app: 'x' }), cm('x2', '6', { app: 'x' })] }))
  const scope = { resource: CM, namespace: 'a', labelSelector: 'app=x', fieldSelector: '' }
  const events = watch('/api/v1/namespaces/a/configmaps?watch=1&labelSelector=app%3Dx&resourceVersion=10')
  const send = (type: string, object: any): void => { events.write(JSON.stringify({ type, object: { kind: 'ConfigMap', apiVersion: 'v1', ...object } }) + '\n') }
  send('ADDED', cm('x3', '11', { app: 'x' }))
  send('DELETED', cm('x1', '12', { app: 'x' }))
  send('DELETED', cm('x2', '13', { app: 'y' })) // relabelled: left the selection, still exists
  events.write('{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"20"}}}\n{"type":"MODI')
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.match(store.getList(scope), { rv: '20', changedRv: '13' })
  t.same(store.scopeObjects(CM, 'a').map((o) => `${o.name}@${o.rv}`), ['x2@13', 'x3@11'])
  t.match(JSON.parse(store.getObject(CM, 'a', 'x2')!.body).metadata.labels, { app: 'y' })

  const late = watch('/api/v1/namespaces/a/configmaps?watch=1&labelSelector=app%3Dx&resourceVersion=30')
  late.write(JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', ...cm('x4', '31', { app: 'x' }) } }) + '\n')
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.equal(store.getObject(CM, 'a', 'x4')?.rv, '31', 'the object is stored')
  t.match(store.getList(scope), { rv: '20' }, 'but the list does not jump over 20..30, which the cache never saw')
})

t.test('a watch-list stream (sendInitialEvents) commits a complete list at its initial-events-end bookmark', async (t) => {
  const { store, watch } = await setup()
  store.putObject(CM, 'a', 'stale', '2', JSON.stringify(cm('stale', '2')))
  const events = watch('/api/v1/namespaces/a/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true')
  events.write(JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', ...cm('c1', '5') } }) + '\n')
  events.write('{"type":"BOOKMARK","object":{"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":"9","annotations":{"k8s.io/initial-events-end":"true"}}}}\n')
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.match(store.getList({ resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }), { rv: '9', kind: 'ConfigMap' })
  t.same(store.scopeObjects(CM, 'a').map((o) => o.name), ['c1'], 'what the initial state did not hold is gone')
})

t.test('metadata answers fill the metadata view only; Tables fill nothing; a watch delivering another kind than it asked for is dropped', async (t) => {
  const { store, answer, watch } = await setup()
  const D = 'apps/v1/deployments'
  const partial = (name: string, rv: string): any => ({ kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { name, namespace: 'a', resourceVersion: rv } })
  await answer('/apis/apps/v1/namespaces/a/deployments', JSON.stringify({ kind: 'PartialObjectMetadataList', apiVersion: 'meta.k8s.io/v1', metadata: { resourceVersion: '10' }, items: [partial('d1', '5')] }))
  t.equal(store.getObject(D, 'a', 'd1'), undefined, 'no metadata-only copy among whole objects')
  t.equal(store.getList({ resource: D, namespace: 'a', labelSelector: '', fieldSelector: '' }), undefined)
  t.match(JSON.parse(store.getObject(`${D}#metadata`, 'a', 'd1')!.body), { kind: 'PartialObjectMetadata' })
  t.match(store.getList({ resource: `${D}#metadata`, namespace: 'a', labelSelector: '', fieldSelector: '' }), { rv: '10', kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1' })
  await answer('/apis/apps/v1/namespaces/a/deployments/d2', JSON.stringify(partial('d2', '6')))
  t.equal(store.getObject(D, 'a', 'd2'), undefined)
  t.equal(store.getObject(`${D}#metadata`, 'a', 'd2')?.rv, '6', 'a metadata GET too')
  await answer('/api/v1/namespaces/a/configmaps/t1', JSON.stringify({ kind: 'Table', apiVersion: 'meta.k8s.io/v1', metadata: { name: 't1', resourceVersion: '7' }, rows: [] }))
  t.equal(store.getObject(CM, 'a', 't1'), undefined, 'a Table is not an object')

  const meta = watch('/apis/apps/v1/namespaces/a/deployments?watch=1&resourceVersion=10', 'application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1')
  meta.write(JSON.stringify({ type: 'MODIFIED', object: partial('d1', '11') }) + '\n')
  const whole = watch('/api/v1/namespaces/a/configmaps?watch=1&resourceVersion=10')
  whole.write(JSON.stringify({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', ...cm('sneaky', '12') } }) + '\n')
  whole.write(JSON.stringify({ type: 'ADDED', object: { kind: 'ConfigMap', apiVersion: 'v1', ...cm('after', '13') } }) + '\n')
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.match(store.getList({ resource: `${D}#metadata`, namespace: 'a', labelSelector: '', fieldSelector: '' }), { rv: '11' }, 'the metadata watch continues the metadata list')
  t.equal(store.getObject(D, 'a', 'd1'), undefined)
  t.equal(store.getObject(CM, 'a', 'sneaky'), undefined, 'a PartialObjectMetadata on a watch of whole objects is not stored')
  t.equal(store.getObject(CM, 'a', 'after'), undefined, 'nor anything after it')
})

t.test('custom resources: the list kind is kept as served, the item kind comes from the items or the cached discovery, never from guessing', async (t) => {
  const { store, answer } = await setup()
  const W = 'example.com/v1/widgets'
  const scope = (namespace: string): any => ({ resource: W, namespace, labelSelector: '', fieldSelector: '' })
  const widget = { kind: 'Widget', apiVersion: 'example.com/v1', metadata: { name: 'w1', namespace: 'a', resourceVersion: '5' } }
  await answer('/apis/example.com/v1/namespaces/a/widgets', JSON.stringify({ kind: 'WidgetCollection', apiVersion: 'example.com/v1', metadata: { resourceVersion: '10' }, items: [widget] }))
  t.match(store.getList(scope('a')), { kind: 'Widget', listKind: 'WidgetCollection' })

  // An empty list says nothing of its items: discovery does. Without it, nothing is claimed.
  await answer('/apis/example.com/v1/namespaces/b/widgets', JSON.stringify({ kind: 'WidgetCollection', apiVersion: 'example.com/v1', metadata: { resourceVersion: '11' }, items: [] }))
  t.equal(store.getList(scope('b')), undefined, 'no kind known: no list claimed')
  store.putDocument('/apis/example.com/v1', 'application/json', '', Buffer.from(JSON.stringify({ kind: 'APIResourceList', groupVersion: 'example.com/v1', resources: [{ name: 'widgets', namespaced: true, kind: 'Widget' }] })))
  await answer('/apis/example.com/v1/namespaces/b/widgets', JSON.stringify({ kind: 'WidgetCollection', apiVersion: 'example.com/v1', metadata: { resourceVersion: '12' }, items: [] }))
  t.match(store.getList(scope('b')), { kind: 'Widget', listKind: 'WidgetCollection', rv: '12' })

  const G = 'example.com/v1/gadgets'
  store.putDocument('/apis', 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList', '', Buffer.from(JSON.stringify({
    kind: 'APIGroupDiscoveryList',
    apiVersion: 'apidiscovery.k8s.io/v2',
    items: [{ metadata: { name: 'example.com' }, versions: [{ version: 'v1', resources: [{ resource: 'gadgets', responseKind: { group: 'example.com', version: 'v1', kind: 'Gizmo' } }] }] }],
  })))
  await answer('/apis/example.com/v1/gadgets', JSON.stringify({ kind: 'GizmoList', apiVersion: 'example.com/v1', metadata: { resourceVersion: '13' }, items: [] }))
  t.match(store.getList({ resource: G, namespace: '', labelSelector: '', fieldSelector: '' }), { kind: 'Gizmo', listKind: 'GizmoList' }, 'from aggregated discovery')
})

t.test('protobuf answers are decoded into the same JSON truth: a LIST, a GET, and a watch-list stream', async (t) => {
  const { store, answer, watch } = await setup()
  const PB = { 'content-type': 'application/vnd.kubernetes.protobuf' }
  const bytes = (object: any): Buffer => { const e = encodeObject(object); if (!e.ok) throw new Error(e.message); return e.bytes }
  await answer('/api/v1/namespaces/a/configmaps', bytes({ kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [{ ...cm('p1', '5'), data: { k: 'v' } }] }), PB)
  t.match(store.getList({ resource: CM, namespace: 'a', labelSelector: '', fieldSelector: '' }), { rv: '10', kind: 'ConfigMap', listKind: 'ConfigMapList' })
  t.match(JSON.parse(store.getObject(CM, 'a', 'p1')!.body), { kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'p1' }, data: { k: 'v' } }, 'stored as JSON, kind restored')
  await answer('/api/v1/namespaces/a/configmaps/p2', bytes({ kind: 'ConfigMap', apiVersion: 'v1', ...cm('p2', '6') }), PB)
  t.equal(store.getObject(CM, 'a', 'p2')?.rv, '6')
  await answer('/api/v1/namespaces/a/configmaps/bad', Buffer.from('k8s\0garbage'), PB)
  t.equal(store.getObject(CM, 'a', 'bad'), undefined, 'an undecodable body is not stored')

  const frame = (type: string, object: any): Buffer => { const e = encodeWatchEvent({ type, object }); if (!e.ok) throw new Error(e.message); return e.bytes }
  const stream = watch('/api/v1/namespaces/b/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true', 'application/vnd.kubernetes.protobuf', { 'content-type': 'application/vnd.kubernetes.protobuf;stream=watch' })
  const inB = { kind: 'ConfigMap', apiVersion: 'v1', metadata: { ...cm('w1', '21').metadata, namespace: 'b' } }
  const all = Buffer.concat([frame('ADDED', inB),
    frame('BOOKMARK', { kind: 'ConfigMap', apiVersion: 'v1', metadata: { resourceVersion: '22', annotations: { 'k8s.io/initial-events-end': 'true' } } })])
  for (let i = 0; i < all.length; i += 5) stream.write(all.subarray(i, i + 5))
  for (let i = 0; i < 3; i++) await new Promise((resolve) => setImmediate(resolve))
  t.match(store.getList({ resource: CM, namespace: 'b', labelSelector: '', fieldSelector: '' }), { rv: '22', kind: 'ConfigMap' }, 'committed at the initial-events-end bookmark')
  t.match(JSON.parse(store.getObject(CM, 'b', 'w1')?.body ?? 'null'), { metadata: { name: 'w1', resourceVersion: '21' } })
})
