// The shim's tunnel certificate and CA bundle replaced on disk under a running shim (the real CLI
// as a process, so SIGHUP is the real signal), with an edge connected through it: a new TLS
// connection to the tunnel (and join) port presents the new serial, the edge's tunnel stays up and
// keeps serving, the expiry gauge follows; a mismatched pair is refused with one warn line and the
// old one keeps serving; a CA bundle of old and new CA lets a node certificate of the new CA in.
import t from 'tap'
import http2 from 'node:http2'
import tls from 'node:tls'
import { X509Certificate } from 'node:crypto'
import { copyFile, readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CertificateAuthority, type KeyPair } from '../cluster/pki.js'
import { RestClient } from '../cluster/rest.js'
import { startCloudProcess } from '../helpers/product.js'
import { writeCloudConfig } from './configs.js'
import { joinCloudHub } from './joined-node.js'
import { metricSum, Stack, waitUntil } from './stack.js'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const { ca, cloud } = stack.tunnelPki
const caPem = await ca.pem()

// The shim's own copies of its three files, so replacing them touches nothing else of the stack.
const own = await stack.cluster.tempDir('shim-certificates')
const files = { ca: join(own, 'ca.crt'), cert: join(own, 'tls.crt'), key: join(own, 'tls.key') }
await Promise.all([copyFile(ca.certFile, files.ca), copyFile(cloud.certFile, files.cert), copyFile(cloud.keyFile, files.key)])
const configFile = await writeCloudConfig(stack.cluster, stack.files, {
  address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', logLevel: 'info', cloudHub: joinCloudHub(stack.files),
})
await writeFile(configFile, (await readFile(configFile, 'utf8'))
  .replace(`tlsCaFile: ${ca.certFile}`, `tlsCaFile: ${files.ca}`)
  .replace(`tlsCertFile: ${cloud.certFile}`, `tlsCertFile: ${files.cert}`)
  .replace(`tlsPrivateKeyFile: ${cloud.keyFile}`, `tlsPrivateKeyFile: ${files.key}`))
const shim = await startCloudProcess({ configFile, logFile: join(stack.cluster.dir, 'cloud-certificates.log') })
t.teardown(() => shim.stop(3000))
const joinPort = shim.proc.logLines().find((l) => l.msg === 'cloud shim ready')!.joinPort as number

/** Replaced as cert-manager or an operator's tooling would: each file by a rename, key first. */
const install = async (texts: { ca?: string, cert?: string, key?: string }): Promise<void> => {
  for (const which of ['ca', 'key', 'cert'] as const) {
    const text = texts[which]
    if (text === undefined) continue
    await writeFile(`${files[which]}.tmp`, text)
    await rename(`${files[which]}.tmp`, files[which])
  }
}
const pem = async (pair: KeyPair): Promise<{ cert: string, key: string }> => ({ cert: await readFile(pair.certFile, 'utf8'), key: await readFile(pair.keyFile, 'utf8') })
const serialOf = (certPem: string): string => new X509Certificate(certPem).serialNumber
const expiryOf = (certPem: string): number => Math.floor(Date.parse(new X509Certificate(certPem).validTo) / 1000)

/** SIGHUP, then the lines logged up to its "certificate files checked" line. */
const sighup = async (): Promise<Array<Record<string, any>>> => {
  const from = shim.proc.logLines().length
  shim.proc.child.kill('SIGHUP')
  await waitUntil(() => shim.proc.logLines().slice(from).some((l) => l.msg === 'reload: certificate files checked'), 20_000, 'the reload line')
  return shim.proc.logLines().slice(from)
}
const checked = (lines: Array<Record<string, any>>): Record<string, any> => lines.find((l) => l.msg === 'reload: certificate files checked')!

/** The serial a new TLS connection to `port` is served, and the TLS version it got. */
const served = (port: number, opts: tls.ConnectionOptions = {}): Promise<{ serial: string, protocol: string | null }> => new Promise((resolve, reject) => {
  const s = tls.connect({ host: '127.0.0.1', port, ca: caPem, ALPNProtocols: ['h2'], ...opts }, () => {
    resolve({ serial: s.getPeerCertificate().serialNumber, protocol: s.getProtocol() })
    s.destroy()
  })
  s.once('error', reject)
})

/** Whether the tunnel lets a node certificate in: an HTTP/2 PING answered (TLS 1.3 shows a refused client certificate only after the handshake). */
const tunnelAccepts = (pair: KeyPair): Promise<boolean> => new Promise((resolve) => {
  void Promise.all([readFile(pair.certFile, 'utf8'), readFile(pair.keyFile, 'utf8')]).then(([cert, key]) => {
    const session = http2.connect(`https://127.0.0.1:${shim.tunnelPort}`, { ca: caPem, cert, key })
    session.once('error', () => resolve(false))
    session.once('close', () => resolve(false))
    session.once('connect', () => session.ping((err) => { resolve(err === null); session.close() }))
  })
})

const shimMetric = async (name: string): Promise<number> => metricSum(await fetch(`http://127.0.0.1:${shim.healthPort}/metrics`).then((r) => r.text()), name)
const GAUGE = 'edge_metaserver_cloud_certificate_not_after_seconds'

const NODE = 'edge-shim-reload'
const NEW_NODE = 'edge-new-ca'
// Probes of the CA rotation under identities of their own (a connection with the edge's identity
// would supersede its tunnel), their Node objects made now so the shim's admission has listed them by then.
await stack.fixtures.node('shim-ca-probe')
await stack.fixtures.node(NEW_NODE)
const oldProbe = await ca.issue('node-shim-ca-probe', { cn: 'system:node:shim-ca-probe', organizations: ['system:nodes'], usage: 'client' })
const edge = await stack.startEdge(NODE, { tunnelPort: shim.tunnelPort })
const ns = await stack.fixtures.namespace('shim-certificates')
const me = await stack.fixtures.podIdentity(ns, NODE, { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get'] }] })
const client = new RestClient(`https://127.0.0.1:${edge.listening.server!.port}`, stack.cluster.pki.caPem, me.token)
t.teardown(() => client.close())
const edgeConnections = (): Array<Record<string, any>> => shim.proc.logLines().filter((l) => l.msg === 'edge connected' && l.node === NODE)
const edgeReconnects = async (): Promise<number> => {
  const scrape = String((await client.withToken(undefined).get('/metrics')).body)
  // metricSum says 0 for a metric that is not there: a scrape without it must not pass for "no reconnect".
  if (!/^edge_metaserver_tunnel_reconnects_total\b/m.test(scrape)) throw new Error(`no reconnect counter in the edge's /metrics: ${scrape.slice(0, 200)}`)
  return metricSum(scrape, 'edge_metaserver_tunnel_reconnects_total')
}

const original = await pem(cloud)
const renewed = await pem(await ca.issue('cloud-renewed', { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], dnsSans: ['localhost'], days: 3 }))

t.test('a renewed certificate on disk: new connections get it on SIGHUP, the edge\'s tunnel stays up, the gauge follows', async (t) => {
  await stack.fixtures.configMap(ns, 'before')
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps/before`)).status, 200, 'a request through the edge before')
  t.equal((await served(shim.tunnelPort)).serial, serialOf(original.cert), 'the tunnel port serves the start-up certificate')
  t.equal(await shimMetric(GAUGE), expiryOf(original.cert), 'the gauge shows its expiry')
  t.equal(edgeConnections().length, 1, 'the edge connected once')

  await install(renewed)
  const lines = await sighup()
  // The shim also checks every 5 s: the new set is applied once, by this SIGHUP unless that check came first.
  const applied = shim.proc.logLines().filter((l) => l.msg === 'tunnel certificate files reloaded: new edge connections use them; open tunnels keep theirs')
  t.equal(applied.length, 1, 'applied once')
  t.equal(applied[0]!.certificate.serial, serialOf(renewed.cert), 'the info line names the new serial')
  t.notMatch(JSON.stringify(shim.proc.logLines()), /PRIVATE KEY/, 'no key material logged')
  const bySighup = lines.some((l) => l.msg === applied[0]!.msg)
  t.equal(checked(lines).certificates.tunnel, bySighup ? 'reloaded' : 'unchanged', `the SIGHUP line says what it did (${bySighup ? 'it applied the set' : 'the periodic check was first'})`)

  const now = await served(shim.tunnelPort)
  t.equal(now.serial, serialOf(renewed.cert), 'a new TLS connection to the tunnel port presents the new serial')
  t.equal(now.protocol, 'TLSv1.3', 'still TLS 1.3')
  // With a good client certificate, so the version is all that can be refused.
  await t.rejects(served(shim.tunnelPort, { maxVersion: 'TLSv1.2', ...await pem(oldProbe) }), { code: 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION' },
    'a TLS 1.2 client is still refused after the reload')
  t.equal((await served(joinPort, { ALPNProtocols: ['http/1.1'] })).serial, serialOf(renewed.cert), 'the join port (HTTPS) presents it too')
  t.equal(await shimMetric(GAUGE), expiryOf(renewed.cert), 'the expiry gauge follows the certificate in use')
  t.not(expiryOf(renewed.cert), expiryOf(original.cert), 'a change the gauge can show (3 days, not 2)')

  await stack.fixtures.configMap(ns, 'after')
  const after = await client.get(`/api/v1/namespaces/${ns}/configmaps/after`)
  t.equal(after.status, 200, 'a request through the edge after')
  t.equal(after.headers.warning, undefined, 'answered through the tunnel, not from the edge cache')
  t.ok(edge.tunnel.state.connected, 'the edge\'s tunnel is up')
  t.equal(edgeConnections().length, 1, 'no new edge connection on the shim')
  t.equal(await edgeReconnects(), 0, 'no reconnect counted on the edge')
})

t.test('a certificate with another key on disk: refused with one warn line, the one in use keeps serving', async (t) => {
  const a = await pem(await ca.issue('cloud-a', { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], days: 4 }))
  const b = await pem(await ca.issue('cloud-b', { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], days: 4 }))
  await install({ cert: a.cert, key: b.key })
  const lines = await sighup()
  t.match(checked(lines).certificates.tunnel, { refused: `${files.cert} / ${files.key}: the key file does not hold this certificate's key` }, 'the SIGHUP line says why')
  const warns = (): Array<Record<string, any>> => shim.proc.logLines().filter((l) => l.msg === 'tunnel certificate files changed but cannot be used; keeping the current ones')
  t.equal(warns().length, 1, 'one warn line')
  t.equal(warns()[0]!.level, 'warn', 'at warn')
  t.match(warns()[0]!.reason, files.key, 'naming the files')
  t.equal((await served(shim.tunnelPort)).serial, serialOf(renewed.cert), 'the renewed certificate is still served')
  t.equal(await shimMetric(GAUGE), expiryOf(renewed.cert), 'the gauge still shows the one in use')
  t.match(checked(await sighup()).certificates.tunnel, { refused: /the key file does not hold/ }, 'checked again: still refused')
  t.equal(warns().length, 1, 'and not logged again')
  await install(renewed)
  t.equal(checked(await sighup()).certificates.tunnel, 'unchanged', 'the good pair back: nothing to apply')
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps/after`)).status, 200, 'the edge served throughout')
})

t.test('CA rotation: a bundle of the old and the new CA lets a node certificate of the new CA in, and the old ones still', async (t) => {
  const newCa = await CertificateAuthority.create(join(own, 'new-ca'), 'tunnel-ca-2', 'edge-metaserver-test-tunnel-ca-2')
  const newNodePair = await newCa.issue(`node-${NEW_NODE}`, { cn: `system:node:${NEW_NODE}`, organizations: ['system:nodes'], usage: 'client' })
  t.equal(await tunnelAccepts(oldProbe), true, 'before: a node certificate of the old CA is let in')
  const failures = await shimMetric('edge_metaserver_cloud_tunnel_handshake_failures_total')
  t.equal(await tunnelAccepts(newNodePair), false, 'before: one of the new CA is refused')
  t.ok(await shimMetric('edge_metaserver_cloud_tunnel_handshake_failures_total') > failures, 'and counted as a refused handshake')

  await install({ ca: caPem + await newCa.pem() })
  await sighup()
  const applied = shim.proc.logLines().filter((l) => l.msg === 'tunnel certificate files reloaded: new edge connections use them; open tunnels keep theirs').at(-1)
  t.match(applied?.tunnelCa, [/edge-metaserver-test-tunnel-ca$/, /edge-metaserver-test-tunnel-ca-2$/], 'the info line names both CAs')
  t.equal(await tunnelAccepts(newNodePair), true, 'after: a node certificate of the new CA is let in')
  t.equal(await tunnelAccepts(oldProbe), true, 'after: one of the old CA still is')
  const newEdge = await stack.startEdge(NEW_NODE, { tunnelPort: shim.tunnelPort, tunnelCert: newNodePair })
  t.ok(newEdge.tunnel.state.connected, 'an edge with a certificate of the new CA connects')
  t.equal((await served(shim.tunnelPort)).serial, serialOf(renewed.cert), 'the shim\'s own certificate is unchanged')
  t.ok(edge.tunnel.state.connected, 'the first edge\'s tunnel is still up')
  t.equal(edgeConnections().length, 1, 'and was never reconnected')
  t.equal((await client.get(`/api/v1/namespaces/${ns}/configmaps/after`)).status, 200, 'and serves')
})
