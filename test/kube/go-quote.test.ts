// Go's %q (strconv.Quote), the one copy every message quoting a name, path or value uses.
import t from 'tap'
import { goQuote } from '../../src/kube/go-quote.js'
import { requestTarget } from '../../src/kube/request-target.js'

t.test('goQuote is Go\'s %q', async (t) => {
  const cases: Array<[string, string]> = [
    ['plain', '"plain"'], ['', '""'], ['a"b', '"a\\"b"'], ['a\\b', '"a\\\\b"'], ['tab\there', '"tab\\there"'],
    ['nl\n', '"nl\\n"'], ['\x00', '"\\x00"'], ['\x7f', '"\\x7f"'], ['\x07\b\f\r\v', '"\\a\\b\\f\\r\\v"'],
    ['ünïcödé ✓', '"ünïcödé ✓"'], ['\u00a0', '"\\u00a0"'], ['\u0085', '"\\u0085"'], ['\u2028', '"\\u2028"'],
    ['😀', '"😀"'], ['\u{e0001}', '"\\U000e0001"'],
  ]
  for (const [input, want] of cases) {
    t.equal(goQuote(input), want, [...input].map((c) => `U+${c.codePointAt(0)!.toString(16)}`).join(' '))
  }
})

t.test('bytes that are not UTF-8 come out as Go writes them', async (t) => {
  // goString (request-target.ts) carries an invalid byte b as the lone surrogate U+DC00+b.
  t.equal(goQuote('a\udc80b\udcff'), '"a\\x80b\\xff"', 'go: fmt.Sprintf("%q", "a\\x80b\\xff")')
  t.equal(goQuote('\ud800'), '"\ufffd"', 'any other lone surrogate is U+FFFD on the wire')
})

t.test('url.Parse errors quote the raw target as Go does', async (t) => {
  // go: url.ParseRequestURI("/a%zz\x80") → parse "/a%zz\x80": invalid URL escape "%zz"
  const r = requestTarget(Buffer.from([...Buffer.from('/a%zz'), 0x80]).toString('latin1'))
  t.same(r, { ok: false, message: 'parse "/a%zz\\x80": invalid URL escape "%zz"' })
})
