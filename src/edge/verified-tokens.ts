// Signature checks are the costly part of authenticating a request (WebCrypto runs off the event
// loop), and a pod sends the same token for up to an hour. Verified payloads are kept by the
// token's SHA-256 until the token's own expiry (at most 5 minutes, at most 10 000 tokens); the
// claims (expiry, audience, pod binding) are still judged on every request.
import { createHash } from 'node:crypto'
import { ExpiringLru } from '../util/expiring-lru.js'

const MAX_TOKENS = 10_000
const MAX_TTL_MS = 5 * 60_000

export class VerifiedTokens {
  private cache = new ExpiringLru<string, Record<string, unknown>>(MAX_TOKENS)

  get (token: string): Record<string, unknown> | undefined {
    return this.cache.get(digest(token))
  }

  set (token: string, payload: Record<string, unknown>): void {
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : 0
    this.cache.set(digest(token), payload, Math.min(exp, MAX_TTL_MS))
  }

  /** After a key change: a retired key's tokens must be verified (and refused) again. */
  clear (): void {
    this.cache = new ExpiringLru(MAX_TOKENS)
  }
}

function digest (token: string): string {
  return createHash('sha256').update(token).digest('base64')
}
