import t from 'tap'
import { decodeContinue, encodeContinue, listKey } from '../../src/kube/continue-token.js'

// What Go's json.Marshal + base64.RawURLEncoding produce, for tokens made by hand.
const token = (json: string): string => Buffer.from(json).toString('base64url')
const fields = (v: unknown, rv: unknown, start: unknown): string => token(JSON.stringify({ v, rv, start }))

t.test('tokens are byte-identical to the apiserver\'s', async (t) => {
  // base64url (no padding) of {"v":"meta.k8s.io/v1","rv":24469,"start":"default/kube-root-ca.crt\u0000"}
  t.equal(encodeContinue('24469', 'default/kube-root-ca.crt'),
    'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6MjQ0NjksInN0YXJ0IjoiZGVmYXVsdC9rdWJlLXJvb3QtY2EuY3J0XHUwMDAwIn0')
  t.equal(encodeContinue('9223372036854775807', 'web-1'),
    'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6OTIyMzM3MjAzNjg1NDc3NTgwNywic3RhcnQiOiJ3ZWItMVx1MDAwMCJ9', 'the largest int64 keeps every digit')
  t.equal(encodeContinue('5', 'a<b&c'), 'eyJ2IjoibWV0YS5rOHMuaW8vdjEiLCJydiI6NSwic3RhcnQiOiJhXHUwMDNjYlx1MDAyNmNcdTAwMDAifQ', 'escapes <, > and & as Go does')
  t.throws(() => encodeContinue('abc', 'x'))
  t.throws(() => encodeContinue('9223372036854775808', 'x'), 'beyond int64')
})

t.test('a token round-trips, keeping the trailing NUL of start', async (t) => {
  t.same(decodeContinue(encodeContinue('24469', 'default/kube-root-ca.crt')), { ok: true, rv: '24469', start: 'default/kube-root-ca.crt\u0000' })
  t.same(decodeContinue(encodeContinue('9223372036854775807', 'web-1')), { ok: true, rv: '9223372036854775807', start: 'web-1\u0000' })
  t.same(decodeContinue(encodeContinue('-1', 'web-1')), { ok: true, rv: '-1', start: 'web-1\u0000' }, 'a negative rv (latest) is valid')
})

// Cases follow k8s.io/apiserver pkg/storage/continue_test.go.
t.test('DecodeContinue validation', async (t) => {
  t.same(decodeContinue(fields('meta.k8s.io/v1', 1, 'key')), { ok: true, rv: '1', start: 'key' })
  t.same(decodeContinue(fields('meta.k8s.io/v1', 1, '/')), { ok: true, rv: '1', start: '' }, 'the root path is the list prefix itself')
  t.same(decodeContinue(fields('meta.k8s.io/v1', 1, '/key')), { ok: true, rv: '1', start: 'key' }, 'one leading slash is dropped')
  t.same(decodeContinue(fields('', 1, 'key')), { ok: false, message: 'invalid continue token: continue key is not valid: server does not recognize this encoded version ' })
  t.same(decodeContinue(fields('v1', 1, 'key')), { ok: false, message: 'invalid continue token: continue key is not valid: server does not recognize this encoded version v1' })
  t.same(decodeContinue(fields('meta.k8s.io/v1', 0, 'key')), { ok: false, message: 'invalid continue token: continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)' })
  t.same(decodeContinue(fields('meta.k8s.io/v1', 1, '')), { ok: false, message: 'invalid continue token: continue key is not valid: encoded start key empty (version meta.k8s.io/v1)' })
  for (const start of ['../key', './key', './../key', 'key/../..', 'a//b', 'a/']) {
    t.same(decodeContinue(fields('meta.k8s.io/v1', 1, start)), { ok: false, message: `invalid continue token: continue key is not valid: ${start}` }, `path traversal: ${start}`)
  }
})

t.test('malformed tokens are refused with the apiserver\'s message prefix', async (t) => {
  const msg = (tok: string): string => {
    const r = decodeContinue(tok)
    return r.ok ? 'ok' : r.message
  }
  const valid = token('{"v":"meta.k8s.io/v1","rv":1,"start":"k"}')
  t.equal(msg(valid), 'ok')
  for (const [tok, why] of [
    ['eyJ2Ijoi+', 'std-alphabet + is not URL base64'],
    [valid + '=', 'padding'],
    ['', 'empty'],
    [token('[1]'), 'not an object'],
    [token('{"v":"meta.k8s.io/v1","rv":"1","start":"k"}'), 'rv as a string'],
    [token('{"v":"meta.k8s.io/v1","rv":1.5,"start":"k"}'), 'a fractional rv'],
    [token('{"v":"meta.k8s.io/v1","rv":9223372036854775808,"start":"k"}'), 'rv beyond int64'],
    [token('{"v":1,"rv":1,"start":"k"}'), 'a numeric version'],
    [token('null'), 'null'],
  ] as const) {
    t.match(msg(tok), /^invalid continue token: continue key is not valid: /, why)
  }
  t.same(decodeContinue(token(' {"v":"meta.k8s.io/v1", "rv" : 3 , "start":"s\\"q"} ')), { ok: true, rv: '3', start: 's"q' }, 'whitespace and escapes')
})

t.test('listKey', async (t) => {
  t.equal(listKey('prod', 'prod', 'web-1'), 'web-1', 'a namespaced list')
  t.equal(listKey('', 'prod', 'web-1'), 'prod/web-1', 'a cluster-wide list of a namespaced resource')
  t.equal(listKey('', '', 'node-a'), 'node-a', 'a cluster-scoped resource')
})
