// Renews both certificates through the tunnel at 80 % of the life of whichever expires first: new
// keys made here, the serving SANs asked of the shim, both requests sent over the tunnel (the shim
// knows the node from the tunnel certificate), the results written atomically into <stateDir>/pki
// (0600: the daemon's own directory; /etc is read-only to the service) and picked up by
// CertificateFiles like any changed file. A failure is retried with a capped backoff and logged
// at warn; it never touches the certificates in use.
import { X509Certificate } from 'node:crypto'
import { join } from 'node:path'
import type { Logger } from '../obs/logger.js'
import { createCertificateRequest, newNodeKey, privateKeyPem } from '../pki/x509.js'
import type { TunnelClient } from '../tunnel/client.js'
import { HEADER_RENEW, RENEW_PATH } from '../tunnel/protocol.js'
import { RENEWED, type CertificateFiles } from './certificate-files.js'
import { writeAll } from './join-files.js'
import { readBounded } from '../util/bounded-body.js'

const RENEW_AT = 0.8
const RETRY_MIN_MS = 5000
/** Never renew again sooner than this after a renewal: a shim handing out certificates already due must not cause a loop. */
const MIN_RENEW_INTERVAL_MS = 10_000
const RETRY_MAX_MS = 10 * 60_000
/** setTimeout's limit is ~24.8 days; a longer wait is taken in steps. */
const MAX_TIMER_MS = 24 * 3600_000
const MAX_ANSWER_BYTES = 256 * 1024

export class CertificateRenewal {
  private timer: NodeJS.Timeout | undefined
  private stopped = false
  private running = false
  private retryMs = RETRY_MIN_MS
  private readonly onConnected = (): void => { if (this.due()) void this.renew() }

  constructor (private readonly tunnel: TunnelClient, private readonly certificates: CertificateFiles,
    private readonly nodeName: string, private readonly dir: string, private readonly logger: Logger) {}

  start (): void {
    this.tunnel.on('connected', this.onConnected)
    this.schedule()
  }

  stop (): void {
    this.stopped = true
    clearTimeout(this.timer)
    this.tunnel.off('connected', this.onConnected)
  }

  /** When the certificates in use are due: 80 % into the life of the one that expires first. */
  renewAt (): number {
    const { tunnelCert, servingCert } = this.certificates.current
    return Math.min(...[tunnelCert, servingCert].filter((c): c is string => c !== undefined).map((pem) => {
      const c = new X509Certificate(pem)
      const from = Date.parse(c.validFrom)
      return from + RENEW_AT * (Date.parse(c.validTo) - from)
    }))
  }

  private due (): boolean {
    return !this.running && Date.now() >= this.renewAt()
  }

  /** Renews when due (checked again when the timer fires: a long wait is taken in steps); `retry` renews regardless. */
  private schedule (delayMs?: number, retry = false): void {
    if (this.stopped) return
    clearTimeout(this.timer)
    const wait = delayMs ?? Math.max(0, this.renewAt() - Date.now())
    this.timer = setTimeout(() => {
      if (!retry && !this.due()) { this.schedule(); return }
      void this.renew()
    }, Math.min(wait, MAX_TIMER_MS))
    this.timer.unref()
  }

  private async renew (): Promise<void> {
    if (this.running || this.stopped) return
    if (!this.tunnel.state.connected) return // onConnected tries again
    this.running = true
    try {
      const sans = await this.call<{ servingIPAddresses: string[], servingDNSNames: string[] }>('GET')
      const node = { cn: `system:node:${this.nodeName}`, o: ['system:nodes'] }
      const tunnelKey = newNodeKey()
      const servingKey = newNodeKey()
      const issued = await this.call<{ tunnelCertificate: string, servingCertificate: string }>('POST', {
        tunnelCsr: createCertificateRequest(tunnelKey, node),
        servingCsr: createCertificateRequest(servingKey, node, { ips: sans.servingIPAddresses, dns: sans.servingDNSNames }),
      })
      if (!new X509Certificate(issued.tunnelCertificate).checkPrivateKey(tunnelKey) || !new X509Certificate(issued.servingCertificate).checkPrivateKey(servingKey)) {
        throw new Error('the shim answered with certificates for other keys')
      }
      await writeAll([
        { path: join(this.dir, RENEWED.tunnelCert), content: issued.tunnelCertificate, secret: false },
        { path: join(this.dir, RENEWED.tunnelKey), content: privateKeyPem(tunnelKey), secret: true },
        { path: join(this.dir, RENEWED.servingCert), content: issued.servingCertificate, secret: false },
        { path: join(this.dir, RENEWED.servingKey), content: privateKeyPem(servingKey), secret: true },
      ], { mode: 0o600, why: 'the daemon\'s own renewal' })
      const result = await this.certificates.reload()
      this.logger.info({ validTo: new X509Certificate(issued.tunnelCertificate).validTo, tunnel: result.tunnel, serving: result.serving }, 'certificates renewed through the tunnel')
      this.retryMs = RETRY_MIN_MS
      this.running = false
      this.schedule(Math.max(MIN_RENEW_INTERVAL_MS, this.renewAt() - Date.now()))
    } catch (err) {
      this.running = false
      this.logger.warn({ reason: (err as Error).message, retryInMs: this.retryMs }, 'certificate renewal failed; the current certificates stay in use')
      this.schedule(this.retryMs, true)
      this.retryMs = Math.min(RETRY_MAX_MS, this.retryMs * 2)
    }
  }

  /** One renewal call through the tunnel; the answer's JSON, or an Error with the shim's message. */
  private async call<T> (method: 'GET' | 'POST', body?: unknown): Promise<T> {
    const stream = this.tunnel.open({ ':method': method, ':path': RENEW_PATH, [HEADER_RENEW]: '1', 'content-type': 'application/json' },
      { endStream: body === undefined })
    if (body !== undefined) stream.end(JSON.stringify(body))
    const closed = (): Error => new Error('the tunnel stream closed before an answer')
    const [status, text] = await Promise.all([
      new Promise<number>((resolve, reject) => {
        stream.once('response', (headers) => resolve(Number(headers[':status'])))
        stream.once('close', () => reject(closed()))
      }),
      readBounded(stream, MAX_ANSWER_BYTES).catch((err: NodeJS.ErrnoException) => { throw err.code === 'ERR_STREAM_PREMATURE_CLOSE' ? closed() : err }),
    ])
    if (text === undefined) throw new Error('the renewal answer is too large')
    let parsed: any // eslint-disable-line @typescript-eslint/no-explicit-any -- checked right below
    try { parsed = JSON.parse(text.toString('utf8')) } catch { throw new Error(`the shim answered HTTP ${status} without JSON`) }
    if (status !== 200) throw new Error(`the shim refused (HTTP ${status}, ${String(parsed?.reason)}): ${String(parsed?.message)}`)
    return parsed as T
  }
}
