import t from 'tap'
import { ExpiringLru } from '../../src/util/expiring-lru.js'

t.test('entries expire', async (t) => {
  let now = 0
  const c = new ExpiringLru<string, number>(10, () => now)
  c.set('a', 1, 100)
  t.equal(c.get('a'), 1)
  now = 100
  t.equal(c.get('a'), undefined)
  c.set('b', 2, 0)
  t.equal(c.get('b'), undefined, 'a zero TTL is not stored')
})

t.test('the least recently used entry is evicted at the bound', async (t) => {
  const c = new ExpiringLru<string, number>(2, () => 0)
  c.set('a', 1, 1000)
  c.set('b', 2, 1000)
  t.equal(c.get('a'), 1)
  c.set('c', 3, 1000)
  t.equal(c.size, 2)
  t.equal(c.get('b'), undefined)
  t.equal(c.get('a'), 1)
  t.equal(c.get('c'), 3)
})
