// The one way tests start the product: an edge or a cloud shim from its config file, either
// in-process (runEdge/runCloud: fast, and the test can look inside — tunnel state, policy) or as
// the real CLI in a child process (test/e2e/process.ts: signals, exit codes, its own memory).
// Both give a handle with the ports the role listens on and a stop(); the process handle also
// has the pid and its captured output. A process runs the source (tsx) or the built dist/ (`cli`;
// the bench measures dist/, whose memory is the product's own). Ready means: listening, and for an edge, tunnel connected
// and policy received (unless waitForTunnel is false).
import { destination } from 'pino'
import { loadCloudConfig, loadEdgeConfig } from '../../src/config/index.js'
import { runCloud, type CloudShim } from '../../src/cloud/run.js'
import { runEdge, type EdgeDaemon } from '../../src/edge/run.js'
import { createLogger } from '../../src/obs/logger.js'
import { startCli, type CliProcess, type StartOptions } from '../e2e/process.js'
import { waitUntil } from './wait.js'

export interface RoleOptions {
  configFile: string
  /** Where the role's log goes (JSON lines, debug level in-process; the config's level as a process). */
  logFile: string
}

export interface EdgeOptions extends RoleOptions {
  /** Default true: ready only once the tunnel is connected. */
  waitForTunnel?: boolean
}

interface EdgePorts {
  /** The pod-facing listener (modules.metaServer.server). */
  port: number
}
interface CloudPorts {
  tunnelPort: number
  healthPort: number
}

export type InProcessEdge = EdgePorts & { mode: 'in-process', daemon: EdgeDaemon, stop: () => Promise<void> }
export type ProcessEdge = EdgePorts & { mode: 'process', proc: CliProcess, pid: number, stop: (graceMs?: number) => Promise<void> }
export type InProcessCloud = CloudPorts & { mode: 'in-process', shim: CloudShim, stop: () => Promise<void> }
export type ProcessCloud = CloudPorts & { mode: 'process', proc: CliProcess, pid: number, stop: (graceMs?: number) => Promise<void> }

const TUNNEL_TIMEOUT_MS = 10_000
const PROCESS_READY_TIMEOUT_MS = 20_000

export async function startEdgeInProcess (opts: EdgeOptions): Promise<InProcessEdge> {
  const daemon = await runEdge(await loadEdgeConfig(opts.configFile),
    createLogger({ level: 'debug', role: 'edge', destination: destination({ dest: opts.logFile, sync: false }) }))
  if (opts.waitForTunnel !== false) {
    // Connected, and (with requireAuthorization) holding keys and policy: the listeners and the
    // cache come up before the tunnel is dialled, and a fresh edge refuses (503) until its first
    // bundle arrives, just after the connection.
    const policy = daemon.policy
    await waitUntil(() => daemon.tunnel.state.connected && (policy === undefined || (policy.keys !== undefined && policy.authorizer !== undefined)),
      { timeoutMs: TUNNEL_TIMEOUT_MS, intervalMs: 50, what: `edge ${daemon.nodeName} tunnel to connect and its policy to arrive` })
  }
  return { mode: 'in-process', daemon, port: daemon.listening.server!.port, stop: async () => { await daemon.close() } }
}

export type ProcessOptions = Pick<StartOptions, 'wrap' | 'env' | 'cli'>

export async function startEdgeProcess (opts: EdgeOptions & ProcessOptions): Promise<ProcessEdge> {
  const proc = startCli(['edge', '--config', opts.configFile], { logFile: opts.logFile, wrap: opts.wrap, env: opts.env, cli: opts.cli })
  try {
    const listening = await proc.waitForLog((l) => l.msg === 'listening' && l.listener === 'server', 'listening (server)', PROCESS_READY_TIMEOUT_MS)
    if (opts.waitForTunnel !== false) {
      await proc.waitForLog((l) => l.msg === 'tunnel connected', 'tunnel connected', PROCESS_READY_TIMEOUT_MS)
      // And ready (with requireAuthorization: keys and policy in, see startEdgeInProcess): its latest
      // readiness line says so (a warm restart may have said it before the tunnel came up).
      const latestReadiness = (): string | undefined => proc.logLines().filter((l) => /^readiness: /.test(String(l.msg))).at(-1)?.msg
      await waitUntil(() => latestReadiness() === 'readiness: ready', {
        timeoutMs: PROCESS_READY_TIMEOUT_MS, intervalMs: 50, what: () => `edge readiness (last: ${latestReadiness()})`, failIf: () => proc.running ? undefined : proc.output(),
      })
    }
    return { mode: 'process', proc, pid: proc.pid, port: listening.port, stop: async (graceMs) => { await proc.stop(graceMs) } }
  } catch (err) {
    await proc.stop(1000)
    throw err
  }
}

export async function startCloudInProcess (opts: RoleOptions): Promise<InProcessCloud> {
  const shim = await runCloud(await loadCloudConfig(opts.configFile),
    createLogger({ level: 'debug', role: 'cloud', destination: destination({ dest: opts.logFile, sync: false }) }))
  return { mode: 'in-process', shim, tunnelPort: shim.tunnelPort, healthPort: shim.healthPort, stop: async () => { await shim.close() } }
}

export async function startCloudProcess (opts: RoleOptions & ProcessOptions): Promise<ProcessCloud> {
  const proc = startCli(['cloud', '--config', opts.configFile], { logFile: opts.logFile, wrap: opts.wrap, env: opts.env, cli: opts.cli })
  try {
    const ready = await proc.waitForLog((l) => l.msg === 'cloud shim ready', 'cloud shim ready', PROCESS_READY_TIMEOUT_MS)
    return { mode: 'process', proc, pid: proc.pid, tunnelPort: ready.tunnelPort, healthPort: ready.healthPort, stop: async (graceMs) => { await proc.stop(graceMs) } }
  } catch (err) {
    await proc.stop(1000)
    throw err
  }
}
