// Node restriction (DESIGN decision 3): a request arriving on node N's tunnel may only carry the
// token of a pod bound to N. The edge cannot lie about N (it comes from its certificate); the
// token proves the pod. Node claims in the token are used when present; otherwise the pod is
// looked up (its nodeName and uid never change once bound, so the answer is cached).
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions, explicit checks) */
import { LRUCache } from 'lru-cache'
import { nodeBindingForbidden, podBindingProblem } from '../kube/node-binding.js'
import { unauthorized, type Status } from '../kube/status.js'
import { splitServiceAccountUsername } from '../kube/users.js'
import type { TokenReviewer, ReviewedUser } from './token-reviews.js'
import type { Upstream } from './upstream.js'

export type Verdict =
  | { ok: true, user: ReviewedUser }
  | { ok: false, status: Status, reason: 'unauthenticated' | 'node-restriction' }

const EXTRA_NODE_NAME = 'authentication.kubernetes.io/node-name'
const EXTRA_POD_NAME = 'authentication.kubernetes.io/pod-name'
const EXTRA_POD_UID = 'authentication.kubernetes.io/pod-uid'
const POD_BINDING_TTL_MS = 10 * 60_000

export class NodeRestriction {
  /** The node each pod (namespace/name/uid) is bound to; only bindings are kept. */
  private readonly podNodes: LRUCache<string, string>

  constructor (private readonly reviewer: TokenReviewer, private readonly upstream: Upstream, cacheSize: number) {
    this.podNodes = new LRUCache({ max: cacheSize, ttl: POD_BINDING_TTL_MS, ttlResolution: 0 })
  }

  async check (token: string, node: string): Promise<Verdict> {
    const review = await this.reviewer.review(token)
    if (!review.ok) return { ok: false, status: unauthorized(), reason: 'unauthenticated' }
    const { user } = review
    const deny = (why: string): Verdict => ({ ok: false, reason: 'node-restriction', status: nodeBindingForbidden(user.username, node, why) })
    const serviceAccount = splitServiceAccountUsername(user.username)
    if (serviceAccount === undefined) return deny('only service account tokens of pods on this node are accepted')
    const { namespace } = serviceAccount
    const podName = user.extra[EXTRA_POD_NAME]?.[0]
    const podUid = user.extra[EXTRA_POD_UID]?.[0]
    const nodeName = user.extra[EXTRA_NODE_NAME]?.[0]
    const claims = {
      namespace,
      pod: podName === undefined || podUid === undefined ? undefined : { name: podName, uid: podUid },
      node: nodeName === undefined ? undefined : { name: nodeName },
    }
    let problem = podBindingProblem(claims, node, undefined)
    if (problem === undefined && claims.node === undefined) {
      // No node claim in the token: ask the apiserver where the pod is bound, and judge again with
      // the answer (a pod that is gone is bound nowhere).
      const boundNode = await this.podNode(namespace, claims.pod!.name, claims.pod!.uid)
      problem = boundNode === null
        ? podBindingProblem(claims, node, new Map())
        : podBindingProblem({ ...claims, node: { name: boundNode } }, node, undefined)
    }
    return problem === undefined ? { ok: true, user } : deny(problem)
  }

  /** The node a pod is bound to, null when the pod (with that uid) is gone or unscheduled. */
  private async podNode (namespace: string, name: string, uid: string): Promise<string | null> {
    const key = `${namespace}/${name}/${uid}`
    const cached = this.podNodes.get(key)
    if (cached !== undefined) return cached
    const res = await this.upstream.json<any>('GET', `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods/${encodeURIComponent(name)}`)
    if (res.status === 404) return null
    if (res.status !== 200) throw new Error(`pod lookup failed with HTTP ${res.status}`)
    const nodeName: string | undefined = res.body?.spec?.nodeName
    const bound = res.body?.metadata?.uid === uid && nodeName !== undefined && nodeName !== '' ? nodeName : null
    // Only a binding is stable; "not bound yet" may change, so it is not cached.
    if (bound !== null) this.podNodes.set(key, bound)
    return bound
  }
}
