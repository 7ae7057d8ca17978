// "May this pod's token be used through node N?" — the one rule both the cloud shim (node
// restriction) and the edge (requireAuthorization) enforce, with one message format.
import { forbidden, type Status } from './status.js'

export interface PodIdentityClaims {
  namespace: string
  pod: { name: string, uid: string } | undefined
  /** The node named in the token, when the apiserver embedded one. */
  node: { name: string } | undefined
}

export function nodeBindingForbidden (username: string, node: string, why: string): Status {
  return forbidden(`User "${username}" cannot use the edge tunnel of node "${node}": ${why}`)
}

/**
 * Why the token may not be used on `node`, or undefined when it may. `boundPods` are the pods
 * bound to `node` by uid (the edge's view); the caller that lacks that list passes undefined
 * and checks the pod itself.
 */
export function podBindingProblem (claims: PodIdentityClaims, node: string,
  boundPods: ReadonlyMap<string, { namespace: string, name: string }> | undefined): string | undefined {
  if (claims.pod === undefined) return 'the token is not bound to a pod'
  const podRef = `${claims.namespace}/${claims.pod.name}`
  if (claims.node !== undefined && claims.node.name !== node) return `the token is bound to pod ${podRef} on node "${claims.node.name}"`
  if (boundPods === undefined) return undefined
  const bound = boundPods.get(claims.pod.uid)
  if (bound === undefined || bound.namespace !== claims.namespace || bound.name !== claims.pod.name) {
    return `pod ${podRef} (uid ${claims.pod.uid}) is not bound to this node or no longer exists`
  }
  return undefined
}
