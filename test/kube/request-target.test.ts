import t from 'tap'
import { goBytes, goCompare, goString, parseQuery, requestTarget, type RequestTarget } from '../../src/kube/request-target.js'

// Expected values are what Go's HTTP server computes: net/http readRequest → url.ParseRequestURI
// (Go 1.26 net/url: parse, getScheme, parseAuthority, parseHost, setPath/unescape), URL.Query() →
// url.ParseQuery. Each was checked against a Go program calling http.ReadRequest on the same bytes.

function target (raw: string): RequestTarget {
  const r = requestTarget(raw)
  if (!r.ok) throw new Error(r.message)
  return r.target
}

const q = (raw: string): Record<string, readonly string[]> => Object.fromEntries(target(raw).query)

t.test('the path is percent-decoded (URL.Path), the origin form relayed is the target as sent', async (t) => {
  const cm = target('/api/v1/namespaces/default/configmaps%2Fcm1')
  t.equal(cm.path, '/api/v1/namespaces/default/configmaps/cm1', '%2F is a slash once decoded (unescape, encodePath)')
  t.equal(cm.originForm, '/api/v1/namespaces/default/configmaps%2Fcm1')
  t.equal(cm.absoluteForm, false)
  t.equal(target('/api/v1/namespaces/d%65fault/configmaps/x').path, '/api/v1/namespaces/default/configmaps/x', 'a percent-encoded letter')
  t.equal(target('/a+b').path, '/a+b', '+ stays + in a path')
  t.equal(target('/api/%C3%A9').path, '/api/é', 'UTF-8 escapes decode to the character')
  t.equal(target('//x/api').path, '//x/api', 'no scheme: a leading // is path, not authority (viaRequest)')
  t.equal(target('/a#b').path, '/a#b', 'ParseRequestURI keeps # in the path')
  t.equal(target('*').path, '*')
})

t.test('absolute-form targets: the authority is checked and dropped, the path and query kept', async (t) => {
  const a = target('https://host:6443/api/v1/namespaces/ns/configmaps/x?limit=1')
  t.same([a.path, a.rawQuery, a.originForm, a.absoluteForm], ['/api/v1/namespaces/ns/configmaps/x', 'limit=1', '/api/v1/namespaces/ns/configmaps/x?limit=1', true])
  t.equal(target('HTTPS://u:p@h/api/v1/pods').path, '/api/v1/pods', 'userinfo is accepted; the scheme is case-insensitive')
  t.equal(target('foo://h/api/v1/pods').path, '/api/v1/pods', 'any scheme: net/http does not check it')
  t.equal(target('http://[::1]:6443/api').path, '/api', 'a bracketed IPv6 host')
  t.equal(target('http:/api/v1/pods').originForm, '/api/v1/pods', 'scheme:/path (OmitHost)')
  t.equal(target('http://a:b:1/api').path, '/api', 'several colons: the last starts the port (urlstrictcolons=0 for go 1.24 modules)')
  t.equal(target('http://h%C3%A9/api').path, '/api', 'non-ASCII bytes may be escaped in a host')
})

t.test('what Go answers 400 (ParseRequestURI errors)', async (t) => {
  const bad: Array<[string, RegExp]> = [
    ['', /empty url/],
    ['api/v1/pods', /invalid URI for request/],
    [':/x', /missing protocol scheme/],
    ['/api/%zz', /invalid URL escape "%zz"/],
    ['/api/%4', /invalid URL escape "%4"/],
    ['/api/\x01', /invalid control character/],
    ['/api/\x7f', /invalid control character/],
    ['http://h%41/api', /invalid URL escape "%41"/],
    ['http://h^/api', /invalid character "\^" in host name/],
    ['http://h:8x/api', /invalid port ":8x" after host/],
    ['http://[1.2.3.4]/api', /invalid IP-literal/],
    ['http://[::1/api', /missing ']' in host/],
    ['http://x[::1]/api', /invalid IP-literal/],
    ['http://[zz]/api', /invalid host/],
    ['http://u\xe9@h/api', /invalid userinfo/],
    ['http://u%zz@h/api', /invalid URL escape/],
  ]
  for (const [raw, why] of bad) {
    const r = requestTarget(raw)
    t.equal(r.ok, false, JSON.stringify(raw))
    if (!r.ok) t.match(r.message, why)
  }
})

t.test('targets Go accepts but origin form cannot carry are refused, never rewritten', async (t) => {
  // Go serves these with URL.Path "" (opaque, or an absolute-form without a path).
  t.equal(requestTarget('http:x').ok, false)
  t.equal(requestTarget('http://h').ok, false)
  t.equal(requestTarget('http://h?x=1').ok, false)
})

t.test('the query as url.ParseQuery reads it (its error ignored, as URL.Query() does)', async (t) => {
  t.same(q('/p?a=1&a=2&b'), { a: ['1', '2'], b: [''] }, 'repeated keys keep their order; a bare key has value ""')
  t.same(q('/p?a=x+y&b=%2B'), { a: ['x y'], b: ['+'] }, '+ is a space, %2B a plus')
  t.same(q('/p?a=%zz&b=1&%zz=2'), { b: ['1'] }, 'a pair with a bad escape is dropped, the rest kept')
  t.same(q('/p?a=1;b=2&c=3'), { c: ['3'] }, 'a pair holding ; is dropped whole')
  t.same(q('/p?&&=&a=1'), { '': [''], a: ['1'] }, 'empty pairs are skipped; "=" is the empty key')
  t.same(q('/p?fieldSelector=metadata.name%3Dn1'), { fieldSelector: ['metadata.name=n1'] })
  t.same(q('/p?'), {}, 'ForceQuery')
})

t.test('over 10000 parameters URL.Query() is empty (urlmaxqueryparams)', async (t) => {
  t.same(Object.fromEntries(parseQuery('&'.repeat(9999) + 'fieldSelector=metadata.name%3Dx')), { fieldSelector: ['metadata.name=x'] }, '10000 parameters: parsed')
  t.equal(parseQuery('&'.repeat(10000) + 'fieldSelector=metadata.name%3Dx').size, 0, '10001 parameters: nothing')
})

t.test('Go byte strings: invalid UTF-8 stays distinct and sorts byte-wise', async (t) => {
  t.equal(goString('\xc3\xa9'), 'é')
  t.equal(goString('\xff'), '\udcff', 'an invalid byte becomes a lone surrogate, never U+FFFD')
  t.equal(goString('\xed\xa0\x80'), '\udced\udca0\udc80', 'an encoded surrogate is invalid UTF-8')
  t.equal(goString('\xe0\x80\x80'), '\udce0\udc80\udc80', 'an overlong form is invalid')
  t.same([...goBytes(goString('a\xff\xc3\xa9'))], [0x61, 0xff, 0xc3, 0xa9], 'goBytes inverts goString')
  t.equal(target('/api/%ff').path, '/api/\udcff')
  t.equal(target('/api/\xc3\xa9').path, '/api/é', 'raw UTF-8 bytes as Node hands them (latin1)')
  t.ok(goCompare('\uffff', '\u{10000}') < 0, 'byte order, not UTF-16 order')
  t.ok(goCompare('é', '\udcff') < 0, '0xC3 sorts before 0xFF')
})

t.test('goString is injective: goBytes gives every byte string back, and valid UTF-8 decodes as Node does', async (t) => {
  let seed = 9
  const next = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed }
  t.comment('seed 9, 2000 strings')
  let bad = 0
  for (let n = 0; n < 2000; n++) {
    const bytes = Buffer.from(Array.from({ length: next() % 12 }, () => [0x41, 0x80, 0xbf, 0xc2, 0xc3, 0xe0, 0xed, 0xef, 0xf0, 0xf4, 0xf5, 0xff, 0xa0, 0x9f, 0x8f, 0x90][next() % 16]!))
    const s = goString(bytes.toString('latin1'))
    if (!goBytes(s).equals(bytes)) bad++
    const valid = Buffer.from(bytes.toString('utf8'), 'utf8').equals(bytes)
    if (valid && s !== bytes.toString('utf8')) bad++
    if (!valid && !/[\udc80-\udcff]/.test(s)) bad++
  }
  t.equal(bad, 0, 'no string lost or confused')
})
