import t from 'tap'
import { fieldsMatch, labelsMatch, parseFieldSelector, parseLabelSelector } from '../../src/kube/selectors.js'

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
