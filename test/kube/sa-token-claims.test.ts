import t from 'tap'
import { judgeClaims, type ClaimsPolicy } from '../../src/kube/sa-token-claims.js'

const ISS = 'https://kubernetes.default.svc.cluster.local'
const policy: ClaimsPolicy = { issuers: [ISS], audiences: [ISS, 'extra-aud'], now: 1_000_000, leewaySeconds: 60 }

// The shape kube-apiserver 1.34 mints for a pod-bound TokenRequest.
function claims (over: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    aud: [ISS], exp: 1_000_600, iat: 999_400, nbf: 999_400, iss: ISS, jti: 'j-1',
    sub: 'system:serviceaccount:ns:app',
    'kubernetes.io': {
      namespace: 'ns',
      node: { name: 'edge-1', uid: 'node-uid' },
      pod: { name: 'p', uid: 'pod-uid' },
      serviceaccount: { name: 'app', uid: 'sa-uid' },
    },
    ...over,
  }
}

t.test('a pod-bound token yields the user kube-apiserver derives', async (t) => {
  const r = judgeClaims(claims(), policy)
  t.ok(r.ok)
  if (!r.ok) return
  t.same(r.identity.user, {
    name: 'system:serviceaccount:ns:app',
    uid: 'sa-uid',
    groups: ['system:serviceaccounts', 'system:serviceaccounts:ns', 'system:authenticated'],
    extra: {
      'authentication.kubernetes.io/pod-name': ['p'],
      'authentication.kubernetes.io/pod-uid': ['pod-uid'],
      'authentication.kubernetes.io/node-name': ['edge-1'],
      'authentication.kubernetes.io/node-uid': ['node-uid'],
      'authentication.kubernetes.io/credential-id': ['JTI=j-1'],
    },
  })
  t.same(r.identity.pod, { name: 'p', uid: 'pod-uid' })
  t.same(r.identity.node, { name: 'edge-1', uid: 'node-uid' })
})

const rejections: Array<[string, Record<string, unknown>, string]> = [
  ['an issuer not configured', { iss: 'https://other' }, 'issuer not accepted'],
  ['no common audience', { aud: ['something-else'] }, 'token audiences are not accepted'],
  ['expired beyond the leeway', { exp: 1_000_000 - 61 }, 'token has expired'],
  ['not yet valid beyond the leeway', { nbf: 1_000_000 + 61 }, 'token is not valid yet'],
  ['no expiry', { exp: undefined }, 'token has no expiry'],
  ['a legacy token without kubernetes.io claims', { 'kubernetes.io': undefined }, 'not a bound service account token'],
  ['a subject that does not match', { sub: 'system:serviceaccount:ns:other' }, 'subject does not match the service account claims'],
  ['a service account without uid', { 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'app' } } }, 'service account claims are missing'],
  ['a malformed pod claim', { 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'app', uid: 'u' }, pod: { name: 'p' } } }, 'malformed pod claim'],
]
for (const [name, over, reason] of rejections) {
  t.test(`rejected: ${name}`, async (t) => {
    t.same(judgeClaims(claims(over), policy), { ok: false, reason })
  })
}

t.test('the leeway tolerates small clock skew on both ends', async (t) => {
  t.ok(judgeClaims(claims({ exp: 1_000_000 - 59 }), policy).ok)
  t.ok(judgeClaims(claims({ nbf: 1_000_000 + 59 }), policy).ok)
})

t.test('a string audience and any configured audience are accepted', async (t) => {
  t.ok(judgeClaims(claims({ aud: 'extra-aud' }), policy).ok)
})

t.test('a token bound to a secret only (no pod) has no pod extras', async (t) => {
  const r = judgeClaims(claims({ 'kubernetes.io': { namespace: 'ns', serviceaccount: { name: 'app', uid: 'sa-uid' } } }), policy)
  t.ok(r.ok)
  if (r.ok) {
    t.equal(r.identity.pod, undefined)
    t.same(Object.keys(r.identity.user.extra), ['authentication.kubernetes.io/credential-id'])
  }
})
