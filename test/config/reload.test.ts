import t from 'tap'
import { changedKeys, planReload, valueAt, withApplied } from '../../src/config/reload.js'

t.test('changedKeys names every differing leaf by its dotted path, arrays as a whole', async (t) => {
  const a = { logging: { level: 'info' }, modules: { cache: { maxSizeBytes: 1 }, metaServer: { server: { host: '127.0.0.1', port: 1 } } }, list: ['a'] }
  const b = { logging: { level: 'debug' }, modules: { cache: { maxSizeBytes: 1 }, metaServer: { server: { host: '127.0.0.1', port: 2 } } }, list: ['a', 'b'] }
  t.same(changedKeys(a, b), ['list', 'logging.level', 'modules.metaServer.server.port'])
  t.same(changedKeys(a, structuredClone(a)), [], 'an identical config changes nothing')
  t.same(changedKeys({ x: null }, { x: { y: 1 } }), ['x'], 'null to an object is one change')
})

t.test('planReload splits what applies now from what needs a restart', async (t) => {
  const plan = planReload({ logging: { level: 'info' }, stateDir: '/a' }, { logging: { level: 'warn' }, stateDir: '/b' }, new Set(['logging.level']))
  t.same(plan, { apply: ['logging.level'], restart: ['stateDir'] })
})

t.test('withApplied takes exactly the applied keys from the new config', async (t) => {
  const running = { logging: { level: 'info' }, modules: { cache: { maxSizeBytes: 1 }, server: 'a' } }
  const next = { logging: { level: 'debug' }, modules: { cache: { maxSizeBytes: 2 }, server: 'b' } }
  t.same(withApplied(running, next, ['logging.level', 'modules.cache.maxSizeBytes']),
    { logging: { level: 'debug' }, modules: { cache: { maxSizeBytes: 2 }, server: 'a' } })
  t.equal(running.logging.level, 'info', 'the running config object is not changed')
  t.equal(valueAt(next, 'modules.cache.maxSizeBytes'), 2)
  t.equal(valueAt(next, 'modules.nope.x'), undefined)
})
