// Runs the real CLI (`edge-metaserver …`) as a child process, the way systemd or a container does.
//
// How the CLI is run: `node --import tsx src/cli.ts` by default, so the tests exercise the source as
// it is now — no build step, and no chance of testing a stale dist/ (`npm test` type-checks but does
// not build). Costs ~0.4 s of start-up per process for the on-the-fly transpile. EMS_CLI=dist runs
// the built `dist/src/cli.js` instead (what the npm package's bin points at; `npm run build` first).
//
// Every child is started through `setpriv --pdeathsig SIGKILL` (as test/cluster/processes.ts does),
// so nothing outlives the test process; stdout/stderr are kept in memory for assertions and teed
// to a log file when one is given.
import { spawn, type ChildProcess } from 'node:child_process'
import { createWriteStream, existsSync, type WriteStream } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

/** Which CLI a child runs: the TypeScript source through tsx, or the built dist/ (EMS_CLI=dist by default). */
export type CliBuild = 'source' | 'dist'

/** The argv prefix that runs the CLI: [executable, ...args]. */
export function cliCommand (build: CliBuild = process.env.EMS_CLI === 'dist' ? 'dist' : 'source', node = process.execPath): [string, ...string[]] {
  if (build === 'dist') {
    const built = join(repo, 'dist', 'src', 'cli.js')
    if (!existsSync(built)) throw new Error(`EMS_CLI=dist but ${built} is missing: run npm run build`)
    return [node, built]
  }
  // An absolute loader URL, so the child's working directory does not matter.
  return [node, '--import', import.meta.resolve('tsx'), join(repo, 'src', 'cli.ts')]
}

export interface CliResult {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
}

export interface StartOptions {
  /** Prefix command, e.g. ['nsenter', '--net=/proc/1/ns/net', '--']; it must exec (keep the pid). */
  wrap?: string[]
  env?: NodeJS.ProcessEnv
  cwd?: string
  logFile?: string
  /** Default: EMS_CLI (the source unless EMS_CLI=dist). */
  cli?: CliBuild
  /** The node executable; default: this process's (which another user may not be allowed to run). */
  node?: string
  /** The whole argv prefix instead of this repo's CLI (cli/node ignored), e.g. an image's entry point. */
  command?: string[]
}

/** A running CLI process with its output captured. */
export class CliProcess {
  readonly child: ChildProcess
  stdout = ''
  stderr = ''
  readonly exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
  private readonly log: WriteStream | undefined
  private readonly waiters = new Set<() => void>()

  constructor (args: string[], opts: StartOptions = {}) {
    const [command, ...prefix] = [...(opts.wrap ?? []), ...(opts.command ?? cliCommand(opts.cli, opts.node))]
    this.child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', command!, ...prefix, ...args], {
      env: opts.env ?? process.env,
      cwd: opts.cwd ?? repo,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    live.add(this.child)
    this.log = opts.logFile === undefined ? undefined : createWriteStream(opts.logFile, { flags: 'a' })
    const onData = (which: 'stdout' | 'stderr') => (chunk: string) => {
      this[which] += chunk
      this.log?.write(chunk)
      for (const wake of this.waiters) wake()
    }
    this.child.stdout!.setEncoding('utf8').on('data', onData('stdout'))
    this.child.stderr!.setEncoding('utf8').on('data', onData('stderr'))
    this.exited = new Promise((resolve) => {
      // 'close', not 'exit': every byte of output has been read by then.
      this.child.once('close', (code, signal) => {
        live.delete(this.child)
        this.log?.end()
        for (const wake of this.waiters) wake()
        resolve({ code, signal })
      })
    })
  }

  get pid (): number { return this.child.pid! }
  get running (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** stdout parsed as pino JSON lines (non-JSON lines skipped). */
  logLines (): Array<Record<string, any>> {
    const lines: Array<Record<string, any>> = []
    for (const line of this.stdout.split('\n')) {
      if (!line.startsWith('{')) continue
      try { lines.push(JSON.parse(line)) } catch { /* a partial last line */ }
    }
    return lines
  }

  /** Waits for the first log line matching `match`; fails early (with the output) if the process exits. */
  async waitForLog (match: (line: Record<string, any>) => boolean, what: string, timeoutMs = 20_000): Promise<Record<string, any>> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.logLines().find(match)
      if (found !== undefined) return found
      if (!this.running) throw new Error(`process exited before logging ${what}\n${this.output()}`)
      const left = deadline - Date.now()
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for log line: ${what}\n${this.output()}`)
      await new Promise<void>((resolve) => {
        const wake = (): void => { clearTimeout(timer); this.waiters.delete(wake); resolve() }
        const timer = setTimeout(wake, Math.min(left, 1000))
        this.waiters.add(wake)
      })
    }
  }

  /** Sends `signal` and resolves with how it ended and how long it took. */
  async signal (signal: NodeJS.Signals, timeoutMs = 60_000): Promise<{ code: number | null, signal: NodeJS.Signals | null, ms: number }> {
    const started = Date.now()
    this.child.kill(signal)
    const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
    const result = await this.exited
    clearTimeout(timer)
    return { ...result, ms: Date.now() - started }
  }

  /** Ends the process (SIGTERM, then SIGKILL after graceMs); a no-op if it already exited. */
  async stop (graceMs = 5000): Promise<void> {
    if (!this.running) { await this.exited; return }
    await this.signal('SIGTERM', graceMs)
  }

  output (): string {
    return `--- stdout\n${this.stdout.slice(-4000)}\n--- stderr\n${this.stderr.slice(-4000)}`
  }
}

export function startCli (args: string[], opts: StartOptions = {}): CliProcess {
  installExitHook()
  return new CliProcess(args, opts)
}

/** Runs the CLI to completion (SIGKILL after timeoutMs). */
export async function runCli (args: string[], opts: StartOptions & { timeoutMs?: number } = {}): Promise<CliResult> {
  const p = startCli(args, opts)
  const timer = setTimeout(() => p.child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
  const { code, signal } = await p.exited
  clearTimeout(timer)
  return { code, signal, stdout: p.stdout, stderr: p.stderr }
}

/** Runs any command to completion and captures its output (no shell). */
export function runCommand (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number, stdin?: string } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: opts.env ?? process.env,
      stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout!.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000)
    child.once('error', (err) => { clearTimeout(timer); reject(err) })
    child.once('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }) })
    if (opts.stdin !== undefined) {
      child.stdin!.on('error', () => { /* the command may exit without reading it */ })
      child.stdin!.end(opts.stdin)
    }
  })
}

/**
 * A private network namespace (only `lo`, brought up) held open by a `sleep` process; run commands
 * in it with `wrap()` as a prefix. Nothing done inside it can reach the host's interfaces or routes.
 */
export class NetNamespace {
  private constructor (private readonly holder: ChildProcess) {}

  static async create (): Promise<NetNamespace> {
    installExitHook()
    const holder = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', 'unshare', '--net', '--', 'sleep', 'infinity'], { stdio: 'ignore' })
    live.add(holder)
    holder.once('exit', () => live.delete(holder))
    // A forgotten namespace must not keep the test process alive (pdeathsig still reaps it).
    holder.unref()
    const ns = new NetNamespace(holder)
    // unshare execs sleep in the new namespace: wait until the pid's namespace differs from ours.
    const deadline = Date.now() + 5000
    for (;;) {
      const r = await runCommand('readlink', [`/proc/${holder.pid}/ns/net`, '/proc/self/ns/net'])
      const [theirs, ours] = r.stdout.trim().split('\n')
      if (r.code === 0 && theirs !== undefined && theirs !== ours) break
      if (Date.now() > deadline) throw new Error('the network namespace holder did not start')
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    const up = await ns.run('ip', ['link', 'set', 'lo', 'up'])
    if (up.code !== 0) throw new Error(`ip link set lo up: ${up.stderr}`)
    return ns
  }

  /** The pid holding the namespace (for `ip link … netns <pid>`). */
  get pid (): number { return this.holder.pid! }

  /** `nsenter --net=… --`: enters the namespace and execs (the pid stays the command's). */
  wrap (): string[] {
    return ['nsenter', `--net=/proc/${this.holder.pid}/ns/net`, '--']
  }

  run (command: string, args: string[], opts: { env?: NodeJS.ProcessEnv, timeoutMs?: number } = {}): Promise<CliResult> {
    const [nsenter, ...rest] = this.wrap()
    return runCommand(nsenter!, [...rest, command, ...args], opts)
  }

  async close (): Promise<void> {
    if (this.holder.exitCode !== null || this.holder.signalCode !== null) return
    const gone = new Promise((resolve) => this.holder.once('exit', resolve))
    this.holder.ref() // keep the event loop alive until the exit is seen
    this.holder.kill('SIGKILL')
    await gone
  }
}

const live = new Set<ChildProcess>()
let hooked = false
function installExitHook (): void {
  if (hooked) return
  hooked = true
  process.on('exit', () => { for (const child of live) child.kill('SIGKILL') })
}
