// check-config's certificate checks for an edge config: what the daemon would refuse or what would
// fail later (an expiring certificate, a serving certificate pods cannot verify for the address they
// dial), found before a (re)start. Each finding names the config key and the file. Pure: the caller
// reads the files; `now` is given.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { isIP } from 'node:net'
import { nodeNameOfCertificate } from '../tunnel/protocol.js'
import type { EdgeConfig } from './edge.js'

export interface CertificateFinding {
  /** The config key naming the file, e.g. modules.edgeHub.tlsCertFile. */
  readonly keyPath: string
  readonly severity: 'error' | 'warning'
  readonly message: string
}

/** Below this share of its life left, a certificate is reported (renewal runs at 80 %). */
const WARN_REMAINING = 0.1
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2'
const SERVER_AUTH = '1.3.6.1.5.5.7.3.1'

/** The files an edge config names, as they are read (undefined: unreadable, reported elsewhere). */
export type ReadFile = (path: string) => string | undefined

/**
 * `renewed`: the daemon's own renewals (<stateDir>/pki/node.crt, server.crt), which it prefers when
 * they expire later — a configured certificate past its date is then only a warning.
 */
export function checkEdgeCertificates (config: EdgeConfig, read: ReadFile, now: Date, renewed: { tunnel: string, serving: string }): CertificateFinding[] {
  const findings: CertificateFinding[] = []
  const hub = config.modules.edgeHub
  const meta = config.modules.metaServer
  const report = (keyPath: string, path: string, severity: CertificateFinding['severity'], message: string): void => {
    findings.push({ keyPath, severity, message: `${message}: ${path}` })
  }

  const ca = parse('modules.edgeHub.tlsCaFile', hub.tlsCaFile, read, report)
  if (ca !== undefined) checkDates('modules.edgeHub.tlsCaFile', hub.tlsCaFile, ca, now, undefined, report)

  const tunnel = parse('modules.edgeHub.tlsCertFile', hub.tlsCertFile, read, report)
  if (tunnel !== undefined) {
    const key = 'modules.edgeHub.tlsCertFile'
    checkDates(key, hub.tlsCertFile, tunnel, now, certificateAt(renewed.tunnel, read), report)
    checkKey(key, hub.tlsCertFile, tunnel, 'modules.edgeHub.tlsPrivateKeyFile', hub.tlsPrivateKeyFile, read, report)
    let node: string | undefined
    try { node = nodeNameOfCertificate(tunnel.toString()) } catch (err) { report(key, hub.tlsCertFile, 'error', (err as Error).message) }
    if (node !== undefined && config.nodeName !== null && node !== config.nodeName) {
      report(key, hub.tlsCertFile, 'error', `names node "${node}" (CN=system:node:${node}), but nodeName is "${config.nodeName}"`)
    }
    const usages = tunnel.keyUsage
    if (usages !== undefined && !usages.includes(CLIENT_AUTH)) report(key, hub.tlsCertFile, 'error', 'has no clientAuth extended key usage (the shim refuses it)')
    if (ca !== undefined && !chainsTo(tunnel, ca)) report(key, hub.tlsCertFile, 'error', `is not signed by the tunnel CA (modules.edgeHub.tlsCaFile ${hub.tlsCaFile})`)
  }

  // Without the gate the edge serves plain HTTP: the serving pair is not used.
  if (!config.featureGates.requireAuthorization) return findings
  const serving = parse('modules.metaServer.tlsCertFile', meta.tlsCertFile, read, report)
  if (serving !== undefined) {
    const key = 'modules.metaServer.tlsCertFile'
    checkDates(key, meta.tlsCertFile, serving, now, certificateAt(renewed.serving, read), report)
    checkKey(key, meta.tlsCertFile, serving, 'modules.metaServer.tlsPrivateKeyFile', meta.tlsPrivateKeyFile, read, report)
    const usages = serving.keyUsage
    if (usages !== undefined && !usages.includes(SERVER_AUTH)) report(key, meta.tlsCertFile, 'error', 'has no serverAuth extended key usage (clients refuse it)')
    const missing = neededIps(config).filter((ip) => !serving.checkIP(ip))
    if (missing.length > 0) {
      report(key, meta.tlsCertFile, 'error', `lacks the IP SANs pods dial: ${missing.join(', ')} (has ${serving.subjectAltName ?? 'none'})`)
    }
  }
  return findings
}

/** The addresses pods reach the listeners by: the server (loopback when it listens on all), the dummy address, the redirected ClusterIP. */
function neededIps (config: EdgeConfig): string[] {
  const meta = config.modules.metaServer
  const host = meta.server.host
  const ips = [isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::' ? host : '127.0.0.1']
  if (meta.dummyServer !== null) ips.push(meta.dummyServer.host)
  if (meta.redirect.serviceClusterIP !== null) ips.push(meta.redirect.serviceClusterIP)
  return [...new Set(ips)]
}

type Report = (keyPath: string, path: string, severity: CertificateFinding['severity'], message: string) => void

function parse (keyPath: string, path: string, read: ReadFile, report: Report): X509Certificate | undefined {
  const text = read(path)
  if (text === undefined) return undefined
  try {
    return new X509Certificate(text)
  } catch (err) {
    report(keyPath, path, 'error', `not a PEM certificate (${(err as Error).message})`)
    return undefined
  }
}

function certificateAt (path: string, read: ReadFile): X509Certificate | undefined {
  const text = read(path)
  if (text === undefined) return undefined
  try { return new X509Certificate(text) } catch { return undefined }
}

/** Dates: not yet valid or expired is an error — unless the daemon's own renewal, valid now and longer, takes over. */
function checkDates (keyPath: string, path: string, cert: X509Certificate, now: Date, renewal: X509Certificate | undefined, report: Report): void {
  const from = Date.parse(cert.validFrom)
  const to = Date.parse(cert.validTo)
  const t = now.getTime()
  const renewalInUse = renewal !== undefined && Date.parse(renewal.validFrom) <= t && Date.parse(renewal.validTo) > Math.max(t, to)
  const severity = renewalInUse ? 'warning' : 'error'
  const note = renewalInUse ? ` (the daemon uses its renewal, valid until ${new Date(renewal.validTo).toISOString()})` : ''
  if (t < from) { report(keyPath, path, severity, `not valid before ${new Date(from).toISOString()}${note}`); return }
  if (t >= to) { report(keyPath, path, severity, `expired at ${new Date(to).toISOString()}${note}`); return }
  const left = (to - t) / (to - from)
  if (left < WARN_REMAINING && !renewalInUse) {
    report(keyPath, path, 'warning', `expires at ${new Date(to).toISOString()}, ${(left * 100).toFixed(1)} % of its life left`)
  }
}

function checkKey (keyPath: string, path: string, cert: X509Certificate, keyKeyPath: string, keyFile: string, read: ReadFile, report: Report): void {
  const text = read(keyFile)
  if (text === undefined) return
  try {
    if (!cert.checkPrivateKey(createPrivateKey(text))) report(keyKeyPath, keyFile, 'error', `is not the key of ${keyPath} (${path})`)
  } catch (err) {
    report(keyKeyPath, keyFile, 'error', `not a private key (${(err as Error).message})`)
  }
}

function chainsTo (cert: X509Certificate, ca: X509Certificate): boolean {
  return cert.checkIssued(ca) && cert.verify(ca.publicKey)
}
