// Certificates re-read from disk without a restart: whatever replaced them (join re-run, the
// renewal, an operator's copy), the files are checked every few seconds and on reloadCertificates()
// (what SIGHUP calls). A changed pair is used only when it is whole — the certificate parses, the key
// is its key, and a tunnel certificate still names this node — otherwise the one in use stays, with a
// warn line saying why (a half-copied pair is refused, then picked up once complete).
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import type { Logger } from '../obs/logger.js'
import { nodeNameOfCertificate } from '../tunnel/protocol.js'

export interface CertificatePaths {
  tunnelCa: string
  tunnelCert: string
  tunnelKey: string
  /** Undefined when the edge serves plain HTTP (requireAuthorization off). */
  servingCert: string | undefined
  servingKey: string | undefined
}

export interface CertificateTargets {
  tunnel: (credentials: { ca: string, cert: string, key: string }) => void
  serving: (tls: { cert: string, key: string }) => void
}

/** What one reload did with each pair. */
export interface ReloadResult {
  tunnel: 'unchanged' | 'reloaded' | { refused: string }
  serving: 'unchanged' | 'reloaded' | 'none' | { refused: string }
}

export class CertificateFiles {
  private tunnel: string
  private serving: string | undefined
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReloadResult> | undefined

  constructor (private readonly paths: CertificatePaths, private readonly targets: CertificateTargets, private readonly nodeName: string,
    loaded: { tunnel: { ca: string, cert: string, key: string }, serving: { cert: string, key: string } | undefined }, private readonly logger: Logger) {
    this.tunnel = fingerprint(loaded.tunnel.ca, loaded.tunnel.cert, loaded.tunnel.key)
    this.serving = loaded.serving === undefined ? undefined : fingerprint(loaded.serving.cert, loaded.serving.key)
  }

  start (intervalMs: number): void {
    this.timer = setInterval(() => { void this.reload() }, intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** Reads every file now and uses what changed (concurrent calls share one run). */
  reload (): Promise<ReloadResult> {
    this.running ??= this.readAll().finally(() => { this.running = undefined })
    return this.running
  }

  private async readAll (): Promise<ReloadResult> {
    return { tunnel: await this.reloadTunnel(), serving: await this.reloadServing() }
  }

  private async reloadTunnel (): Promise<ReloadResult['tunnel']> {
    const { tunnelCa, tunnelCert, tunnelKey } = this.paths
    const read = await readAll([tunnelCa, tunnelCert, tunnelKey])
    if ('error' in read) return this.refuse('tunnel', read.error)
    const [ca, cert, key] = read.texts as [string, string, string]
    const print = fingerprint(ca, cert, key)
    if (print === this.tunnel) return 'unchanged'
    const problem = pairProblem(cert, key) ?? caProblem(ca) ?? nodeProblem(cert, this.nodeName)
    if (problem !== undefined) return this.refuse('tunnel', `${tunnelCert}: ${problem}`)
    this.tunnel = print
    this.targets.tunnel({ ca, cert, key })
    this.logger.info({ certificate: describe(cert) }, 'tunnel certificate reloaded from disk; redialling with it')
    return 'reloaded'
  }

  private async reloadServing (): Promise<ReloadResult['serving']> {
    const { servingCert, servingKey } = this.paths
    if (servingCert === undefined || servingKey === undefined) return 'none'
    const read = await readAll([servingCert, servingKey])
    if ('error' in read) return this.refuse('serving', read.error)
    const [cert, key] = read.texts as [string, string]
    const print = fingerprint(cert, key)
    if (print === this.serving) return 'unchanged'
    const problem = pairProblem(cert, key)
    if (problem !== undefined) return this.refuse('serving', `${servingCert}: ${problem}`)
    this.serving = print
    this.targets.serving({ cert, key })
    this.logger.info({ certificate: describe(cert) }, 'serving certificate reloaded from disk; new connections use it')
    return 'reloaded'
  }

  private refuse (which: 'tunnel' | 'serving', reason: string): { refused: string } {
    this.logger.warn({ reason }, `${which} certificate files changed but cannot be used; keeping the current one`)
    return { refused: reason }
  }
}

function fingerprint (...texts: string[]): string {
  return texts.join('\0')
}

async function readAll (files: string[]): Promise<{ texts: string[] } | { error: string }> {
  try {
    return { texts: await Promise.all(files.map((f) => readFile(f, 'utf8'))) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

function pairProblem (cert: string, key: string): string | undefined {
  try {
    const x = new X509Certificate(cert)
    if (!x.checkPrivateKey(createPrivateKey(key))) return 'the key file does not hold this certificate\'s key'
    return undefined
  } catch (err) {
    return `unreadable (${(err as Error).message})`
  }
}

function caProblem (ca: string): string | undefined {
  try {
    return new X509Certificate(ca).ca ? undefined : 'the tunnel CA file holds no CA certificate'
  } catch (err) {
    return `tunnel CA unreadable (${(err as Error).message})`
  }
}

function nodeProblem (cert: string, nodeName: string): string | undefined {
  const node = nodeNameOfCertificate(cert)
  return node === nodeName ? undefined : `names node "${node ?? '(none)'}", but this daemon runs as "${nodeName}" (restart it to change the node)`
}

function describe (cert: string): { serial: string, validTo: string } {
  const x = new X509Certificate(cert)
  return { serial: x.serialNumber, validTo: new Date(x.validTo).toISOString() }
}
