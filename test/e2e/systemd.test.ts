// systemd/edge-metaserver.service: systemd itself finds nothing to complain about, the settings the
// daemon depends on are there (and agree with the config defaults), the hardening scores "OK",
// the ExecStartPre script really sets up the dummy address (run here in a private network
// namespace), the sysusers snippet creates the unit's user, and MemoryDenyWriteExecute= stays off
// because Node.js cannot run under it (shown with the same kernel mechanism).
import t from 'tap'
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseAllDocuments } from 'yaml'
import { cliCommand, NetNamespace, repo, runCommand } from './process.js'

const UNIT = join(repo, 'systemd', 'edge-metaserver.service')
const SYSUSERS = join(repo, 'systemd', 'edge-metaserver.sysusers')
const unitText = await readFile(UNIT, 'utf8')
const work = await mkdtemp(join(tmpdir(), 'ems-systemd-'))
t.teardown(() => rm(work, { recursive: true, force: true }))

/** systemd's unit-file syntax, as far as this unit uses it: sections, continuation lines, repeated keys. */
function parseUnit (text: string): Map<string, Array<[string, string]>> {
  const sections = new Map<string, Array<[string, string]>>()
  let current: Array<[string, string]> | undefined
  // A trailing backslash joins the next line, the backslash becoming a space.
  const joined = text.replace(/\\\n/g, ' ')
  for (const raw of joined.split('\n')) {
    const line = raw.trim()
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue
    const section = /^\[(.+)\]$/.exec(line)
    if (section !== null) { current = []; sections.set(section[1]!, current); continue }
    const eq = line.indexOf('=')
    current!.push([line.slice(0, eq).trim(), line.slice(eq + 1).trim()])
  }
  return sections
}
const unit = parseUnit(unitText)
const service = unit.get('Service')!
const all = (key: string): string[] => service.filter(([k]) => k === key).map(([, v]) => v)
const one = (key: string): string | undefined => all(key).at(-1)

/** systemd command-line splitting (quotes) and "$$" → "$" (what the process receives). */
function commandLine (value: string): { prefixes: string, argv: string[] } {
  const prefixes = /^[-+@:!]*/.exec(value)![0]
  const argv: string[] = []
  let rest = value.slice(prefixes.length)
  while ((rest = rest.trimStart()) !== '') {
    const m = /^'([^']*)'|^"([^"]*)"|^(\S+)/.exec(rest)!
    argv.push((m[1] ?? m[2] ?? m[3]!).replaceAll('$$', '$'))
    rest = rest.slice(m[0].length)
  }
  return { prefixes, argv }
}

/** The unit's Environment= assignments: whitespace-separated NAME=value, a value with spaces in double quotes. */
function environment (): Record<string, string> {
  return Object.fromEntries(all('Environment').flatMap((v) => commandLine(v).argv).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
}

function seconds (duration: string): number {
  const m = /^(\d+)(ms|s|min|m)?$/.exec(duration)
  if (m === null) throw new Error(`unsupported duration ${duration}`)
  const n = Number(m[1])
  return m[2] === 'ms' ? n / 1000 : m[2] === 'min' || m[2] === 'm' ? n * 60 : n
}

// The defaults the unit must agree with, read from the documented example.
const example = parseAllDocuments(await readFile(join(repo, 'config.example.yaml'), 'utf8')).map((d) => d.toJS())
const edgeDefaults = example.find((d) => d.kind === 'EdgeMetaServer')

/** A copy of the unit whose ExecStart points at an executable that exists here (see below). */
async function verifiableCopy (dir: string, unitBody = unitText): Promise<string> {
  // systemd-analyze verify checks that ExecStart's binary exists and is executable; there is no
  // /usr/bin/edge-metaserver on a test machine. A stub launcher with the same name in a temp dir
  // takes its place — it runs the CLI from this checkout, so it is a faithful stand-in — and
  // nothing else in the unit is changed.
  await mkdir(dir, { recursive: true })
  const stub = join(dir, 'edge-metaserver')
  await writeFile(stub, `#!/bin/sh\nexec ${cliCommand().map((a) => `'${a}'`).join(' ')} "$@"\n`)
  await chmod(stub, 0o755)
  const file = join(dir, 'edge-metaserver.service')
  const body = unitBody.replace(/^ExecStart=\/usr\/bin\/edge-metaserver /m, `ExecStart=${stub} `)
  if (body === unitBody) throw new Error('ExecStart=/usr/bin/edge-metaserver not found in the unit')
  await writeFile(file, body)
  return file
}

t.test('systemd-analyze verify: no warnings about the unit', async (t) => {
  const file = await verifiableCopy(join(work, 'verify'))
  const r = await runCommand('systemd-analyze', ['verify', file])
  t.equal(r.code, 0)
  t.equal(r.stdout + r.stderr, '', 'no output at all')

  // The stub is a real launcher of the CLI, called with ExecStart's own arguments (but --help).
  const stub = join(work, 'verify', 'edge-metaserver')
  const help = await runCommand(stub, ['edge', '--help'])
  t.equal(help.code, 0)
  t.match(help.stdout, /Usage: edge-metaserver edge --config FILE/)

  // The check is live: verify does report a misspelt key (with rc 0, hence the output assertion).
  const typo = await verifiableCopy(join(work, 'verify-typo'), unitText.replace('LockPersonality=yes', 'LockPersonalty=yes'))
  const bad = await runCommand('systemd-analyze', ['verify', typo])
  t.match(bad.stdout + bad.stderr, /Unknown key 'LockPersonalty' in section \[Service\]/)
})

t.test('the unit runs the edge role with the settings it needs', async (t) => {
  t.same(all('ExecStart'), ['/usr/bin/edge-metaserver edge --config /etc/edge-metaserver/config.yaml'])
  t.equal(one('Type'), 'notify', 'the daemon sends READY=1 once it serves (test/e2e/startup.test.ts)')
  t.equal(one('NotifyAccess'), 'all', 'the messages come from a systemd-notify child')
  t.ok(seconds(one('WatchdogSec')!) >= 10, 'WatchdogSec set, with room for a slow host')
  t.same(all('ExecReload'), ['/bin/kill -HUP $MAINPID'], 'reload is SIGHUP')
  t.equal(one('Restart'), 'on-failure')
  t.ok(seconds(one('RestartSec')!) >= 1 && seconds(one('RestartSec')!) <= 10, 'RestartSec between 1 and 10 s')
  t.equal(one('KillSignal'), 'SIGTERM')
  // Stop timeout must cover the drain: shutdownGracePeriod plus the tunnel close (at most 5 s).
  const grace = seconds(String(edgeDefaults.modules.metaServer.shutdownGracePeriod))
  t.equal(grace, 30)
  t.ok(seconds(one('TimeoutStopSec')!) > grace + 5, `TimeoutStopSec=${one('TimeoutStopSec')} > ${grace}s + 5s`)
  t.ok(Number(one('LimitNOFILE')) >= 65536, 'LimitNOFILE')

  // State and config directories match the config's defaults.
  t.equal(one('StateDirectory'), 'edge-metaserver')
  t.equal(edgeDefaults.stateDir, '/var/lib/edge-metaserver')
  t.equal(one('ConfigurationDirectory'), 'edge-metaserver')
  t.match(one('ExecStart'), / --config \/etc\/edge-metaserver\//)

  // A dedicated user, created by the sysusers snippet (not DynamicUser: keys need a stable owner).
  t.equal(one('User'), 'edge-metaserver')
  t.equal(one('DynamicUser'), undefined)

  // Hardening.
  for (const [key, value] of Object.entries({
    NoNewPrivileges: 'yes', ProtectSystem: 'strict', ProtectHome: 'yes', PrivateTmp: 'yes',
    ProtectKernelTunables: 'yes', ProtectKernelModules: 'yes', ProtectKernelLogs: 'yes', ProtectControlGroups: 'yes',
    RestrictNamespaces: 'yes', LockPersonality: 'yes', SystemCallArchitectures: 'native',
  })) t.equal(one(key), value, `${key}=${value}`)
  t.same(new Set(one('RestrictAddressFamilies')!.split(/\s+/)), new Set(['AF_INET', 'AF_INET6', 'AF_UNIX', 'AF_NETLINK']))
  t.same(new Set(one('CapabilityBoundingSet')!.split(/\s+/)), new Set(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']))
  t.same(new Set(one('AmbientCapabilities')!.split(/\s+/)), new Set(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE']))
  t.not(one('MemoryDenyWriteExecute'), 'yes', 'MemoryDenyWriteExecute must stay off for Node.js')
  t.match(unitText, /JIT/, 'and the unit says why')
  t.equal(one('PrivateNetwork'), undefined, 'it serves on the host network')
  t.equal(one('PrivateUsers'), undefined, 'its CAP_NET_ADMIN must count in the host network namespace')

  // The dummy address set up before start: privileged (+) and never fatal (-).
  const pre = all('ExecStartPre').map(commandLine)
  t.equal(pre.length, 1)
  t.match(pre[0]!.prefixes, /\+/, 'ExecStartPre runs with full privileges')
  t.match(pre[0]!.prefixes, /-/, 'and its failure does not prevent the start')
  t.same(pre[0]!.argv.slice(0, 2), ['/bin/sh', '-c'])
  // Its address and interface are those of the config defaults.
  const env = environment()
  t.equal(`${env.EMS_DUMMY_ADDRESS}:10550`, edgeDefaults.modules.metaServer.dummyServer)
  t.equal(env.EMS_DUMMY_INTERFACE, edgeDefaults.modules.metaServer.dummyInterface)
})

t.test('the unit bounds the V8 heap, with flags node accepts in NODE_OPTIONS', async (t) => {
  const options = environment().NODE_OPTIONS ?? ''
  const flag = (name: string): number => Number(new RegExp(`(?:^|\\s)--${name}=(\\d+)(?:\\s|$)`).exec(options)?.[1])
  t.ok(flag('max-semi-space-size') > 0, `--max-semi-space-size in NODE_OPTIONS (${options})`)
  t.ok(flag('max-old-space-size') > 0, `--max-old-space-size in NODE_OPTIONS (${options})`)
  // node refuses (exit 9) a flag NODE_OPTIONS may not carry: the unit's would stop the daemon from starting.
  const r = await runCommand(process.execPath, ['-e', 'process.stdout.write(String(require("v8").getHeapStatistics().heap_size_limit))'],
    { env: { ...process.env, NODE_OPTIONS: options } })
  t.equal(r.code, 0, r.stderr)
  // The old-space cap is in the heap limit V8 reports (the limit adds the young generation on top).
  t.ok(Number(r.stdout) >= flag('max-old-space-size') * 1024 * 1024 && Number(r.stdout) < (flag('max-old-space-size') + 64) * 1024 * 1024,
    `heap_size_limit ${r.stdout} follows --max-old-space-size`)
})

t.test('systemd-analyze security: exposure level OK', async (t) => {
  const file = await verifiableCopy(join(work, 'security'))
  const r = await runCommand('systemd-analyze', ['security', '--offline=yes', '--no-pager', file])
  const m = /Overall exposure level for edge-metaserver\.service: ([\d.]+) (\w+)/.exec(r.stdout + r.stderr)
  if (m === null) { t.fail(`no overall exposure level in the output:\n${r.stdout.slice(-1000)}${r.stderr}`); return }
  t.ok(Number(m[1]) <= 2.0, `exposure ${m[1]} ${m[2]} (<= 2.0; systemd calls <= 2.0 "OK")`)
})

t.test('ExecStartPre puts the address on lo (no dummy type here), and is idempotent', async (t) => {
  const pre = commandLine(all('ExecStartPre')[0]!)
  const env: NodeJS.ProcessEnv = {
    PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    ...environment(),
  }
  const ns = await NetNamespace.create()
  t.teardown(() => ns.close())
  const hasDummy = (await ns.run('ip', ['link', 'add', 'probe0', 'type', 'dummy'])).code === 0
  if (hasDummy) await ns.run('ip', ['link', 'del', 'probe0'])
  const expected = hasDummy ? /^\d+: edge-dummy0\s+inet 169\.254\.30\.10\/32 / : /^1: lo\s+inet 169\.254\.30\.10\/32 /

  const first = await ns.run(pre.argv[0]!, pre.argv.slice(1), { env })
  t.equal(first.code, 0, first.stderr)
  if (!hasDummy) t.match(first.stderr, /no dummy interface \(Error: Unknown device type\.\); putting 169\.254\.30\.10\/32 on lo/)
  const addrs = async (): Promise<string[]> =>
    (await ns.run('ip', ['-o', '-4', 'addr', 'show'])).stdout.split('\n').filter((l) => l.includes('169.254.30.10'))
  const after = await addrs()
  t.equal(after.length, 1)
  t.match(after[0], expected)

  // A restart runs it again: the address is there, nothing fails, nothing is added twice.
  const second = await ns.run(pre.argv[0]!, pre.argv.slice(1), { env })
  t.equal(second.code, 0, second.stderr)
  t.equal(second.stderr, '')
  t.same(await addrs(), after)

  // Without the privilege it fails loudly (the unit's "-" then lets the daemon start anyway).
  const ns2 = await NetNamespace.create()
  t.teardown(() => ns2.close())
  const unprivileged = await ns2.run('setpriv', ['--inh-caps=-all', '--bounding-set=-net_admin', '--', ...pre.argv], { env })
  t.not(unprivileged.code, 0)
  t.match(unprivileged.stderr, /Operation not permitted/)
})

t.test('the sysusers snippet creates the unit\'s user', async (t) => {
  const root = join(work, 'sysroot')
  await mkdir(join(root, 'etc'), { recursive: true })
  const r = await runCommand('systemd-sysusers', [`--root=${root}`, SYSUSERS])
  t.equal(r.code, 0, r.stderr)
  const passwd = await readFile(join(root, 'etc', 'passwd'), 'utf8')
  const entry = passwd.split('\n').find((l) => l.startsWith(`${one('User')}:`))
  t.ok(entry, `passwd has ${one('User')}`)
  const [, , uid, gid, , home, shell] = entry!.split(':')
  t.ok(Number(uid) > 0 && Number(uid) < 1000, `a system uid (${uid})`)
  t.equal(home, '/var/lib/edge-metaserver')
  t.equal(shell, '/usr/sbin/nologin')
  const group = await readFile(join(root, 'etc', 'group'), 'utf8')
  t.match(group, new RegExp(`^${one('Group')}:x:${gid}:`, 'm'), 'and the unit\'s Group, as its primary group')
})

t.test('why MemoryDenyWriteExecute=no: node aborts under W^X enforcement', async (t) => {
  // systemd >= 253 implements MemoryDenyWriteExecute=yes with prctl(PR_SET_MDWE) where the kernel
  // has it (>= 6.3), seccomp otherwise; both refuse the writable+executable mappings V8's JIT makes.
  const script = [
    'import ctypes, os, sys',
    'libc = ctypes.CDLL(None, use_errno=True)',
    'if sys.argv[1] == "mdwe" and libc.prctl(65, 1, 0, 0, 0) != 0:  # PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN',
    '    print("no PR_SET_MDWE:", os.strerror(ctypes.get_errno())); sys.exit(77)',
    'os.execv(sys.argv[2], sys.argv[2:])',
  ].join('\n')
  const pyFile = join(work, 'mdwe.py')
  await writeFile(pyFile, script)
  const jit = ['-e', 'let s = 0; for (let i = 0; i < 1e7; i++) s += i; console.log("ran", s)']
  const plain = await runCommand('/usr/bin/python3', [pyFile, 'plain', process.execPath, ...jit])
  t.equal(plain.stdout.trim(), `ran ${(1e7 * (1e7 - 1)) / 2}`, 'without it, node runs')
  const mdwe = await runCommand('/usr/bin/python3', [pyFile, 'mdwe', process.execPath, ...jit])
  if (mdwe.code === 77) { t.comment(`skipped: kernel without PR_SET_MDWE: ${mdwe.stdout.trim()}`); return }
  t.not(mdwe.code, 0, `node did not survive (code ${mdwe.code}, signal ${mdwe.signal})`)
  t.notMatch(mdwe.stdout, /ran/)
  t.match(mdwe.stderr, /SetPermissions|Check failed|Fatal/, 'V8 reports the refused permission change')
})
