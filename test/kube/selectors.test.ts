import t from 'tap'
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector, requiresExactMatch } from '../../src/kube/selectors.js'

function labels (selector: string, set: Record<string, string> | undefined): boolean {
  const r = parseLabelSelector(selector)
  if (!r.ok) throw new Error(r.message)
  return labelsMatch(r.value, set)
}

// Cases follow apimachinery's pkg/labels selector_test.go.
t.test('equality, inequality and existence', async (t) => {
  t.equal(labels('', { a: '1' }), true, 'the empty selector matches everything')
  t.equal(labels('', undefined), true)
  t.equal(labels('a=1', { a: '1' }), true)
  t.equal(labels('a==1', { a: '1' }), true)
  t.equal(labels('a=1', { a: '2' }), false)
  t.equal(labels('a!=1', { a: '2' }), true)
  t.equal(labels('a!=1', {}), true, '!= matches when the label is absent')
  t.equal(labels('a', { a: '' }), true)
  t.equal(labels('a', {}), false)
  t.equal(labels('!a', {}), true)
  t.equal(labels('!a', { a: 'x' }), false)
  t.equal(labels('a=1,b=2', { a: '1', b: '2' }), true)
  t.equal(labels('a=1,b=2', { a: '1' }), false)
  t.equal(labels('a=', { a: '' }), true, 'an empty value')
  t.equal(labels('app.kubernetes.io/name=web', { 'app.kubernetes.io/name': 'web' }), true, 'prefixed keys')
})

t.test('set-based requirements', async (t) => {
  t.equal(labels('env in (prod, staging)', { env: 'prod' }), true)
  t.equal(labels('env in (prod,staging)', { env: 'dev' }), false)
  t.equal(labels('env notin (prod)', { env: 'dev' }), true)
  t.equal(labels('env notin (prod)', {}), true, 'notin matches when the label is absent')
  t.equal(labels('env in (prod),tier=web', { env: 'prod', tier: 'web' }), true, 'commas inside parentheses do not split')
  t.equal(labels('env in (prod),tier=web', { env: 'prod', tier: 'db' }), false)
})

t.test('gt and lt compare integers', async (t) => {
  t.equal(labels('n>5', { n: '6' }), true)
  t.equal(labels('n>5', { n: '5' }), false)
  t.equal(labels('n<5', { n: '-1' }), true)
  t.equal(labels('n<5', { n: 'x' }), false)
  t.equal(labels('n<5', {}), false)
})

t.test('invalid selectors are refused with a message', async (t) => {
  for (const bad of ['a=b=c', 'in (x)', 'a in x', '-a=1', 'a=-b', 'a>b', 'x/y/z=1', 'a b']) {
    const r = parseLabelSelector(bad)
    t.equal(r.ok, false, bad)
  }
})

t.test('field selectors', async (t) => {
  const fields = { 'metadata.name': 'web-1', 'metadata.namespace': 'prod', 'spec.nodeName': 'edge-1' }
  const f = (s: string): boolean => {
    const r = parseFieldSelector(s)
    if (!r.ok) throw new Error(r.message)
    return fieldsMatch(r.value, fields)
  }
  t.equal(f(''), true)
  t.equal(f('metadata.name=web-1'), true)
  t.equal(f('metadata.name==web-1'), true)
  t.equal(f('metadata.name!=web-1'), false)
  t.equal(f('spec.nodeName=edge-1,metadata.namespace!=kube-system'), true)
  t.equal(f('spec.nodeName='), false, 'an empty value matches only an empty field')
  t.equal(f('status.phase!=Running'), true, 'an unknown field counts as empty')
  const escaped = parseFieldSelector('metadata.name=a\\,b\\=c\\\\d')
  t.same(escaped, { ok: true, value: [{ field: 'metadata.name', operator: '=', value: 'a,b=c\\d' }] })
  t.equal(parseFieldSelector('metadata.name').ok, false)
  t.equal(parseFieldSelector('metadata.name=a=b').ok, false, 'an unescaped = in a value')
  t.equal(parseFieldSelector('metadata.name=a\\x').ok, false, 'an invalid escape')
})

// Issue 9: ports of fields.ParseSelector and labels.Parse (apimachinery v0.34.4/v0.37.2); every
// verdict below was checked against those functions run from a Go program.
t.test('fields.ParseSelector: no trimming, terms sorted, RequiresExactMatch takes the first sorted term', async (t) => {
  t.same(parseFieldSelector('metadata.name= n1'), { ok: true, value: [{ field: 'metadata.name', operator: '=', value: ' n1' }] }, 'spaces belong to the value')
  t.same(parseFieldSelector(' metadata.name=n1'), { ok: true, value: [{ field: ' metadata.name', operator: '=', value: 'n1' }] }, 'and to the field')
  const sorted = parseFieldSelector('metadata.name=b,metadata.name=a')
  t.same(sorted.ok && sorted.value.map((r) => r.value), ['a', 'b'], 'sort.StringSlice order')
  t.equal(sorted.ok && requiresExactMatch(sorted.value, 'metadata.name'), 'a')
  const pinned = parseFieldSelector('spec.x!=1,metadata.name==n1')
  t.equal(pinned.ok && requiresExactMatch(pinned.value, 'metadata.name'), 'n1', '== is an exact match too')
  t.equal(pinned.ok && requiresExactMatch(pinned.value, 'spec.x'), undefined, '!= is not')
  t.same(parseFieldSelector(',metadata.name=a,'), { ok: true, value: [{ field: 'metadata.name', operator: '=', value: 'a' }] }, 'empty terms are skipped')
  t.same(parseFieldSelector('a=!=b').ok, false, 'split at the first operator ("="): the value holds an unescaped =')
  t.same(parseFieldSelector('a!==b'), { ok: false, message: 'invalid field selector: unescaped character in value: 61' }, 'the rune is printed as a number (%v)')
  t.same(parseFieldSelector(' ').ok, false, 'a lone space is a term without an operator')
  t.same(parseFieldSelector('x=a\\'), { ok: false, message: 'invalid field selector: invalid escape sequence: \\' })
  t.same(parseFieldSelector('x=a\\,b,y=c'), { ok: true, value: [{ field: 'x', operator: '=', value: 'a,b' }, { field: 'y', operator: '=', value: 'c' }] }, 'an escaped comma does not split')
  t.same(parseFieldSelector('x=\udcff\\='), { ok: true, value: [{ field: 'x', operator: '=', value: '\ufffd=' }] }, 'UnescapeValue rewrites runes: an invalid byte becomes U+FFFD')
  t.same(parseFieldSelector('x=\udcff'), { ok: true, value: [{ field: 'x', operator: '=', value: '\udcff' }] }, 'but only on its slow path')
})

t.test('labels.Parse edge cases kube-apiserver accepts or refuses', async (t) => {
  const ok = (s: string): boolean => parseLabelSelector(s).ok
  t.equal(ok(' a = b '), true, 'the lexer skips spaces')
  t.same(parseLabelSelector('a=b\0garbage'), { ok: false, message: "found 'garbage', expected: ',' or 'end of string'" }, 'a NUL ends a token; lexing goes on after it')
  t.equal(ok('a=b\0,c'), true)
  t.same(parseLabelSelector('a=b\0\0!!'), { ok: true, value: [{ key: 'a', operator: '=', values: ['b'] }] }, 'a NUL where a token starts ends the selector')
  t.equal(ok('a\vb=c'), false, 'a vertical tab is not whitespace to the lexer: it is part of the key')
  t.equal(ok('a>-1'), false, '-1 is an integer but not a valid label value')
  t.equal(ok('a<99999999999999999999'), false, 'out of int64 range')
  t.equal(ok('a in ()'), true, '() is the empty value')
  t.equal(ok('a in (,,)'), false, 'v0.34 consumes the second comma and fails; v0.37 accepts: the stricter one is kept')
  t.equal(ok('a in (x,,y)'), true)
  t.equal(ok('a=b,'), false, 'an identifier must follow a comma')
  t.equal(ok('in=b'), true, '"in" is an identifier where a key is expected')
  t.equal(ok('!a=b'), false, 'a !key takes no value')
  t.equal(ok('A/b=c'), false, 'the prefix is a lowercase DNS subdomain')
  t.equal(ok('==='), false)
  t.same(parseLabelSelector('b=1,a in (y,x,y)'), {
    ok: true, value: [{ key: 'a', operator: 'in', values: ['x', 'y'] }, { key: 'b', operator: '=', values: ['1'] }],
  }, 'requirements sorted by key, values de-duplicated and sorted')
})

t.test('gt/lt read labels with strconv.ParseInt', async (t) => {
  t.equal(labels('n>5', { n: '99999999999999999999' }), false, 'a label out of int64 range never matches')
  t.equal(labels('n>5', { n: '007' }), true)
  t.equal(labels('n<5', { n: '+1' }), true, 'ParseInt accepts a sign')
})

t.test('field terms with neither field nor value are dropped, as fields.ParseSelector does (found by the Go oracle)', async (t) => {
  t.same(parseFieldSelector('='), { ok: true, value: [] })
  t.same(parseFieldSelector('=,,!=A'), { ok: true, value: [{ field: '', operator: '!=', value: 'A' }] })
  t.same(parseFieldSelector('!=,metadata.name=a'), { ok: true, value: [{ field: 'metadata.name', operator: '=', value: 'a' }] })
})
