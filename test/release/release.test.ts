// The release an operator installs (`npm run release`, scripts/release/build.sh): built here for x64
// and arm64, then
// - the x64 tarball is installed by its install.sh into an empty root with no network (a private
//   network namespace), and run *chrooted in that root*, where the only programs are sh, readlink
//   and the release itself (no node, npm or compiler in reach): `--help`, then an edge started
//   against the test bed (a real cluster and cloud shim) that answers /readyz and relays /version;
// - a native module that does not load (another Node.js ABI, another architecture) is a fatal
//   start-up error naming NODE_MODULE_VERSION, and the cache file stays where it was;
// - the .deb's control fields and file list are checked, and it is installed into and purged from a
//   scratch root with dpkg, its maintainer scripts creating the system user there;
// - the arm64 tarball's binaries are AArch64 ELF files, and under qemu-user `--help` runs and the
//   cross-compiled SQLite module opens a database.
import t, { type Test } from 'tap'
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, chownSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import https from 'node:https'
import { gunzipSync } from 'node:zlib'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { collect, type RunResult } from '../cluster/clients.js'
import { TestCluster } from '../cluster/cluster.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig, type StackFiles } from '../e2e/configs.js'
import { repo, startCli } from '../e2e/process.js'
import { startCloudInProcess, startEdgeProcess } from '../helpers/product.js'
import { Fixtures } from '../cluster/fixtures.js'

const pkg = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8')) as { version: string }
const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version?: string, dev?: boolean }> }
const VERSION = pkg.version
const EM_X86_64 = 62
const EM_AARCH64 = 183
// A cold build cross-compiles SQLite for arm64 (~3 min of CPU; far longer on a loaded machine):
// this file gets more than tap's 600 s default (tap's root setTimeout tells the runner).
const BUILD_TIMEOUT_MS = 1_200_000
t.setTimeout(1_800_000)

const work = await mkdtemp(join(tmpdir(), 'ems-release-'))
t.teardown(() => rm(work, { recursive: true, force: true }))
const out = join(work, 'out')

const IMAGE_ENTRYPOINT = ['/opt/edge-metaserver/lib/edge-metaserver/node/bin/node', '/opt/edge-metaserver/lib/edge-metaserver/dist/src/cli.js']

// tap's process-info loader puts itself into NODE_OPTIONS of every child it sees spawned; the
// release's node must start as an operator's would, so `env -u` drops it again.
function spawnClean (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, cwd?: string }): ChildProcess {
  return spawn('env', ['-u', 'NODE_OPTIONS', 'setpriv', '--pdeathsig', 'SIGKILL', '--', command, ...args], {
    // No stdin: nothing reads it, and writing to a child that already exited is an EPIPE.
    env: opts.env ?? process.env, cwd: opts.cwd ?? work, stdio: ['ignore', 'pipe', 'pipe'],
  })
}

function run (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number, cwd?: string } = {}): Promise<RunResult> {
  return collect(spawnClean(command, args, opts), { timeoutMs: opts.timeoutMs ?? 60_000 })
}

/** e_machine of an ELF file (offset 18, little-endian on both targets), after checking the magic and 64-bit class. */
function elfMachine (file: string): number {
  const head = readFileSync(file).subarray(0, 20)
  if (head.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`)
  if (head[4] !== 2 || head[5] !== 1) throw new Error(`${file} is not a 64-bit little-endian ELF file`)
  return head.readUInt16LE(18)
}

const sha256 = (file: string): string => createHash('sha256').update(readFileSync(file)).digest('hex')

// ---- the build (both architectures; the arm64 module is cross-compiled, cached across runs)
const started = Date.now()
const build = await run('bash', [join(repo, 'scripts/release/build.sh'), '--out', out], { timeoutMs: BUILD_TIMEOUT_MS, cwd: repo })
const buildSeconds = Math.round((Date.now() - started) / 1000)
const tarball = (arch: string): string => join(out, `edge-metaserver-${VERSION}-linux-${arch}.tar.gz`)
const deb = (arch: string): string => join(out, `edge-metaserver_${VERSION}_${arch}.deb`)
const built = build.code === 0
const unpacked = (arch: string): string => join(work, arch, `edge-metaserver-${VERSION}-linux-${arch}`)

t.test('npm run release builds a tarball and a .deb per architecture, with checksums', async (t) => {
  t.comment(`scripts/release/build.sh (x64 + arm64, tarballs + .debs) took ${buildSeconds} s`)
  for (const line of build.stdout.split('\n').filter((l) => l.startsWith('== '))) t.comment(line)
  t.equal(build.code, 0, `build.sh exits 0${built ? '' : `: ${build.stderr.slice(-3000)}`}`)
  if (!built) return
  const expected = [tarball('x64'), tarball('arm64'), deb('amd64'), deb('arm64')]
  for (const file of expected) t.ok(existsSync(file), `${file.slice(out.length + 1)} exists`)
  const sums = readFileSync(join(out, 'SHA256SUMS'), 'utf8').trim().split('\n').map((l) => l.split(/\s+\*?/))
  t.same(sums.map(([, name]) => name).sort(), expected.map((f) => f.slice(out.length + 1)).sort(), 'SHA256SUMS lists exactly the four artifacts')
  for (const [hash, name] of sums) t.equal(hash, sha256(join(out, name!)), `SHA256SUMS matches ${name}`)
  for (const file of expected) t.comment(`${file.slice(out.length + 1)}: ${(statSync(file).size / 1048576).toFixed(1)} MiB`)
  for (const arch of ['x64', 'arm64']) {
    mkdirSync(join(work, arch))
    const x = await run('tar', ['-xzf', tarball(arch), '-C', join(work, arch)])
    t.equal(x.code, 0, `the ${arch} tarball unpacks`)
  }
})

t.test('the tarball holds the compiled app, exactly the lockfile\'s production dependencies, the runtime, and nothing of tests, bench or demo', { skip: !built && 'the build failed' }, async (t) => {
  const root = unpacked('x64')
  const app = join(root, 'lib/edge-metaserver')
  for (const file of ['bin/edge-metaserver', 'install.sh', 'systemd/edge-metaserver.service', 'systemd/edge-metaserver.sysusers',
    'lib/edge-metaserver/dist/src/cli.js', 'lib/edge-metaserver/node/bin/node', 'lib/edge-metaserver/config.example.yaml',
    'lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node']) {
    t.ok(existsSync(join(root, file)), `${file} is in the tarball`)
  }
  t.equal(statSync(join(root, 'bin/edge-metaserver')).mode & 0o111, 0o111, 'the launcher is executable')
  const top = readdirSync(app).sort()
  for (const absent of ['test', 'bench', 'demo', 'src', 'scripts', 'tsconfig.json', 'eslint.config.js']) {
    t.notOk(top.includes(absent), `the app has no ${absent}`)
  }
  const walk = (dir: string): string[] => readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? walk(join(dir, e.name)) : [join(dir, e.name)])
  const appFiles = walk(join(app, 'dist')).map((f) => f.slice(app.length + 1))
  t.same(appFiles.filter((f) => !f.startsWith('dist/src/') || !f.endsWith('.js')), [], 'dist/ holds only the compiled product (dist/src/**/*.js)')

  const production = Object.entries(lock.packages).filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev !== true)
  const dev = Object.entries(lock.packages).filter(([path, entry]) => path.startsWith('node_modules/') && entry.dev === true)
  const wrong = production.filter(([path, entry]) => {
    const file = join(app, path, 'package.json')
    return !existsSync(file) || (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version !== entry.version
  }).map(([path]) => path)
  t.same(wrong, [], `all ${production.length} production packages at the lockfile's exact versions`)
  t.same(dev.filter(([path]) => existsSync(join(app, path))).map(([path]) => path), [], `none of the ${dev.length} dev-only packages`)
  const info = readFileSync(join(root, 'BUILD-INFO'), 'utf8')
  t.match(info, /^node=24\./m, 'BUILD-INFO names the bundled Node.js 24')
  t.match(info, /^node_module_version=\d+$/m, 'and its ABI')
  t.equal(elfMachine(join(app, 'node/bin/node')), EM_X86_64, 'x64 runtime: an x86-64 ELF binary')
  t.equal(elfMachine(join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')), EM_X86_64, 'x64 SQLite module: an x86-64 ELF object')
})

// ---- the x64 tarball installed into an empty root, run chrooted there against the test bed

const root = join(work, 'root')
// Run on the machine, with no network (only a loopback that is down) and a bare PATH.
const bareEnv = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', LANG: 'C' }

t.test('install.sh installs into an empty root with no network; --uninstall removes exactly that', { skip: !built && 'the build failed' }, async (t) => {
  const scratch = join(work, 'scratch-root')
  const installed = await run('unshare', ['--net', '--', 'sh', join(unpacked('x64'), 'install.sh'), '--root', scratch, '--prefix', '/opt/ems'], { env: bareEnv })
  t.equal(installed.code, 0, `install.sh --root --prefix /opt/ems exits 0 ${installed.stderr}`)
  t.ok(existsSync(join(scratch, 'opt/ems/bin/edge-metaserver')), 'the launcher is in <prefix>/bin')
  t.match(readFileSync(join(scratch, 'etc/systemd/system/edge-metaserver.service'), 'utf8'), /^ExecStart=\/opt\/ems\/bin\/edge-metaserver edge --config /m,
    'the unit (in /etc/systemd/system for a non-/usr prefix) starts <prefix>/bin/edge-metaserver')
  t.ok(existsSync(join(scratch, 'etc/sysusers.d/edge-metaserver.conf')), 'the sysusers file is in /etc/sysusers.d')
  t.match(readFileSync(join(scratch, 'etc/passwd'), 'utf8'), /^edge-metaserver:x:\d+:\d+:/m, 'systemd-sysusers --root created the system user in that root')
  const removed = await run('unshare', ['--net', '--', 'sh', join(unpacked('x64'), 'install.sh'), '--uninstall', '--root', scratch, '--prefix', '/opt/ems'], { env: bareEnv })
  t.equal(removed.code, 0, 'install.sh --uninstall exits 0')
  for (const gone of ['opt/ems/bin/edge-metaserver', 'opt/ems/lib/edge-metaserver', 'etc/systemd/system/edge-metaserver.service', 'etc/sysusers.d/edge-metaserver.conf']) {
    t.notOk(existsSync(join(scratch, gone)), `${gone} is gone`)
  }

  const main = await run('unshare', ['--net', '--', 'sh', join(unpacked('x64'), 'install.sh'), '--root', root], { env: bareEnv })
  t.equal(main.code, 0, `install.sh --root (default prefix /usr/local) exits 0 ${main.stderr}`)
  t.match(main.stdout, /installed edge-metaserver/)
})

/**
 * Makes `root` runnable as a chroot with the least userland the launcher needs: sh and readlink,
 * and the shared libraries of those and of the bundled node and SQLite module (from ldd), at their
 * paths. Nothing else: no node, npm, compiler or package manager.
 */
async function makeMinimalUserland (): Promise<void> {
  const programs = ['/bin/sh', '/usr/bin/readlink']
  const needing = [...programs, join(root, 'usr/local/lib/edge-metaserver/node/bin/node'),
    join(root, 'usr/local/lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node')]
  const libs = new Set<string>()
  for (const file of needing) {
    const ldd = await run('ldd', [file])
    for (const m of ldd.stdout.matchAll(/(\/\S+\.so[.\d]*)/g)) libs.add(m[1]!)
  }
  for (const file of [...programs.map((p) => [p, p.replace(/^\/bin\//, '/usr/bin/')]), ...[...libs].map((l) => [l, l])]) {
    const target = join(root, file[1]!)
    mkdirSync(dirname(target), { recursive: true })
    copyFileSync(file[0]!, target)
    chmodSync(target, 0o755)
  }
  // Merged /usr, as on current Debian: /bin/sh is /usr/bin/sh.
  if (!existsSync(join(root, 'bin'))) await run('ln', ['-s', 'usr/bin', join(root, 'bin')])
  for (const dir of ['proc', 'dev', 'tmp', 'var/lib/edge-metaserver', 'etc/edge-metaserver/pki']) mkdirSync(join(root, dir), { recursive: true })
  chmodSync(join(root, 'tmp'), 0o1777)
}

// In a private mount namespace (gone with the process): /proc and /dev for node, then chroot.
// USERSPEC (uid:gid), when set, is who runs inside (chroot --userspec).
const CHROOT = 'mount -t proc proc "$R/proc" && mount --rbind /dev "$R/dev" && ' +
  'if [ -n "$USERSPEC" ]; then exec chroot --userspec="$USERSPEC" "$R" "$@"; else exec chroot "$R" "$@"; fi'
function chrootArgs (args: string[]): string[] {
  return ['--mount', '--propagation', 'private', '--', 'sh', '-c', CHROOT, 'sh', ...args]
}

t.test('chrooted in that root, nothing but the release can run JavaScript or compile, and --help works', { skip: !built && 'the build failed' }, async (t) => {
  await makeMinimalUserland()
  const env = { ...bareEnv, R: root, USERSPEC: '' }
  const probe = await run('unshare', chrootArgs(['/bin/sh', '-c',
    'for c in node nodejs npm npx gcc cc g++ c++ make python3 ld; do command -v "$c" && exit 1; done; exit 0']), { env })
  t.equal(probe.code, 0, `no node, npm, compiler or python in the root (found: ${probe.stdout.trim() || 'none'})`)
  const help = await run('unshare', chrootArgs(['/usr/local/bin/edge-metaserver', '--help']), { env })
  t.equal(help.code, 0, `edge-metaserver --help exits 0 ${help.stderr}`)
  t.match(help.stdout, /Usage: edge-metaserver <command>/)
  const version = await run('unshare', chrootArgs(['/usr/local/bin/edge-metaserver', 'version']), { env })
  t.equal(version.stdout.trim(), `edge-metaserver ${VERSION}`, 'version names this release')
  const runtime = await run('unshare', chrootArgs(['/usr/local/lib/edge-metaserver/node/bin/node', '-p', 'process.version']), { env })
  t.match(runtime.stdout.trim(), /^v24\./, 'the bundled runtime is Node.js 24')
})

function getJson (port: number, path: string, ca: string): Promise<{ status: number, body: string }> {
  return new Promise((resolve, reject) => {
    const req = https.get({ host: '127.0.0.1', port, path, ca, timeout: 10_000 }, (res) => {
      let body = ''
      res.setEncoding('utf8').on('data', (d: string) => { body += d }).on('end', () => resolve({ status: res.statusCode!, body }))
    })
    req.on('timeout', () => req.destroy(new Error(`GET ${path}: timeout`)))
    req.on('error', reject)
  })
}

// One test bed for the tests that need it (the installed edge, the image's shim), started by the first.
let testBed: Promise<{ cluster: TestCluster, files: StackFiles }> | undefined
function sharedTestBed (): Promise<{ cluster: TestCluster, files: StackFiles }> {
  testBed ??= TestCluster.start().then(async (cluster) => {
    t.teardown(() => cluster.stop())
    return { cluster, files: await prepareStackFiles(cluster) }
  })
  return testBed
}

t.test('the edge started from the chroot, as the edge-metaserver user, serves the test bed', { skip: !built && 'the build failed' }, async (t) => {
  const { cluster, files } = await sharedTestBed()
  const cloudConfig = await writeCloudConfig(cluster, files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0' })
  const { shim, stop: stopCloud } = await startCloudInProcess({ configFile: cloudConfig, logFile: join(cluster.dir, 'cloud.log') })
  t.teardown(stopCloud)
  await new Fixtures(cluster.admin).node('release-node')

  // The operator's files, as the unit expects them: config and keys under /etc/edge-metaserver.
  const pki = join(root, 'etc/edge-metaserver/pki')
  const node = await files.tunnelPki.node('release-node')
  const passwd = readFileSync(join(root, 'etc/passwd'), 'utf8').match(/^edge-metaserver:x:(\d+):(\d+):/m)
  t.ok(passwd, 'the install created the edge-metaserver user in the root')
  const [uid, gid] = [Number(passwd![1]), Number(passwd![2])]
  const copies: Array<[string, string]> = [[files.edgeServing.certFile, 'serving.crt'], [files.edgeServing.keyFile, 'serving.key'],
    [files.tunnelPki.ca.certFile, 'tunnel-ca.crt'], [node.certFile, 'tunnel.crt'], [node.keyFile, 'tunnel.key']]
  for (const [from, name] of copies) {
    copyFileSync(from, join(pki, name))
    chownSync(join(pki, name), 0, gid)
    chmodSync(join(pki, name), 0o640)
  }
  chownSync(join(root, 'var/lib/edge-metaserver'), uid, gid)
  chmodSync(join(root, 'var/lib/edge-metaserver'), 0o700)
  writeFileSync(join(root, 'etc/edge-metaserver/config.yaml'), [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer', 'stateDir: /var/lib/edge-metaserver',
    'modules:', '  metaServer:', '    server: 127.0.0.1:0', '    dummyServer: ""',
    '    tlsCertFile: /etc/edge-metaserver/pki/serving.crt', '    tlsPrivateKeyFile: /etc/edge-metaserver/pki/serving.key',
    '    shutdownGracePeriod: 2s',
    '  edgeHub:', `    server: 127.0.0.1:${shim.tunnelPort}`, '    tlsCaFile: /etc/edge-metaserver/pki/tunnel-ca.crt',
    '    tlsCertFile: /etc/edge-metaserver/pki/tunnel.crt', '    tlsPrivateKeyFile: /etc/edge-metaserver/pki/tunnel.key',
    'logging:', '  level: info', '',
  ].join('\n'))

  const env = { ...bareEnv, R: root, USERSPEC: `${uid}:${gid}` }
  const check = await run('unshare', chrootArgs(['/usr/local/bin/edge-metaserver', 'check-config', '/etc/edge-metaserver/config.yaml']), { env })
  t.equal(check.code, 0, `check-config passes in the root ${check.stdout}${check.stderr}`)

  const edge = spawnClean('unshare', chrootArgs(['/usr/local/bin/edge-metaserver', 'edge', '--config', '/etc/edge-metaserver/config.yaml']), { env })
  let stdout = ''
  let stderr = ''
  const exited = new Promise<number | null>((resolve) => edge.once('close', resolve))
  edge.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
  const lines: any[] = []
  const waiters: Array<() => void> = []
  edge.stdout!.setEncoding('utf8').on('data', (d: string) => {
    stdout += d
    for (const line of d.split('\n')) { try { lines.push(JSON.parse(line)) } catch { /* a partial line: the whole object arrives in one write */ } }
    for (const w of waiters.splice(0)) w()
  })
  t.teardown(() => { if (edge.exitCode === null) edge.kill('SIGKILL') })
  const waitLog = async (what: string, match: (l: any) => boolean): Promise<any> => {
    const deadline = Date.now() + 30_000
    for (;;) {
      const found = lines.find(match)
      if (found !== undefined) return found
      if (edge.exitCode !== null || Date.now() > deadline) throw new Error(`edge: no "${what}" (exit ${edge.exitCode}): ${stdout.slice(-2000)} ${stderr.slice(-2000)}`)
      await new Promise<void>((resolve) => { waiters.push(resolve); setTimeout(resolve, 500).unref() })
    }
  }
  const listening = await waitLog('listening', (l) => l.msg === 'listening' && l.listener === 'server')
  await waitLog('tunnel connected', (l) => l.msg === 'tunnel connected')
  t.pass(`the edge listens on 127.0.0.1:${listening.port as number} and its tunnel is connected`)
  const ca = cluster.pki.caPem
  let ready = await getJson(listening.port, '/readyz', ca)
  for (let i = 0; i < 100 && ready.status !== 200; i++) {
    await new Promise((resolve) => setTimeout(resolve, 200))
    ready = await getJson(listening.port, '/readyz', ca)
  }
  t.equal(ready.status, 200, `/readyz is 200 once the policy arrived: ${ready.body}`)
  const viaEdge = await getJson(listening.port, '/version', ca)
  const direct = await cluster.admin.get('/version')
  t.equal(viaEdge.status, 200, '/version through the edge')
  t.same(JSON.parse(viaEdge.body), direct.body, '/version through the edge is kube-apiserver\'s own')
  t.ok(existsSync(join(root, 'var/lib/edge-metaserver/cache.db')), 'the SQLite cache is open in the state directory')
  t.equal(statSync(join(root, 'var/lib/edge-metaserver/cache.db')).uid, uid, 'owned by the edge-metaserver user')
  edge.kill('SIGTERM')
  t.equal(await exited, 0, 'SIGTERM drains and exits 0')
})

t.test('a SQLite module that does not load is fatal, names NODE_MODULE_VERSION, and leaves the cache file alone', { skip: !built && 'the build failed' }, async (t) => {
  const state = join(work, 'abi-state')
  mkdirSync(state)
  const seeded = join(root, 'var/lib/edge-metaserver/cache.db')
  t.ok(existsSync(seeded), 'a cache file written by the edge above')
  copyFileSync(seeded, join(state, 'cache.db'))
  const before = sha256(join(state, 'cache.db'))
  const config = join(work, 'abi-edge.yaml')
  writeFileSync(config, readFileSync(join(root, 'etc/edge-metaserver/config.yaml'), 'utf8')
    .replace('stateDir: /var/lib/edge-metaserver', `stateDir: ${state}`)
    .replaceAll('/etc/edge-metaserver/', `${join(root, 'etc/edge-metaserver')}/`))
  const assertUntouched = (what: string): void => {
    t.equal(sha256(join(state, 'cache.db')), before, `${what}: cache.db is unchanged`)
    t.notOk(existsSync(join(state, 'cache.db.broken')), `${what}: nothing was moved aside`)
  }

  // The arm64 module in the x64 tree: the bundled runtime cannot load it.
  const wrongArch = join(work, 'wrong-arch')
  const cp = await run('cp', ['-R', unpacked('x64'), wrongArch])
  t.equal(cp.code, 0)
  copyFileSync(join(unpacked('arm64'), 'lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node'),
    join(wrongArch, 'lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node'))
  const arch = await run(join(wrongArch, 'bin/edge-metaserver'), ['edge', '--config', config], { env: bareEnv })
  t.comment(`another architecture: ${arch.stderr.trim()}`)
  t.equal(arch.code, 1, 'exits 1')
  t.match(arch.stderr, /SQLite native module \(better-sqlite3\) does not load in this Node\.js v24\.[\d.]+ \(NODE_MODULE_VERSION \d+, linux-x64\)/, 'names the runtime and its ABI')
  t.match(arch.stderr, /\(that file is built for linux-arm64\)/, 'and says which architecture the module is for')
  t.notMatch(arch.stderr, /^\s+at /m, 'no stack trace')
  assertUntouched('another architecture')

  // The x64 tree's app run by another Node.js: the machine's own, when its ABI differs.
  const other = await run('/usr/bin/env', ['node', '-p', 'process.versions.modules + " " + process.version'], { env: bareEnv })
  const bundledAbi = /^node_module_version=(\d+)$/m.exec(readFileSync(join(unpacked('x64'), 'BUILD-INFO'), 'utf8'))![1]
  const [otherAbi, otherVersion] = other.stdout.trim().split(' ')
  if (other.code !== 0 || otherAbi === bundledAbi) {
    t.comment(`the machine has no Node.js with another ABI (${other.stdout.trim() || 'none'}): the ABI-mismatch case is not run here`)
    return
  }
  const abi = await run('node', [join(unpacked('x64'), 'lib/edge-metaserver/dist/src/cli.js'), 'edge', '--config', config], { env: bareEnv })
  t.comment(`another ABI: ${abi.stderr.trim()}`)
  t.equal(abi.code, 1, `the machine's Node.js ${otherVersion} exits 1`)
  t.match(abi.stderr, new RegExp(`NODE_MODULE_VERSION ${bundledAbi}\\b`), 'names the ABI the module was built for')
  t.match(abi.stderr, new RegExp(`NODE_MODULE_VERSION ${otherAbi}\\b`), 'and the ABI of the Node.js that tried')
  assertUntouched('another ABI')
})

t.test('the .deb: control fields, file list, installed into and purged from a scratch root by dpkg', { skip: !built && 'the build failed' }, async (t) => {
  const info = await run('dpkg-deb', ['--info', deb('amd64')])
  t.equal(info.code, 0)
  t.match(info.stdout, /^ Package: edge-metaserver$/m)
  t.match(info.stdout, new RegExp(`^ Version: ${VERSION.replaceAll('.', '\\.')}$`, 'm'))
  t.match(info.stdout, /^ Architecture: amd64$/m)
  t.match(info.stdout, /^ Depends: libc6 \(>= 2\.28\), libstdc\+\+6 \(>= 12\), iproute2$/m)
  for (const script of ['postinst', 'prerm', 'postrm']) t.match(info.stdout, new RegExp(`\\d+ bytes,\\s+\\d+ lines\\s+\\*\\s+${script}\\s`), `${script} is executable`)
  const arm = await run('dpkg-deb', ['--field', deb('arm64'), 'Architecture'])
  t.equal(arm.stdout.trim(), 'arm64', 'the arm64 .deb says arm64')

  const contents = await run('dpkg-deb', ['--contents', deb('amd64')])
  // "-rw-r--r-- root/root  1234 2026-01-01 00:00 ./path with spaces" (symlinks add " -> target")
  const paths = contents.stdout.split('\n').filter(Boolean).map((l) => /^\S+ \S+\s+\d+ \S+ \S+ (.*?)(?: -> .*)?$/.exec(l)![1]!)
  for (const p of ['./usr/bin/edge-metaserver', './usr/lib/edge-metaserver/node/bin/node', './usr/lib/edge-metaserver/dist/src/cli.js',
    './usr/lib/edge-metaserver/node_modules/better-sqlite3/build/Release/better_sqlite3.node',
    './usr/lib/systemd/system/edge-metaserver.service', './usr/lib/sysusers.d/edge-metaserver.conf', './usr/share/doc/edge-metaserver/copyright']) {
    t.ok(paths.includes(p), `contains ${p}`)
  }
  t.same(paths.filter((p) => !p.startsWith('./usr/')).filter((p) => p !== './'), [], 'everything under /usr (no /etc conffiles, no /var)')
  t.same(paths.filter((p) => /\/(test|bench|demo)\//.test(p) && !p.includes('/node_modules/')), [], 'no tests, bench or demo')
  t.ok(contents.stdout.split('\n').filter(Boolean).every((l) => l.includes(' root/root ')), 'every file is root:root')
  const tree = (await run('tar', ['-tzf', tarball('x64')])).stdout.split('\n').filter((l) => l.includes('/lib/edge-metaserver/') && !l.endsWith('/'))
    .map((l) => l.replace(/^[^/]+\/lib\//, './usr/lib/')).sort()
  t.same(paths.filter((p) => p.startsWith('./usr/lib/edge-metaserver/') && !p.endsWith('/')).sort(), tree, 'the same app files as the tarball')

  const scratch = join(work, 'dpkg-root')
  for (const dir of ['var/lib/dpkg/info', 'var/lib/dpkg/updates', 'var/lib/dpkg/triggers', 'var/log', 'etc']) mkdirSync(join(scratch, dir), { recursive: true })
  writeFileSync(join(scratch, 'var/lib/dpkg/status'), '')
  writeFileSync(join(scratch, 'var/lib/dpkg/available'), '')
  // Maintainer scripts run outside the root with DPKG_ROOT set (the scratch root has no shell);
  // the scratch root has no libc6/libstdc++6/iproute2 packages to depend on.
  const dpkg = (args: string[]): Promise<RunResult> => run('dpkg', [`--root=${scratch}`, '--force-script-chrootless', '--force-depends', '--log=/dev/null', ...args], { env: bareEnv, timeoutMs: 120_000 })
  const install = await dpkg(['--install', deb('amd64')])
  t.equal(install.code, 0, `dpkg --root --install exits 0 ${install.stderr}`)
  const status = await dpkg(['--status', 'edge-metaserver'])
  t.match(status.stdout, /^Status: install ok installed$/m, 'the package is installed and configured')
  t.ok(existsSync(join(scratch, 'usr/bin/edge-metaserver')), '/usr/bin/edge-metaserver is there')
  t.match(readFileSync(join(scratch, 'usr/lib/systemd/system/edge-metaserver.service'), 'utf8'), /^ExecStart=\/usr\/bin\/edge-metaserver edge /m, 'the unit starts /usr/bin/edge-metaserver')
  t.match(readFileSync(join(scratch, 'etc/passwd'), 'utf8'), /^edge-metaserver:x:\d+:\d+:/m, 'postinst created the system user in the root')
  mkdirSync(join(scratch, 'var/lib/edge-metaserver'))
  writeFileSync(join(scratch, 'var/lib/edge-metaserver/cache.db'), '')
  const purge = await dpkg(['--purge', 'edge-metaserver'])
  t.equal(purge.code, 0, `dpkg --purge exits 0 ${purge.stderr}`)
  t.notOk(existsSync(join(scratch, 'usr/lib/edge-metaserver')), 'the files are gone')
  t.notOk(existsSync(join(scratch, 'var/lib/edge-metaserver')), 'purge dropped the cache')
})

t.test('the arm64 tarball: AArch64 binaries that run under qemu-user', { skip: !built && 'the build failed' }, async (t) => {
  const app = join(unpacked('arm64'), 'lib/edge-metaserver')
  const addon = join(app, 'node_modules/better-sqlite3/build/Release/better_sqlite3.node')
  t.equal(elfMachine(join(app, 'node/bin/node')), EM_AARCH64, 'the runtime is an AArch64 ELF binary (e_machine 183)')
  t.equal(elfMachine(addon), EM_AARCH64, 'the SQLite module is an AArch64 ELF object (e_machine 183)')
  t.match(readFileSync(join(unpacked('arm64'), 'BUILD-INFO'), 'utf8'), /^platform=linux-arm64$/m)

  const qemu = await run('sh', ['-c', 'command -v qemu-aarch64'])
  const sysroot = '/usr/aarch64-linux-gnu'
  if (qemu.code !== 0 || !existsSync(join(sysroot, 'lib/libc.so.6'))) {
    t.fail('qemu-aarch64 or the arm64 C library is not installed (.ci/run installs qemu-user and g++-aarch64-linux-gnu)')
    return
  }
  const emulated = (args: string[]): Promise<RunResult> => run('qemu-aarch64', ['-L', sysroot, join(app, 'node/bin/node'), ...args], { timeoutMs: 180_000 })
  const help = await emulated([join(app, 'dist/src/cli.js'), '--help'])
  t.equal(help.code, 0, `--help under qemu-aarch64 exits 0 ${help.stderr}`)
  t.match(help.stdout, /Usage: edge-metaserver <command>/)
  const sqlite = await emulated(['-e', 'const D = require(process.argv[1]); const db = new D(":memory:"); console.log(process.arch, db.prepare("select sqlite_version() as v").get().v)', join(app, 'node_modules/better-sqlite3')])
  t.equal(sqlite.code, 0, `the cross-compiled module loads under emulation ${sqlite.stderr}`)
  t.match(sqlite.stdout.trim(), /^arm64 3\.\d+\.\d+$/, 'and runs SQL')
})

// ---- the cloud shim's OCI image, built from the tarballs with no engine (scripts/release/image.sh)

const image = (arch: string): string => join(out, `edge-metaserver-${VERSION}-linux-${arch}.oci.tar`)
interface Descriptor { mediaType: string, digest: string, size: number, platform?: { architecture: string, os: string }, annotations?: Record<string, string> }

/** Unpacks an image's layout, checks every descriptor against its blob, returns the parsed documents. */
async function checkLayout (t: Test, arch: string): Promise<{ dir: string, manifest: any, config: any }> {
  const dir = join(work, `image-${arch}`)
  mkdirSync(dir)
  t.equal((await run('tar', ['-xf', image(arch), '-C', dir])).code, 0, `the ${arch} image archive unpacks`)
  t.same(JSON.parse(readFileSync(join(dir, 'oci-layout'), 'utf8')), { imageLayoutVersion: '1.0.0' }, 'oci-layout')
  const blob = (d: Descriptor, mediaType: string): Buffer => {
    t.equal(d.mediaType, mediaType, `media type ${mediaType}`)
    t.match(d.digest, /^sha256:[0-9a-f]{64}$/)
    const bytes = readFileSync(join(dir, 'blobs/sha256', d.digest.slice(7)))
    t.equal(createHash('sha256').update(bytes).digest('hex'), d.digest.slice(7), `${mediaType}: the blob's sha256 is its digest`)
    t.equal(bytes.length, d.size, `${mediaType}: the blob's size is the descriptor's`)
    return bytes
  }
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8'))
  t.equal(index.schemaVersion, 2)
  t.equal(index.mediaType, 'application/vnd.oci.image.index.v1+json')
  t.equal(index.manifests.length, 1, 'one manifest')
  const ociArch = arch === 'x64' ? 'amd64' : 'arm64'
  t.same(index.manifests[0].platform, { architecture: ociArch, os: 'linux' }, `platform linux/${ociArch}`)
  t.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], VERSION, 'tagged with the version')
  const manifest = JSON.parse(blob(index.manifests[0], 'application/vnd.oci.image.manifest.v1+json').toString())
  t.equal(manifest.schemaVersion, 2)
  const config = JSON.parse(blob(manifest.config, 'application/vnd.oci.image.config.v1+json').toString())
  t.equal(manifest.layers.length, 1, 'one layer')
  const layer = blob(manifest.layers[0], 'application/vnd.oci.image.layer.v1.tar+gzip')
  t.same(config.rootfs, { type: 'layers', diff_ids: [`sha256:${createHash('sha256').update(gunzipSync(layer)).digest('hex')}`] },
    'the config\'s diff_id is the sha256 of the uncompressed layer')
  t.equal(config.architecture, ociArch)
  t.equal(config.os, 'linux')
  t.equal(config.config.User, '65532:65532', 'runs as deploy/\'s runAsUser')
  t.same(config.config.Entrypoint, IMAGE_ENTRYPOINT, 'the entry point is the bundled node on the app, as deploy/Containerfile\'s')
  t.same(config.config.Cmd, ['cloud', '--config', '/etc/edge-metaserver/config.yaml'], 'CMD is deploy/\'s args')
  return { dir, manifest, config }
}

/** umoci (an independent OCI implementation: it verifies every digest again) unpacks the image into a runtime bundle. */
async function unpackBundle (t: Test, dir: string): Promise<{ rootfs: string, spec: any }> {
  const bundle = join(dir, '..', `${dir.split('/').at(-1)!}-bundle`)
  const unpack = await run('umoci', ['unpack', '--image', `${dir}:${VERSION}`, bundle], { timeoutMs: 300_000 })
  t.equal(unpack.code, 0, `umoci unpack accepts the layout ${unpack.stderr}`)
  const rootfs = join(bundle, 'rootfs')
  for (const d of ['proc', 'dev']) mkdirSync(join(rootfs, d), { recursive: true })
  return { rootfs, spec: JSON.parse(readFileSync(join(bundle, 'config.json'), 'utf8')) }
}

let images = false
t.test('image.sh makes an OCI image of each tarball, with no container engine', { skip: !built && 'the build failed' }, async (t) => {
  for (const arch of ['x64', 'arm64']) {
    const started = Date.now()
    const r = await run('bash', [join(repo, 'scripts/release/image.sh'), '--arch', arch, '--out', out], { timeoutMs: 600_000, cwd: repo })
    t.equal(r.code, 0, `image.sh --arch ${arch} exits 0 ${r.stderr.slice(-2000)}`)
    t.comment(`image.sh --arch ${arch}: ${Math.round((Date.now() - started) / 1000)} s, ${(statSync(image(arch)).size / 1048576).toFixed(1)} MiB`)
  }
  const umoci = await run('sh', ['-c', 'command -v umoci'])
  t.equal(umoci.code, 0, 'umoci is installed (.ci/run installs it)')
  images = existsSync(image('x64')) && existsSync(image('arm64')) && umoci.code === 0
})

t.test('the x64 image: a valid layout whose unpacked root runs the shim as 65532, which an edge connects to', { skip: !built && 'the build failed' }, async (t) => {
  if (!images) { t.fail('no images (see the test above)'); return }
  const { dir } = await checkLayout(t, 'x64')
  const { rootfs, spec } = await unpackBundle(t, dir)
  t.same(spec.process.user, { uid: 65532, gid: 65532 }, 'the runtime spec runs it as 65532:65532')
  t.same(spec.process.args, [...IMAGE_ENTRYPOINT, 'cloud', '--config', '/etc/edge-metaserver/config.yaml'])
  const probe = await run('sh', ['-c', `ls "${rootfs}/bin/sh" "${rootfs}/usr/bin/sh" "${rootfs}/usr/bin/apt-get" 2>/dev/null; exit 0`])
  t.equal(probe.stdout.trim(), '', 'no shell and no package manager in the image')

  // As a runtime would start it: the spec's argv, env and user, chrooted into the unpacked root.
  const env = Object.fromEntries((spec.process.env as string[]).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
  const chrooted = { ...bareEnv, ...env, R: rootfs, USERSPEC: `${spec.process.user.uid as number}:${spec.process.user.gid as number}` }
  const help = await run('unshare', chrootArgs([...IMAGE_ENTRYPOINT, '--help']), { env: chrooted })
  t.equal(help.code, 0, `--help in the image exits 0 ${help.stderr}`)
  t.match(help.stdout, /Usage: edge-metaserver <command>/)

  // The shim's files as a Secret and a ConfigMap would mount them: readable by 65532 only.
  const { cluster, files } = await sharedTestBed()
  const etc = join(rootfs, 'etc/edge-metaserver')
  const mounted: Array<[string, string]> = [[files.shimKubeconfig, 'kubeconfig'], [files.tunnelPki.ca.certFile, 'tunnel-ca.crt'],
    [files.tunnelPki.cloud.certFile, 'tls.crt'], [files.tunnelPki.cloud.keyFile, 'tls.key']]
  for (const [from, name] of mounted) {
    copyFileSync(from, join(etc, name))
    chownSync(join(etc, name), 65532, 65532)
    chmodSync(join(etc, name), 0o400)
  }
  writeFileSync(join(etc, 'config.yaml'), [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: CloudShim', 'kubeAPIConfig:', '  kubeConfig: /etc/edge-metaserver/kubeconfig',
    'modules:', '  cloudHub:', '    address: 127.0.0.1:0', '    healthzAddress: 127.0.0.1:0', '    tlsCaFile: /etc/edge-metaserver/tunnel-ca.crt',
    '    tlsCertFile: /etc/edge-metaserver/tls.crt', '    tlsPrivateKeyFile: /etc/edge-metaserver/tls.key', '    shutdownGracePeriod: 2s',
    'logging:', '  level: info', '',
  ].join('\n'))
  const cloud = startCli(spec.process.args.slice(2) as string[], {
    command: ['env', '-u', 'NODE_OPTIONS', 'unshare', ...chrootArgs(spec.process.args.slice(0, 2) as string[])],
    env: chrooted, logFile: join(cluster.dir, 'image-cloud.log'),
  })
  t.teardown(() => cloud.stop(5000))
  const ready = await cloud.waitForLog((l) => l.msg === 'cloud shim ready', 'cloud shim ready', 60_000)
  t.pass(`the shim from the image is ready, its tunnel on 127.0.0.1:${ready.tunnelPort as number}`)

  const nodeName = 'image-node'
  await new Fixtures(cluster.admin).node(nodeName)
  const edgeConfig = await writeEdgeConfig(cluster, files, nodeName, { server: '127.0.0.1:0', tunnelPort: ready.tunnelPort })
  const edge = await startEdgeProcess({ configFile: edgeConfig, logFile: join(cluster.dir, 'image-edge.log') })
  t.teardown(() => edge.stop(5000))
  const viaEdge = await getJson(edge.port, '/version', cluster.pki.caPem)
  t.equal(viaEdge.status, 200, 'an edge connected to the image\'s shim relays /version')
  t.same(JSON.parse(viaEdge.body), (await cluster.admin.get('/version')).body, 'kube-apiserver\'s own /version, through the image\'s shim')
  await edge.stop(5000)
  t.equal((await cloud.signal('SIGTERM', 20_000)).code, 0, 'the shim exits 0 on SIGTERM')
})

t.test('the arm64 image: a valid layout whose AArch64 root runs --help under qemu-user with only its own libraries', { skip: !built && 'the build failed' }, async (t) => {
  if (!images) { t.fail('no images (see the test above)'); return }
  const { dir } = await checkLayout(t, 'arm64')
  const { rootfs } = await unpackBundle(t, dir)
  t.equal(elfMachine(join(rootfs, 'usr/lib/aarch64-linux-gnu/libc.so.6')), EM_AARCH64, 'the image\'s C library is AArch64')
  // -L: the image's root is the only place the loader and libraries come from.
  const help = await run('qemu-aarch64', ['-L', rootfs, join(rootfs, IMAGE_ENTRYPOINT[0]!), join(rootfs, IMAGE_ENTRYPOINT[1]!), '--help'], { timeoutMs: 180_000 })
  t.equal(help.code, 0, `--help from the arm64 image exits 0 ${help.stderr}`)
  t.match(help.stdout, /Usage: edge-metaserver <command>/)
})
