// Child processes of the test bed. Every child is started through `setpriv --pdeathsig SIGKILL`, so
// the kernel kills it when the test process dies for any reason (even SIGKILL or a tap timeout);
// on a normal exit they are also killed synchronously. No orphans, no leftover ports.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { waitForValue } from '../helpers/wait.js'

const live = new Set<ChildProcess>()
let exitHookInstalled = false

function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL')
  })
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      for (const child of live) child.kill('SIGKILL')
      process.kill(process.pid, signal)
    })
  }
}

export interface Managed {
  readonly child: ChildProcess
  readonly name: string
  readonly logFile: string
  /** Resolves with the exit code (or signal name) once the process has ended. */
  readonly exited: Promise<number | string>
  stop (graceMs?: number): Promise<void>
}

export function startManaged (name: string, command: string, args: string[], opts: {
  logFile: string
  env?: NodeJS.ProcessEnv
  cwd?: string
}): Managed {
  installExitHook()
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', command, ...args], {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  live.add(child)
  const log = createWriteStream(opts.logFile, { flags: 'a' })
  child.stdout?.pipe(log, { end: false })
  child.stderr?.pipe(log, { end: false })
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      live.delete(child)
      resolve(code ?? signal ?? 'unknown')
    })
  })
  return {
    child,
    name,
    logFile: opts.logFile,
    exited,
    async stop (graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs)
      await exited
      clearTimeout(timer)
      log.end()
    },
  }
}

/** A port that was free a moment ago on 127.0.0.1 (the kernel's choice, so parallel runs don't collide). */
export async function freePort (): Promise<number> {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const port = typeof address === 'object' && address !== null ? address.port : 0
  server.close()
  await once(server, 'close')
  return port
}

export async function waitFor<T> (what: string, probe: () => Promise<T | undefined>, opts: {
  timeoutMs: number
  intervalMs?: number
  failIf?: () => string | undefined
}): Promise<T> {
  // Probes here are HTTP requests to a process still starting: a refused connection is "not yet".
  return await waitForValue(probe, { what, timeoutMs: opts.timeoutMs, intervalMs: opts.intervalMs ?? 200, failIf: opts.failIf, retryErrors: true })
}
