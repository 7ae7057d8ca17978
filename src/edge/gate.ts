// requireAuthorization at the edge (DESIGN decision 4): who is calling (a bound service-account
// JWT verified against the cluster's keys, or nobody) and may they do this (Kubernetes RBAC from
// the node's policy bundle). A refusal is answered here, without a round trip; an admitted request
// is still checked again by the shim and kube-apiserver (it carries the pod's own token).
import { compactVerify, decodeJwt, errors as joseErrors } from 'jose'
import { isAnonymousPath } from '../kube/anonymous-paths.js'
import { bearerToken } from '../kube/bearer-token.js'
import { nodeBindingForbidden, podBindingProblem } from '../kube/node-binding.js'
import { chainDenyReason, forbiddenStatus } from '../kube/rbac.js'
import type { RequestInfo } from '../kube/request-info.js'
import { judgeClaims } from '../kube/sa-token-claims.js'
import { unauthorized, type Status } from '../kube/status.js'
import { edgeAnswers } from './answers.js'
import type { ReceivedPolicy } from './received-policy.js'

export interface GateOptions {
  nodeName: string
  issuers: readonly string[]
  audiences: readonly string[]
  /** Seconds of tolerated clock skew for exp/nbf (kube-apiserver uses 60). */
  leewaySeconds: number
}

/** Stage 4 of the pipeline (pipeline.ts): authenticate and authorize one parsed request. */
export type Gate = (info: RequestInfo, headers: Record<string, string | string[] | undefined>) => Promise<GateVerdict>

// kube-apiserver tolerates this much clock skew on a token's exp/nbf.
const JWT_LEEWAY_SECONDS = 60

/** The gate of a node: its received keys and RBAC, its service-account issuers and audiences. */
export function createGate (policy: ReceivedPolicy, opts: Omit<GateOptions, 'leewaySeconds'>): Gate {
  const options: GateOptions = { ...opts, leewaySeconds: JWT_LEEWAY_SECONDS }
  return (info, headers) => admit(policy, options, info, headers)
}

/**
 * `authorizedHere` says whether the edge itself decided (RBAC from the bundle, or an anonymous
 * discovery path): only such requests may ever be answered from the cache. A request the edge
 * leaves to kube-apiserver (impersonation) is admitted for relaying only.
 */
/** A refusal names the user when the token was good enough to say who it is (never the token). */
export type GateVerdict = { ok: true, authorizedHere: boolean } | { ok: false, status: Status, why: string, user?: string }

const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'ES256', 'ES384', 'ES512', 'PS256', 'PS384', 'PS512', 'EdDSA']

export async function admit (state: ReceivedPolicy, opts: GateOptions, info: RequestInfo,
  headers: Record<string, string | string[] | undefined>): Promise<GateVerdict> {
  const refuse = (status: Status, why: string, user?: string): GateVerdict => ({ ok: false, status, why, ...(user === undefined ? {} : { user }) })
  // kube-apiserver reads the header this way; without a token it treats the request as anonymous.
  const token = bearerToken(typeof headers.authorization === 'string' ? headers.authorization : undefined)
  if (token === undefined) {
    return info.verb === 'get' && isAnonymousPath(info.path) ? { ok: true, authorizedHere: true } : refuse(unauthorized(), 'anonymous')
  }
  if (state.keys === undefined || state.authorizer === undefined) {
    // Never received from the cloud, nothing persisted: cannot decide here, and nothing is weaker
    // than refusing. (Once the tunnel delivers the bundle this clears within a second.)
    return refuse(edgeAnswers.noPolicyYet(), 'no policy yet')
  }

  let payload = state.verifiedTokens.get(token)
  if (payload === undefined) {
    try {
      await compactVerify(token, state.keys, { algorithms: ALGORITHMS })
      // The claims are judged below (judgeClaims), as kube-apiserver judges them, not by jose.
      payload = decodeJwt(token)
    } catch (err) {
      return refuse(unauthorized(), err instanceof joseErrors.JWKSNoMatchingKey ? 'signing key not in the JWKS' : 'invalid signature or token')
    }
    state.verifiedTokens.set(token, payload)
  }
  const claims = judgeClaims(payload, { issuers: opts.issuers, audiences: opts.audiences, now: Date.now() / 1000, leewaySeconds: opts.leewaySeconds })
  if (!claims.ok) return refuse(unauthorized(), claims.reason)
  const { identity } = claims
  const problem = podBindingProblem(identity, opts.nodeName, state.pods)
  if (problem !== undefined) return refuse(nodeBindingForbidden(identity.user.name, opts.nodeName, problem), problem, identity.user.name)

  // Impersonation is the apiserver's call (it checks the pod's `impersonate` permission): the
  // edge never treats Impersonate-* as an identity, so it does not authorize such requests itself
  // — and therefore never answers them from its cache.
  if (Object.keys(headers).some((h) => h.toLowerCase().startsWith('impersonate-'))) return { ok: true, authorizedHere: false }
  const decision = state.authorizer.authorize(identity.user, info)
  if (decision.ok) return { ok: true, authorizedHere: true }
  // The reason as the fronted apiserver's authorizer chain words it (it changed in 1.37).
  const reason = chainDenyReason(decision.reason, state.bundle?.kubeVersion)
  return refuse(forbiddenStatus(info, identity.user, reason), decision.reason === '' ? 'rbac' : `rbac: ${decision.reason}`, identity.user.name)
}
