// A pod bound to a node, as the node's policy names it: the edge authenticates only tokens of
// these pods, and their service accounts decide which RBAC objects the node's policy carries.
// Pure type.

export interface BoundPod {
  namespace: string
  name: string
  uid: string
  serviceAccount: string
}
