// TokenReview with a bounded cache keyed by the token's SHA-256 (the token itself is never kept):
// positive answers until the token's own expiry (capped), negative ones briefly, identical
// concurrent reviews coalesced so a burst from one pod costs one apiserver call.
import { createHash } from 'node:crypto'
import { ExpiringLru } from '../util/expiring-lru.js'
import type { Upstream } from './upstream.js'

export interface ReviewedUser {
  username: string
  uid: string
  groups: string[]
  extra: Record<string, string[]>
}

export type Review = { authenticated: true, user: ReviewedUser } | { authenticated: false, error: string }

export interface TokenReviewerOptions {
  cacheSize: number
  maxTtlMs: number
  negativeTtlMs: number
  audiences: string[]
}

export class TokenReviewer {
  private readonly cache: ExpiringLru<string, Review>
  private readonly inflight = new Map<string, Promise<Review>>()
  reviewsSent = 0

  constructor (private readonly upstream: Upstream, private readonly opts: TokenReviewerOptions,
    private readonly now: () => number = Date.now) {
    this.cache = new ExpiringLru(opts.cacheSize, now)
  }

  review (token: string): Promise<Review> {
    const key = createHash('sha256').update(token).digest('hex')
    const cached = this.cache.get(key)
    if (cached !== undefined) return Promise.resolve(cached)
    let pending = this.inflight.get(key)
    if (pending === undefined) {
      pending = this.send(token).then((review) => {
        const ttl = review.authenticated ? Math.min(this.opts.maxTtlMs, msUntilExpiry(token, this.now())) : this.opts.negativeTtlMs
        this.cache.set(key, review, ttl)
        return review
      }).finally(() => this.inflight.delete(key))
      this.inflight.set(key, pending)
    }
    return pending
  }

  private async send (token: string): Promise<Review> {
    this.reviewsSent++
    const res = await this.upstream.json<any>('POST', '/apis/authentication.k8s.io/v1/tokenreviews', {
      apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview',
      spec: { token, audiences: this.opts.audiences },
    })
    if (res.status !== 201 && res.status !== 200) {
      throw new Error(`TokenReview failed with HTTP ${res.status}: ${res.body?.message ?? ''}`)
    }
    const status = res.body?.status ?? {}
    if (status.authenticated !== true) return { authenticated: false, error: String(status.error ?? 'token not authenticated') }
    const u = status.user ?? {}
    return { authenticated: true, user: { username: String(u.username ?? ''), uid: String(u.uid ?? ''), groups: u.groups ?? [], extra: u.extra ?? {} } }
  }
}

/** Milliseconds until the JWT's `exp` (unverified: TokenReview already judged it); unknown → Infinity. */
export function msUntilExpiry (token: string, now: number): number {
  const payload = token.split('.')[1]
  if (payload === undefined) return Infinity
  try {
    const exp = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')).exp
    return typeof exp === 'number' ? exp * 1000 - now : Infinity
  } catch {
    return Infinity
  }
}
