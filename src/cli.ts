#!/usr/bin/env node
// Thin entry point: parse arguments, load and validate the config, hand over to runEdge/runCloud.
import { readFileSync } from 'node:fs'
import { homedir, hostname } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { ConfigLoadError, formatConfigError, formatConfigErrors, loadCloudConfig, loadConfigFile, loadEdgeConfig, type CloudConfig, type EdgeConfig } from './config/index.js'
import { planReload, valueAt, withApplied } from './config/reload.js'
import { parseDuration } from './config/values.js'
import { createLogger, setLogLevel, type Logger } from './obs/logger.js'
import { systemdNotifier } from './obs/sd-notify.js'

const USAGE: Record<string, string> = {
  main: `edge-metaserver — the Kubernetes API endpoint for pods on edge nodes, and its cloud shim

Usage: edge-metaserver <command> [options]

Commands:
  edge --config FILE     run the edge daemon (kind: EdgeMetaServer)
  cloud --config FILE    run the cloud shim (kind: CloudShim)
  check-config FILE      validate a config file (every document in it) without starting
  join                   join this node: bootstrap token → its certificates and config
  token create           make a bootstrap token for one node (cluster admin)
  node revoke NAME       refuse a node's tunnel on every shim, now (cluster admin); node unrevoke NAME
  version                print the version

Run "edge-metaserver <command> --help" for a command's options.
`,
  edge: `Usage: edge-metaserver edge --config FILE

Runs the edge daemon: HTTPS listeners for the node's pods (modules.metaServer.server and
.dummyServer), relaying every request over the HTTP/2 mTLS tunnel (modules.edgeHub) to the cloud
shim. SIGTERM drains in-flight requests (modules.metaServer.shutdownGracePeriod), then exits.
SIGHUP re-reads the config: logging.level and modules.cache.maxSizeBytes apply at once.

Options:
  -c, --config FILE   EdgeMetaServer config (YAML; see config.example.yaml)
  -h, --help          show this help
`,
  cloud: `Usage: edge-metaserver cloud --config FILE

Runs the cloud shim: accepts edge tunnels (modules.cloudHub), enforces node restriction and
executes each request against kube-apiserver as the pod itself. SIGTERM sends GOAWAY to every
edge and drains streams (modules.cloudHub.shutdownGracePeriod), then exits.
SIGHUP re-reads the config: logging.level applies at once. The tunnel CA, certificate and key
files are re-read every 5 s and on SIGHUP: a changed set that is whole (parses, the key matches)
serves new connections, open tunnels stay; otherwise the one in use stays, with a warn line.

Options:
  -c, --config FILE   CloudShim config (YAML; see config.example.yaml)
  -h, --help          show this help
`,
  'check-config': `Usage: edge-metaserver check-config FILE

Validates every document of FILE (EdgeMetaServer and/or CloudShim) and the files it references.
Prints "FILE: ok (<kinds>)" and exits 0, or one "FILE:LINE:COLUMN: key: problem" line per error
and exits 1.

Options:
  -h, --help   show this help
`,
  join: `Usage: edge-metaserver join --server HOST:PORT --token TOKEN --ca-cert-hash sha256:HEX [options]

Joins this node: pins the shim's tunnel CA by its hash, proves the bootstrap token, generates the
node's keys here and gets its tunnel client certificate (tunnel CA) and serving certificate
(kubernetes.io/kubelet-serving, chains to the cluster CA); writes them under DIR/pki and the node's
values into the config file (created, or merged into an existing one). Safe to re-run. Writes
nothing unless everything succeeded.

Options:
  --server HOST:PORT       the shim's join listener (modules.cloudHub.join.address)
  --token TOKEN            from "edge-metaserver token create --node NAME"
  --ca-cert-hash HASH      sha256:<hex> of the tunnel CA's public key (printed with the token)
  --node-name NAME         this node's name (default: the host name, lowercased)
  --dir DIR                where keys and certificates go (default /etc/edge-metaserver)
  --config FILE            the edge config to write or update (default DIR/config.yaml)
  --tunnel-server HOST:PORT  what the edge dials (default: --server's host, the shim's tunnel port)
  -h, --help               show this help

Exit codes: 0 joined; 2 usage; 3 wrong server (unreachable, not a join endpoint); 4 CA does not
match the hash; 5 token rejected (unknown, expired, deleted); 6 token made for another node;
7 serving certificate denied or not signed; 1 anything else.
`,
  token: `Usage: edge-metaserver token create --node NAME [options]

Creates a bootstrap token (kube-system Secret bootstrap-token-<id>) that can join only node NAME,
and prints it; with --tunnel-ca, also the "edge-metaserver join" command to run on the node.

Options:
  --node NAME          the only node this token may join
  --ttl DURATION       validity (default 24h)
  --kubeconfig FILE    cluster-admin credentials (default $KUBECONFIG, then ~/.kube/config)
  --tunnel-ca FILE     the shim's tunnel CA certificate (prints --ca-cert-hash)
  --server HOST:PORT   the shim's join address, for the printed command
  -h, --help           show this help
`,
  node: `Usage: edge-metaserver node revoke NAME [options]
       edge-metaserver node unrevoke NAME [options]

revoke: adds NAME to the deny list the shims watch (a ConfigMap, modules.cloudHub.revokedNodesConfigMap):
every shim closes that node's tunnel connection and refuses new ones, without a restart. The node
stays refused after it joins again. unrevoke takes it off the list.

Options:
  --configmap NS/NAME  the deny list (default edge-metaserver/edge-metaserver-revoked-nodes, as deploy/)
  --kubeconfig FILE    cluster-admin credentials (default $KUBECONFIG, then ~/.kube/config)
  -h, --help           show this help
`,
  version: `Usage: edge-metaserver version

Prints the version of this build.
`,
}

// Config errors get their own exit code (sysexits EX_CONFIG), so systemd can stop restarting a
// unit that will never start (RestartPreventExitStatus=78).
const EXIT_CONFIG = 78

/** The package version; found by walking up from this file (it runs from dist/src/ and from src/). */
function version (): string {
  let dir = new URL('.', import.meta.url)
  for (let i = 0; i < 4; i++) {
    try {
      const pkg = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8')) as { name?: string, version: string }
      if (pkg.name === 'edge-metaserver') return pkg.version
    } catch { /* not here: look one level up */ }
    dir = new URL('..', dir)
  }
  return 'unknown'
}

async function main (argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  if (command === undefined || command === '-h' || command === '--help' || command === 'help') {
    process.stdout.write(USAGE.main!)
    return command === undefined ? 2 : 0
  }
  if (!(command in USAGE) || command === 'main') {
    process.stderr.write(`edge-metaserver: unknown command "${command}"\n\n${USAGE.main}`)
    return 2
  }
  if (command === 'join') return joinCommand(rest)
  if (command === 'token') return tokenCommand(rest)
  if (command === 'node') return nodeCommand(rest)
  let args
  try {
    args = parseArgs({
      args: rest,
      options: { config: { type: 'string', short: 'c' }, help: { type: 'boolean', short: 'h' } },
      allowPositionals: command === 'check-config',
    })
  } catch (err) {
    process.stderr.write(`edge-metaserver ${command}: ${(err as Error).message}\n\n${USAGE[command]}`)
    return 2
  }
  if (args.values.help === true) { process.stdout.write(USAGE[command]!); return 0 }

  switch (command) {
    case 'version':
      process.stdout.write(`edge-metaserver ${version()}\n`)
      return 0
    case 'check-config':
      return checkConfig(args.positionals[0] ?? args.values.config)
    case 'edge':
    case 'cloud':
      if (args.values.config === undefined) {
        process.stderr.write(`edge-metaserver ${command}: --config FILE is required\n\n${USAGE[command]}`)
        return 2
      }
      return run(command, args.values.config)
  }
  return 2
}

async function joinCommand (argv: string[]): Promise<number> {
  const { JoinFailure, joinNode } = await import('./edge/join.js')
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        server: { type: 'string' }, token: { type: 'string' }, 'ca-cert-hash': { type: 'string' }, 'node-name': { type: 'string' },
        dir: { type: 'string' }, config: { type: 'string' }, 'tunnel-server': { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    process.stderr.write(`edge-metaserver join: ${(err as Error).message}\n\n${USAGE.join}`)
    return 2
  }
  if (values.help === true) { process.stdout.write(USAGE.join!); return 0 }
  for (const flag of ['server', 'token', 'ca-cert-hash'] as const) {
    if (values[flag] === undefined) { process.stderr.write(`edge-metaserver join: --${flag} is required\n\n${USAGE.join}`); return 2 }
  }
  const dir = values.dir ?? '/etc/edge-metaserver'
  try {
    const lines = await joinNode({
      server: values.server!, token: values.token!, caCertHash: values['ca-cert-hash']!,
      nodeName: values['node-name'] ?? hostname().toLowerCase(), dir, configFile: values.config ?? join(dir, 'config.yaml'),
      ...(values['tunnel-server'] === undefined ? {} : { tunnelServer: values['tunnel-server'] }),
    })
    process.stdout.write(lines.join('\n') + '\n')
    return 0
  } catch (err) {
    if (err instanceof JoinFailure) { process.stderr.write(`edge-metaserver join: ${err.message}\n`); return err.exitCode }
    process.stderr.write(`edge-metaserver join: ${(err as Error).message}\n`)
    return 1
  }
}

/** The cluster-admin kubeconfig of `token create` and `node revoke`: the flag, then $KUBECONFIG, then kubectl's default. */
function adminKubeconfig (flag: string | undefined): string {
  return flag ?? process.env.KUBECONFIG ?? join(homedir(), '.kube', 'config')
}

async function tokenCommand (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        node: { type: 'string' }, ttl: { type: 'string' }, kubeconfig: { type: 'string' }, 'tunnel-ca': { type: 'string' },
        server: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    process.stderr.write(`edge-metaserver token: ${(err as Error).message}\n\n${USAGE.token}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(USAGE.token!); return 0 }
  if (positionals.length !== 1 || positionals[0] !== 'create') { process.stderr.write(`edge-metaserver token: the only subcommand is "create"\n\n${USAGE.token}`); return 2 }
  if (values.node === undefined) { process.stderr.write(`edge-metaserver token create: --node is required\n\n${USAGE.token}`); return 2 }
  const ttl = parseDuration(values.ttl ?? '24h')
  if (!ttl.ok || ttl.value <= 0) { process.stderr.write(`edge-metaserver token create: --ttl: ${ttl.ok ? 'must be positive' : ttl.message}\n`); return 2 }
  const { createJoinToken } = await import('./cloud/token-create.js')
  try {
    const lines = await createJoinToken({
      kubeconfig: adminKubeconfig(values.kubeconfig),
      node: values.node, ttlMs: ttl.value,
      ...(values['tunnel-ca'] === undefined ? {} : { tunnelCaFile: values['tunnel-ca'] }),
      ...(values.server === undefined ? {} : { joinServer: values.server }),
    })
    process.stdout.write(lines.join('\n') + '\n')
    return 0
  } catch (err) {
    process.stderr.write(`edge-metaserver token create: ${(err as Error).message}\n`)
    return 1
  }
}

async function nodeCommand (argv: string[]): Promise<number> {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: { configmap: { type: 'string' }, kubeconfig: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    })
  } catch (err) {
    process.stderr.write(`edge-metaserver node: ${(err as Error).message}\n\n${USAGE.node}`)
    return 2
  }
  const { values, positionals } = parsed
  if (values.help === true) { process.stdout.write(USAGE.node!); return 0 }
  const [sub, name] = positionals
  if (positionals.length !== 2 || (sub !== 'revoke' && sub !== 'unrevoke')) {
    process.stderr.write(`edge-metaserver node: expected "revoke NAME" or "unrevoke NAME"\n\n${USAGE.node}`)
    return 2
  }
  const { setNodeRevoked, DEFAULT_DENY_LIST } = await import('./cloud/node-revoke.js')
  try {
    process.stdout.write(await setNodeRevoked({
      kubeconfig: adminKubeconfig(values.kubeconfig),
      node: name!, configMap: values.configmap ?? DEFAULT_DENY_LIST, revoke: sub === 'revoke',
    }) + '\n')
    return 0
  } catch (err) {
    process.stderr.write(`edge-metaserver node ${sub}: ${(err as Error).message}\n`)
    return 1
  }
}

async function checkConfig (file: string | undefined): Promise<number> {
  if (file === undefined) { process.stderr.write(`edge-metaserver check-config: FILE is required\n\n${USAGE['check-config']}`); return 2 }
  const result = await loadConfigFile(file, { checkFiles: true })
  if (!result.ok) { process.stderr.write(formatConfigErrors(result.errors) + '\n'); return 1 }
  // Warnings (a certificate near its end) do not fail the check: the daemon runs with them.
  for (const w of result.warnings ?? []) process.stderr.write(`warning: ${formatConfigError(w)}\n`)
  const kinds = result.configs.map((c) => c.kind)
  process.stdout.write(`${file}: ok (${kinds.join(', ')})\n`)
  return 0
}

async function run (role: 'edge' | 'cloud', file: string): Promise<number> {
  let logger: Logger | undefined
  try {
    let handle: { close: () => Promise<void> }
    let reload: () => Promise<void>
    // Until the reload handler below is installed: a SIGHUP during start-up must not kill it (exit 129).
    const early = (): void => { logger?.warn('SIGHUP during start-up: ignored, send it again once started') }
    process.on('SIGHUP', early)
    if (role === 'edge') {
      let running = await loadEdgeConfig(file)
      const log = logger = createLogger({ level: running.logging.level, role })
      const { runEdge, EDGE_RELOADABLE } = await import('./edge/run.js')
      const edge = handle = await runEdge(running, log)
      reload = async () => {
        running = applyReload(log, running, await loadEdgeConfig(file), EDGE_RELOADABLE, (next) => edge.reload(next))
        // Certificates replaced on disk are used now rather than at the next periodic check (certificate-files.ts).
        log.info({ certificates: await edge.reloadCertificates() }, 'reload: certificate files checked')
      }
    } else {
      let running = await loadCloudConfig(file)
      const log = logger = createLogger({ level: running.logging.level, role })
      const { runCloud } = await import('./cloud/run.js')
      const shim = handle = await runCloud(running, log)
      reload = async () => {
        running = applyReload(log, running, await loadCloudConfig(file), CLOUD_RELOADABLE, () => {})
        // Tunnel certificate files replaced on disk apply now rather than at the next periodic check (tunnel-certificates.ts).
        log.info({ certificates: { tunnel: await shim.reloadCertificates() } }, 'reload: certificate files checked')
      }
    }
    const log = logger
    // SIGHUP re-reads the config file. Without a listener Node would die of it (exit 129).
    let reloading = false
    const onHangup = (): void => {
      if (reloading) { log.warn('SIGHUP while a reload is running: ignored'); return }
      reloading = true
      log.info({ file }, 'SIGHUP: re-reading the config file')
      reload().catch((err: unknown) => {
        // A bad file changes nothing: the daemon keeps running as it is.
        const reason = err instanceof ConfigLoadError ? err.message.split('\n') : [(err as Error).message]
        log.error({ file, errors: reason }, 'reload refused: the config file is invalid; nothing changed')
      }).finally(() => { reloading = false })
    }
    process.on('SIGHUP', onHangup)
    process.removeListener('SIGHUP', early)
    // Every start-up check passed and the listeners serve: only now is the unit "started".
    const notifier = systemdNotifier(log)
    notifier.ready()
    await new Promise<void>((resolve) => {
      const stop = (signal: string): void => {
        log.info({ signal }, 'signal received')
        notifier.stopping()
        handle.close().then(resolve, (err: Error) => { log.error({ err }, 'shutdown failed'); resolve() })
      }
      process.once('SIGTERM', () => stop('SIGTERM'))
      process.once('SIGINT', () => stop('SIGINT'))
    })
    process.removeListener('SIGHUP', onHangup)
    notifier.close()
    logger.flush()
    // Drained and closed: exit now rather than wait for every last handle a pod left behind to
    // unwind (a stopping daemon must stop; systemd and the tests wait for the exit).
    setImmediate(() => process.exit(0))
    return 0
  } catch (err) {
    if (err instanceof ConfigLoadError) {
      process.stderr.write(`edge-metaserver ${role}: invalid config\n${err.message}\n`)
      return EXIT_CONFIG
    }
    // One line on stderr (what `systemctl status` and a terminal show), the same as a fatal log line.
    const message = (err instanceof Error ? err.message : String(err)).replace(/\s*\n\s*/g, ' ')
    if (logger !== undefined) { logger.fatal({ err }, `failed to start: ${message}`); logger.flush() }
    process.stderr.write(`edge-metaserver ${role}: ${message}\n`)
    // Start-up closes what it opened before throwing, but a stray handle must not keep a process
    // alive that serves nothing: exit now.
    setImmediate(() => process.exit(1))
    return 1
  }
}

/** Config keys a running cloud shim applies without a restart. */
const CLOUD_RELOADABLE: ReadonlySet<string> = new Set(['logging.level'])

/** Applies the reloadable changes of `next`, logs what changed and what waits for a restart; returns the config now in force. */
function applyReload<C extends EdgeConfig | CloudConfig> (log: Logger, running: C, next: C, reloadable: ReadonlySet<string>, apply: (next: C) => void): C {
  const plan = planReload(running, next, reloadable)
  if (plan.apply.length === 0 && plan.restart.length === 0) { log.info('reload: the config file is unchanged'); return running }
  if (plan.restart.length > 0) {
    log.warn({ keys: plan.restart }, 'reload: these keys changed but apply only after a restart (systemctl restart); they keep their running values')
  }
  if (plan.apply.length === 0) return running
  setLogLevel(log, next.logging.level)
  apply(next)
  log.info({ changed: Object.fromEntries(plan.apply.map((k) => [k, valueAt(next, k)])) }, 'reload: applied')
  return withApplied(running, next, plan.apply)
}

main(process.argv.slice(2)).then((code) => { process.exitCode = code }, (err: Error) => {
  process.stderr.write(`edge-metaserver: ${err.message}\n`)
  process.exitCode = 1
})
