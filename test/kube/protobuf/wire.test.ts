// Wire primitives and the custom-JSON converters, against encodings and strings Go produces.
import t from 'tap'
import { Reader, Writer } from '../../../src/kube/protobuf/wire.js'
import { formatDuration, formatMicroTime, formatTime, parseDuration, parseRfc3339 } from '../../../src/kube/protobuf/well-known.js'

t.test('varints: known encodings (Go encodeVarint of uint64(int64(v)))', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '00'], [1, '01'], [127, '7f'], [128, '8001'], [300, 'ac02'], [2 ** 31, '8080808008'],
    [2 ** 53 - 1, 'ffffffffffffff0f'], [-1, 'ffffffffffffffffff01'], [-2, 'feffffffffffffffff01'],
    [-(2 ** 31), '80808080f8ffffffff01'], [-(2 ** 53) + 1, '81808080808080f0ff01'],
  ]
  for (const [n, hex] of cases) {
    const w = new Writer(4)
    w.int64(n)
    const bytes = w.finish()
    t.equal(bytes.toString('hex'), hex, `${n} encodes as ${hex}`)
    t.equal(new Reader(bytes).int64(), n, `${hex} reads back as ${n}`)
  }
  t.throws(() => new Reader(Buffer.from([0x80, 0x80])).int64(), /truncated/)
  t.throws(() => new Reader(Buffer.alloc(11, 0xff)).uvarint(), /longer than 10/)
  t.throws(() => new Reader(Buffer.from([0x05, 0x61])).delimited(), /runs past/)
})

t.test('the writer: short and long strings, nested messages of every length-varint size, growth', async (t) => {
  const w = new Writer(3)
  w.tag(1, 2)
  const outer = w.begin()
  w.tag(1, 2); w.string('x'.repeat(300))
  w.tag(2, 2); w.string('ü😀')
  w.tag(3, 2); w.string('é'.repeat(42)) // 42 chars, 84 bytes: the 1-byte-length fast path
  w.end(outer)
  w.tag(2, 2); w.bytes(Buffer.alloc(100, 7))
  w.tag(3, 0); w.uvarint(1)
  for (const size of [0, 127, 128, 16383, 16384, 70000]) {
    w.tag(4, 2)
    const mark = w.begin()
    w.bytes(Buffer.alloc(size, 1).subarray(0, Math.max(0, size - (size < 128 ? 1 : size < 16384 ? 2 : 3))))
    w.end(mark)
  }
  const out = w.finish()
  t.equal(out.length, w.length)
  const r = new Reader(out)
  t.equal(r.uvarint(), 0x0a)
  const [s, e] = r.delimited()
  const inner = new Reader(out, s, e)
  t.equal(inner.uvarint(), 0x0a); t.equal(inner.string(), 'x'.repeat(300))
  t.equal(inner.uvarint(), 0x12); t.equal(inner.string(), 'ü😀')
  t.equal(inner.uvarint(), 0x1a); t.equal(inner.string(), 'é'.repeat(42))
  t.ok(inner.done())
  t.equal(r.uvarint(), 0x12)
  const [bs, be] = r.delimited()
  t.ok(out.subarray(bs, be).equals(Buffer.alloc(100, 7)))
  t.equal(r.uvarint(), 0x18); t.equal(r.uvarint(), 1)
  for (let i = 0; i < 6; i++) {
    t.equal(r.uvarint(), 0x22)
    const [ns, ne] = r.delimited()
    const payload = new Reader(out, ns, ne)
    const [ps, pe] = payload.delimited()
    t.ok(payload.done() && out.subarray(ps, pe).every((b) => b === 1), `nested payload ${i} intact`)
  }
  t.ok(r.done())
})

t.test('Time and MicroTime as Go formats them', async (t) => {
  t.equal(formatTime(1764659774), '2025-12-02T07:16:14Z')
  t.equal(formatTime(0), '1970-01-01T00:00:00Z')
  t.equal(formatTime(-62135596800), '0001-01-01T00:00:00Z')
  t.equal(formatMicroTime(1764659774, 123456789), '2025-12-02T07:16:14.123456Z')
  t.equal(formatMicroTime(1764659774, 0), '2025-12-02T07:16:14.000000Z')
  t.same(parseRfc3339('2025-12-02T07:16:14Z'), { seconds: 1764659774, nanos: 0 })
  t.same(parseRfc3339('2025-12-02T08:16:14.5+01:00'), { seconds: 1764659774, nanos: 500000000 })
  t.same(parseRfc3339('2025-12-02T06:16:14.000001-01:00'), { seconds: 1764659774, nanos: 1000 })
  t.same(parseRfc3339('0001-01-01T00:00:00Z'), { seconds: -62135596800, nanos: 0 })
  t.throws(() => parseRfc3339('2025-12-02 07:16:14'), /RFC 3339/)
  t.throws(() => formatTime(300000000000), /outside years/)
})

t.test('Duration as time.Duration.String() and time.ParseDuration', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0s'], [1, '1ns'], [1500, '1.5µs'], [1_500_000, '1.5ms'], [1e9, '1s'], [1.5e9, '1.5s'], [90e9, '1m30s'],
    [3600e9, '1h0m0s'], [3723e9, '1h2m3s'], [-5e9, '-5s'], [36 * 3600e9 + 1, '36h0m0.000000001s'],
  ]
  for (const [ns, s] of cases) {
    t.equal(formatDuration(ns), s, `${ns}ns → ${s}`)
    t.equal(parseDuration(s), ns, `${s} → ${ns}ns`)
  }
  t.equal(parseDuration('1h30m'), 5400e9)
  t.equal(parseDuration('300ms'), 3e8)
  t.equal(parseDuration('2us'), 2000)
  t.throws(() => parseDuration(''), /invalid/)
  t.throws(() => parseDuration('5x'), /invalid/)
})
