import t from 'tap'
import { msUntilExpiry, TokenReviewer, type TokenReviewerOptions } from '../../src/cloud/token-reviews.js'
import type { Upstream } from '../../src/cloud/upstream.js'

const jwt = (payload: object): string => `h.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.s`

t.test('expiry comes from the JWT exp claim', async (t) => {
  t.equal(msUntilExpiry(jwt({ exp: 100 }), 40_000), 60_000)
  t.equal(msUntilExpiry(jwt({ sub: 'x' }), 0), Infinity)
  t.equal(msUntilExpiry('opaque-token', 0), Infinity)
  t.equal(msUntilExpiry('a.!!!.c', 0), Infinity)
})

// A scripted TokenReview endpoint: each call waits until the test releases it, so concurrency is visible.
function reviewer (answer: (token: string) => { status: number, body: unknown }, opts: Partial<TokenReviewerOptions> = {}) {
  let now = 1_000_000
  const calls: Array<() => void> = []
  const upstream = {
    json: async (_method: string, _path: string, body: any) => {
      await new Promise<void>((resolve) => calls.push(resolve))
      return answer(body.spec.token)
    },
  } as unknown as Upstream
  const r = new TokenReviewer(upstream, { cacheSize: 100, maxTtlMs: 60_000, negativeTtlMs: 5_000, audiences: ['a'], ...opts }, () => now)
  const release = async (): Promise<void> => {
    for (let i = 0; i < 100 && calls.length === 0; i++) await new Promise((resolve) => setImmediate(resolve))
    calls.shift()?.()
  }
  return { r, release, advance: (ms: number) => { now += ms }, pending: () => calls.length, nowS: () => now / 1000 }
}

const ok = (username: string) => ({ status: 201, body: { status: { authenticated: true, user: { username, uid: 'u', groups: ['g'] } } } })

t.test('identical concurrent reviews cost one apiserver call; the answer is kept until the token expires', async (t) => {
  const s = reviewer(() => ok('system:serviceaccount:ns:app'))
  const token = jwt({ exp: s.nowS() + 30 })
  const both = Promise.all([s.r.review(token), s.r.review(token)])
  await s.release()
  const [a, b] = await both
  t.same(a, { authenticated: true, user: { username: 'system:serviceaccount:ns:app', uid: 'u', groups: ['g'], extra: {} } })
  t.same(b, a)
  t.equal(s.r.reviewsSent, 1, 'coalesced')
  s.advance(29_000)
  t.same(await s.r.review(token), a, 'cached while the token lives')
  t.equal(s.r.reviewsSent, 1)
  s.advance(2_000)
  const again = s.r.review(token)
  await s.release()
  await again
  t.equal(s.r.reviewsSent, 2, 'reviewed again once the token expired')
})

t.test('positive answers are capped at maxTtlMs, negative ones kept for negativeTtlMs', async (t) => {
  const s = reviewer((token) => token === 'bad' ? { status: 201, body: { status: { authenticated: false, error: 'nope' } } } : ok('u'))
  const first = Promise.all([s.r.review('opaque'), s.r.review('bad')])
  await s.release(); await s.release()
  t.same((await first)[1], { authenticated: false, error: 'nope' })
  s.advance(4_999)
  t.same(await s.r.review('bad'), { authenticated: false, error: 'nope' })
  t.equal(s.r.reviewsSent, 2)
  s.advance(2)
  const bad = s.r.review('bad')
  await s.release()
  await bad
  t.equal(s.r.reviewsSent, 3, 'the negative answer expired')
  s.advance(60_000 - 4_999 - 2 - 2)
  await s.r.review('opaque')
  t.equal(s.r.reviewsSent, 3, 'an opaque token is kept up to the cap')
  s.advance(3)
  const opaque = s.r.review('opaque')
  await s.release()
  await opaque
  t.equal(s.r.reviewsSent, 4, 'and no longer')
})

t.test('an answer for an already expired token and a failed review are not kept', async (t) => {
  const s = reviewer((token) => token === 'fail' ? { status: 500, body: { message: 'boom' } } : ok('u'))
  const expired = jwt({ exp: s.nowS() - 1 })
  const p = s.r.review(expired)
  await s.release()
  t.equal((await p).authenticated, true, 'the caller still gets the answer')
  const p2 = s.r.review(expired)
  await s.release()
  await p2
  t.equal(s.r.reviewsSent, 2, 'asked again')
  const f = Promise.allSettled([s.r.review('fail'), s.r.review('fail')])
  await s.release()
  const settled = await f
  t.same(settled.map((x) => x.status), ['rejected', 'rejected'], 'every coalesced caller sees the failure')
  t.match((settled[0] as PromiseRejectedResult).reason.message, 'TokenReview failed with HTTP 500: boom')
  const f2 = s.r.review('fail').catch(() => 'rejected')
  await s.release()
  t.equal(await f2, 'rejected')
  t.equal(s.r.reviewsSent, 4, 'a failure is not cached')
})

t.test('the cache is bounded; a review in flight when its slot is evicted still answers', async (t) => {
  const s = reviewer((token) => ok(token), { cacheSize: 2 })
  const first = s.r.review('t0')
  const rest = [s.r.review('t1'), s.r.review('t2')]
  await s.release()
  t.same((await first), { authenticated: true, user: { username: 't0', uid: 'u', groups: ['g'], extra: {} } })
  await s.release(); await s.release()
  await Promise.all(rest)
  const again = s.r.review('t0')
  await s.release()
  await again
  t.equal(s.r.reviewsSent, 4, 't0 was evicted by t1 and t2')
})
