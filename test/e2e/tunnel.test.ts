// The tunnel under stress that matters in the field: the cloud goes away and comes back (the edge
// redials with backoff and serves again), and one watcher that stops reading does not stall the
// other requests sharing the node's single connection (per-stream HTTP/2 flow control).
import t from 'tap'
import tls from 'node:tls'
import { destination } from 'pino'
import { join } from 'node:path'
import { readFile } from 'node:fs/promises'
import { loadCloudConfig } from '../../src/config/index.js'
import { runCloud } from '../../src/cloud/run.js'
import { createLogger } from '../../src/obs/logger.js'
import { freePort } from '../cluster/processes.js'
import { RestClient } from '../cluster/rest.js'
import { writeCloudConfig } from './configs.js'
import { startCli } from './process.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())

t.test('the cloud goes away and comes back: the edge reports it, redials and serves again', async (t) => {
  // A second shim on a fixed port, so it can be stopped and started again at the same address.
  const port = await freePort()
  const file = await writeCloudConfig(stack.cluster, stack.files, { address: `127.0.0.1:${port}`, healthzAddress: '127.0.0.1:0' })
  const startShim = async () => runCloud(await loadCloudConfig(file),
    createLogger({ level: 'debug', role: 'cloud', destination: destination({ dest: join(stack.cluster.dir, 'cloud-restart.log'), sync: false }) }))
  let shim = await startShim()
  const edge = await stack.startEdge('edge-redial', { tunnelPort: port })
  const ns = await stack.fixtures.namespace('redial')
  const me = await stack.fixtures.podIdentity(ns, 'edge-redial', { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] })
  await stack.fixtures.configMap(ns, 'c')
  const client = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, me.token)
  t.teardown(() => client.close())
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps/c`)).status, 200)

  await shim.close()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice')
  const cached = await client.get(`/api/v1/namespaces/${ns}/configmaps/c`)
  t.equal(cached.status, 200, 'a read the edge cache holds is answered from it (issue #5, test/e2e/offline.test.ts)')
  t.match(cached.headers.warning, /served from edge cache/)
  const down = await client.get(`/api/v1/namespaces/${ns}/configmaps/never-read`)
  t.equal(down.status, 503)
  t.equal(down.body.reason, 'ServiceUnavailable')
  // No complete list or discovery document cached yet: not ready.
  t.match((await client.withToken(undefined).get('/readyz?verbose')).body, /\[-\]tunnel failed/)

  shim = await startShim()
  t.teardown(() => shim.close())
  await waitUntil(() => edge.tunnel.state.connected, 15_000, 'the edge to redial')
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps/c`)).status, 200, 'served again')
  t.equal((await client.withToken(undefined).get('/readyz')).status, 200)
})

t.test('a watcher that stops reading does not stall other requests on the same tunnel', async (t) => {
  const edge = await stack.startEdge('edge-slow-watcher')
  const ns = await stack.fixtures.namespace('slow')
  const me = await stack.fixtures.podIdentity(ns, 'edge-slow-watcher', {
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }],
  })
  await stack.fixtures.configMap(ns, 'probe')
  const port = edge.listening.server!.port

  // A watch whose client reads the response headers and then nothing more.
  const socket = tls.connect({ host: '127.0.0.1', port, ca: stack.cluster.pki.caPem })
  await new Promise((resolve) => socket.once('secureConnect', resolve))
  socket.write(`GET /api/v1/namespaces/${ns}/configmaps?watch=1 HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer ${me.token}\r\n\r\n`)
  const head = await new Promise<Buffer>((resolve) => socket.once('data', resolve))
  t.match(head.toString(), /^HTTP\/1\.1 200 /, 'the watch is open')
  socket.pause()
  t.teardown(() => socket.destroy())

  // ~6 MiB of events for it: far beyond its socket buffers and its HTTP/2 stream window (1 MiB).
  const blob = 'x'.repeat(20 * 1024)
  for (let i = 0; i < 300; i++) await stack.fixtures.configMap(ns, `big-${i}`, { blob })

  // Meanwhile every other request through the same edge and tunnel is served.
  const client = new RestClient(`https://127.0.0.1:${port}`, stack.cluster.pki.caPem, me.token)
  t.teardown(() => client.close())
  const results = await Promise.all(Array.from({ length: 20 }, () => client.get(`/api/v1/namespaces/${ns}/configmaps/probe`)))
  t.same(results.map((r) => r.status), Array(20).fill(200))
  const list = await client.get(`/api/v1/namespaces/${ns}/configmaps`, { query: { limit: 5 } })
  t.equal(list.status, 200)
  t.equal(edge.tunnel.state.connected, true, 'the tunnel is still up')
  t.notOk(socket.destroyed, 'the stalled watcher was held, not dropped')
})

t.test('keepalive PINGs: a cloud that stops answering (frozen, not closed) is detected, then rejoined', async (t) => {
  const port = await freePort()
  const file = await writeCloudConfig(stack.cluster, stack.files, { address: `127.0.0.1:${port}`, healthzAddress: '127.0.0.1:0' })
  const cloud = startCli(['cloud', '--config', file], { logFile: join(stack.cluster.dir, 'cloud-frozen.log') })
  t.teardown(async () => { cloud.child.kill('SIGCONT'); await cloud.stop(3000) })
  await cloud.waitForLog((l) => l.msg === 'cloud shim ready', 'cloud shim ready')
  const edge = await stack.startEdge('edge-frozen-cloud', { tunnelPort: port }) // heartbeat 2s, timeout 2s
  // SIGSTOP keeps the TCP connection open but silent: only the PING deadline can tell.
  cloud.child.kill('SIGSTOP')
  await waitUntil(() => !edge.tunnel.state.connected, 15_000, 'the edge to declare the frozen cloud dead')
  t.match(edge.tunnel.state, { connected: false, lastError: /heartbeat timeout|connect timeout/ })
  cloud.child.kill('SIGCONT')
  await waitUntil(() => edge.tunnel.state.connected, 20_000, 'the edge to rejoin the thawed cloud')
  t.equal(edge.tunnel.state.connected, true)
})

t.test('a revoked node (modules.cloudHub.revokedNodes): the shim refuses its tunnel, logs whom and counts it; another node is served', async (t) => {
  const file = await writeCloudConfig(stack.cluster, stack.files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', cloudHub: ['revokedNodes: [edge-revoked]'] })
  const logFile = join(stack.cluster.dir, 'cloud-revoked.log')
  const shim = await runCloud(await loadCloudConfig(file),
    createLogger({ level: 'debug', role: 'cloud', destination: destination({ dest: logFile, sync: true }) }))
  t.teardown(() => shim.close())
  const refused = async (): Promise<number> => metricSum(await fetch(`http://127.0.0.1:${shim.healthPort}/metrics`).then((r) => r.text()),
    'edge_metaserver_cloud_tunnel_connections_refused_total', 'reason="revoked"')
  const edge = await stack.startEdge('edge-revoked', { tunnelPort: shim.tunnelPort, waitForTunnel: false })
  await waitUntil(async () => await refused() >= 2, 20_000, 'two refused dials of the revoked node')
  t.notOk(edge.tunnel.state.connected, 'the revoked node has no tunnel')
  const log = (await readFile(logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  const line = log.find((l) => l.msg === 'tunnel connection refused: node revoked')
  t.match(line, { level: 'warn', node: 'edge-revoked', remote: /^127\.0\.0\.1:\d+$/, reason: 'listed in modules.cloudHub.revokedNodes' }, 'a warn line naming the node, its peer and why')
  t.notOk(log.some((l) => l.msg === 'edge connected' && l.node === 'edge-revoked'), 'never registered as connected')
  const other = await stack.startEdge('edge-not-revoked', { tunnelPort: shim.tunnelPort })
  t.ok(other.tunnel.state.connected, 'a node not on the list connects to the same shim')
  const after = (await readFile(logFile, 'utf8')).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l))
  t.ok(after.some((l) => l.msg === 'edge connected' && l.node === 'edge-not-revoked'), 'and the shim logs it as connected (what the revoked node never got)')
})
