import t from 'tap'
import { msUntilExpiry } from '../../src/cloud/token-reviews.js'

const jwt = (payload: object): string => `h.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.s`

t.test('expiry comes from the JWT exp claim', async (t) => {
  t.equal(msUntilExpiry(jwt({ exp: 100 }), 40_000), 60_000)
  t.equal(msUntilExpiry(jwt({ sub: 'x' }), 0), Infinity)
  t.equal(msUntilExpiry('opaque-token', 0), Infinity)
  t.equal(msUntilExpiry('a.!!!.c', 0), Infinity)
})
