// The dummy (link-local) address pods reach the edge on, set up by the real daemon (the CLI as a
// child process) with the real `ip` — inside private network namespaces created here, so nothing
// touches the host's interfaces. This kernel has no dummy link type ("Unknown device type", as on
// the KubeEdge #5586 kernels): the daemon must fall back to putting the /32 on lo. Without
// CAP_NET_ADMIN it must say so clearly and keep serving on 127.0.0.1.
//
// No cluster is needed: the edge starts with its cloud unreachable (DESIGN decision 6), and the
// "cluster CA" is a CA made here that signs the serving certificate, as the cluster CA would.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CertificateAuthority } from '../cluster/pki.js'
import { NetNamespace, runCommand, startCli, type CliProcess } from './process.js'

const DUMMY_IP = '169.254.30.10'
const PORT = 10550 // the real default: a private namespace has no port collisions
const TUNNEL_PORT = 10560 // nothing listens there inside the namespace

const work = await mkdtemp(join(tmpdir(), 'ems-dummy-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const clusterCa = await CertificateAuthority.create(join(work, 'pki'), 'cluster-ca', 'stand-in-cluster-ca')
const serving = await clusterCa.issue('serving', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', DUMMY_IP] })
const tunnelCa = await CertificateAuthority.create(join(work, 'pki'), 'tunnel-ca', 'tunnel-ca')
const nodeCert = await tunnelCa.issue('node', { cn: 'system:node:edge-dummy', organizations: ['system:nodes'], usage: 'client' })

const configFile = join(work, 'edge.yaml')
await writeFile(configFile, [
  'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer', `stateDir: ${work}`,
  'modules:', '  metaServer:', `    server: 127.0.0.1:${PORT}`, `    dummyServer: ${DUMMY_IP}:${PORT}`, '    dummyInterface: edge-dummy0',
  `    tlsCertFile: ${serving.certFile}`, `    tlsPrivateKeyFile: ${serving.keyFile}`, '    shutdownGracePeriod: 2s',
  '  edgeHub:', `    server: 127.0.0.1:${TUNNEL_PORT}`, `    tlsCaFile: ${tunnelCa.certFile}`,
  `    tlsCertFile: ${nodeCert.certFile}`, `    tlsPrivateKeyFile: ${nodeCert.keyFile}`,
  '    connectTimeout: 1s', '    reconnectBackoffInitial: 200ms', '    reconnectBackoffMax: 1s',
  'logging:', '  level: debug', '',
].join('\n'))

/** The host's own state that must not change: its addresses in 169.254.30.10 and any edge-dummy0 link. */
async function hostNetwork (): Promise<string> {
  const addrs = await runCommand('ip', ['-o', '-4', 'addr', 'show'])
  const links = await runCommand('ip', ['-o', 'link', 'show'])
  return [...addrs.stdout.split('\n').filter((l) => l.includes(DUMMY_IP)),
    ...links.stdout.split('\n').filter((l) => l.includes('edge-dummy0'))].join('\n')
}
const hostBefore = await hostNetwork()
t.teardown(async () => {
  // Checked again at the very end, after every namespace is gone.
  const after = await hostNetwork()
  if (after !== hostBefore) throw new Error(`the host network changed:\nbefore: ${hostBefore}\nafter: ${after}`)
})

/** curl inside the namespace, verifying the serving certificate against the "cluster" CA. */
async function curl (ns: NetNamespace, url: string): Promise<{ code: number | null, status: string, body: string, stderr: string }> {
  const r = await ns.run('curl', ['-sS', '--max-time', '5', '--cacert', clusterCa.certFile, '-o', '-', '-w', '\n%{http_code}', url])
  const at = r.stdout.lastIndexOf('\n')
  return { code: r.code, status: r.stdout.slice(at + 1), body: r.stdout.slice(0, at), stderr: r.stderr }
}

/** Effective capability bits of a process. */
function capEff (pid: number): bigint {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('CapEff:'))!
  return BigInt(`0x${line.split(/\s+/)[1]}`)
}
const CAP_NET_ADMIN = 12n

async function startEdge (t: { teardown (fn: () => unknown): void }, ns: NetNamespace, extraWrap: string[] = []): Promise<CliProcess> {
  const edge = startCli(['edge', '--config', configFile], { wrap: [...ns.wrap(), ...extraWrap], logFile: join(work, 'edge.log') })
  t.teardown(() => edge.stop(5000))
  await edge.waitForLog((l) => l.msg === 'listening' && l.listener === 'server', 'the loopback listener')
  return edge
}

// Does this kernel have the dummy link type at all? (Asked in a throw-away namespace.)
const probe = await NetNamespace.create()
const probeAdd = await probe.run('ip', ['link', 'add', 'probe0', 'type', 'dummy'])
await probe.close()
const kernelHasDummy = probeAdd.code === 0

t.test('no dummy link type: the daemon puts 169.254.30.10/32 on lo and serves there', async (t) => {
  // The machine this was written on (and CI) has no dummy type; on one that has it, the same test
  // checks the dummy path instead of the fallback.
  if (kernelHasDummy) t.comment('this kernel has the dummy link type: checking the edge-dummy0 path, not the lo fallback')
  else t.match(probeAdd.stderr, /Unknown device type/, 'this kernel has no dummy link type')
  const ns = await NetNamespace.create()
  t.teardown(() => ns.close())
  const before = await ns.run('ip', ['-o', '-4', 'addr', 'show'])
  t.notMatch(before.stdout, DUMMY_IP, 'a fresh namespace does not have the address')

  const edge = await startEdge(t, ns)
  t.ok((capEff(edge.pid) >> CAP_NET_ADMIN) & 1n, 'the daemon runs with CAP_NET_ADMIN')
  const ready = await edge.waitForLog((l) => l.msg === 'dummy address ready', 'dummy address ready')
  t.match(ready, { level: 'info', device: kernelHasDummy ? 'edge-dummy0' : 'lo', created: true })
  await edge.waitForLog((l) => l.msg === 'listening' && l.listener === 'dummyServer', 'the dummy listener')
  t.match(edge.logLines().find((l) => l.msg === 'listening' && l.listener === 'dummyServer'), { host: DUMMY_IP, port: PORT, tls: true })

  const addrs = await ns.run('ip', ['-o', '-4', 'addr', 'show'])
  const holder = addrs.stdout.split('\n').filter((l) => l.includes(` inet ${DUMMY_IP}/32 `))
  t.equal(holder.length, 1, `exactly one device holds ${DUMMY_IP}/32:\n${addrs.stdout}`)
  t.match(holder[0], kernelHasDummy ? /^\d+: edge-dummy0\s/ : /^1: lo\s/)

  // What a pod does: HTTPS to the link-local address, verified against its ca.crt.
  const livez = await curl(ns, `https://${DUMMY_IP}:${PORT}/livez`)
  t.same({ code: livez.code, status: livez.status, body: livez.body }, { code: 0, status: '200', body: 'ok' }, livez.stderr)
  const readyz = await curl(ns, `https://${DUMMY_IP}:${PORT}/readyz`)
  t.equal(readyz.status, '500', 'not ready: the cloud is unreachable from this namespace')
  t.match(readyz.body, /^\[-\]tunnel failed: disconnected since \S+: .*ECONNREFUSED/m)
  t.match(readyz.body, /^readyz check failed$/m)
  const loopback = await curl(ns, `https://127.0.0.1:${PORT}/livez`)
  t.equal(loopback.body, 'ok', 'the loopback listener serves too')

  const stopped = await edge.signal('SIGTERM', 15_000)
  t.equal(stopped.code, 0)

  // A restart finds the address already there and reuses it (no "File exists" failure).
  const again = await startEdge(t, ns)
  const reused = await again.waitForLog((l) => l.msg === 'dummy address ready', 'dummy address ready (restart)')
  t.match(reused, { device: kernelHasDummy ? 'edge-dummy0' : 'lo', created: false })
  t.equal((await curl(ns, `https://${DUMMY_IP}:${PORT}/livez`)).body, 'ok')
  t.equal((await again.signal('SIGTERM', 15_000)).code, 0)
})

t.test('without CAP_NET_ADMIN: a clear error, and the loopback listener keeps serving', async (t) => {
  const ns = await NetNamespace.create()
  t.teardown(() => ns.close())
  // Root, but with NET_ADMIN out of the bounding set (and nothing inheritable): after exec the
  // daemon — and the `ip` it runs — cannot change the namespace's addresses.
  const edge = await startEdge(t, ns, ['setpriv', '--inh-caps=-all', '--bounding-set=-net_admin', '--'])
  t.equal((capEff(edge.pid) >> CAP_NET_ADMIN) & 1n, 0n, 'the daemon really lacks CAP_NET_ADMIN')

  const failed = await edge.waitForLog((l) => l.level === 'error' && /cannot set up/.test(l.msg), 'the dummy address error')
  t.match(failed.msg, `cannot set up ${DUMMY_IP}; pods using it will fail, the loopback listener keeps serving`)
  t.match(failed.reason, /lo fallback: .*Operation not permitted/, 'the error names the lo attempt and the reason')
  t.match(failed.reason, /dummy interface edge-dummy0: /, 'and the dummy interface attempt')
  t.notOk(edge.logLines().some((l) => l.msg === 'listening' && l.listener === 'dummyServer'), 'no dummy listener was started')
  t.ok(edge.running, 'the daemon keeps running')

  const addrs = await ns.run('ip', ['-o', '-4', 'addr', 'show'])
  t.notMatch(addrs.stdout, DUMMY_IP, 'no address was added')
  const loopback = await curl(ns, `https://127.0.0.1:${PORT}/livez`)
  t.same({ status: loopback.status, body: loopback.body }, { status: '200', body: 'ok' }, loopback.stderr)
  const dummy = await curl(ns, `https://${DUMMY_IP}:${PORT}/livez`)
  t.not(dummy.code, 0, `${DUMMY_IP} is not served: ${dummy.stderr.trim()}`)
  t.equal((await edge.signal('SIGTERM', 15_000)).code, 0)
})

t.test('the host network namespace was not touched', async (t) => {
  t.equal(await hostNetwork(), hostBefore)
  const self = await runCommand('readlink', ['/proc/self/ns/net'])
  t.match(self.stdout, /^net:\[\d+\]/)
})
