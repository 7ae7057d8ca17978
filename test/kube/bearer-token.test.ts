import t from 'tap'
import { bearerToken } from '../../src/kube/bearer-token.js'

// Expected values follow bearertoken.Authenticator.AuthenticateRequest (strings.TrimSpace, SplitN(" ", 3)).
t.test('the token kube-apiserver reads, or none (then the request is anonymous)', async (t) => {
  t.equal(bearerToken('Bearer abc'), 'abc')
  t.equal(bearerToken('bearer abc'), 'abc', 'the scheme in any case')
  t.equal(bearerToken('BEARER abc'), 'abc')
  t.equal(bearerToken('  Bearer abc  '), 'abc', 'trimmed first')
  t.equal(bearerToken('Bearer abc def'), 'abc', 'the second part only')
  t.equal(bearerToken('Bearer  abc'), undefined, 'two spaces: an empty token, i.e. anonymous')
  t.equal(bearerToken('Bearer'), undefined)
  t.equal(bearerToken('Bearer '), undefined, 'trimmed to "Bearer"')
  t.equal(bearerToken('Basic dXNlcjpwdw=='), undefined, 'not a bearer token')
  t.equal(bearerToken('Bearer\tabc'), undefined, 'only a space separates')
  t.equal(bearerToken(''), undefined)
  t.equal(bearerToken(undefined), undefined)
})
