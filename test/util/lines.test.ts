import t from 'tap'
import { LineSplitter, LineTooLongError } from '../../src/util/lines.js'

t.test('lines are split across and within chunks', async (t) => {
  const s = new LineSplitter(100)
  t.same(s.push(Buffer.from('ab')), [])
  t.same(s.push(Buffer.from('c\nde\n\nf')), ['abc', 'de', ''])
  t.equal(s.pendingBytes, 1)
  t.same(s.push(Buffer.from('g\n')), ['fg'])
  t.equal(s.pendingBytes, 0)
  t.same(s.push(Buffer.alloc(0)), [])
})

t.test('a multi-byte character split across chunks comes out intact', async (t) => {
  const text = 'é€😀 ünïcödé\n'
  const bytes = Buffer.from(text)
  // Every possible cut point, including inside each multi-byte sequence.
  for (let cut = 0; cut <= bytes.length; cut++) {
    const s = new LineSplitter(100)
    const lines = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))]
    t.same(lines, ['é€😀 ünïcödé'], `cut at byte ${cut}`)
  }
  // One byte at a time.
  const s = new LineSplitter(100)
  const lines: string[] = []
  for (const b of bytes) lines.push(...s.push(Buffer.from([b])))
  t.same(lines, ['é€😀 ünïcödé'])
})

t.test('the bound counts bytes, not characters', async (t) => {
  const s = new LineSplitter(4)
  t.same(s.push(Buffer.from('€')), [], 'one 3-byte character is within 4 bytes')
  t.throws(() => s.push(Buffer.from('€')), LineTooLongError, 'two are 6 bytes')
})

t.test('a line over the bound is an error, finished or not', async (t) => {
  const unfinished = new LineSplitter(5)
  t.same(unfinished.push(Buffer.from('12345')), [], 'exactly the bound is fine')
  t.throws(() => unfinished.push(Buffer.from('6')), LineTooLongError)

  const finished = new LineSplitter(5)
  t.throws(() => finished.push(Buffer.from('ok\n123456\n')), LineTooLongError, 'even when its end is in the same chunk')

  const many = new LineSplitter(5)
  t.same(many.push(Buffer.from('12345\n12345\n12345\n')), ['12345', '12345', '12345'], 'many short lines in one chunk are fine')
  const err = t.throws(() => new LineSplitter(3).push(Buffer.from('abcd'))) as unknown as LineTooLongError
  t.equal(err.maxLineBytes, 3)
})
