// The shim's tunnel CA, certificate and key re-read from disk without a restart (as kube-apiserver
// reloads its serving certificate and client CA): cert-manager, a Secret the chart mounts, or an
// operator renews the certificate or rotates the CA bundle, and new connections use it — a restart
// would drop every edge's tunnel. The files are checked every few seconds and on reload() (SIGHUP).
// A changed set is applied only when whole: every CA block parses and is a CA, the certificate
// parses, has not expired and the key is its key, and TLS accepts the three together; otherwise the
// set in use stays and one warn line names the file and the problem (again only when the problem
// changes, not at every check). Live tunnels keep the TLS they were opened with.
import { createSecureContext } from 'node:tls'
import type { Logger } from '../obs/logger.js'
import { caProblem, caSubjects, describeCertificate, expiredProblem, pairProblem, readTexts, sameTexts } from '../pki/tls-material.js'

export interface TunnelMaterial { ca: string, cert: string, key: string }

/** The config keys' files, as configured (modules.cloudHub.tlsCaFile, tlsCertFile, tlsPrivateKeyFile). */
export type TunnelMaterialPaths = TunnelMaterial

/** What a check found on disk: nothing new, a set to apply, or why the new set cannot be used. */
export type Judgement = { unchanged: true } | { use: TunnelMaterial } | { refused: string }

/** What one reload did (the SIGHUP line says it). */
export type ReloadResult = 'unchanged' | 'reloaded' | { refused: string }

/** The pure core: whether the texts read from `paths` replace `inUse`, and why not. */
export function judgeTunnelMaterial (paths: TunnelMaterialPaths, read: TunnelMaterial, inUse: TunnelMaterial, now: number): Judgement {
  if (sameTexts(read, inUse)) return { unchanged: true }
  const ca = caProblem(read.ca)
  if (ca !== undefined) return { refused: `${paths.ca}: ${ca}` }
  const pair = pairProblem(read.cert, read.key)
  // The key is written apart from the certificate: a mismatch names both files.
  if (pair !== undefined) return { refused: `${paths.cert} / ${paths.key}: ${pair}` }
  const expired = expiredProblem(read.cert, now)
  if (expired !== undefined) return { refused: `${paths.cert}: ${expired}` }
  try {
    createSecureContext(read)
  } catch (err) {
    return { refused: `${paths.cert} / ${paths.key}: not usable for TLS (${(err as Error).message})` }
  }
  return { use: read }
}

export class TunnelCertificates {
  private timer: NodeJS.Timeout | undefined
  private running: Promise<ReloadResult> | undefined
  /** The last refusal logged: the same one is not logged again at every check. */
  private lastRefusal: string | undefined

  /** `inUse`: what the shim started with; `apply` hands a new set to the listeners. */
  constructor (private readonly paths: TunnelMaterialPaths, private inUse: TunnelMaterial,
    private readonly apply: (material: TunnelMaterial) => void, private readonly logger: Logger) {}

  start (intervalMs: number): void {
    this.timer = setInterval(() => { void this.reload() }, intervalMs)
    this.timer.unref()
  }

  stop (): void {
    clearInterval(this.timer)
  }

  /** The set the listeners serve now (the expiry gauge reads its certificate). */
  get current (): TunnelMaterial {
    return this.inUse
  }

  /** Reads the three files now and applies a changed, whole set (concurrent calls share one run). */
  reload (): Promise<ReloadResult> {
    this.running ??= this.check().finally(() => { this.running = undefined })
    return this.running
  }

  private async check (): Promise<ReloadResult> {
    const read = await readTexts([this.paths.ca, this.paths.cert, this.paths.key])
    const judged: Judgement = 'error' in read
      ? { refused: read.error }
      : judgeTunnelMaterial(this.paths, { ca: read.texts[0]!, cert: read.texts[1]!, key: read.texts[2]! }, this.inUse, Date.now())
    if ('refused' in judged) {
      if (judged.refused !== this.lastRefusal) {
        this.logger.warn({ reason: judged.refused }, 'tunnel certificate files changed but cannot be used; keeping the current ones')
      }
      this.lastRefusal = judged.refused
      return { refused: judged.refused }
    }
    this.lastRefusal = undefined
    if ('unchanged' in judged) return 'unchanged'
    this.apply(judged.use)
    this.inUse = judged.use
    this.logger.info({ certificate: describeCertificate(judged.use.cert), tunnelCa: caSubjects(judged.use.ca) },
      'tunnel certificate files reloaded: new edge connections use them; open tunnels keep theirs')
    return 'reloaded'
  }
}
