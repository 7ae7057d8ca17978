import t from 'tap'
import { readinessLog, renderHealth } from '../../src/obs/health.js'

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

t.test('readinessLog: one line per change of the failing set, not per poll or per changed reason', async (t) => {
  const lines: Array<{ level: string, fields: any, msg: string }> = []
  const logger = {
    info: (fields: any, msg: string) => { lines.push({ level: 'info', fields, msg }) },
    warn: (fields: any, msg: string) => { lines.push({ level: 'warn', fields, msg }) },
  }
  let tunnel: string | undefined = 'disconnected since 1'
  let policy: string | undefined = 'no keys yet'
  const r = readinessLog([{ name: 'tunnel', check: () => tunnel }, { name: 'policy', check: () => policy }], logger as any)
  r.poll()
  r.poll()
  tunnel = 'disconnected since 2'
  r.poll()
  policy = undefined
  r.poll()
  tunnel = undefined
  r.poll()
  r.poll()
  tunnel = 'down again'
  r.poll()
  t.same(lines.map((l) => [l.level, l.msg, l.fields.failing ?? l.fields.checks]), [
    ['warn', 'readiness: not ready', { tunnel: 'disconnected since 1', policy: 'no keys yet' }],
    ['warn', 'readiness: not ready', { tunnel: 'disconnected since 2' }],
    ['info', 'readiness: ready', ['tunnel', 'policy']],
    ['warn', 'readiness: not ready', { tunnel: 'down again' }],
  ])
})
