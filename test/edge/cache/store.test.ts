import t from 'tap'
import Database from 'better-sqlite3'
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { rowCovers } from '../../../src/edge/cache/scope.js'
import { CACHE_FILE, CacheStore, SCHEMA_VERSION, type Scope } from '../../../src/edge/cache/store.js'
import { CM_RESOURCE, writeOldCache } from '../../helpers/old-cache.js'

const logger = pino({ level: 'silent' })
const CM = '/v1/configmaps'
const scope = (namespace: string, labelSelector = ''): Scope => ({ resource: CM, namespace, labelSelector, fieldSelector: '' })
const cm = (ns: string, name: string, rv: string, labels: Record<string, string> = {}, pad = ''): string =>
  JSON.stringify({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name, namespace: ns, resourceVersion: rv, labels }, data: { pad } })

let clock = 1000
async function open (maxSizeBytes = 1 << 20, dir?: string): Promise<{ store: CacheStore, dir: string }> {
  dir ??= await mkdtemp(join(tmpdir(), 'cache-'))
  const store = CacheStore.open(dir, { maxSizeBytes, logger, covers: rowCovers, now: () => clock++ })
  return { store, dir }
}

t.test('an object is replaced only by a newer version, and a delete is not undone by an older list', async (t) => {
  const { store } = await open()
  t.teardown(() => store.close())
  store.putObject(CM, 'a', 'x', '10', cm('a', 'x', '10'))
  store.putObject(CM, 'a', 'x', '9', cm('a', 'x', '9'))
  t.equal(store.getObject(CM, 'a', 'x')?.rv, '10', 'older version ignored')
  store.putObject(CM, 'a', 'x', '11', cm('a', 'x', '11'))
  t.equal(store.getObject(CM, 'a', 'x')?.rv, '11')
  store.deleteObject(CM, 'a', 'x', '12')
  store.putObject(CM, 'a', 'x', '11', cm('a', 'x', '11'))
  t.equal(store.getObject(CM, 'a', 'x'), undefined, 'a list from before the delete does not resurrect it')
  store.putObject(CM, 'a', 'x', '13', cm('a', 'x', '13'))
  t.equal(store.getObject(CM, 'a', 'x')?.rv, '13', 're-created later: stored again')
})

t.test('a committed list drops what it no longer holds, keeps what is newer, and records its version', async (t) => {
  const { store } = await open()
  t.teardown(() => store.close())
  for (const [name, rv] of [['keep', '5'], ['gone', '6'], ['newer', '30']] as const) store.putObject(CM, 'a', name, rv, cm('a', name, rv))
  store.putObject(CM, 'b', 'other-ns', '7', cm('b', 'other-ns', '7'))
  store.putObject(CM, 'a', 'keep', '8', cm('a', 'keep', '8'))
  store.commitList({ ...scope('a'), kind: 'ConfigMap', apiVersion: 'v1', rv: '20' }, new Set(['a/keep']), (o) => rowCovers(scope('a'), o))
  t.same(store.scopeObjects(CM, 'a').map((o) => o.name), ['keep', 'newer'], '"gone" pruned; "newer" (rv 30 > 20) kept')
  t.same(store.scopeObjects(CM, 'b').map((o) => o.name), ['other-ns'], 'other namespaces untouched')
  t.match(store.getList(scope('a')), { rv: '20', changedRv: '20', kind: 'ConfigMap' })

  store.advanceList(scope('a'), '25', false)
  t.match(store.getList(scope('a')), { rv: '25', changedRv: '20' }, 'a bookmark moves the version, not the last change')
  store.advanceList(scope('a'), '27', true)
  store.advanceList(scope('a'), '26', true)
  t.match(store.getList(scope('a')), { rv: '27', changedRv: '27' }, 'never backwards')
  store.advanceList(scope('zzz'), '40', true)
  t.equal(store.getList(scope('zzz')), undefined, 'a watch alone does not make a list complete')
})

t.test('a list under a selector prunes only objects the selector covers', async (t) => {
  const { store } = await open()
  t.teardown(() => store.close())
  store.putObject(CM, 'a', 'x1', '5', cm('a', 'x1', '5', { app: 'x' }))
  store.putObject(CM, 'a', 'y1', '5', cm('a', 'y1', '5', { app: 'y' }))
  const s = scope('a', 'app=x')
  store.commitList({ ...s, kind: 'ConfigMap', apiVersion: 'v1', rv: '10' }, new Set(), (o) => rowCovers(s, o))
  t.same(store.scopeObjects(CM, 'a').map((o) => o.name), ['y1'])
})

t.test('over the size limit: least recently used lists go first, objects another list covers stay', async (t) => {
  const pad = 'p'.repeat(1000)
  const { store } = await open(6_000)
  t.teardown(() => store.close())
  const list = (s: Scope, rv: string, objects: Array<[string, Record<string, string>]>): void => {
    for (const [name, labels] of objects) store.putObject(CM, s.namespace, name, rv, cm(s.namespace, name, rv, labels, pad))
    store.commitList({ ...s, kind: 'ConfigMap', apiVersion: 'v1', rv }, new Set(objects.map(([n]) => `${s.namespace}/${n}`)), (o) => rowCovers(s, o))
  }
  const objects: Array<[string, Record<string, string>]> = [['x1', { app: 'x' }], ['x2', { app: 'x' }], ['y1', { app: 'y' }], ['y2', { app: 'y' }]]
  store.enqueue(() => list(scope('a'), '1', objects))
  store.flush()
  store.enqueue(() => list(scope('a', 'app=x'), '1', objects.slice(0, 2)))
  store.flush()
  t.ok(store.sizeBytes <= 6_000, `within the limit so far (${store.sizeBytes} bytes)`)
  store.enqueue(() => list(scope('b'), '2', [['z1', {}], ['z2', {}]]))
  store.flush()
  t.ok(store.sizeBytes <= 6_000, `back within the limit (${store.sizeBytes} bytes)`)
  t.equal(store.getList(scope('a')), undefined, 'the least recently used list was evicted')
  t.same(store.scopeObjects(CM, 'a').map((o) => o.name), ['x1', 'x2'], 'its objects that the app=x list covers stayed')
  t.ok(store.getList(scope('a', 'app=x')), 'the more recently used list is intact')
  t.same(store.scopeObjects(CM, 'b').map((o) => o.name), ['z1', 'z2'])
})

t.test('a corrupt file is moved aside and the cache starts empty; a newer schema is fatal and the file stays', async (t) => {
  const { store, dir } = await open()
  store.setState('k', 'v')
  store.close()
  const db = new Database(join(dir, CACHE_FILE))
  db.pragma(`user_version = ${SCHEMA_VERSION + 1}`)
  db.close()
  const before = readFileSync(join(dir, CACHE_FILE))
  t.throws(() => CacheStore.open(dir, { maxSizeBytes: 1 << 20, logger, covers: rowCovers }),
    { name: 'CacheOpenError', message: new RegExp(`schema version ${SCHEMA_VERSION + 1}, a newer release.*left as it is`) })
  t.same(readFileSync(join(dir, CACHE_FILE)), before, 'the newer file is untouched')
  t.notOk(existsSync(join(dir, `${CACHE_FILE}.broken`)), 'and not moved aside')

  const garbage = 'this is not a database'.repeat(200)
  writeFileSync(join(dir, CACHE_FILE), garbage)
  const fresh = (await open(1 << 20, dir)).store
  t.equal(fresh.getState('k'), undefined, 'started empty')
  t.equal(readFileSync(join(dir, `${CACHE_FILE}.broken`), 'utf8'), garbage, 'the corrupt file kept aside for inspection')
  fresh.setState('k', 'again')
  t.equal(fresh.getState('k'), 'again')
  fresh.close()
})

t.test('a file SQLite cannot open (a directory in its place) is fatal, nothing is moved', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'cache-'))
  mkdirSync(join(dir, CACHE_FILE))
  t.throws(() => CacheStore.open(dir, { maxSizeBytes: 1 << 20, logger, covers: rowCovers }),
    { name: 'CacheOpenError', message: /cannot be opened: .*left as it is/ })
  t.ok(statSync(join(dir, CACHE_FILE)).isDirectory(), 'still there')
  t.notOk(existsSync(join(dir, `${CACHE_FILE}.broken`)))
})

for (const version of [1, 2] as const) {
  t.test(`a schema ${version} file with data is migrated in place: keys, policy and documents kept`, async (t) => {
    const dir = await mkdtemp(join(tmpdir(), 'cache-'))
    writeOldCache(join(dir, CACHE_FILE), version, {
      state: { 'control/jwks': '{"keys":["k1"]}', 'control/policy': '{"p":1}' },
      configMaps: ['a', 'b'],
      document: { path: '/version', body: '{"major":"1"}' },
    })
    const { store } = await open(1 << 20, dir)
    t.teardown(() => store.close())
    t.notOk(existsSync(join(dir, `${CACHE_FILE}.broken`)), 'nothing moved aside')
    t.equal(store.getState('control/jwks'), '{"keys":["k1"]}', 'JWKS kept')
    t.equal(store.getState('control/policy'), '{"p":1}', 'policy kept')
    t.ok(store.warm, 'the cached /version document kept (warm)')
    const list = { resource: CM_RESOURCE, namespace: 'ns', labelSelector: '', fieldSelector: '' }
    if (version === 1) {
      // Version 1 may hold metadata-only copies as objects: those and their lists are dropped.
      t.equal(store.getList(list), undefined, 'schema 1 lists dropped')
      t.same(store.scopeObjects(CM_RESOURCE, 'ns'), [], 'schema 1 objects dropped')
    } else {
      t.match(store.getList(list), { kind: 'ConfigMap', listKind: 'ConfigMapList', rv: '10' }, 'the list kept, with its list kind')
      t.same(store.scopeObjects(CM_RESOURCE, 'ns').map((o) => o.name), ['a', 'b'], 'its objects kept')
    }
    const db = new Database(join(dir, CACHE_FILE), { readonly: true })
    t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'the file now says the current version')
    db.close()
  })
}

t.test('a migration failing half way changes nothing: one transaction, the file stays at its version, fatal', async (t) => {
  // A file that says version 1 but already has version 3's lists.list_kind: step 1 (dropping the
  // objects and lists) succeeds, step 2 (adding list_kind) fails with "duplicate column name".
  const dir = await mkdtemp(join(tmpdir(), 'cache-'))
  const { store } = await open(1 << 20, dir)
  store.setState('control/jwks', '{"keys":["k1"]}')
  store.putObject(CM, 'a', 'x', '1', cm('a', 'x', '1'))
  store.close()
  const file = join(dir, CACHE_FILE)
  const mislabel = new Database(file)
  mislabel.pragma('user_version = 1')
  mislabel.close()
  t.throws(() => CacheStore.open(dir, { maxSizeBytes: 1 << 20, logger, covers: rowCovers }),
    { name: 'CacheOpenError', message: /duplicate column name: list_kind.*left as it is/ })
  t.notOk(existsSync(join(dir, `${CACHE_FILE}.broken`)), 'not moved aside: SQLite did not call it corrupt')
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), 1, 'still version 1')
  t.equal(db.prepare('SELECT count(*) FROM objects').pluck().get(), 1, 'step 1\'s delete rolled back with the failed step 2')
  t.equal(db.prepare("SELECT value FROM state WHERE key = 'control/jwks'").pluck().get(), '{"keys":["k1"]}', 'the keys kept')
})

t.test('state and sizes survive a reopen exactly', async (t) => {
  const { store, dir } = await open()
  store.setState('control/jwks', '{"keys":[]}')
  store.putObject(CM, 'a', 'x', '1', cm('a', 'x', '1'))
  store.putDocument('/version', 'application/json', '', Buffer.from('{"major":"1"}'))
  const size = store.sizeBytes
  t.equal(size, Buffer.byteLength(cm('a', 'x', '1')) + 13)
  store.close()
  const again = (await open(1 << 20, dir)).store
  t.teardown(() => again.close())
  t.equal(again.getState('control/jwks'), '{"keys":[]}')
  t.equal(again.sizeBytes, size)
  t.ok(again.warm, 'a document makes the cache warm')
})

t.test('warm and sizeBytes read what is committed and never commit queued writes', async (t) => {
  const { store } = await open()
  t.teardown(() => store.close())
  t.notOk(store.warm)
  t.equal(store.sizeBytes, 0)
  let ran = 0
  store.enqueue(() => { ran++; store.putDocument('/version', 'application/json', '', Buffer.from('{"major":"1"}')) })
  t.notOk(store.warm, 'a queued document is not counted yet')
  t.equal(store.sizeBytes, 0)
  t.equal(ran, 0, 'reading the probes did not run the queued write')
  store.flush()
  t.equal(ran, 1)
  t.ok(store.warm, 'committed: warm')
  t.equal(store.sizeBytes, 13)
})
