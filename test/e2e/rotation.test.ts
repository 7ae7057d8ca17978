// Certificate rotation through the tunnel, with the tunnel certificate's lifetime shortened to a
// minute (the serving certificate's floor is kube-apiserver's 10 minutes; both renew together at
// 80 % of the shorter life): a kubectl watch through the edge, open from before the first renewal,
// sees every object created after each of three renewals; the shim sees each new tunnel
// certificate; a TLS client sees the new serving certificate; the edge is never disconnected.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { connect } from 'node:tls'
import { join } from 'node:path'
import { podEnvironment, spawnKubectl } from '../cluster/clients.js'
import { TestCluster } from '../cluster/cluster.js'
import { Fixtures, configMapRules } from '../cluster/fixtures.js'
import { startJoinBed } from './joined-node.js'
import { startEdgeProcess } from '../helpers/product.js'
import { waitUntil } from '../helpers/wait.js'

const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
const fixtures = new Fixtures(cluster.admin)
const bed = await startJoinBed(cluster, ['nodeCertificateLifetime: 1m', 'servingCertificateLifetime: 10m'])
t.teardown(() => bed.cloud.stop())
const NODE = 'edge-rotating'
const ROTATIONS = 3

t.test(`${ROTATIONS} renewals through the tunnel: no lost watch event, new certificates seen on both sides, no restart`, async (t) => {
  await fixtures.node(NODE)
  const { dir, configFile } = await bed.nodeDir('rotating')
  const joined = await bed.join(dir, { token: await bed.tokenFor(NODE), node: NODE })
  t.equal(joined.code, 0, joined.stderr)
  const edge = await startEdgeProcess({ configFile, logFile: join(cluster.dir, 'edge-rotating.log') })
  t.teardown(() => edge.stop(3000))

  const ns = await fixtures.namespace('rotation')
  const me = await fixtures.podIdentity(ns, NODE, { rules: configMapRules(['get', 'list', 'watch']) })
  const pod = await podEnvironment(await cluster.tempDir('pod'), { host: '127.0.0.1', port: edge.port, token: me.token, caPem: cluster.pki.caPem, namespace: ns })
  let watched = ''
  let watch = await spawnKubectl(pod, ['get', 'configmaps', '--watch', '-o', 'name'])
  // The edge learns the pod's RoleBinding from its policy bundle shortly after it is created: until then the watch is refused.
  await waitUntil(async () => {
    if (watch.exitCode !== null) { watch = await spawnKubectl(pod, ['get', 'configmaps', '--watch', '-o', 'name']); watched = '' }
    watch.stdout!.removeAllListeners('data')
    watch.stdout!.setEncoding('utf8').on('data', (d: string) => { watched += d })
    return watched.includes('configmap/kube-root-ca.crt')
  }, { what: 'the watch to list kube-root-ca.crt', timeoutMs: 30_000, intervalMs: 500 }).catch(() => {})
  t.teardown(() => { watch.kill() })
  t.match(watched, /configmap\/kube-root-ca\.crt/, 'the watch is open')

  const connectedSerials = async (): Promise<string[]> => (await readFile(join(cluster.dir, 'cloud.log'), 'utf8')).split('\n')
    .filter((l) => l.includes('"edge connected"') && l.includes(`"node":"${NODE}"`)).map((l) => JSON.parse(l).serial as string)
  const servedSerial = (): Promise<string> => new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: edge.port, ca: cluster.pki.caPem }, () => { resolve(s.getPeerCertificate().serialNumber); s.end() })
    s.once('error', reject)
  })
  const renewedDir = join(dir, '..', 'state', 'pki')
  for (let i = 1; i <= ROTATIONS; i++) {
    const started = Date.now()
    await waitUntil(async () => new Set(await connectedSerials()).size > i, { what: `renewal ${i}`, timeoutMs: 120_000, intervalMs: 500 }).catch(() => {})
    const serials = [...new Set(await connectedSerials())]
    t.equal(serials.length, i + 1, `renewal ${i}: the shim saw a new tunnel certificate (after ${Date.now() - started} ms)`)
    const tunnelNow = new X509Certificate(await readFile(join(renewedDir, 'node.crt')))
    t.equal(tunnelNow.serialNumber, serials.at(-1), `renewal ${i}: it is the one the edge wrote to <stateDir>/pki`)
    const servingNow = new X509Certificate(await readFile(join(renewedDir, 'server.crt')))
    let served = ''
    await waitUntil(async () => { served = await servedSerial(); return served === servingNow.serialNumber },
      { what: 'the new serving certificate', timeoutMs: 20_000, intervalMs: 250 }).catch(() => {})
    t.equal(served, servingNow.serialNumber, `renewal ${i}: a TLS client sees the new serving certificate`)
    t.ok(servingNow.verify(new X509Certificate(cluster.pki.caPem).publicKey), `renewal ${i}: it chains to the pod's ca.crt`)
    await cluster.admin.must('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name: `after-renewal-${i}` } } })
  }
  await waitUntil(() => watched.includes(`configmap/after-renewal-${ROTATIONS}`), { what: 'the last event', timeoutMs: 20_000, intervalMs: 100 }).catch(() => {})
  for (let i = 1; i <= ROTATIONS; i++) t.match(watched, new RegExp(`configmap/after-renewal-${i}\\n`), `the watch saw the object created after renewal ${i}`)
  t.equal(watch.exitCode, null, 'the watch opened before the first renewal is still open')
  const lines = edge.proc.logLines()
  t.ok(lines.filter((l) => l.msg === 'certificates renewed through the tunnel').length >= ROTATIONS, 'the edge logged each renewal')
  t.notOk(lines.some((l) => l.msg === 'tunnel disconnected'), 'the tunnel was never down')
  t.notOk(lines.some((l) => l.msg === 'certificate renewal failed; the current certificates stay in use'), 'no renewal failed')
  t.equal(edge.proc.child.exitCode, null, 'the same edge process throughout')
  const modes = await Promise.all(['node.key', 'server.key'].map(async (f) => (await (await import('node:fs/promises')).stat(join(renewedDir, f))).mode & 0o777))
  t.same(modes, [0o600, 0o600], 'renewed keys are 0600 in the daemon\'s own state directory')
})
