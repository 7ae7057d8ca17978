// The four real in-cluster clients, pointed at any host:port exactly as a pod would be: the two
// KUBERNETES_SERVICE_* variables plus the service-account folder (token, ca.crt, namespace).
// kubectl and client-go read that folder from a fixed path, so they run under `unshare --mount`
// with the folder bind-mounted there; client-node and python take the paths as arguments.
import { spawn, type ChildProcess } from 'node:child_process'
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { KubeConfig } from '@kubernetes/client-node'
import { binaries } from './cluster.js'
import { onJsonLines } from '../helpers/json-lines.js'

const here = dirname(fileURLToPath(import.meta.url))
const SA_SUBDIR = 'var/run/secrets/kubernetes.io/serviceaccount'
export const PYTHON_CLIENT = join(here, '..', 'clients', 'python', 'client.py')
// Debian's python3 with python3-kubernetes (apt); a pyenv python3 earlier in PATH lacks the package.
const PYTHON = '/usr/bin/python3'

/** What a pod has: its API endpoint and its service-account folder. */
export interface PodEnvironment {
  host: string
  port: number
  /** Prefix under which `var/run/secrets/kubernetes.io/serviceaccount/` exists (client-node's pathPrefix). */
  root: string
  /** The service-account folder itself. */
  saDir: string
  home: string
  /** A prefix the clients run under, e.g. `nsenter --net=… --` for a pod's own network namespace. */
  wrap?: string[]
}

export async function podEnvironment (base: string, opts: {
  host: string
  port: number
  token: string
  caPem: string
  namespace: string
}): Promise<PodEnvironment> {
  const saDir = join(base, SA_SUBDIR)
  const home = join(base, 'home')
  await mkdir(saDir, { recursive: true })
  await mkdir(home, { recursive: true })
  // No trailing newline: client-node and python send the file content verbatim.
  await writeFile(join(saDir, 'token'), opts.token)
  await writeFile(join(saDir, 'ca.crt'), opts.caPem)
  await writeFile(join(saDir, 'namespace'), opts.namespace)
  return { host: opts.host, port: opts.port, root: base, saDir, home }
}

export interface RunResult {
  code: number | null
  stdout: string
  stderr: string
}

// The inner shell expands SA_DIR; everything after `sh` is passed through untouched as "$@".
const MOUNT_SCRIPT = [
  'mount -t tmpfs tmpfs /run',
  'mkdir -p /run/secrets/kubernetes.io/serviceaccount',
  'mount --bind -o ro "$EMS_SA_DIR" /run/secrets/kubernetes.io/serviceaccount',
  'exec "$@"',
].join(' && ')

function podEnv (pod: PodEnvironment, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: pod.home,
    KUBERNETES_SERVICE_HOST: pod.host,
    KUBERNETES_SERVICE_PORT: String(pod.port),
    EMS_SA_DIR: pod.saDir,
    ...extra,
  }
}

function wrapped (pod: PodEnvironment, command: string, args: string[]): [string, string[]] {
  const [first, ...rest] = [...(pod.wrap ?? []), command, ...args]
  return [first!, rest]
}

/** Starts `command` inside a private mount namespace where the pod's SA folder sits at the fixed path. */
export function spawnInPod (pod: PodEnvironment, command: string, args: string[], extraEnv?: NodeJS.ProcessEnv): ChildProcess {
  return spawn(...wrapped(pod, 'unshare', ['--mount', '--propagation', 'private', 'sh', '-c', MOUNT_SCRIPT, 'sh', command, ...args]), {
    env: podEnv(pod, extraEnv),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

export function collect (child: ChildProcess, opts: { timeoutMs?: number, stdin?: string } = {}): Promise<RunResult> {
  return new Promise((resolve) => {
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { stdout += d })
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { stderr += d })
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000)
    child.stdin?.end(opts.stdin ?? '')
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

export async function kubectl (pod: PodEnvironment, args: string[], opts: { stdin?: string, timeoutMs?: number } = {}): Promise<RunResult> {
  const bin = await binaries()
  return collect(spawnInPod(pod, bin.KUBECTL, args), opts)
}

export async function spawnKubectl (pod: PodEnvironment, args: string[]): Promise<ChildProcess> {
  return spawnInPod(pod, (await binaries()).KUBECTL, args)
}

/** The client-go program (test/clients/go); see its main.go for subcommands and output lines. */
export async function clientGo (pod: PodEnvironment, args: string[], opts: { stdin?: string, timeoutMs?: number } = {}): Promise<RunResult> {
  const bin = await binaries()
  return collect(spawnInPod(pod, bin.CLIENT_GO, args), opts)
}

export async function spawnClientGo (pod: PodEnvironment, args: string[], opts: { latest?: boolean } = {}): Promise<ChildProcess> {
  const bin = await binaries()
  return spawnInPod(pod, opts.latest === true ? bin.CLIENT_GO_LATEST : bin.CLIENT_GO, args)
}

/** python `kubernetes` (InClusterConfigLoader with explicit paths); see test/clients/python/client.py. */
export function spawnPython (pod: PodEnvironment, args: string[]): ChildProcess {
  return spawn(...wrapped(pod, PYTHON, [PYTHON_CLIENT, ...args]), {
    env: podEnv(pod, { EMS_SA_DIR: pod.saDir, PYTHONDONTWRITEBYTECODE: '1' }),
    stdio: ['pipe', 'pipe', 'pipe'],
  })
}

export function python (pod: PodEnvironment, args: string[], opts: { timeoutMs?: number } = {}): Promise<RunResult> {
  return collect(spawnPython(pod, args), opts)
}

/**
 * @kubernetes/client-node's own in-cluster loader. It reads the two variables from process.env at
 * load time, so they are set just for the call (tests in one file run sequentially).
 */
export function clientNodeConfig (pod: PodEnvironment): KubeConfig {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT }
  process.env.KUBERNETES_SERVICE_HOST = pod.host
  process.env.KUBERNETES_SERVICE_PORT = String(pod.port)
  try {
    const kc = new KubeConfig()
    kc.loadFromCluster(pod.root)
    return kc
  } finally {
    restoreEnv('KUBERNETES_SERVICE_HOST', saved.host)
    restoreEnv('KUBERNETES_SERVICE_PORT', saved.port)
  }
}

function restoreEnv (key: string, value: string | undefined): void {
  if (value === undefined) delete process.env[key]
  else process.env[key] = value
}

/** Parses JSON-lines output (the Go and python clients print one object per line). */
export function jsonLines (text: string): any[] {
  return text.split('\n').filter((l) => l.trim().startsWith('{')).map((l) => JSON.parse(l))
}

/**
 * A long-running JSON-lines child (the Go client's informer and component modes, python's
 * informer): every line is parsed as it arrives (test/helpers/json-lines.ts); `dump` asks an informer mode for its stores. stderr keeps its last 20 kB.
 */
export class LineChild {
  readonly lines: any[] = []
  stderr = ''
  exitCode: number | null | undefined // undefined while running

  constructor (readonly name: string, readonly child: ChildProcess) {
    onJsonLines(child.stdout!, (o) => this.lines.push(o))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-20_000) })
    child.once('exit', (code) => { this.exitCode = code })
  }

  /** Lines of one `type` (and, when given, for one `resource`). */
  of (type: string, resource?: string): any[] {
    return this.lines.filter((l) => l.type === type && (resource === undefined || l.resource === resource))
  }

  /** Resolves with the first line from index `from` on that matches, or rejects after `timeoutMs` or when the child exits. */
  async next (match: (line: any) => boolean, timeoutMs: number, what: string, from = 0): Promise<any> {
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const found = this.lines.slice(from).find(match)
      if (found !== undefined) return found
      if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}) before ${what}: ${this.stderr.slice(-2000)}`)
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${what} within ${timeoutMs} ms; stderr: ${this.stderr.slice(-2000)}`)
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }

  /** The informers' stores ("name@resourceVersion", sorted) by resource, from one `dump`. */
  async stores (timeoutMs = 20_000): Promise<Map<string, string[]>> {
    if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}): ${this.stderr.slice(-2000)}`)
    const before = this.lines.length
    this.child.stdin!.write('dump\n')
    // One store line per informer, then a "dumped" line.
    const end = this.lines.indexOf(await this.next((l) => l.type === 'dumped', timeoutMs, 'store dump', before))
    const stores = new Map<string, string[]>()
    for (const l of this.lines.slice(before, end)) if (l.type === 'store') stores.set(l.resource ?? '', l.items)
    return stores
  }

  /**
   * The store ("name@resourceVersion") of a client with one informer (the Go client's `informer`
   * mode, python's `informer`): the first store line after a `dump`.
   */
  async store (timeoutMs = 20_000): Promise<string[]> {
    if (this.exitCode !== undefined) throw new Error(`${this.name} exited (${this.exitCode}): ${this.stderr.slice(-2000)}`)
    const before = this.lines.length
    this.child.stdin!.write('dump\n')
    return (await this.next((l) => l.type === 'store', timeoutMs, 'store dump', before)).items
  }

  /** name@resourceVersion of every add/update handler call, in order. */
  delivered (): string[] {
    return this.lines.filter((l) => l.type === 'add' || l.type === 'update').map((l) => `${l.name}@${l.resourceVersion}`)
  }

  /** The last `n` non-empty stderr lines, joined (for t.comment). */
  stderrTail (n = 3): string {
    return this.stderr.split('\n').filter((l) => l.trim() !== '').slice(-n).join(' | ')
  }

  /** Closes stdin (the modes' orderly shutdown) and waits for the exit, killing after `timeoutMs`. */
  async close (timeoutMs = 20_000): Promise<number | null> {
    if (this.exitCode === undefined) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => resolve()))
      this.child.stdin!.end()
      const timer = setTimeout(() => this.child.kill('SIGKILL'), timeoutMs)
      await exited
      clearTimeout(timer)
    }
    return this.exitCode ?? null
  }

  stop (): void { if (this.exitCode === undefined) this.child.kill() }
}
