// TokenReview with a bounded cache keyed by the token's SHA-256 (the token itself is never kept):
// positive answers until the token's own expiry (capped), negative ones briefly, identical
// concurrent reviews coalesced (lru-cache's fetchMethod) so a burst from one pod costs one
// apiserver call.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions, explicit checks) */
import { createHash } from 'node:crypto'
import { decodeJwt } from 'jose'
import { LRUCache } from 'lru-cache'
import type { Upstream } from './upstream.js'

export interface ReviewedUser {
  username: string
  uid: string
  groups: string[]
  extra: Record<string, string[]>
}

export type Review = { ok: true, user: ReviewedUser } | { ok: false, error: string }

export interface TokenReviewerOptions {
  cacheSize: number
  maxTtlMs: number
  negativeTtlMs: number
  audiences: string[]
}

/** What one review call hands the fetch: the token, and whether its answer may be kept. */
interface FetchContext { token: string, keep: boolean }

export class TokenReviewer {
  private readonly cache: LRUCache<string, Review, FetchContext>
  reviewsSent = 0
  /** Calls of review(): those that sent no TokenReview (reviewsSent) were cache hits or joined one in flight. */
  lookups = 0

  constructor (private readonly upstream: Upstream, private readonly opts: TokenReviewerOptions,
    private readonly now: () => number = Date.now) {
    this.cache = new LRUCache<string, Review, FetchContext>({
      max: opts.cacheSize,
      ttlResolution: 0,
      perf: { now },
      // A review in flight when the cache evicts its slot still answers its callers.
      ignoreFetchAbort: true,
      fetchMethod: async (_key, _stale, { options, context }) => {
        const review = await this.send(context.token)
        const ttl = review.ok ? Math.min(this.opts.maxTtlMs, msUntilExpiry(context.token, this.now())) : this.opts.negativeTtlMs
        // lru-cache reads ttl 0 as "forever": an answer with no time left is handed out, then dropped.
        if (ttl > 0) options.ttl = ttl
        else context.keep = false
        return review
      },
    })
  }

  async review (token: string): Promise<Review> {
    this.lookups++
    const key = createHash('sha256').update(token).digest('hex')
    const context: FetchContext = { token, keep: true }
    const review = await this.cache.fetch(key, { context })
    if (!context.keep) this.cache.delete(key)
    return review!
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
    if (status.authenticated !== true) return { ok: false, error: String(status.error ?? 'token not authenticated') }
    const u = status.user ?? {}
    return { ok: true, user: { username: String(u.username ?? ''), uid: String(u.uid ?? ''), groups: u.groups ?? [], extra: u.extra ?? {} } }
  }
}

/** Milliseconds until the JWT's `exp` (unverified: TokenReview already judged it); unknown → Infinity. */
export function msUntilExpiry (token: string, now: number): number {
  try {
    const { exp } = decodeJwt(token)
    return typeof exp === 'number' ? exp * 1000 - now : Infinity
  } catch {
    return Infinity
  }
}
