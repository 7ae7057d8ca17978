// The verified-token cache: payloads kept by digest until the token's expiry (capped), never
// without one, dropped all at once on a key change, bounded in count.
import t from 'tap'
import { VerifiedTokens } from '../../src/edge/verified-tokens.js'

const inSeconds = (s: number): number => Date.now() / 1000 + s

t.test('a verified payload is kept until the token expires, and only with an expiry', async (t) => {
  const v = new VerifiedTokens()
  const payload = { sub: 'x', exp: inSeconds(60) }
  v.set('token-a', payload)
  t.same(v.get('token-a'), payload)
  t.equal(v.get('token-b'), undefined)
  v.set('no-exp', { sub: 'x' })
  t.equal(v.get('no-exp'), undefined, 'no exp: not kept')
  v.set('expired', { sub: 'x', exp: inSeconds(-1) })
  t.equal(v.get('expired'), undefined, 'already expired: not kept')
  v.set('soon', { sub: 'x', exp: inSeconds(0.05) })
  const deadline = Date.now() + 5_000
  while (v.get('soon') !== undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20))
  t.equal(v.get('soon'), undefined, 'gone once its exp passed')
  v.clear()
  t.equal(v.get('token-a'), undefined, 'a key change drops everything')
})

t.test('at most 10 000 tokens are kept, the least recently used go first', async (t) => {
  const v = new VerifiedTokens()
  const exp = inSeconds(600)
  for (let i = 0; i < 10_000; i++) v.set(`t${i}`, { exp, i })
  t.ok(v.get('t0'), 't0 used: now the most recent')
  v.set('one-more', { exp })
  t.equal(v.size, 10_000)
  t.equal(v.get('t1'), undefined, 'the least recently used went')
  t.ok(v.get('t0'))
})
