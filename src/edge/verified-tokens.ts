// Signature checks are the costly part of authenticating a request (WebCrypto runs off the event
// loop), and a pod sends the same token for up to an hour. Verified payloads are kept by the
// token's SHA-256 until the token's own expiry (at most 5 minutes, at most 10 000 tokens); the
// claims (expiry, audience, pod binding) are still judged on every request.
import { createHash } from 'node:crypto'
import { LRUCache } from 'lru-cache'

const MAX_TOKENS = 10_000
const MAX_TTL_MS = 5 * 60_000

type Payload = Record<string, unknown>

export class VerifiedTokens {
  // ttlResolution 0: expiry is judged against the clock on every read, not a value cached for 1 ms.
  private readonly cache = new LRUCache<string, Payload>({ max: MAX_TOKENS, ttl: MAX_TTL_MS, ttlResolution: 0 })

  get (token: string): Payload | undefined {
    return this.cache.get(digest(token))
  }

  set (token: string, payload: Payload): void {
    const exp = typeof payload.exp === 'number' ? payload.exp * 1000 - Date.now() : 0
    const ttl = Math.min(exp, MAX_TTL_MS)
    // A token already past its expiry (or without one) is not kept: lru-cache reads ttl 0 as "forever".
    if (ttl > 0) this.cache.set(digest(token), payload, { ttl })
  }

  /** After a key change: a retired key's tokens must be verified (and refused) again. */
  clear (): void {
    this.cache.clear()
  }

  get size (): number { return this.cache.size }
}

function digest (token: string): string {
  return createHash('sha256').update(token).digest('base64')
}
