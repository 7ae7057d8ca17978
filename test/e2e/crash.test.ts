// kill -9 of the edge in the middle of a write burst, 20 times in a row (issue #5): each time the
// SQLite cache must open cleanly (no "moving it aside"), pass SQLite's integrity check, and hold
// only versions of objects that kube-apiserver really produced — then serve them offline.
import t from 'tap'
import Database from 'better-sqlite3'
import { join } from 'node:path'
import { CACHE_FILE } from '../../src/edge/cache/store.js'
import { freePort } from '../cluster/processes.js'
import { RestClient } from '../cluster/rest.js'
import { writeEdgeConfig } from './configs.js'
import { startCli, type CliProcess } from './process.js'
import { configMapRules } from '../cluster/fixtures.js'
import { Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())

const NODE = 'edge-crash'
const ROUNDS = 20
const READ_RULES = configMapRules(['get', 'list', 'watch'])

t.test(`kill -9 during a write burst, ${ROUNDS} times: the cache opens cleanly and holds only real versions`, async (t) => {
  await stack.fixtures.node(NODE)
  const ns = await stack.fixtures.namespace('crash')
  const me = await stack.fixtures.podIdentity(ns, NODE, { rules: READ_RULES })
  const stateDir = await stack.cluster.tempDir('crash-state')
  const online = await writeEdgeConfig(stack.cluster, stack.files, NODE, { server: '127.0.0.1:0', tunnelPort: stack.cloud.tunnelPort, stateDir, logLevel: 'info' })
  const offline = await writeEdgeConfig(stack.cluster, stack.files, NODE, { server: '127.0.0.1:0', tunnelPort: await freePort(), stateDir, logLevel: 'info' })

  await waitUntil(async () => (await stack.admin.get(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`)).status === 200, 20_000, 'kube-root-ca.crt')
  // Every version kube-apiserver handed out, by name@resourceVersion, with its data.
  const versions = new Map<string, string>()
  const record = (o: any): void => { versions.set(`${o.metadata.name}@${o.metadata.resourceVersion}`, JSON.stringify(o.data ?? null)) }
  for (const o of (await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps`)).items) record(o)
  for (let i = 0; i < 20; i++) record(await stack.fixtures.configMap(ns, `cm-${i}`, { v: '0' }))

  const start = async (config: string, round: number): Promise<{ proc: CliProcess, client: RestClient }> => {
    const proc = startCli(['edge', '--config', config], { logFile: join(stack.cluster.dir, `edge-crash-${round}.log`) })
    const listening = await proc.waitForLog((l) => l.msg === 'listening' && l.listener === 'server', 'listening (server)')
    return { proc, client: new RestClient(`https://127.0.0.1:${listening.port}`, stack.cluster.pki.caPem, me.token) }
  }

  let write = 0
  for (let round = 0; round < ROUNDS; round++) {
    const { proc, client } = await start(online, round)
    t.notOk(proc.logLines().some((l) => /edge cache file is corrupt/.test(l.msg)), `round ${round}: the cache opened cleanly`)
    await waitUntil(async () => (await client.get(`/api/v1/namespaces/${ns}/configmaps`)).status === 200, 15_000, 'the edge to serve')
    const list = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
    const watch = client.stream(`/api/v1/namespaces/${ns}/configmaps?watch=1&allowWatchBookmarks=true&resourceVersion=${list.body.metadata.resourceVersion}`, () => {})

    // The burst: writes on kube-apiserver (teed into the cache through the watch) and reads through the edge.
    const burst = Array.from({ length: 30 }, async (_, i) => {
      const name = `cm-${(write + i) % 40}`
      const patched = await stack.admin.call('PATCH', `/api/v1/namespaces/${ns}/configmaps/${name}`, { body: { data: { v: String(write + i) } }, contentType: 'application/merge-patch+json' })
      record(patched.status === 200 ? patched.body : await stack.fixtures.configMap(ns, name, { v: String(write + i) }))
    })
    const reads = Array.from({ length: 5 }, () => client.get(`/api/v1/namespaces/${ns}/configmaps`).catch(() => undefined))
    write += 30
    // Pacing, not ordering: the SIGKILL lands at a random point of the burst (mid-write, mid-tee) on purpose.
    await new Promise((resolve) => setTimeout(resolve, 50 + Math.random() * 250))
    proc.child.kill('SIGKILL')
    t.equal((await proc.exited).signal, 'SIGKILL')
    watch.close()
    await Promise.all([...burst, ...reads])
    await client.close()

    const db = new Database(join(stateDir, CACHE_FILE))
    try {
      t.equal(db.pragma('integrity_check', { simple: true }), 'ok', `round ${round}: integrity check`)
      const rows = db.prepare('SELECT name, rv, body FROM objects WHERE namespace = ?').all(ns) as Array<{ name: string, rv: string, body: string }>
      const unreal = rows.filter((r) => {
        const o = JSON.parse(r.body)
        return o.metadata.name !== r.name || o.metadata.resourceVersion !== r.rv || versions.get(`${r.name}@${r.rv}`) !== JSON.stringify(o.data ?? null)
      })
      t.same(unreal.map((r) => `${r.name}@${r.rv}`), [], `round ${round}: all ${rows.length} cached objects are versions the apiserver produced`)
    } finally {
      db.close()
    }
  }

  // The survivor serves offline: the cloud address now leads nowhere.
  const { proc, client } = await start(offline, ROUNDS)
  t.teardown(async () => { await client.close(); await proc.stop() })
  const served = await client.get(`/api/v1/namespaces/${ns}/configmaps`)
  t.equal(served.status, 200, 'served from the cache after 20 crashes')
  t.match(served.headers.warning, /served from edge cache/)
  const items = served.body.items as any[]
  t.ok(items.length >= 20, `${items.length} configmaps served`)
  t.same(items.filter((o) => versions.get(`${o.metadata.name}@${o.metadata.resourceVersion}`) !== JSON.stringify(o.data ?? null)).map((o) => o.metadata.name), [],
    'every served object is a version the apiserver produced')
})
