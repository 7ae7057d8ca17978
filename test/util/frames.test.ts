import t from 'tap'
import { frame, FrameSplitter, FrameTooLongError } from '../../src/util/frames.js'
import { prng } from '../helpers/prng.js'

t.test('frames cut at every possible point come out whole and in order', async (t) => {
  const payloads = [Buffer.from('k8s\0first'), Buffer.alloc(0), Buffer.from('k8s\0' + 'x'.repeat(300)), Buffer.from([0, 0, 0, 1])]
  const bytes = Buffer.concat(payloads.map(frame))
  for (let cut = 0; cut <= bytes.length; cut++) {
    const s = new FrameSplitter(1024)
    const got = [...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))]
    if (got.length !== payloads.length || got.some((g, i) => !g.equals(payloads[i]!)) || s.pendingBytes !== 0) { t.fail(`cut at ${cut}`); return }
  }
  t.pass(`every cut of ${bytes.length} bytes`)
  const seed = Date.now() >>> 0
  t.comment(`seed ${seed}`)
  const random = prng(seed)
  const s = new FrameSplitter(1024)
  const got: Buffer[] = []
  for (let at = 0; at < bytes.length;) {
    const n = 1 + Math.floor(random() * 9)
    got.push(...s.push(bytes.subarray(at, at + n)))
    at += n
  }
  t.same(got.map((g) => g.toString('hex')), payloads.map((p) => p.toString('hex')), 'random one-to-nine-byte chunks')
})

t.test('a frame announcing more than the bound fails at once, before its bytes arrive', async (t) => {
  const s = new FrameSplitter(16)
  t.same(s.push(frame(Buffer.from('ok'))).map(String), ['ok'])
  t.throws(() => s.push(Buffer.from([0, 0, 0, 17])), FrameTooLongError)
  const cutShort = new FrameSplitter(16)
  cutShort.push(Buffer.from([0, 0, 0, 5, 1, 2]))
  t.equal(cutShort.pendingBytes, 6, 'an unfinished frame is visible to the caller')
})
