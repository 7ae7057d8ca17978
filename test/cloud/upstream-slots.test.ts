import t from 'tap'
import { UpstreamSlots } from '../../src/cloud/upstream-slots.js'

t.test('each kind has its own limit; a full kind refuses, a release frees exactly one slot', async (t) => {
  const slots = new UpstreamSlots({ longRunning: 2, short: 1 })
  const w1 = slots.tryAcquire('longRunning')
  const w2 = slots.tryAcquire('longRunning')
  t.ok(w1 !== undefined && w2 !== undefined, 'two long-running slots')
  t.equal(slots.tryAcquire('longRunning'), undefined, 'the third long-running request is refused')
  const s1 = slots.tryAcquire('short')
  t.ok(s1 !== undefined, 'watches do not take short-request slots')
  t.equal(slots.tryAcquire('short'), undefined, 'the second short request is refused')
  w1!()
  w1!() // every path that ends a request may call it: once counts
  t.equal(slots.count('longRunning'), 1, 'a double release frees one slot, not two')
  t.ok(slots.tryAcquire('longRunning') !== undefined, 'the freed slot is taken again')
  t.equal(slots.tryAcquire('longRunning'), undefined, 'and the limit holds again')
  s1!()
  t.equal(slots.count('short'), 0)
})
