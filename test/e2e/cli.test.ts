// The CLI as operators and systemd run it: a child process, its exit codes, its output. The second
// half runs the whole product as processes — a real cluster, `edge-metaserver cloud` with the
// ServiceAccount/RBAC of deploy/, `edge-metaserver edge` — and checks health, in-cluster kubectl
// through the edge, SIGTERM drains on both roles, and that no log line ever holds a pod's token.
import t from 'tap'
import { X509Certificate } from 'node:crypto'
import http from 'node:http'
import https from 'node:https'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { collect, kubectl, podEnvironment, spawnKubectl } from '../cluster/clients.js'
import { TestCluster } from '../cluster/cluster.js'
import { parse as parseYaml } from 'yaml'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig } from './configs.js'
import { Fixtures } from '../cluster/fixtures.js'
import { CertificateAuthority } from '../cluster/pki.js'
import { repo, runCli, type CliProcess } from './process.js'
import { metricSum } from './stack.js'
import { Partition } from './partition.js'
import { startCloudProcess, startEdgeProcess } from '../helpers/product.js'
import { waitForValue, waitUntil } from '../helpers/wait.js'

const work = await mkdtemp(join(tmpdir(), 'ems-cli-'))
t.teardown(() => rm(work, { recursive: true, force: true }))

// A stack trace in CLI output means an error escaped the CLI's handling.
const STACK_FRAME = /^\s+at .+\(?.*:\d+:\d+\)?$/m

// The cluster and both processes start before any test is queued: tap may end the root test while
// top-level awaits are still pending once every queued test has finished (seen under Node 24).
const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
const fixtures = new Fixtures(cluster.admin)
const NODE = 'edge-cli'
const caPem = cluster.pki.caPem
const procs: CliProcess[] = []
const labels = new Map<CliProcess, string>()
t.teardown(async () => { for (const p of procs) await p.stop(3000) })

const files = await prepareStackFiles(cluster)
const cloudConfig = await writeCloudConfig(cluster, files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0' })
const nodeCert = await files.tunnelPki.node(NODE)

async function startCloud (): Promise<{ proc: CliProcess, tunnelPort: number, healthPort: number }> {
  const cloud = await startCloudProcess({ configFile: cloudConfig, logFile: join(cluster.dir, 'cloud-cli.log') })
  procs.push(cloud.proc)
  labels.set(cloud.proc, 'cloud')
  return cloud
}

const EDGE_GRACE_S = 5
// Dial failures during an outage are logged once per this interval (the tunnel-cut test counts them).
const DIAL_FAILURE_LOG_INTERVAL_S = 5
async function startEdge (tunnelPort: number, name: string): Promise<{ proc: CliProcess, port: number }> {
  const file = await writeEdgeConfig(cluster, files, NODE, {
    server: '127.0.0.1:0', tunnelPort, tunnelCert: nodeCert, shutdownGracePeriod: `${EDGE_GRACE_S}s`,
    extraYaml: [`    dialFailureLogInterval: ${DIAL_FAILURE_LOG_INTERVAL_S}s`],
  })
  const edge = await startEdgeProcess({ configFile: file, logFile: join(cluster.dir, `${name}.log`) })
  procs.push(edge.proc)
  labels.set(edge.proc, name)
  return edge
}

interface Answer { status: number, body: string, complete: boolean }
/** One HTTPS request verified against the cluster CA (what a pod's ca.crt does). */
function request (port: number, path: string, opts: { method?: string, token?: string, body?: string } = {}): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1', port, path, method: opts.method ?? 'GET', ca: caPem, agent: false,
      headers: {
        ...(opts.token === undefined ? {} : { authorization: `Bearer ${opts.token}` }),
        ...(opts.body === undefined ? {} : { 'content-type': 'application/json' }),
      },
    }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d })
      res.once('end', () => resolve({ status: res.statusCode!, body, complete: res.complete }))
      res.once('error', reject)
    })
    req.once('error', reject)
    req.end(opts.body)
  })
}

async function waitForReadyz (port: number, match: RegExp, timeoutMs = 15_000): Promise<Answer> {
  let last: Answer | Error | undefined
  return await waitForValue(async () => {
    last = await request(port, '/readyz?verbose').catch((err: Error) => err)
    return !(last instanceof Error) && match.test(last.body) ? last : undefined
  }, { timeoutMs, intervalMs: 100, what: () => `/readyz to match ${match}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}` })
}

const cloud = await startCloud()
// The first edge dials through a partition the tunnel-cut test controls (a real TCP relay, partition.ts).
const partition = await Partition.between(cloud.tunnelPort)
t.teardown(() => partition.close())
let edge = await startEdge(partition.port, 'edge-1')
const ns = await fixtures.namespace('cli')
const me = await fixtures.podIdentity(ns, NODE, {
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create'] }],
})
await fixtures.configMap(ns, 'hello', { greeting: 'from the edge' })
const stranger = await fixtures.podIdentity(ns, 'some-other-node', { serviceAccount: 'stranger' })
const BOGUS_TOKEN = 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJub2JvZHkifQ.c2lnbmF0dXJlLXRoYXQtZG9lcy1ub3QtdmVyaWZ5'
const pod = await podEnvironment(await cluster.tempDir('pod'), { host: '127.0.0.1', port: edge.port, token: me.token, caPem, namespace: ns })

t.test('help: every command exits 0 and names its options', async (t) => {
  const cases: Array<[string[], RegExp[]]> = [
    [['--help'], [/Usage: edge-metaserver <command>/, /edge --config FILE/, /cloud --config FILE/, /check-config FILE/, /version/]],
    [['edge', '--help'], [/Usage: edge-metaserver edge --config FILE/, /-c, --config FILE/, /-h, --help/]],
    [['cloud', '--help'], [/Usage: edge-metaserver cloud --config FILE/, /-c, --config FILE/, /-h, --help/]],
    [['check-config', '--help'], [/Usage: edge-metaserver check-config FILE/, /-h, --help/]],
    [['version', '--help'], [/Usage: edge-metaserver version/]],
  ]
  const results = await Promise.all(cases.map(([args]) => runCli(args)))
  cases.forEach(([args, patterns], i) => {
    const r = results[i]!
    t.equal(r.code, 0, `${args.join(' ')} exits 0`)
    for (const p of patterns) t.match(r.stdout, p, `${args.join(' ')} prints ${p}`)
    t.equal(r.stderr, '', `${args.join(' ')} prints nothing on stderr`)
  })
})

t.test('usage errors exit 2 with a message', async (t) => {
  const [unknown, noConfig, noConfigCloud, noFile, badFlag] = await Promise.all([
    runCli(['frobnicate']), runCli(['edge']), runCli(['cloud']), runCli(['check-config']), runCli(['edge', '--confgi', 'x.yaml']),
  ])
  t.equal(unknown.code, 2)
  t.match(unknown.stderr, /unknown command "frobnicate"/)
  t.equal(noConfig.code, 2)
  t.match(noConfig.stderr, /edge-metaserver edge: --config FILE is required/)
  t.equal(noConfigCloud.code, 2)
  t.match(noConfigCloud.stderr, /edge-metaserver cloud: --config FILE is required/)
  t.equal(noFile.code, 2)
  t.match(noFile.stderr, /check-config: FILE is required/)
  t.equal(badFlag.code, 2)
  t.match(badFlag.stderr, /edge-metaserver edge: .*--confgi/)
  for (const r of [unknown, noConfig, noConfigCloud, noFile, badFlag]) t.notMatch(r.stderr, STACK_FRAME)
})

t.test('version prints the package version', async (t) => {
  const pkg = JSON.parse(await readFile(join(repo, 'package.json'), 'utf8')) as { version: string }
  const r = await runCli(['version'])
  t.equal(r.code, 0, `exit code (stderr: ${r.stderr.trim()})`)
  t.equal(r.stdout, `edge-metaserver ${pkg.version}\n`)
})

/**
 * Leaf cert/key files for the example's /etc/edge-metaserver/pki/* names, as check-config's
 * certificate checks want them: a node identity from the tunnel CA, a serving certificate for the
 * loopback and dummy addresses.
 */
async function examplePki (dir: string): Promise<string> {
  const pki = join(dir, 'pki')
  const ca = await CertificateAuthority.create(pki, 'tunnel-ca', 'check-config-ca')
  await ca.issue('server', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', '169.254.30.10'] })
  await ca.issue('node', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
  await ca.issue('cloud', { cn: 'cloud', usage: 'both' })
  return pki
}

t.test('check-config: config.example.yaml is valid, both kinds', async (t) => {
  const example = await readFile(join(repo, 'config.example.yaml'), 'utf8')
  // As shipped it names /etc/edge-metaserver/pki/*, which check-config requires to exist: the only
  // complaints allowed on this machine are those eight missing files.
  const asShipped = await runCli(['check-config', join(repo, 'config.example.yaml')])
  const lines = asShipped.stderr.trim().split('\n')
  for (const line of lines) t.match(line, /^\S+config\.example\.yaml:\d+:\d+: modules\.\w+\.tls\w+: file not found: \/etc\/edge-metaserver\/pki\/[\w-]+\.(crt|key)$/)
  t.equal(lines.length, 8, 'one line per referenced PKI file, nothing else')

  // The same text with the PKI directory pointed at files that exist (line numbers unchanged).
  const dir = await mkdtemp(join(work, 'example-'))
  const pki = await examplePki(dir)
  const file = join(dir, 'config.example.yaml')
  await writeFile(file, example.replaceAll('/etc/edge-metaserver/pki/', `${pki}/`))
  const r = await runCli(['check-config', file])
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stdout, `${file}: ok (EdgeMetaServer, CloudShim)\n`)
  // --config is accepted as a synonym of the positional FILE.
  const r2 = await runCli(['check-config', '--config', file])
  t.equal(r2.code, 0)
  t.equal(r2.stdout, r.stdout)
})

// Each bad value on its own line; `line` is 1-based, `col` points at the offending key or value.
const BROKEN = [
  'apiVersion: edge-metaserver.io/v1alpha1', //      1
  'kind: EdgeMetaServer', //                          2
  'modules:', //                                      3
  '  metaServer:', //                                 4
  '    sever: 127.0.0.1:10550', //                    5  typo key
  '    requestTimeout: 5 minutes', //                 6  bad duration
  '    dummyServer: 169.254.30.10:70000', //         7  bad address (port)
  '    tlsCertFile: PKI/server.crt', //               8
  '    tlsPrivateKeyFile: PKI/server.key', //         9
  '  edgeHub:', //                                    10
  '    server: "cloud.example.com"', //               11 bad address (no port)
  '    tlsCaFile: PKI/tunnel-ca.crt', //              12
  '    tlsCertFile: PKI/node.crt', //                 13
  '    tlsPrivateKeyFile: PKI/missing.key', //        14 missing file
  '',
]

t.test('check-config: one FILE:LINE:COL: key: message line per error, exit 1', async (t) => {
  const dir = await mkdtemp(join(work, 'broken-'))
  const pki = await examplePki(dir)
  const file = join(dir, 'broken.yaml')
  await writeFile(file, BROKEN.join('\n').replaceAll('PKI/', `${pki}/`))
  const r = await runCli(['check-config', file])
  t.equal(r.code, 1)
  t.equal(r.stdout, '')
  t.notMatch(r.stderr, STACK_FRAME)
  t.same(r.stderr.trim().split('\n'), [
    `${file}:5:5: modules.metaServer.sever: unknown key "sever" (did you mean "server"?)`,
    `${file}:6:21: modules.metaServer.requestTimeout: expected a duration like "500ms", "30s", "5m" or "1h30m", got "5 minutes"`,
    `${file}:7:18: modules.metaServer.dummyServer: expected "host:port", got "169.254.30.10:70000": port must be between 0 and 65535`,
    `${file}:11:13: modules.edgeHub.server: expected "host:port", got "cloud.example.com"`,
    `${file}:14:24: modules.edgeHub.tlsPrivateKeyFile: file not found: ${pki}/missing.key`,
  ])
})

t.test('check-config: certificate checks name the key and the file (node name, SANs, chain); warnings do not fail it', async (t) => {
  const dir = await mkdtemp(join(work, 'certs-'))
  const pki = await examplePki(dir)
  const other = await CertificateAuthority.create(join(dir, 'other'), 'other-ca', 'another-ca')
  const stranger = await other.issue('node', { cn: 'system:node:edge-1', organizations: ['system:nodes'], usage: 'client' })
  const edge = (nodeName: string, nodeCert: string, extra: string[] = []): string[] => [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer', `nodeName: ${nodeName}`, `stateDir: ${dir}/state`, 'modules:', '  metaServer:',
    `    tlsCertFile: ${pki}/server.crt`, `    tlsPrivateKeyFile: ${pki}/server.key`, ...extra, '  edgeHub:', '    server: cloud.example.com:10560',
    `    tlsCaFile: ${pki}/tunnel-ca.crt`, `    tlsCertFile: ${nodeCert}`, `    tlsPrivateKeyFile: ${nodeCert.replace(/\.crt$/, '.key')}`, '',
  ]
  const file = join(dir, 'edge.yaml')
  await writeFile(file, edge('edge-1', `${pki}/node.crt`).join('\n'))
  const good = await runCli(['check-config', file])
  t.equal(good.code, 0, good.stderr)
  t.equal(good.stderr, '', 'no finding for a matching node certificate and serving SANs')

  await writeFile(file, edge('edge-2', stranger.certFile, ['    redirect:', '      serviceClusterIP: 10.96.0.1']).join('\n'))
  const bad = await runCli(['check-config', file])
  t.equal(bad.code, 1)
  t.notMatch(bad.stderr, STACK_FRAME)
  t.same(bad.stderr.trim().split('\n'), [
    `${file}:7:18: modules.metaServer.tlsCertFile: lacks the IP SANs pods dial: 10.96.0.1 (has IP Address:127.0.0.1, IP Address:169.254.30.10): ${pki}/server.crt`,
    `${file}:14:18: modules.edgeHub.tlsCertFile: names node "edge-1" (CN=system:node:edge-1), but nodeName is "edge-2": ${stranger.certFile}`,
    `${file}:14:18: modules.edgeHub.tlsCertFile: is not signed by the tunnel CA (modules.edgeHub.tlsCaFile ${pki}/tunnel-ca.crt): ${stranger.certFile}`,
  ])
})

t.test('check-config: a missing certificate file is reported with its key', async (t) => {
  const dir = await mkdtemp(join(work, 'missing-'))
  const pki = await examplePki(dir)
  const file = join(dir, 'cloud.yaml')
  await writeFile(file, [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: CloudShim', 'modules:', '  cloudHub:',
    `    tlsCaFile: ${pki}/tunnel-ca.crt`, `    tlsCertFile: ${pki}/nope.crt`, `    tlsPrivateKeyFile: ${pki}/cloud.key`, '',
  ].join('\n'))
  const r = await runCli(['check-config', file])
  t.equal(r.code, 1)
  t.equal(r.stderr, `${file}:6:18: modules.cloudHub.tlsCertFile: file not found: ${pki}/nope.crt\n`)
})

t.test('edge/cloud with a bad config: exit 78 (EX_CONFIG), key+line errors, no stack trace', async (t) => {
  const dir = await mkdtemp(join(work, 'bad-run-'))
  const file = join(dir, 'bad.yaml')
  await writeFile(file, BROKEN.join('\n').replaceAll('PKI/', `${dir}/`))
  const edge = await runCli(['edge', '--config', file])
  t.equal(edge.code, 78)
  t.notMatch(edge.stderr, STACK_FRAME)
  t.match(edge.stderr, /^edge-metaserver edge: invalid config\n/)
  for (const line of [
    `${file}:5:5: modules.metaServer.sever: unknown key "sever"`,
    `${file}:6:21: modules.metaServer.requestTimeout: expected a duration`,
    `${file}:7:18: modules.metaServer.dummyServer: expected "host:port"`,
    `${file}:11:13: modules.edgeHub.server: expected "host:port"`,
  ]) t.ok(edge.stderr.includes(line), `stderr has: ${line}`)
  t.equal(edge.stdout, '', 'nothing logged: the daemon never started')

  // The cloud role asked to run an edge-only file: the kind is named, with its line.
  const cloud = await runCli(['cloud', '--config', file])
  t.equal(cloud.code, 78)
  t.notMatch(cloud.stderr, STACK_FRAME)
  t.match(cloud.stderr, new RegExp(`${file}:2:7: kind: expected "CloudShim", got "EdgeMetaServer"`))

  const missing = await runCli(['edge', '--config', join(dir, 'absent.yaml')])
  t.equal(missing.code, 78)
  t.match(missing.stderr, /absent\.yaml: cannot read config file: file not found/)
  t.notMatch(missing.stderr, STACK_FRAME)
})

// ---------------------------------------------------------------------------------------------
// The whole product as processes.

t.test('edge and cloud as processes: health and in-cluster kubectl through the edge', async (t) => {
  // Ready once the tunnel is up (and, with requireAuthorization, the first policy bundle is in).
  const ready = await waitForReadyz(edge.port, /^readyz check passed$/m)
  t.equal(ready.status, 200)
  t.match(ready.body, /^\[\+\]tunnel ok \(connected to 127\.0\.0\.1:\d+\)$/m)
  t.match(ready.body, /^readyz check passed$/m)
  t.same(await request(edge.port, '/livez'), { status: 200, body: 'ok', complete: true })

  // The shim's health listener (plain HTTP, what the Deployment's probes call).
  const shim = await new Promise<Answer>((resolve, reject) => {
    http.get(`http://127.0.0.1:${cloud.healthPort}/readyz?verbose`, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d })
      res.once('end', () => resolve({ status: res.statusCode!, body, complete: res.complete }))
    }).once('error', reject)
  })
  t.equal(shim.status, 200, shim.body)
  t.match(shim.body, /^\[\+\]kube-apiserver ok$/m)

  const get = await kubectl(pod, ['get', 'configmaps'])
  t.equal(get.code, 0, get.stderr)
  t.match(get.stdout, /^NAME\s+DATA\s+AGE$/m)
  t.match(get.stdout, /^hello\s+1\s+/m)
  const one = await kubectl(pod, ['get', 'configmap', 'hello', '-o', 'jsonpath={.data.greeting}'])
  t.equal(one.stdout, 'from the edge', one.stderr)
  // The edge really was on the path: the cloud shim logged the node's tunnel.
  t.ok(cloud.proc.logLines().some((l) => l.msg === 'edge connected' && l.node === NODE), 'the shim saw the edge connect')

  // Refusals are where tokens tend to leak into logs: a pod of another node (node restriction) and
  // a token that does not verify. Both are grepped for in the last test.
  const foreign = await request(edge.port, `/api/v1/namespaces/${ns}/configmaps`, { token: stranger.token })
  t.equal(foreign.status, 403, 'a pod of another node is refused')
  t.match(JSON.parse(foreign.body), { kind: 'Status', reason: 'Forbidden', code: 403 })
  const bogus = await request(edge.port, `/api/v1/namespaces/${ns}/configmaps`, { token: BOGUS_TOKEN })
  t.equal(bogus.status, 401, 'a token that does not verify is refused')
  t.match(JSON.parse(bogus.body), { kind: 'Status', reason: 'Unauthorized', code: 401 })
})

t.test('a 20 s tunnel cut on the real edge process: a few warn lines with the reason, one reconnect line with the down time, tunnel_up 1 → 0 → 1, cache hits and misses counted', async (t) => {
  const scrape = async (): Promise<string> => (await request(edge.port, '/metrics')).body
  const list = `/api/v1/namespaces/${ns}/configmaps`
  // Read once online: the list the cache answers during the cut.
  t.equal((await request(edge.port, list, { token: me.token })).status, 200, 'a list online')
  t.equal(metricSum(await scrape(), 'edge_metaserver_tunnel_up'), 1, 'tunnel_up is 1 before the cut')
  const linesBefore = edge.proc.logLines().length

  partition.cut()
  await waitUntil(async () => metricSum(await scrape(), 'edge_metaserver_tunnel_up') === 0, { timeoutMs: 20_000, intervalMs: 100, what: 'tunnel_up to drop to 0 in a scrape' })
  t.pass('tunnel_up is 0 during the cut')
  const cached = await request(edge.port, list, { token: me.token })
  t.equal(cached.status, 200, `a list during the cut is answered from the cache: ${cached.body.slice(0, 200)}`)
  t.match(cached.body, /"name":"hello"/)
  const write = await request(edge.port, list, { method: 'POST', token: me.token, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-cut' } }) })
  t.equal(write.status, 503, 'a write during the cut gets a 503')
  // The outage itself: ~20 s, four dial-failure log intervals.
  await new Promise((resolve) => setTimeout(resolve, 20_000))
  t.equal(metricSum(await scrape(), 'edge_metaserver_tunnel_up'), 0, 'tunnel_up is still 0 at the end of the cut')
  partition.restore()
  const reconnect = await waitForValue(() => edge.proc.logLines().slice(linesBefore).find((l) => l.msg === 'tunnel connected'),
    { timeoutMs: 20_000, intervalMs: 100, what: 'the reconnect line' })
  await waitUntil(async () => metricSum(await scrape(), 'edge_metaserver_tunnel_up') === 1, { timeoutMs: 20_000, intervalMs: 100, what: 'tunnel_up back to 1 in a scrape' })
  t.pass('tunnel_up is 1 again after the cut')

  const during = edge.proc.logLines().slice(linesBefore)
  const warns = during.filter((l) => l.level === 'warn' || l.level === 40)
  t.comment(`warn lines during the cut: ${warns.map((l) => `${String(l.msg)} (${String(l.reason)})`).join('; ')}`)
  t.ok(warns.some((l) => l.msg === 'tunnel disconnected'), 'the disconnect is logged at warn')
  const dialFailures = warns.filter((l) => /^tunnel (dial failed|still down)/.test(String(l.msg)))
  t.ok(dialFailures.length >= 2, `failed redials are logged (${dialFailures.length} lines)`)
  t.ok(warns.length <= 8, `at most a handful of warn lines (${warns.length}), not one per dial`)
  for (const l of warns) t.ok(typeof l.reason === 'string' && l.reason !== '', `"${String(l.msg)}" carries the reason (${String(l.reason)})`)
  const failedDials = dialFailures.reduce((n, l) => n + Number(l.failedDials), 0)
  t.ok(failedDials > dialFailures.length, `the lines count the dials they stand for (${failedDials} dials in ${dialFailures.length} lines)`)
  t.equal(during.filter((l) => l.msg === 'tunnel connected').length, 1, 'one reconnect line')
  t.ok(reconnect.downSeconds >= 15, `the reconnect line says how long the tunnel was down (${String(reconnect.downSeconds)} s)`)

  const after = await scrape()
  t.ok(metricSum(after, 'edge_metaserver_tunnel_reconnects_total') >= 1, 'the reconnect is counted')
  t.ok(metricSum(after, 'edge_metaserver_cache_requests_total', 'verb="list",result="hit"') >= 1, 'the cached list is a cache hit')
  t.ok(metricSum(after, 'edge_metaserver_cache_requests_total', 'verb="create",result="miss"') >= 1, 'the write during the cut is a cache miss')
})

t.test('deploy/monitoring: the dashboard and alert rules name only metrics the running daemons export, with plausible values', async (t) => {
  // After the workload above (kubectl through the edge, refusals), both roles still running.
  const dashboard = JSON.parse(await readFile(join(repo, 'deploy/monitoring/dashboard.json'), 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }
  const rule = parseYaml(await readFile(join(repo, 'deploy/monitoring/prometheusrule.yaml'), 'utf8')) as { kind: string, spec: { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> } }
  t.equal(rule.kind, 'PrometheusRule')
  const exprs = [
    ...dashboard.panels.flatMap((p) => p.targets.map((x) => ({ where: `panel "${p.title}"`, expr: x.expr }))),
    ...rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr }))),
  ]
  t.ok(exprs.length >= 20, `${exprs.length} expressions`)
  // Bytes relayed: kubectl's lists and gets came back as configmaps; this create is the only
  // configmap request with a body so far (the one during the tunnel cut was never relayed).
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'bytes-counted' }, data: { k: 'é' } })
  t.equal((await request(edge.port, `/api/v1/namespaces/${ns}/configmaps`, { method: 'POST', token: me.token, body })).status, 201, 'a create through the edge')
  const edgeScrape = (await request(edge.port, '/metrics')).body
  const shimScrape = await fetch(`http://127.0.0.1:${cloud.healthPort}/metrics`).then((r) => r.text())
  const exported = new Set([...`${edgeScrape}\n${shimScrape}`.matchAll(/^([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]/gm)].map((m) => m[1]!))
  for (const { where, expr } of exprs) {
    const names = [...expr.matchAll(/\b((?:edge_metaserver|process|nodejs)_[a-z0-9_]+)\b/g)].map((m) => m[1]!)
    t.ok(names.length > 0, `${where} uses a metric of ours`)
    for (const name of names) t.ok(exported.has(name), `${where}: ${name} is in a scrape`)
  }
  t.equal(metricSum(edgeScrape, 'edge_metaserver_tunnel_up'), 1, 'the edge tunnel is up')
  t.ok(metricSum(shimScrape, 'edge_metaserver_cloud_connected_edges') >= 1, 'the shim counts the edge')
  t.ok(metricSum(shimScrape, 'edge_metaserver_cloud_request_duration_seconds_count') > 0, 'the shim duration histogram is populated')
  t.ok(metricSum(edgeScrape, 'edge_metaserver_requests_total', 'code="403"') >= 1, 'the edge counted the refusal')
  t.ok(metricSum(edgeScrape, 'edge_metaserver_cache_limit_bytes') > 0, 'the cache limit is exported')
  t.equal(metricSum(shimScrape, 'edge_metaserver_cloud_readiness_check_ok', 'check="policy-sync"'), 1, 'the shim is synced')
  t.ok(metricSum(shimScrape, 'edge_metaserver_cloud_tokenreview_cache_requests_total', 'result="miss"') >= 1, 'TokenReviews sent are counted as misses')
  // Bytes relayed: kubectl's lists and gets came back as configmaps (and the create above).
  const answered = metricSum(edgeScrape, 'edge_metaserver_relayed_bytes_total', 'resource="configmaps",direction="response"')
  t.ok(answered > 100, `configmap answers relayed (${answered} bytes)`)
  t.equal(metricSum(edgeScrape, 'edge_metaserver_relayed_bytes_total', 'resource="configmaps",direction="request"'), Buffer.byteLength(body), 'the create\'s body bytes, exactly')
  t.notMatch(edgeScrape, new RegExp(`relayed_bytes_total\\{[^}]*(${ns}|hello)`), 'no namespace or name in the resource label')
  t.match(edgeScrape, /^edge_metaserver_relayed_bytes_total\{resource="other",direction="response",role="edge"\} [1-9]/m, 'non-resource paths (kubectl discovery) count as "other"')
  t.match(edgeScrape, /^edge_metaserver_policy_age_seconds\{kind="policy",role="edge"\} \d/m, 'the policy bundle\'s age is known')

  // The shim's certificate expiry is the certificate it serves: a file replaced on disk by something
  // it refuses to use (tunnel-certificates.ts) changes nothing; before, the scrape read the file and lost the series.
  const cloudCert = files.tunnelPki.cloud.certFile
  const served = await readFile(cloudCert)
  const servedNotAfter = Math.floor(Date.parse(new X509Certificate(served).validTo) / 1000)
  const certKey = 'key="modules.cloudHub.tlsCertFile"'
  t.equal(metricSum(shimScrape, 'edge_metaserver_cloud_certificate_not_after_seconds', certKey), servedNotAfter, 'the shim exports its certificate\'s expiry')
  await writeFile(cloudCert, 'replaced on disk, not in use\n')
  let replacedScrape: string
  try {
    replacedScrape = await fetch(`http://127.0.0.1:${cloud.healthPort}/metrics`).then((r) => r.text())
  } finally {
    await writeFile(cloudCert, served)
  }
  t.equal(metricSum(replacedScrape, 'edge_metaserver_cloud_certificate_not_after_seconds', certKey), servedNotAfter, 'still the served certificate\'s expiry with the file replaced')
})

t.test('SIGTERM on the edge drains: watches end cleanly, a short request finishes, exit 0', async (t) => {
  // A watch through kubectl and a raw one (to see the chunked stream end properly).
  const watcher = await spawnKubectl(pod, ['get', 'configmaps', '-w'])
  const watched = collect(watcher, { timeoutMs: 60_000 })
  let watchOut = ''
  watcher.stdout!.on('data', (d: Buffer | string) => { watchOut += d.toString() })
  const rawWatch = request(edge.port, `/api/v1/namespaces/${ns}/configmaps?watch=1`, { token: me.token })
  await waitUntil(() => /^hello\s/m.test(watchOut), { timeoutMs: 20_000, intervalMs: 50, what: () => `kubectl get -w to print hello (printed: ${watchOut})` })
  t.equal(edge.proc.logLines().filter((l) => l.msg === 'signal received').length, 0)

  // A short request in flight across the signal: its body arrives in two halves, the second
  // after SIGTERM, so only a real drain lets it finish.
  const body = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'during-drain' }, data: { a: 'b' } })
  const slow = https.request({
    host: '127.0.0.1', port: edge.port, method: 'POST', path: `/api/v1/namespaces/${ns}/configmaps`, ca: caPem, agent: false,
    headers: { authorization: `Bearer ${me.token}`, 'content-type': 'application/json', 'transfer-encoding': 'chunked' },
  })
  const slowAnswer = new Promise<Answer>((resolve, reject) => {
    slow.once('response', (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (d: string) => { text += d }).once('end', () => resolve({ status: res.statusCode!, body: text, complete: res.complete }))
    })
    slow.once('error', reject)
  })
  const inflightShort = async (): Promise<number> =>
    metricSum((await request(edge.port, '/metrics')).body, 'edge_metaserver_inflight_requests', 'kind="short"')
  const shortBefore = await inflightShort()
  slow.write(body.slice(0, 20))
  // SIGTERM only once the edge tracks the request as in flight (what the drain waits for).
  await waitUntil(async () => await inflightShort() > shortBefore, { timeoutMs: 20_000, intervalMs: 50, what: 'the half-sent create to be in flight at the edge' })

  const sigterm = Date.now()
  const exit = edge.proc.signal('SIGTERM', (EDGE_GRACE_S + 20) * 1000)
  await edge.proc.waitForLog((l) => l.msg === 'signal received' && l.signal === 'SIGTERM', 'signal received')
  // While draining the edge must not look ready: /readyz is 500 (shutdown check) or, since the
  // listeners close at once, not answered at all; never 200.
  const during = await request(edge.port, '/readyz?verbose').catch((err: Error) => err)
  if (during instanceof Error) t.match(during.message, /ECONNREFUSED|ECONNRESET|socket hang up/, `/readyz during drain: ${during.message}`)
  else t.not(during.status, 200, `/readyz during drain answered ${during.status}: ${during.body}`)

  // The watches are ended at once, cleanly.
  const raw = await rawWatch
  t.equal(raw.status, 200)
  t.ok(raw.complete, 'the raw watch response ended with the chunked terminator (not cut)')
  t.match(raw.body, /"type":"ADDED".*"name":"hello"/)
  const k = await watched
  t.ok(Date.now() - sigterm < EDGE_GRACE_S * 1000, `kubectl get -w ended within the grace period (${Date.now() - sigterm} ms)`)
  t.equal(k.code, 0, `kubectl get -w exit code (stderr: ${k.stderr.trim()})`)
  t.notMatch(k.stderr, /unexpected EOF|INTERNAL_ERROR|connection reset/i, `kubectl stderr: ${k.stderr}`)

  // An observation window, not an ordering sleep: no event marks "the edge did not exit early".
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.ok(edge.proc.running, 'still running while the short request is in flight')
  slow.end(body.slice(20))
  const created = await slowAnswer
  t.equal(created.status, 201, created.status === 201 ? 'the in-flight create succeeded' : created.body)
  t.match(JSON.parse(created.body), { kind: 'ConfigMap', metadata: { name: 'during-drain', namespace: ns } })

  const ended = await exit
  t.same({ code: ended.code, signal: ended.signal }, { code: 0, signal: null }, 'exit code 0')
  t.comment(`edge exited ${ended.ms} ms after SIGTERM (grace period ${EDGE_GRACE_S} s)`)
  t.ok(edge.proc.logLines().some((l) => l.msg === 'stopped' && l.cutOff === 0), 'logged "stopped" with nothing cut off')
  t.equal((await cluster.admin.get(`/api/v1/namespaces/${ns}/configmaps/during-drain`)).status, 200, 'the drained request really happened')
})

t.test('SIGTERM on the cloud shim: GOAWAY to the edge, edge turns unready, shim exits 0', async (t) => {
  edge = await startEdge(cloud.tunnelPort, 'edge-2')
  // Ready, not just connected: a fresh edge refuses (503) until its first policy bundle is in, which
  // arrives over the tunnel just after it connects.
  const ready = await waitForReadyz(edge.port, /^readyz check passed$/m)
  t.match(ready.body, /^\[\+\]tunnel ok \(connected to 127\.0\.0\.1:\d+\)$/m)
  const direct = await request(edge.port, `/api/v1/namespaces/${ns}/configmaps/hello`, { token: me.token })
  t.equal(direct.status, 200)

  const ended = await cloud.proc.signal('SIGTERM', 30_000)
  t.same({ code: ended.code, signal: ended.signal }, { code: 0, signal: null }, `shim exit code 0\n${cloud.proc.output()}`)
  t.comment(`shim exited ${ended.ms} ms after SIGTERM`)
  t.ok(cloud.proc.logLines().some((l) => l.msg === 'stopped'), 'shim logged "stopped"')

  const goaway = await edge.proc.waitForLog((l) => /GOAWAY|disconnected/.test(String(l.msg)), 'GOAWAY or disconnect', 10_000)
  t.match(goaway, { level: /warn|info/, msg: /GOAWAY|disconnected/ }, 'the edge logged the GOAWAY or the disconnect')
  const unready = await waitForReadyz(edge.port, /^\[-\]tunnel failed: disconnected since /m)
  t.equal(unready.status, 500)
  t.match(unready.body, /^readyz check failed$/m)
  // The edge stays up and honest: livez is fine, a request gets a fast Kubernetes 503 Status.
  t.same(await request(edge.port, '/livez'), { status: 200, body: 'ok', complete: true })
  const offline = await request(edge.port, `/api/v1/namespaces/${ns}/configmaps`, {
    method: 'POST', token: me.token, body: JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'offline' } }),
  })
  t.equal(offline.status, 503, `a write while the cloud is gone: ${offline.body}`)
  t.match(JSON.parse(offline.body), { kind: 'Status', code: 503 })
  t.ok(edge.proc.running)
  const stop = await edge.proc.signal('SIGTERM', 20_000)
  t.equal(stop.code, 0, 'edge exits 0 with the cloud gone too')
})

t.test('no log line of either process holds the pod token or a Bearer header', async (t) => {
  t.ok(procs.length >= 3)
  for (const p of procs) {
    const all = p.stdout + p.stderr
    const name = labels.get(p)!
    t.ok(all.length > 1000, `${name} logged something (${all.length} bytes)`)
    for (const [who, token] of [['pod', me.token], ['other node\'s pod', stranger.token], ['rejected', BOGUS_TOKEN]] as const) {
      const [, payload, signature] = token.split('.')
      t.notOk(all.includes(token), `${name}: the ${who} token does not appear`)
      t.notOk(all.includes(payload!) || all.includes(signature!), `${name}: nor its payload or signature`)
    }
    t.notMatch(all, /bearer/i, `${name}: no "Bearer"`)
  }
  // The logs were real (debug level, requests went through): check one of them mentions the namespace.
  t.ok(procs.some((p) => p.stdout.includes(ns)), 'the logs mention the requests')
})
