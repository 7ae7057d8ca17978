// The claims of a bound service-account token (already signature-checked by the caller), judged
// as kube-apiserver's service-account authenticator judges them (pkg/serviceaccount/claims.go):
// issuer, audience, expiry with a leeway, the kubernetes.io private claims, and the user the
// apiserver would derive from them. Pure: `now` is passed in.
import { serviceAccountGroups, serviceAccountUsername } from './users.js'

export interface SaTokenIdentity {
  namespace: string
  serviceAccount: { name: string, uid: string }
  pod: { name: string, uid: string } | undefined
  node: { name: string, uid: string } | undefined
  /** The user kube-apiserver derives: username, uid, groups (incl. system:authenticated), extra. */
  user: { name: string, uid: string, groups: string[], extra: Record<string, string[]> }
}

export type ClaimsResult = { ok: true, identity: SaTokenIdentity } | { ok: false, reason: string }

export interface ClaimsPolicy {
  issuers: readonly string[]
  audiences: readonly string[]
  /** Seconds since the epoch. */
  now: number
  /** Tolerated clock skew for exp/nbf, in seconds (kube-apiserver: 60). */
  leewaySeconds: number
}

export function judgeClaims (payload: Record<string, unknown>, policy: ClaimsPolicy): ClaimsResult {
  const fail = (reason: string): ClaimsResult => ({ ok: false, reason })
  if (typeof payload.iss !== 'string' || !policy.issuers.includes(payload.iss)) return fail('issuer not accepted')
  const aud = typeof payload.aud === 'string' ? [payload.aud] : Array.isArray(payload.aud) ? payload.aud : []
  if (!aud.some((a) => policy.audiences.includes(a as string))) return fail('token audiences are not accepted')
  if (typeof payload.exp !== 'number') return fail('token has no expiry')
  if (payload.exp + policy.leewaySeconds < policy.now) return fail('token has expired')
  if (typeof payload.nbf === 'number' && payload.nbf - policy.leewaySeconds > policy.now) return fail('token is not valid yet')

  const k8s = payload['kubernetes.io']
  if (typeof k8s !== 'object' || k8s === null) return fail('not a bound service account token')
  const claims = k8s as Record<string, unknown>
  const namespace = claims.namespace
  const sa = ref(claims.serviceaccount)
  if (typeof namespace !== 'string' || namespace === '' || sa === undefined) return fail('service account claims are missing')
  if (payload.sub !== serviceAccountUsername(namespace, sa.name)) return fail('subject does not match the service account claims')
  const pod = ref(claims.pod)
  const node = ref(claims.node)
  if (claims.pod !== undefined && pod === undefined) return fail('malformed pod claim')
  if (claims.node !== undefined && node === undefined) return fail('malformed node claim')

  const extra: Record<string, string[]> = {}
  if (pod !== undefined) {
    extra['authentication.kubernetes.io/pod-name'] = [pod.name]
    extra['authentication.kubernetes.io/pod-uid'] = [pod.uid]
  }
  if (node !== undefined) {
    extra['authentication.kubernetes.io/node-name'] = [node.name]
    extra['authentication.kubernetes.io/node-uid'] = [node.uid]
  }
  if (typeof payload.jti === 'string' && payload.jti !== '') extra['authentication.kubernetes.io/credential-id'] = [`JTI=${payload.jti}`]
  return {
    ok: true,
    identity: {
      namespace,
      serviceAccount: sa,
      pod,
      node,
      user: {
        name: serviceAccountUsername(namespace, sa.name),
        uid: sa.uid,
        groups: serviceAccountGroups(namespace),
        extra,
      },
    },
  }
}

function ref (value: unknown): { name: string, uid: string } | undefined {
  if (typeof value !== 'object' || value === null) return undefined
  const { name, uid } = value as Record<string, unknown>
  return typeof name === 'string' && name !== '' && typeof uid === 'string' && uid !== '' ? { name, uid } : undefined
}
