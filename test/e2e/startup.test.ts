// Start-up is all or nothing (issue 14), proven on the real CLI as a child process: each failure a
// node can meet — a missing key, a key the service user may not read, a SQLite module that does not
// load, a port in use, a cache file the service user may not open — exits 1 with one line on stderr
// that names the config key or the file, before the tunnel is dialled (a stand-in tunnel endpoint
// counts connections) and without touching the cache file. A corrupt cache file is moved aside and
// the daemon starts; a cache file from an older schema is migrated in place with its keys and
// policy. systemd readiness: READY=1 arrives on NOTIFY_SOCKET only once the listener answers,
// WATCHDOG=1 while it runs, STOPPING=1 when it drains. No cluster is needed: the edge starts
// without the cloud (edge autonomy), so the tunnel endpoint is a plain TCP listener.
import t, { type Test } from 'tap'
import Database from 'better-sqlite3'
import { createHash, X509Certificate } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import net from 'node:net'
import type { TLSSocket } from 'node:tls'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CertificateAuthority } from '../cluster/pki.js'
import { CACHE_FILE, SCHEMA_VERSION } from '../../src/edge/cache/store.js'
import { writeOldCache } from '../helpers/old-cache.js'
import { NotifySocket } from '../helpers/notify-socket.js'
import { waitForValue } from '../helpers/wait.js'
import { runCli, startCli, type CliResult } from './process.js'

// The service user of the unit is a dedicated system user; here: nobody.
const SERVICE_UID = 65534
const SERVICE_GID = 65534
// `env -u NODE_OPTIONS`: tap's process-info hook adds its own NODE_OPTIONS to every child it sees
// spawned, and that hook would write into this checkout's .tap/ as the service user. systemd gives none.
const asServiceUser = ['setpriv', `--reuid=${SERVICE_UID}`, `--regid=${SERVICE_GID}`, '--clear-groups', '--', 'env', '-u', 'NODE_OPTIONS']
const serviceEnv = (extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ PATH: process.env.PATH, LANG: 'C', ...extra })
const STACK_FRAME = /^\s+at .+:\d+:\d+\)?$/m
const NODE = 'edge-startup'

const work = await mkdtemp(join(tmpdir(), 'ems-startup-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
// The service user must reach the certificates and configs (not the keys, unless a test says so).
chmodSync(work, 0o755)

// The node that runs these tests may sit under a home directory the service user cannot enter
// (CI's ~/.cache/edge-metaserver/node): it runs a link to it (a copy across filesystems) from here.
const node = join(work, 'node')
try { linkSync(process.execPath, node) } catch { copyFileSync(process.execPath, node); chmodSync(node, 0o755) }

const pki = join(work, 'pki')
const ca = await CertificateAuthority.create(pki, 'ca', 'edge-metaserver-startup-test-ca')
const nodePair = await ca.issue('node', { cn: `system:node:${NODE}`, organizations: ['system:nodes'], usage: 'client' })
const serving = await ca.issue('serving', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1'] })
chmodSync(pki, 0o755)
// Readable by the service user, as the unit's install notes say (0640 root:edge-metaserver).
for (const f of [ca.certFile, nodePair.certFile, nodePair.keyFile, serving.certFile, serving.keyFile]) {
  chownSync(f, 0, SERVICE_GID)
  chmodSync(f, 0o640)
}

/** The stand-in tunnel endpoint: a TCP listener that counts the connections the edge opens. */
const tunnelEnd = net.createServer((socket) => { dials++; socket.destroy() })
let dials = 0
await new Promise<void>((resolve) => tunnelEnd.listen(0, '127.0.0.1', resolve))
t.teardown(() => new Promise<void>((resolve) => tunnelEnd.close(() => resolve())))
const tunnelPort = (tunnelEnd.address() as net.AddressInfo).port

/**
 * Connections to the tunnel endpoint since `mark` (a value of `dials`). A probe connection of our
 * own is accepted after every connection made before it, so none is still in the backlog.
 */
async function dialsSince (mark: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    const probe = net.connect(tunnelPort, '127.0.0.1')
    probe.once('close', () => resolve())
    probe.once('error', reject)
  })
  return dials - mark - 1
}

/** Runs an edge that must fail to start; `dialled` counts its tunnel connections. */
async function failingEdge (c: Case, nodeOptions?: string): Promise<CliResult & { dialled: number }> {
  const mark = dials
  const wrap = nodeOptions === undefined ? asServiceUser : [...asServiceUser, `NODE_OPTIONS=${nodeOptions}`]
  const r = await runCli(['edge', '--config', c.config], { wrap, env: serviceEnv(), node })
  return { ...r, dialled: await dialsSince(mark) }
}

async function freePort (): Promise<number> {
  const s = net.createServer()
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve))
  const port = (s.address() as net.AddressInfo).port
  await new Promise<void>((resolve) => s.close(() => resolve()))
  return port
}

interface Case { dir: string, stateDir: string, config: string, port: number }

/** A state directory owned by the service user and a config naming `overrides` (file paths). */
async function edgeCase (name: string, overrides: { servingCert?: string, servingKey?: string, tunnelKey?: string, port?: number, logLevel?: string } = {}): Promise<Case> {
  const dir = join(work, name)
  mkdirSync(dir, { mode: 0o755 })
  const stateDir = join(dir, 'state')
  mkdirSync(stateDir, { mode: 0o700 })
  chownSync(stateDir, SERVICE_UID, SERVICE_GID)
  const port = overrides.port ?? await freePort()
  const config = join(dir, 'edge.yaml')
  writeFileSync(config, [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer',
    `stateDir: ${stateDir}`,
    'modules:', '  metaServer:', `    server: 127.0.0.1:${port}`, '    dummyServer: ""',
    `    tlsCertFile: ${overrides.servingCert ?? serving.certFile}`, `    tlsPrivateKeyFile: ${overrides.servingKey ?? serving.keyFile}`,
    '    shutdownGracePeriod: 1s',
    '  edgeHub:', `    server: 127.0.0.1:${tunnelPort}`,
    `    tlsCaFile: ${ca.certFile}`, `    tlsCertFile: ${nodePair.certFile}`, `    tlsPrivateKeyFile: ${overrides.tunnelKey ?? nodePair.keyFile}`,
    '    reconnectBackoffInitial: 100ms', '    reconnectBackoffMax: 1s',
    'logging:', `  level: ${overrides.logLevel ?? 'info'}`, '',
  ].join('\n'))
  chmodSync(config, 0o644)
  return { dir, stateDir, config, port }
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

/** The assertions every failed start shares: exit 1, exactly one stderr line matching `line`, no stack trace, no dial. */
function assertFailedStart (t: Test, r: CliResult & { dialled: number }, line: RegExp): void {
  t.equal(r.code, 1, 'exits 1')
  const stderr = r.stderr.trimEnd().split('\n')
  t.equal(stderr.length, 1, `one line on stderr: ${r.stderr}`)
  t.match(stderr[0], line, 'the line says what and where')
  t.notMatch(r.stderr, STACK_FRAME, 'no stack trace on stderr')
  t.match(r.stdout, /"level":"fatal".*failed to start/, 'and a fatal log line')
  t.equal(r.dialled, 0, 'the tunnel was never dialled')
}

/** A cache file with data that the failing starts must leave exactly as it is. */
function seedCache (stateDir: string): string {
  const file = join(stateDir, CACHE_FILE)
  writeOldCache(file, 2, { state: { 'control/jwks': '{"seed":1}' }, configMaps: ['a'], document: { path: '/version', body: '{}' } })
  chownSync(file, SERVICE_UID, SERVICE_GID)
  return sha256(file)
}

function assertCacheUntouched (t: Test, stateDir: string, before: string): void {
  t.equal(sha256(join(stateDir, CACHE_FILE)), before, 'cache.db is byte for byte unchanged')
  t.notOk(existsSync(join(stateDir, `${CACHE_FILE}.broken`)), 'nothing was moved aside')
}

t.test('a missing key: exit 1, the key and path named, the tunnel never dialled', async (t) => {
  const c = await edgeCase('missing-key', { tunnelKey: join(work, 'no-such.key') })
  const r = await failingEdge(c)
  assertFailedStart(t, r, /^edge-metaserver edge: modules\.edgeHub\.tlsPrivateKeyFile: file not found: .*no-such\.key$/)
})

t.test('a key the service user may not read: exit 1, "permission denied" with key and path', async (t) => {
  const key = join(work, 'root-only.key')
  copyFileSync(serving.keyFile, key)
  chmodSync(key, 0o600) // root's alone, as a key provisioned without the group would be
  const c = await edgeCase('unreadable-key', { servingKey: key })
  const r = await failingEdge(c)
  assertFailedStart(t, r, /^edge-metaserver edge: modules\.metaServer\.tlsPrivateKeyFile: permission denied: .*root-only\.key$/)
})

t.test('a key that does not match its certificate: exit 1 before any handshake', async (t) => {
  const c = await edgeCase('mismatched-key', { tunnelKey: serving.keyFile })
  const r = await failingEdge(c)
  assertFailedStart(t, r, /^edge-metaserver edge: modules\.edgeHub\.tlsCaFile\/tlsCertFile\/tlsPrivateKeyFile: not usable for TLS: .*key values mismatch/)
})

t.test('a SQLite module that does not load (simulated ABI mismatch): exit 1, the cache file untouched', async (t) => {
  const c = await edgeCase('broken-addon')
  const before = seedCache(c.stateDir)
  // process.dlopen is how Node loads every .node addon; this preload makes it fail for
  // better-sqlite3 with the message Node gives for an addon built for another ABI.
  const preload = join(c.dir, 'break-sqlite.cjs')
  writeFileSync(preload, `const dlopen = process.dlopen
process.dlopen = function (module, filename, ...rest) {
  if (String(filename).endsWith('better_sqlite3.node')) throw new Error("The module '" + filename + "' was compiled against a different Node.js version using NODE_MODULE_VERSION 1. This version of Node.js requires NODE_MODULE_VERSION " + process.versions.modules + '.')
  return dlopen.call(this, module, filename, ...rest)
}
`)
  chmodSync(preload, 0o644)
  const r = await failingEdge(c, `--require ${preload}`)
  assertFailedStart(t, r, /^edge-metaserver edge: the SQLite native module \(better-sqlite3\) does not load in this Node\.js .*NODE_MODULE_VERSION 1\b.*The edge cache was left as it is\.$/)
  assertCacheUntouched(t, c.stateDir, before)
})

t.test('a cache file the service user may not open: exit 1, the file left alone', async (t) => {
  const c = await edgeCase('unreadable-cache')
  const before = seedCache(c.stateDir)
  chownSync(join(c.stateDir, CACHE_FILE), 0, 0)
  chmodSync(join(c.stateDir, CACHE_FILE), 0o600)
  const r = await failingEdge(c)
  assertFailedStart(t, r, /^edge-metaserver edge: the edge cache .*cache\.db cannot be opened: .*the file was left as it is$/)
  assertCacheUntouched(t, c.stateDir, before)
})

t.test('a port in use: exit 1 naming the listener and address, the tunnel never dialled', async (t) => {
  const taken = net.createServer()
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => taken.close(() => resolve())))
  const port = (taken.address() as net.AddressInfo).port
  const c = await edgeCase('port-in-use', { port })
  const before = seedCache(c.stateDir)
  const r = await failingEdge(c)
  assertFailedStart(t, r, new RegExp(`^edge-metaserver edge: modules\\.metaServer\\.server \\(127\\.0\\.0\\.1:${port}\\): cannot listen: address already in use$`))
  // Opening a good cache is part of the start; failing later must not have changed its content.
  const db = new Database(join(c.stateDir, CACHE_FILE), { readonly: true })
  t.equal(db.prepare("SELECT value FROM state WHERE key = 'control/jwks'").pluck().get(), '{"seed":1}', 'the cache keeps its keys')
  db.close()
  t.not(before, '', 'the seeded file existed')
})

/** GET path on the edge's listener, the body. */
function getText (port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ca: readFileSync(ca.certFile), agent: false }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).once('end', () => resolve(body))
    }).once('error', reject)
  })
}

/** GET path on the edge's listener (its serving certificate is from the test CA). */
function get (port: number, path: string): Promise<number> {
  return new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port, path, ca: readFileSync(ca.certFile), agent: false }, (res) => { res.resume(); resolve(res.statusCode!) })
      .once('error', reject)
  })
}

t.test('a corrupt cache file is moved aside, and the daemon starts with an empty cache', async (t) => {
  const c = await edgeCase('corrupt-cache')
  const garbage = 'not a database '.repeat(500)
  writeFileSync(join(c.stateDir, CACHE_FILE), garbage)
  chownSync(join(c.stateDir, CACHE_FILE), SERVICE_UID, SERVICE_GID)
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv(), node })
  t.teardown(() => proc.stop(3000))
  const moved = await proc.waitForLog((l) => /cache file is corrupt/.test(String(l.msg)), 'the corrupt-cache line')
  t.equal(moved.level, 'error', 'said at error level')
  t.match(moved.reason, /SQLITE_NOTADB/, 'with SQLite\'s verdict')
  await proc.waitForLog((l) => l.msg === 'listening', 'listening')
  t.equal(await get(c.port, '/livez'), 200, 'it serves')
  t.equal(readFileSync(join(c.stateDir, `${CACHE_FILE}.broken`), 'utf8'), garbage, 'the corrupt file kept aside as cache.db.broken')
  const stopped = await proc.signal('SIGTERM', 10_000)
  t.equal(stopped.code, 0, 'SIGTERM: exit 0')
})

t.test('a cache file from the previous schema is migrated in place: the keys and policy an offline start needs are kept', async (t) => {
  const c = await edgeCase('old-schema')
  const file = join(c.stateDir, CACHE_FILE)
  writeOldCache(file, SCHEMA_VERSION - 1 as 2, {
    state: { 'control/jwks': '{"old":"jwks"}', 'control/policy': '{"old":"policy"}' }, configMaps: ['a', 'b'], document: { path: '/version', body: '{"major":"1"}' },
  })
  chownSync(file, SERVICE_UID, SERVICE_GID)
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv(), node })
  t.teardown(() => proc.stop(3000))
  const migrated = await proc.waitForLog((l) => l.msg === 'edge cache schema migrated in place', 'the migration line')
  t.match(migrated, { from: SCHEMA_VERSION - 1, to: SCHEMA_VERSION })
  await proc.waitForLog((l) => l.msg === 'listening', 'listening')
  t.equal((await proc.signal('SIGTERM', 10_000)).code, 0, 'SIGTERM: exit 0')
  t.notOk(existsSync(`${file}.broken`), 'nothing moved aside')
  const db = new Database(file, { readonly: true })
  t.teardown(() => db.close())
  t.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION, 'the file is at the current schema')
  t.same(db.prepare('SELECT key, value FROM state ORDER BY key').all(),
    [{ key: 'control/jwks', value: '{"old":"jwks"}' }, { key: 'control/policy', value: '{"old":"policy"}' }], 'keys and policy kept')
  t.same(db.prepare('SELECT name FROM objects ORDER BY name').pluck().all(), ['a', 'b'], 'the cached objects kept')
  t.equal(db.prepare('SELECT list_kind FROM lists').pluck().get(), 'ConfigMapList', 'the list gained its list kind')
})

t.test('sd_notify: READY=1 only once the listener answers, WATCHDOG=1 while running, STOPPING=1 on drain', async (t) => {
  const c = await edgeCase('notify')
  const notify = await NotifySocket.open(c.dir)
  t.teardown(() => notify.close())
  chmodSync(notify.path, 0o777)
  // WATCHDOG_USEC as systemd sets it with WatchdogSec=1s (pings every 500 ms); WATCHDOG_PID unset: "this process".
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv({ NOTIFY_SOCKET: notify.path, WATCHDOG_USEC: '1000000' }), node })
  t.teardown(() => proc.stop(3000))
  await waitForValue(() => notify.with('READY=1')[0], { what: 'READY=1', timeoutMs: 30_000, failIf: () => proc.running ? undefined : proc.output() })
  // Asked the moment READY=1 arrived: the listener must already answer.
  t.equal(await get(c.port, '/livez'), 200, 'the listener answers when READY=1 arrives')
  t.ok(proc.logLines().some((l) => l.msg === 'listening'), 'and had logged "listening"')
  t.equal(notify.with('READY=1').length, 1, 'READY=1 once')
  await waitForValue(() => notify.with('WATCHDOG=1')[0], { what: 'WATCHDOG=1', timeoutMs: 20_000 })
  t.pass('watchdog pings arrive')
  const stopped = await proc.signal('SIGTERM', 10_000)
  t.equal(stopped.code, 0, 'exit 0')
  // Sent when the drain begins; its systemd-notify child may still be on its way when the daemon exits.
  await waitForValue(() => notify.with('STOPPING=1')[0], { what: 'STOPPING=1' })
  const stopping = notify.datagrams.findIndex((d) => d.split('\n').includes('STOPPING=1'))
  t.ok(stopping > notify.datagrams.findIndex((d) => d.split('\n').includes('READY=1')), 'STOPPING=1 after READY=1')
})

t.test('without NOTIFY_SOCKET nothing is sent and nothing fails (Type=simple, containers)', async (t) => {
  const c = await edgeCase('no-notify')
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv(), node })
  t.teardown(() => proc.stop(3000))
  await proc.waitForLog((l) => l.msg === 'listening', 'listening')
  t.equal(await get(c.port, '/livez'), 200)
  t.notOk(proc.logLines().some((l) => /sd_notify/.test(String(l.msg))), 'no sd_notify line')
  // The stand-in tunnel endpoint closes every connection: the edge says so, and why it is not ready.
  const dial = await proc.waitForLog((l) => l.msg === 'tunnel dial failed', 'tunnel dial failed')
  t.equal(dial.level, 'warn', 'a failed dial at start is a warn line')
  t.match(dial.reason, /\S/, `with the reason (${dial.reason})`)
  const unready = await proc.waitForLog((l) => l.msg === 'readiness: not ready', 'readiness: not ready')
  t.match(unready.failing, { tunnel: /disconnected since/ }, 'the readiness line names the failing check and why')

  // /metrics: Node's default metrics under their standard names; the tunnel down; certificate expiry from the files.
  const scrape = await getText(c.port, '/metrics')
  t.match(scrape, /^process_resident_memory_bytes\{role="edge"\} \d+/m, 'process_* unprefixed')
  t.match(scrape, /^nodejs_heap_size_used_bytes\{role="edge"\} \d+/m, 'nodejs_* unprefixed')
  t.notMatch(scrape, /^edge_metaserver_(process|nodejs)_/m, 'and not under the product prefix')
  t.match(scrape, /^edge_metaserver_tunnel_up\{role="edge"\} 0$/m, 'tunnel_up 0: it never connected')
  t.match(scrape, /^edge_metaserver_tunnel_reconnects_total\{role="edge"\} 0$/m)
  const offline = Number(/^edge_metaserver_tunnel_offline_seconds\{role="edge"\} (\S+)$/m.exec(scrape)?.[1])
  t.ok(offline > 0, `offline seconds counted from start (${offline})`)
  const notAfter = (file: string): number => Math.floor(Date.parse(new X509Certificate(readFileSync(file)).validTo) / 1000)
  t.match(scrape, new RegExp(`^edge_metaserver_certificate_not_after_seconds\\{key="modules\\.edgeHub\\.tlsCertFile",role="edge"\\} ${notAfter(nodePair.certFile)}$`, 'm'), 'tunnel certificate expiry')
  t.match(scrape, new RegExp(`^edge_metaserver_certificate_not_after_seconds\\{key="modules\\.metaServer\\.tlsCertFile",role="edge"\\} ${notAfter(serving.certFile)}$`, 'm'), 'serving certificate expiry')
  t.equal((await proc.signal('SIGTERM', 10_000)).code, 0)
})

t.test('SIGHUP with a new serving certificate on disk: a new TLS connection sees the new serial, a connection opened before keeps running', async (t) => {
  // The case's own copy of the serving pair, so replacing it touches no other test.
  const own = join(work, 'sighup-cert-files')
  mkdirSync(own, { mode: 0o755 })
  const certFile = join(own, 'serving.crt')
  const keyFile = join(own, 'serving.key')
  const install = (pair: { certFile: string, keyFile: string }): void => {
    // Key first, then certificate, each replaced by a rename, as an operator's tooling would.
    for (const [from, to] of [[pair.keyFile, keyFile], [pair.certFile, certFile]] as const) {
      copyFileSync(from, `${to}.tmp`)
      chownSync(`${to}.tmp`, 0, SERVICE_GID)
      chmodSync(`${to}.tmp`, 0o640)
      renameSync(`${to}.tmp`, to)
    }
  }
  install(serving)
  const c = await edgeCase('sighup-cert', { servingCert: certFile, servingKey: keyFile })
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv(), node })
  t.teardown(() => proc.stop(3000))
  await proc.waitForLog((l) => l.msg === 'listening', 'listening')
  const serialOf = (pem: string | Buffer): string => new X509Certificate(pem).serialNumber
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(ca.certFile) })
  t.teardown(() => agent.destroy())
  const get = (via: https.Agent | false): Promise<{ status: number, socket: unknown, serial: string }> => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: c.port, path: '/livez', agent: via, ca: readFileSync(ca.certFile) }, (res) => {
      const socket = res.socket as TLSSocket
      const serial = socket.getPeerX509Certificate()?.serialNumber ?? ''
      res.resume()
      res.once('end', () => resolve({ status: res.statusCode!, socket, serial }))
    }).once('error', reject)
  })
  const before = await get(agent)
  t.equal(before.serial, serialOf(readFileSync(serving.certFile)), 'the first connection sees the original certificate')

  const renewed = await ca.issue('serving-renewed', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1'] })
  install(renewed)
  proc.child.kill('SIGHUP')
  const checked = await proc.waitForLog((l) => l.msg === 'reload: certificate files checked', 'the reload line for the certificate files')
  // The daemon also checks the files every few seconds: the new pair is reloaded exactly once, by
  // this SIGHUP unless that periodic check came first (then the SIGHUP finds it unchanged).
  const lines = proc.logLines()
  const reloads = lines.filter((l) => l.msg === 'serving certificate reloaded from disk; new connections use it')
  t.equal(reloads.length, 1, 'the new serving certificate was reloaded once')
  const at = (msg: string): number => lines.findIndex((l) => l.msg === msg)
  const byTimer = at('serving certificate reloaded from disk; new connections use it') < at('SIGHUP: re-reading the config file')
  t.equal(checked.certificates.serving, byTimer ? 'unchanged' : 'reloaded', `the SIGHUP says what it did (${byTimer ? 'the periodic check was first' : 'it reloaded the pair'})`)

  const fresh = await get(false)
  t.equal(fresh.status, 200)
  t.equal(fresh.serial, serialOf(readFileSync(renewed.certFile)), 'a new TLS connection sees the new serial')
  t.not(fresh.serial, before.serial)
  const again = await get(agent)
  t.equal(again.socket, before.socket, 'the connection opened before is still the same one')
  t.equal(again.serial, before.serial, 'still on the certificate it was opened with')
  t.equal((await proc.signal('SIGTERM', 10_000)).code, 0)
})

t.test('SIGHUP re-reads the config: the log level changes at once, an open connection stays, an address change waits for a restart', async (t) => {
  const c = await edgeCase('sighup', { logLevel: 'info' })
  const proc = startCli(['edge', '--config', c.config], { wrap: asServiceUser, env: serviceEnv(), node })
  t.teardown(() => proc.stop(3000))
  await proc.waitForLog((l) => l.msg === 'listening', 'listening')
  // One kept-alive connection, used before and after the reload.
  const agent = new https.Agent({ keepAlive: true, maxSockets: 1, ca: readFileSync(ca.certFile) })
  t.teardown(() => agent.destroy())
  const livez = (): Promise<{ status: number, socket: unknown }> => new Promise((resolve, reject) => {
    https.get({ host: '127.0.0.1', port: c.port, path: '/livez', agent }, (res) => { res.resume(); res.once('end', () => resolve({ status: res.statusCode!, socket: res.socket })) })
      .once('error', reject)
  })
  const before = await livez()
  t.equal(before.status, 200)
  t.notOk(proc.logLines().some((l) => l.level === 'debug'), 'no debug line at level info')

  const newPort = await freePort()
  const original = readFileSync(c.config, 'utf8')
  writeFileSync(c.config, original.replace('level: info', 'level: debug').replace(`server: 127.0.0.1:${c.port}`, `server: 127.0.0.1:${newPort}`))
  proc.child.kill('SIGHUP')
  const applied = await proc.waitForLog((l) => l.msg === 'reload: applied', 'reload: applied')
  t.same(applied.changed, { 'logging.level': 'debug' }, 'says what changed')
  const restart = await proc.waitForLog((l) => /apply only after a restart/.test(String(l.msg)), 'the restart-needed line')
  t.equal(restart.level, 'warn')
  t.same(restart.keys, ['modules.metaServer.server.port'], 'names the listener address key')
  // The tunnel endpoint here refuses every dial, so debug lines about redialling follow soon.
  await proc.waitForLog((l) => l.level === 'debug', 'a debug line after the reload')
  const after = await livez()
  t.equal(after.status, 200, 'still serving on the address it started with')
  t.equal(after.socket, before.socket, 'on the same connection: nothing was dropped')

  writeFileSync(c.config, original.replace('level: info', 'level: loud'))
  proc.child.kill('SIGHUP')
  const refused = await proc.waitForLog((l) => /reload refused/.test(String(l.msg)), 'reload refused')
  t.match(refused.errors.join('\n'), /logging\.level/, 'the refusal names the bad key')
  t.ok(proc.running, 'still running')
  t.equal((await livez()).status, 200)

  // A config file the daemon's user cannot read (a root-only copy put in place): refused too, with the reason.
  writeFileSync(c.config, original)
  chmodSync(c.config, 0o600)
  proc.child.kill('SIGHUP')
  const unreadable = await proc.waitForLog((l) => /reload refused/.test(String(l.msg)) && /cannot read config file/.test(String(l.errors)), 'reload refused (unreadable)')
  t.match(unreadable.errors.join('\n'), /cannot read config file: permission denied/, 'says it cannot read the file and why')
  t.ok(proc.running, 'still running')
  t.equal((await livez()).status, 200, 'and still serving')
  t.equal((await proc.signal('SIGTERM', 10_000)).code, 0, 'SIGTERM after all that: exit 0')
})
