// `edge-metaserver join` end to end on the test bed: `token create` → `join` into a fresh
// directory → `edge` starts from exactly what join wrote → a pod's kubectl works through it, its
// serving certificate chaining to the pod's ca.crt. Then every way a join must fail — a token of
// another node, expired, unknown, a wrong CA hash, a wrong server — each with its own exit code and
// line, leaving no file behind; and the shim's approver denying a serving request with extra SANs
// or the wrong CN, with the reason on the CSR. The shim runs with exactly deploy/'s RBAC.
import t from 'tap'
import https from 'node:https'
import { connect } from 'node:tls'
import { generateKeyPairSync, X509Certificate } from 'node:crypto'
import { existsSync } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { kubectl, podEnvironment, spawnKubectl } from '../cluster/clients.js'
import { TestCluster } from '../cluster/cluster.js'
import { Fixtures, configMapRules } from '../cluster/fixtures.js'
import { startJoinBed, SERVICE_GID } from './joined-node.js'
import { runCli, type CliProcess } from './process.js'
import { startEdgeProcess } from '../helpers/product.js'
import { waitUntil } from '../helpers/wait.js'
import { bootstrapTokenSecret } from '../../src/kube/bootstrap-token.js'
import { createCertificateRequest } from '../../src/pki/x509.js'
import { NODE_ANNOTATION } from '../../src/cloud/serving-csr.js'

// Everything starts before any test is queued (see cli.test.ts: tap and top-level awaits).
const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
const fixtures = new Fixtures(cluster.admin)
const bed = await startJoinBed(cluster)
const { files, cloud } = bed
t.teardown(() => cloud.stop())
const JOIN = bed.joinServer
const HASH = bed.caHash
const procs: CliProcess[] = []
t.teardown(async () => { for (const p of procs) await p.stop(3000) })

const NODE = 'edge-joined'

t.test('token create → join → edge starts from what join wrote → a pod\'s kubectl works through it', async (t) => {
  await fixtures.node(NODE)
  const created = await runCli(['token', 'create', '--node', NODE, '--kubeconfig', cluster.adminKubeconfig,
    '--tunnel-ca', files.tunnelPki.ca.certFile, '--server', JOIN])
  t.equal(created.code, 0, created.stderr)
  const [token, , command] = created.stdout.split('\n')
  t.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/, 'a bootstrap token')
  t.equal(command?.trim(), `edge-metaserver join --server ${JOIN} --token ${token} --ca-cert-hash ${HASH} --node-name ${NODE}`,
    'the printed command is the one to run on the node')
  const secret = await cluster.admin.get(`/api/v1/namespaces/kube-system/secrets/bootstrap-token-${token!.split('.')[0]}`)
  t.equal(secret.body.type, 'bootstrap.kubernetes.io/token')
  t.equal(Buffer.from(secret.body.data['auth-extra-groups'], 'base64').toString(), `system:bootstrappers:edge-metaserver:node:${NODE}`)

  // The operator's own settings for this test bed; join adds the node's values to them.
  const { dir, configFile } = await bed.nodeDir('node')
  const started = Date.now()
  const joined = await bed.join(dir, { token: token!, node: NODE })
  t.comment(`join took ${Date.now() - started} ms (process start, TokenReview, CSR approval and signing, writes)`)
  t.equal(joined.code, 0, joined.stderr)
  t.match(joined.stdout, new RegExp(`^node ${NODE} joined`, 'm'))
  t.match(joined.stdout, /^keys are 0640 root:edge-metaserver$/m)
  t.match(joined.stdout, /^start it: systemctl enable --now edge-metaserver/m)
  for (const key of ['node.key', 'server.key']) {
    const s = await stat(join(dir, 'pki', key))
    t.equal(s.mode & 0o777, 0o640, `${key} is 0640`)
    t.equal(s.uid, 0, `${key} belongs to root`)
    t.equal(s.gid, SERVICE_GID, `${key} belongs to group edge-metaserver`)
  }
  const config = await readFile(configFile, 'utf8')
  t.match(config, /^# operator settings kept by join$/m, 'the operator\'s file is kept, comments included')
  t.match(config, new RegExp(`^nodeName: ${NODE}$`, 'm'))
  t.match(config, new RegExp(`^    server: 127\\.0\\.0\\.1:${cloud.tunnelPort}$`, 'm'), 'the tunnel address the shim reported')

  const tunnelCert = new X509Certificate(await readFile(join(dir, 'pki', 'node.crt')))
  t.equal(tunnelCert.subject, `CN=system:node:${NODE}\nO=system:nodes`, 'the shim chose the tunnel certificate\'s subject')
  t.ok(tunnelCert.verify(new X509Certificate(await files.tunnelPki.ca.pem()).publicKey), 'signed by the tunnel CA')
  const lifetimeDays = (Date.parse(tunnelCert.validTo) - Date.parse(tunnelCert.validFrom)) / 86_400_000
  t.ok(lifetimeDays > 29.9 && lifetimeDays < 30.1, `tunnel certificate lives 30 days by default (${lifetimeDays.toFixed(2)})`)
  const serving = new X509Certificate(await readFile(join(dir, 'pki', 'server.crt')))
  t.equal(serving.subjectAltName, 'IP Address:127.0.0.1, IP Address:169.254.30.10', 'exactly the configured SANs')
  t.ok(serving.verify(new X509Certificate(cluster.pki.caPem).publicKey), 'the serving certificate is signed by the cluster CA')

  const edge = await startEdgeProcess({ configFile, logFile: join(cluster.dir, 'edge-joined.log') })
  procs.push(edge.proc)
  await waitUntil(() => cloud.shim.connectedNodes().includes(NODE), { what: 'the shim to list the node', timeoutMs: 10_000, intervalMs: 50 }).catch(() => {})
  t.ok(cloud.shim.connectedNodes().includes(NODE), 'the shim sees the node by the name join was given')

  // What a pod's ca.crt does: TLS to the edge verified against the cluster CA alone.
  const authorized = await new Promise<boolean>((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: edge.port, ca: cluster.pki.caPem }, () => { resolve(s.authorized); s.end() })
    s.once('error', reject)
  })
  t.ok(authorized, 'the edge\'s serving certificate verifies against the pod\'s ca.crt')

  const ns = await fixtures.namespace('join')
  await cluster.admin.must('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name: 'hello' }, data: { greeting: 'joined' } } })
  const me = await fixtures.podIdentity(ns, NODE, { rules: configMapRules(['get', 'list', 'watch']) })
  const pod = await podEnvironment(await cluster.tempDir('pod'), { host: '127.0.0.1', port: edge.port, token: me.token, caPem: cluster.pki.caPem, namespace: ns })
  let last = { code: -1 as number | null, stdout: '', stderr: '' }
  // The edge learns the pod's RoleBinding from its policy bundle shortly after it is created.
  await waitUntil(async () => {
    last = await kubectl(pod, ['get', 'configmap', 'hello', '-o', 'jsonpath={.data.greeting}'])
    return last.code === 0
  }, { what: 'kubectl through the joined edge', timeoutMs: 20_000, intervalMs: 250 }).catch(() => {})
  t.equal(last.code, 0, last.stderr)
  t.equal(last.stdout, 'joined', 'kubectl in the pod reads through the joined edge')

  // A watch through the edge, open while both certificates are replaced on disk.
  const watch = await spawnKubectl(pod, ['get', 'configmaps', '--watch', '-o', 'name'])
  let watched = ''
  watch.stdout!.setEncoding('utf8').on('data', (d: string) => { watched += d })
  t.teardown(() => { watch.kill() })
  await waitUntil(() => watched.includes('configmap/hello'), { what: 'the watch to list hello', timeoutMs: 20_000, intervalMs: 100 })

  // Re-running join is safe: new keys and certificates, the same config, nothing else.
  const before = tunnelCert.serialNumber
  const again = await bed.join(dir, { token: token!, node: NODE })
  t.equal(again.code, 0, again.stderr)
  const newTunnel = new X509Certificate(await readFile(join(dir, 'pki', 'node.crt')))
  const newServing = new X509Certificate(await readFile(join(dir, 'pki', 'server.crt')))
  t.not(newTunnel.serialNumber, before, 'a new tunnel certificate')

  // The running edge picks both up from disk, without a restart.
  const served = (): Promise<string> => new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port: edge.port, ca: cluster.pki.caPem }, () => { resolve(s.getPeerCertificate().serialNumber); s.end() })
    s.once('error', reject)
  })
  let servedSerial = ''
  await waitUntil(async () => { servedSerial = await served(); return servedSerial === newServing.serialNumber },
    { what: 'the edge to serve the new certificate', timeoutMs: 30_000, intervalMs: 250 }).catch(() => {})
  t.equal(servedSerial, newServing.serialNumber, 'new TLS connections to the edge get the new serving certificate')
  const shimSaw = async (): Promise<boolean> => (await readFile(join(cluster.dir, 'cloud.log'), 'utf8')).split('\n')
    .some((l) => l.includes('"edge connected"') && l.includes(`"serial":"${newTunnel.serialNumber}"`))
  await waitUntil(shimSaw, { what: 'the shim to see the new tunnel certificate', timeoutMs: 30_000, intervalMs: 250 }).catch(() => {})
  t.ok(await shimSaw(), 'the shim sees the edge connect with the new tunnel certificate')
  t.equal(edge.proc.child.exitCode, null, 'the same edge process')
  await cluster.admin.must('POST', `/api/v1/namespaces/${ns}/configmaps`, { body: { metadata: { name: 'after-rotation' } } })
  await waitUntil(() => watched.includes('configmap/after-rotation'), { what: 'the watch to see the new object', timeoutMs: 20_000, intervalMs: 100 }).catch(() => {})
  t.match(watched, /configmap\/after-rotation/, 'the watch opened before the rotation still delivers events')
  t.equal(watch.exitCode, null, 'and is still open')
  t.ok(edge.proc.logLines().some((l) => l.msg === 'tunnel connected with the new certificate; the old connection closes when its streams end'),
    'the edge moved to a new tunnel connection')
  t.notOk(edge.proc.logLines().some((l) => l.msg === 'tunnel disconnected'), 'without ever being disconnected')
  t.equal(await readFile(configFile, 'utf8'), config, 'the config is the same')
  const { readdir } = await import('node:fs/promises')
  t.same((await readdir(join(dir, 'pki'))).sort(), ['cluster-ca.crt', 'node.crt', 'node.key', 'server.crt', 'server.key', 'tunnel-ca.crt'],
    'no temporary files left')
})

t.test('every refused join: its own exit code and line, and no file written', async (t) => {
  const tokenA = await bed.tokenFor('node-a')
  const expiredId = 'exp' + Math.random().toString(36).slice(2, 5).padEnd(3, '0')
  await cluster.admin.must('POST', '/api/v1/namespaces/kube-system/secrets', {
    body: bootstrapTokenSecret(expiredId, 'abcdefghij012345', 'node-a', new Date(Date.now() - 60_000)),
  })
  const cases: Array<{ name: string, args: { token: string, node: string, server?: string, hash?: string }, code: number, line: RegExp }> = [
    { name: 'a token made for node A, asking for node B', args: { token: tokenA, node: 'node-b' }, code: 6, line: /^edge-metaserver join: the shim refused the join: token [a-z0-9]{6} was made for node node-a, not node-b$/ },
    { name: 'an expired token', args: { token: `${expiredId}.abcdefghij012345`, node: 'node-a' }, code: 5, line: new RegExp(`^edge-metaserver join: the shim refused the join: kube-apiserver does not accept token ${expiredId}: unknown, expired or deleted$`) },
    { name: 'an unknown token', args: { token: 'nosuch.0123456789abcdef', node: 'node-a' }, code: 5, line: /^edge-metaserver join: the shim refused the join: kube-apiserver does not accept token nosuch: unknown, expired or deleted$/ },
    { name: 'a wrong CA hash', args: { token: tokenA, node: 'node-a', hash: `sha256:${'0'.repeat(64)}` }, code: 4, line: /^edge-metaserver join: the shim's CA is sha256:[0-9a-f]{64}, not --ca-cert-hash sha256:0{64}: wrong hash, or not the shim you meant$/ },
    { name: 'a wrong server (kube-apiserver)', args: { token: tokenA, node: 'node-a', server: `127.0.0.1:${cluster.port}` }, code: 3, line: new RegExp(`^edge-metaserver join: 127\\.0\\.0\\.1:${cluster.port} is not an edge-metaserver join endpoint \\(GET /join/v1/info answered HTTP \\d+\\)$`) },
    { name: 'a wrong server (the mTLS tunnel port)', args: { token: tokenA, node: 'node-a', server: `127.0.0.1:${cloud.tunnelPort}` }, code: 3, line: /^edge-metaserver join: cannot reach 127\.0\.0\.1:\d+: / },
    { name: 'a wrong server (nothing listening)', args: { token: tokenA, node: 'node-a', server: '127.0.0.1:1' }, code: 3, line: /^edge-metaserver join: cannot reach 127\.0\.0\.1:1: ECONNREFUSED$/ },
  ]
  for (const c of cases) {
    const dir = join(await cluster.tempDir('refused'), 'etc')
    const res = await bed.join(dir, c.args, false)
    t.equal(res.code, c.code, `${c.name}: exit code ${c.code}`)
    t.match(res.stderr.trim(), c.line, `${c.name}: ${res.stderr.trim()}`)
    t.equal(res.stderr.trim().split('\n').length, 1, `${c.name}: one line`)
    t.notOk(existsSync(dir), `${c.name}: nothing written`)
  }
})

/** POSTs a join request straight to the shim (as a hostile or broken joiner would). */
function postJoin (body: unknown): Promise<{ status: number, body: any }> {
  return new Promise((resolve, reject) => {
    const text = JSON.stringify(body)
    const req = https.request({
      host: '127.0.0.1', port: cloud.shim.joinPort, path: '/join/v1/certificates', method: 'POST', agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }, rejectUnauthorized: false,
    }, (res) => {
      let data = ''
      res.setEncoding('utf8').on('data', (d: string) => { data += d })
      res.once('end', () => resolve({ status: res.statusCode!, body: JSON.parse(data) }))
    })
    req.once('error', reject)
    req.end(text)
  })
}

t.test('the approver denies a serving request with extra SANs or the wrong CN, with the reason on the CSR', async (t) => {
  const node = 'node-c'
  const token = await bed.tokenFor(node)
  const key = (): ReturnType<typeof generateKeyPairSync>['privateKey'] => generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
  const tunnelCsr = createCertificateRequest(key(), { cn: 'anything', o: [] })
  const subject = { cn: `system:node:${node}`, o: ['system:nodes'] }
  const wanted = { ips: ['127.0.0.1', '169.254.30.10'], dns: [] as string[] }
  const cases = [
    { name: 'an extra IP SAN', csr: createCertificateRequest(key(), subject, { ...wanted, ips: [...wanted.ips, '10.1.2.3'] }), reason: 'WrongSANs', message: /SANs are \[.*IP:10\.1\.2\.3.*\], must be exactly \[IP:127\.0\.0\.1, IP:169\.254\.30\.10\]/ },
    { name: 'an extra DNS SAN', csr: createCertificateRequest(key(), subject, { ...wanted, dns: ['evil.example.com'] }), reason: 'WrongSANs', message: /DNS:evil\.example\.com/ },
    { name: 'another node\'s CN', csr: createCertificateRequest(key(), { ...subject, cn: 'system:node:node-a' }, wanted), reason: 'WrongCommonName', message: /CN is "system:node:node-a", must be "system:node:node-c"/ },
  ]
  for (const c of cases) {
    const res = await postJoin({ token, nodeName: node, tunnelCsr, servingCsr: c.csr })
    t.equal(res.status, 403, `${c.name}: refused`)
    t.equal(res.body.reason, 'ServingCertificateDenied', c.name)
    const list = await cluster.admin.get('/apis/certificates.k8s.io/v1/certificatesigningrequests')
    const csr = list.body.items.find((i: any) => i.metadata.annotations?.[NODE_ANNOTATION] === node &&
      Buffer.from(i.spec.request, 'base64').toString() === c.csr)
    t.ok(csr, `${c.name}: the CSR exists`)
    const denied = csr?.status?.conditions?.find((x: any) => x.type === 'Denied')
    t.equal(denied?.reason, c.reason, `${c.name}: denied with reason ${c.reason}`)
    t.match(denied?.message, c.message, `${c.name}: ${denied?.message}`)
    t.notOk(csr?.status?.certificate, `${c.name}: never signed`)
  }
  // And the shim never signs a tunnel certificate for a request whose serving half was denied,
  // nor for a token that does not name the node (a kubeadm token without the node group).
  const kubeadmId = 'kadm' + Math.random().toString(36).slice(2, 4).padEnd(2, '0')
  const secret = bootstrapTokenSecret(kubeadmId, '0123456789abcdef', node, new Date(Date.now() + 3_600_000)) as any
  secret.stringData['auth-extra-groups'] = 'system:bootstrappers:kubeadm:default-node-token'
  await cluster.admin.must('POST', '/api/v1/namespaces/kube-system/secrets', { body: secret })
  const kubeadm = await postJoin({ token: `${kubeadmId}.0123456789abcdef`, nodeName: node, tunnelCsr, servingCsr: cases[0]!.csr })
  t.equal(kubeadm.status, 403)
  t.equal(kubeadm.body.reason, 'TokenNotBoundToNode', kubeadm.body.message)
})
