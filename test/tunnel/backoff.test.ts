import t from 'tap'
import { fullJitterBackoff } from '../../src/tunnel/backoff.js'

t.test('the ceiling doubles per failure up to the cap; the delay is uniform below it', async (t) => {
  const b = fullJitterBackoff(100, 1000, () => 0.999999)
  t.same([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()], [99, 199, 399, 799, 999, 999])
  b.reset()
  t.equal(b.next(), 99)
  const zero = fullJitterBackoff(100, 1000, () => 0)
  t.equal(zero.next(), 0, 'full jitter may retry at once')
})

t.test('many attempts never overflow the cap', async (t) => {
  const b = fullJitterBackoff(500, 30_000, () => 0.5)
  let last = 0
  for (let i = 0; i < 200; i++) last = b.next()
  t.equal(last, 15_000)
})
