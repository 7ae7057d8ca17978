import t from 'tap'
import { renderHealth } from '../../src/obs/health.js'

const ok = { name: 'ping', check: () => undefined }
const bad = { name: 'tunnel', check: () => 'disconnected' }

t.test('healthy and terse: 200 ok', async (t) => {
  t.same(renderHealth('readyz', [ok], new URLSearchParams()), { code: 200, body: 'ok' })
})

t.test('verbose lists every check', async (t) => {
  t.same(renderHealth('readyz', [ok], new URLSearchParams('verbose')), { code: 200, body: '[+]ping ok\nreadyz check passed\n' })
})

t.test('a failure is 500 and named even without verbose', async (t) => {
  const r = renderHealth('readyz', [ok, bad], new URLSearchParams())
  t.equal(r.code, 500)
  t.equal(r.body, '[-]tunnel failed: disconnected\nreadyz check failed\n')
  t.equal(renderHealth('readyz', [ok, bad], new URLSearchParams('verbose')).body,
    '[+]ping ok\n[-]tunnel failed: disconnected\nreadyz check failed\n')
})

t.test('exclude skips a check', async (t) => {
  t.equal(renderHealth('readyz', [ok, bad], new URLSearchParams('exclude=tunnel')).code, 200)
})
