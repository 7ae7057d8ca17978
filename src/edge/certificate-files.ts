// Certificates re-read from disk without a restart: whatever replaced them (join re-run, the
// renewal, an operator's copy), the files are checked every few seconds and on reloadCertificates()
// (what SIGHUP calls). A changed pair is used only when it is whole — the certificate parses, the key
// is its key, and a tunnel certificate still names this node — otherwise the one in use stays, with a
// warn line saying why (a half-copied pair is refused, then picked up once complete).
// Each pair has two places: the configured files (join and operators write them; /etc is read-only
// to the service) and the renewed ones in <stateDir>/pki (the daemon's own renewals). Of the valid
// pairs, the one that expires last is used: a renewal wins over what join wrote a month ago, and a
// fresh join or an operator's newer certificate wins over an older renewal.
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from '../obs/logger.js'
import { caProblem, describeCertificate, pairProblem, readTexts, sameTexts } from '../pki/tls-material.js'
import { nodeNameOfCertificate } from '../tunnel/protocol.js'

export interface CertificatePaths {
  tunnelCa: string
  tunnelCert: string
  tunnelKey: string
  /** Undefined when the edge serves plain HTTP (requireAuthorization off). */
  servingCert: string | undefined
  servingKey: string | undefined
  /** Where renewals are written: node.crt/node.key, server.crt/server.key. */
  renewedDir: string
}

export const RENEWED = { tunnelCert: 'node.crt', tunnelKey: 'node.key', servingCert: 'server.crt', servingKey: 'server.key' } as const

interface Pair { cert: string, key: string, notAfter: number }

/** The valid pair that expires last, or why none is valid (the configured pair's problem). */
async function choosePair (candidates: Array<[string, string]>, check: (cert: string) => string | undefined): Promise<Pair | { refused: string }> {
  let best: Pair | undefined
  let firstProblem: string | undefined
  for (const [certFile, keyFile] of candidates) {
    const read = await readTexts([certFile, keyFile])
    if ('error' in read) { firstProblem ??= read.error; continue }
    const [cert, key] = read.texts as [string, string]
    const problem = pairProblem(cert, key) ?? check(cert)
    if (problem !== undefined) { firstProblem ??= `${certFile}: ${problem}`; continue }
    const notAfter = Date.parse(new X509Certificate(cert).validTo)
    if (best === undefined || notAfter > best.notAfter) best = { cert, key, notAfter }
  }
  return best ?? { refused: firstProblem ?? 'no certificate' }
}

/** The certificates to use now: the tunnel's (with its CA) and the serving pair (undefined: plain HTTP). */
export async function chooseCertificates (paths: CertificatePaths, nodeName: string | undefined): Promise<{
  tunnel: { ca: string, cert: string, key: string } | { refused: string }
  serving: { cert: string, key: string } | { refused: string } | undefined
}> {
  const renewed = (f: string): string => join(paths.renewedDir, f)
  const ca = await readTexts([paths.tunnelCa])
  const caCheck = 'error' in ca ? ca.error : caProblem(ca.texts[0]!)
  const tunnelPair = caCheck !== undefined
    ? { refused: `${paths.tunnelCa}: ${caCheck}` }
    : await choosePair([[paths.tunnelCert, paths.tunnelKey], [renewed(RENEWED.tunnelCert), renewed(RENEWED.tunnelKey)]],
      (cert) => nodeName === undefined ? undefined : nodeProblem(cert, nodeName))
  const tunnel = 'refused' in tunnelPair ? tunnelPair : { ca: ('texts' in ca ? ca.texts[0] : '')!, cert: tunnelPair.cert, key: tunnelPair.key }
  let serving: Awaited<ReturnType<typeof chooseCertificates>>['serving']
  if (paths.servingCert !== undefined && paths.servingKey !== undefined) {
    const pair = await choosePair([[paths.servingCert, paths.servingKey], [renewed(RENEWED.servingCert), renewed(RENEWED.servingKey)]], () => undefined)
    serving = 'refused' in pair ? pair : { cert: pair.cert, key: pair.key }
  }
  return { tunnel, serving }
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
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReloadResult> | undefined

  /** `inUse`: what the daemon started with; replaced by each pair a reload hands on. */
  constructor (private readonly paths: CertificatePaths, private readonly targets: CertificateTargets, private readonly nodeName: string,
    private readonly inUse: { tunnel: { ca: string, cert: string, key: string }, serving: { cert: string, key: string } | undefined },
    private readonly logger: Logger) {}

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

  /** The certificates in use now (the renewal schedules itself from them). */
  get current (): { tunnelCert: string, servingCert: string | undefined } {
    return { tunnelCert: this.inUse.tunnel.cert, servingCert: this.inUse.serving?.cert }
  }

  private async readAll (): Promise<ReloadResult> {
    const chosen = await chooseCertificates(this.paths, this.nodeName)
    let tunnel: ReloadResult['tunnel'] = 'unchanged'
    if ('refused' in chosen.tunnel) tunnel = this.refuse('tunnel', chosen.tunnel.refused)
    else if (!sameTexts(chosen.tunnel, this.inUse.tunnel)) {
      this.inUse.tunnel = chosen.tunnel
      this.targets.tunnel(chosen.tunnel)
      this.logger.info({ certificate: describeCertificate(chosen.tunnel.cert) }, 'tunnel certificate reloaded from disk; redialling with it')
      tunnel = 'reloaded'
    }
    let serving: ReloadResult['serving'] = 'none'
    if (chosen.serving !== undefined && 'refused' in chosen.serving) serving = this.refuse('serving', chosen.serving.refused)
    else if (chosen.serving !== undefined) {
      serving = 'unchanged'
      if (this.inUse.serving === undefined || !sameTexts(chosen.serving, this.inUse.serving)) {
        this.inUse.serving = chosen.serving
        this.targets.serving(chosen.serving)
        this.logger.info({ certificate: describeCertificate(chosen.serving.cert) }, 'serving certificate reloaded from disk; new connections use it')
        serving = 'reloaded'
      }
    }
    return { tunnel, serving }
  }

  private refuse (which: 'tunnel' | 'serving', reason: string): { refused: string } {
    this.logger.warn({ reason }, `${which} certificate files changed but cannot be used; keeping the current one`)
    return { refused: reason }
  }
}

function nodeProblem (cert: string, nodeName: string): string | undefined {
  const node = nodeNameOfCertificate(cert)
  return node === nodeName ? undefined : `names node "${node ?? '(none)'}", but this daemon runs as "${nodeName}" (restart it to change the node)`
}
