// Checks on certificate, key and CA texts re-read from disk while a daemon runs: the edge
// (src/edge/certificate-files.ts) and the shim (src/cloud/tunnel-certificates.ts) use a changed
// file only when these find nothing wrong, so a half-copied or mismatched set never replaces the
// working one. Each check answers undefined (fine) or one short reason for the warn line; only
// readTexts touches the disk.
import { createPrivateKey, X509Certificate } from 'node:crypto'
import { readFile } from 'node:fs/promises'

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g

/** Why `key` cannot serve with `cert` (unparsable, or not the certificate's key), or undefined. */
export function pairProblem (cert: string, key: string): string | undefined {
  try {
    const x = new X509Certificate(cert)
    if (!x.checkPrivateKey(createPrivateKey(key))) return 'the key file does not hold this certificate\'s key'
    return undefined
  } catch (err) {
    return `unreadable (${(err as Error).message})`
  }
}

/**
 * Why a CA file cannot be trusted as it is: every certificate block in it must parse and be a CA
 * (a bundle of old and new CA during a rotation is fine; a bundle whose second half is still being
 * written is not — it would be taken for the whole bundle and refuse the new CA's nodes).
 */
export function caProblem (ca: string): string | undefined {
  const blocks = ca.match(PEM_CERTIFICATE) ?? []
  // A file cut inside a block has one BEGIN more than complete blocks.
  if (blocks.length === 0 || ca.split('-----BEGIN CERTIFICATE-----').length - 1 !== blocks.length) {
    try {
      new X509Certificate(ca) // eslint-disable-line no-new -- only for the parser's reason
    } catch (err) {
      return `tunnel CA unreadable (${(err as Error).message})`
    }
    return 'tunnel CA unreadable (a certificate block is cut short)'
  }
  for (const [i, block] of blocks.entries()) {
    try {
      if (!new X509Certificate(block).ca) return blocks.length === 1 ? 'the tunnel CA file holds no CA certificate' : `certificate ${i + 1} of the tunnel CA file is not a CA`
    } catch (err) {
      return `tunnel CA unreadable (certificate ${i + 1}: ${(err as Error).message})`
    }
  }
  return undefined
}

/** Why a certificate is no use at `now`: already expired (the one in use may still be valid). */
export function expiredProblem (cert: string, now: number): string | undefined {
  const validTo = Date.parse(new X509Certificate(cert).validTo)
  return validTo <= now ? `expired at ${new Date(validTo).toISOString()}` : undefined
}

/** What a log line may say about a certificate (never its key). */
export function describeCertificate (cert: string): { serial: string, validTo: string } {
  const x = new X509Certificate(cert)
  return { serial: x.serialNumber, validTo: new Date(x.validTo).toISOString() }
}

/** The subjects of a CA bundle, for the line saying it was applied. */
export function caSubjects (ca: string): string[] {
  return (ca.match(PEM_CERTIFICATE) ?? []).map((block) => new X509Certificate(block).subject.replaceAll('\n', ', '))
}

/** The texts of `files`, or the first read error (a file being replaced may be missing for a moment). */
export async function readTexts (files: string[]): Promise<{ texts: string[] } | { error: string }> {
  try {
    return { texts: await Promise.all(files.map((f) => readFile(f, 'utf8'))) }
  } catch (err) {
    return { error: (err as Error).message }
  }
}

/** Whether two sets of PEM texts are the same, key by key (nothing to apply when they are). */
export function sameTexts<T extends object> (a: T, b: T): boolean {
  return (Object.keys(a) as Array<keyof T>).every((k) => a[k] === b[k])
}
