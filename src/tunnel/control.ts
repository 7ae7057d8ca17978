// What the cloud pushes to an edge on its control stream, one JSON object per line, each
// replacing the previous one of its type. Both ends import these types; receivers ignore
// message types they do not know (version skew during rolling updates).
import { isIP } from 'node:net'
import type { BoundPod } from '../kube/bound-pod.js'
import type { RbacPolicy } from '../kube/rbac-objects.js'

export interface JsonWebKeySet {
  keys: Array<Record<string, unknown>>
}

/** A node's policy: its bound pods and every RBAC object that can grant to their service accounts, in any namespace. */
export interface PolicyBundle {
  node: string
  pods: BoundPod[]
  rbac: RbacPolicy
  /** kube-apiserver's /version gitVersion, once the shim has read it: the edge words its 403s as that release does. */
  kubeVersion?: string
  /**
   * The `kubernetes` Service in `default` (ClusterIP and its https port), once the shim has read it:
   * what an edge with `redirect.serviceClusterIP: auto` redirects (the same for every node).
   */
  kubernetesService?: KubernetesService
}

export interface KubernetesService {
  clusterIP: string
  port: number
}

/** True for a well-formed KubernetesService (an IPv4 ClusterIP: the dummy address a DNAT targets is IPv4). */
export function isKubernetesService (v: unknown): v is KubernetesService {
  if (typeof v !== 'object' || v === null) return false
  const s = v as Record<string, unknown>
  return typeof s.clusterIP === 'string' && isIP(s.clusterIP) === 4 &&
    typeof s.port === 'number' && Number.isInteger(s.port) && s.port >= 1 && s.port <= 65535
}

export type ControlMessage =
  | { type: 'jwks', jwks: JsonWebKeySet }
  | { type: 'policy', bundle: PolicyBundle }

export function encodeControl (message: ControlMessage): string {
  return JSON.stringify(message) + '\n'
}

/** Parses one line; undefined for anything that is not a known, well-formed message. */
export function decodeControl (line: string): ControlMessage | undefined {
  let value: unknown
  try { value = JSON.parse(line) } catch { return undefined }
  if (typeof value !== 'object' || value === null) return undefined
  const m = value as Record<string, unknown>
  if (m.type === 'jwks' && typeof m.jwks === 'object' && m.jwks !== null && Array.isArray((m.jwks as JsonWebKeySet).keys)) {
    return { type: 'jwks', jwks: m.jwks as JsonWebKeySet }
  }
  if (m.type === 'policy' && typeof m.bundle === 'object' && m.bundle !== null) {
    const b = m.bundle as PolicyBundle
    if (typeof b.node === 'string' && Array.isArray(b.pods) && typeof b.rbac === 'object' && b.rbac !== null &&
      (b.kubeVersion === undefined || typeof b.kubeVersion === 'string') &&
      (b.kubernetesService === undefined || isKubernetesService(b.kubernetesService))) return { type: 'policy', bundle: b }
  }
  return undefined
}
