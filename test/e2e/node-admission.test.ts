// Which nodes may hold a tunnel, on the test bed with one shim running exactly deploy/'s RBAC and
// deploy/'s settings (requireNodeObject, the deny-list ConfigMap): an edge without a Node object is
// refused, and connects once its Node exists; deleting the Node cuts its live connection; `node
// revoke` (the CLI, with the admin's kubeconfig) cuts it and refuses it with no shim restart, `node
// unrevoke` lets it back; two edges with one node identity take turns, the newer winning, each turn
// logged with both peers and the older edge told why.
import t from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { TestCluster } from '../cluster/cluster.js'
import { Fixtures } from '../cluster/fixtures.js'
import { startCloudInProcess, startEdgeInProcess, type InProcessEdge } from '../helpers/product.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig } from './configs.js'
import { runCli } from './process.js'
import { metricSum, waitUntil } from './stack.js'

const DENY_LIST = 'edge-metaserver/edge-metaserver-revoked-nodes'

const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
const fixtures = new Fixtures(cluster.admin)
const files = await prepareStackFiles(cluster)
const cloudLog = join(cluster.dir, 'cloud-admission.log')
const cloud = await startCloudInProcess({
  logFile: cloudLog,
  configFile: await writeCloudConfig(cluster, files, {
    address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', cloudHub: ['requireNodeObject: true', `revokedNodesConfigMap: ${DENY_LIST}`],
  }),
})
t.teardown(() => cloud.stop())
const edges: InProcessEdge[] = []
t.teardown(async () => { for (const e of edges) await e.stop() })

async function logLines (file: string): Promise<any[]> {
  return (await readFile(file, 'utf8').catch(() => '')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
}

async function refused (reason: string): Promise<number> {
  const text = await fetch(`http://127.0.0.1:${cloud.healthPort}/metrics`).then((r) => r.text())
  return metricSum(text, 'edge_metaserver_cloud_tunnel_connections_refused_total', `reason="${reason}"`)
}

/** An edge for `node` (no Node object is made here), and its log file. */
async function startEdge (node: string, opts: { tunnelCert?: Awaited<ReturnType<typeof files.tunnelPki.node>>, name?: string } = {}): Promise<{ edge: InProcessEdge, log: string }> {
  const log = join(cluster.dir, `edge-${opts.name ?? node}.log`)
  const configFile = await writeEdgeConfig(cluster, files, node, {
    server: '127.0.0.1:0', tunnelPort: cloud.tunnelPort, ...(opts.tunnelCert === undefined ? {} : { tunnelCert: opts.tunnelCert }),
  })
  const edge = await startEdgeInProcess({ configFile, logFile: log, waitForTunnel: false })
  edges.push(edge)
  return { edge, log }
}

t.test('requireNodeObject: an edge without a Node object is refused (counted, logged); once the Node exists it connects; deleting the Node cuts it off', async (t) => {
  const NODE = 'edge-no-node'
  const before = await refused('no-node-object')
  const { edge, log } = await startEdge(NODE)
  await waitUntil(async () => await refused('no-node-object') >= before + 2, 20_000, 'two refused dials of the node without a Node object')
  t.notOk(edge.daemon.tunnel.state.connected, 'no tunnel without a Node object')
  t.notOk(cloud.shim.connectedNodes().includes(NODE), 'the shim never registered it')
  const refusal = (await logLines(cloudLog)).find((l) => l.msg === 'tunnel connection refused: no Node object' && l.node === NODE)
  t.match(refusal, { level: 'warn', remote: /^127\.0\.0\.1:\d+$/, reason: /no Node object with this name/ }, 'the shim says whom and why')
  await waitUntil(async () => (await logLines(log)).some((l) => l.msg === 'tunnel dial failed'), 10_000, 'the edge\'s warn line')
  t.match((await logLines(log)).find((l) => l.msg === 'tunnel dial failed'), { level: 'warn', reason: /^the shim closed the connection: no Node object with this name/ },
    'the edge\'s failed dial names the shim\'s reason')

  await fixtures.node(NODE)
  await waitUntil(() => edge.daemon.tunnel.state.connected, 20_000, 'the edge to connect once its Node exists')
  t.ok(cloud.shim.connectedNodes().includes(NODE), 'connected once the Node exists (no restart of either side)')

  const cut = await refused('no-node-object')
  t.equal((await cluster.admin.delete(`/api/v1/nodes/${NODE}`)).status, 200, 'the Node is deleted')
  await waitUntil(() => !edge.daemon.tunnel.state.connected, 20_000, 'the edge to lose its tunnel')
  await waitUntil(async () => (await logLines(cloudLog)).some((l) => l.msg === 'tunnel connection closed: no Node object' && l.node === NODE), 10_000, 'the shim\'s line')
  const closed = (await logLines(cloudLog)).find((l) => l.msg === 'tunnel connection closed: no Node object' && l.node === NODE)
  t.match(closed, { level: 'warn', remote: /^127\.0\.0\.1:\d+$/, reason: /no Node object/ }, 'the shim logs the live connection it closed')
  t.ok(await refused('no-node-object') > cut, 'counted as no-node-object')
  await waitUntil(async () => (await logLines(log)).some((l) => l.msg === 'the shim closed this tunnel connection'), 10_000, 'the edge\'s line')
  t.match((await logLines(log)).find((l) => l.msg === 'the shim closed this tunnel connection'), { level: 'warn', reason: /no Node object/ },
    'the edge is told why (GOAWAY debug data) and logs it')
  const after = await refused('no-node-object')
  await waitUntil(async () => await refused('no-node-object') > after, 20_000, 'its redial refused too')
  t.notOk(edge.daemon.tunnel.state.connected, 'and it stays cut off')
})

t.test('node revoke (CLI, watched ConfigMap): the live connection is closed and new ones refused, no shim restart; node unrevoke lets it back', async (t) => {
  const NODE = 'edge-to-revoke'
  await fixtures.node(NODE)
  const { edge, log } = await startEdge(NODE)
  await waitUntil(() => edge.daemon.tunnel.state.connected, 20_000, 'the edge to connect')
  await fixtures.node('edge-bystander')
  const other = await startEdge('edge-bystander')
  await waitUntil(() => other.edge.daemon.tunnel.state.connected, 20_000, 'another edge to connect')

  const before = await refused('revoked')
  const revoked = await runCli(['node', 'revoke', NODE, '--kubeconfig', cluster.adminKubeconfig])
  t.equal(revoked.code, 0, revoked.stderr)
  t.match(revoked.stdout, new RegExp(`^node ${NODE} revoked \\(ConfigMap ${DENY_LIST}\\)`), revoked.stdout)
  const cm = await cluster.admin.get('/api/v1/namespaces/edge-metaserver/configmaps/edge-metaserver-revoked-nodes')
  t.match(cm.body.data?.[NODE], /^revoked at \d{4}-/, 'the deny list holds the node')

  await waitUntil(() => !edge.daemon.tunnel.state.connected, 20_000, 'the revoked edge to lose its tunnel')
  await waitUntil(async () => (await logLines(cloudLog)).some((l) => l.msg === 'tunnel connection closed: node revoked' && l.node === NODE), 10_000, 'the shim\'s line')
  t.match((await logLines(cloudLog)).find((l) => l.msg === 'tunnel connection closed: node revoked' && l.node === NODE),
    { level: 'warn', remote: /^127\.0\.0\.1:\d+$/, reason: `revoked in ConfigMap ${DENY_LIST} (edge-metaserver node revoke)` }, 'the shim logs whom it cut off and why')
  await waitUntil(async () => (await logLines(log)).some((l) => l.msg === 'the shim closed this tunnel connection'), 10_000, 'the edge\'s line')
  t.match((await logLines(log)).find((l) => l.msg === 'the shim closed this tunnel connection'), { level: 'warn', reason: /revoked in ConfigMap/ }, 'the edge logs why')
  await waitUntil(async () => await refused('revoked') >= before + 2, 20_000, 'the live connection and a redial counted as revoked')
  t.notOk(edge.daemon.tunnel.state.connected, 'the revoked node stays without a tunnel')
  t.ok(other.edge.daemon.tunnel.state.connected, 'another node on the same shim keeps its tunnel')

  const again = await runCli(['node', 'revoke', NODE, '--kubeconfig', cluster.adminKubeconfig])
  t.equal(again.code, 0, `revoking twice is fine: ${again.stderr}`)
  const bad = await runCli(['node', 'revoke', 'Not_A_Node', '--kubeconfig', cluster.adminKubeconfig])
  t.equal(bad.code, 1, 'a name no node can have: exit 1')
  t.match(bad.stderr, /^edge-metaserver node revoke: "Not_A_Node" is not a node name/)
  const usage = await runCli(['node', 'revoke'])
  t.equal(usage.code, 2, 'no name: usage, exit 2')

  const unrevoked = await runCli(['node', 'unrevoke', NODE, '--kubeconfig', cluster.adminKubeconfig])
  t.equal(unrevoked.code, 0, unrevoked.stderr)
  t.match(unrevoked.stdout, new RegExp(`^node ${NODE} is no longer revoked`))
  await waitUntil(() => edge.daemon.tunnel.state.connected, 20_000, 'the edge to connect again after unrevoke')
  t.ok(cloud.shim.connectedNodes().includes(NODE), 'served again, no restart of either side')
})

t.test('two edges with one node identity: the newer connection wins, the older is told why; the shim logs both peers', async (t) => {
  const NODE = 'edge-twin'
  await fixtures.node(NODE)
  const cert = await files.tunnelPki.node(NODE)
  const first = await startEdge(NODE, { tunnelCert: cert, name: 'twin-1' })
  await waitUntil(() => first.edge.daemon.tunnel.state.connected, 20_000, 'the first edge to connect')
  const second = await startEdge(NODE, { tunnelCert: cert, name: 'twin-2' })
  const superseded = async (): Promise<any[]> => (await logLines(cloudLog)).filter((l) => l.msg === 'a second tunnel connection with the same node identity: the newer one wins, the older one is told to go away' && l.node === NODE)
  await waitUntil(async () => (await superseded()).length >= 1, 20_000, 'the shim to see the second connection')
  const [line] = await superseded()
  t.match(line, { level: 'warn', remote: /^127\.0\.0\.1:\d+$/, previousRemote: /^127\.0\.0\.1:\d+$/ }, 'the shim logs the newer and the older peer')
  t.not(line.remote, line.previousRemote, 'two different peers')
  const told = 'the shim replaced this tunnel connection by a newer one with the same node identity: is another edge using this node\'s certificate?'
  await waitUntil(async () => (await logLines(first.log)).some((l) => l.msg === told), 20_000, 'the first edge to be told')
  t.match((await logLines(first.log)).find((l) => l.msg === told), { level: 'warn' }, 'the older edge logs why it lost its connection')
  t.equal(cloud.shim.connectedNodes().filter((n) => n === NODE).length, 1, 'the shim lists the node once')
  // They take turns (each superseding the other after its backoff), every turn logged as above.
  await waitUntil(async () => (await superseded()).length >= 2, 30_000, 'a second turn')
  t.ok((await logLines(second.log)).some((l) => l.msg === told) || (await superseded()).length >= 2,
    'the first edge redialled and won in its turn: the newer wins whichever it is')
})
