// `edge-metaserver node revoke NAME` / `node unrevoke NAME`: adds or removes a node in the deny-list
// ConfigMap the shims watch (modules.cloudHub.revokedNodesConfigMap), with the operator's kubeconfig.
// One key per node, written by a JSON merge patch: two operators revoking at once both win, with no
// read-modify-write race. A shim closes the node's live connection as soon as its watch sees it.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are checked */
import { nodeGroup } from '../kube/bootstrap-token.js'
import { withAdminClient } from './admin-client.js'
import type { Upstream } from './upstream.js'

export const DEFAULT_DENY_LIST = 'edge-metaserver/edge-metaserver-revoked-nodes'

export interface NodeRevokeOptions {
  kubeconfig: string
  node: string
  /** `namespace/name` of the deny list. */
  configMap: string
  /** true: revoke; false: take the node off the list. */
  revoke: boolean
}

const MERGE_PATCH = 'application/merge-patch+json'

/** Returns the line to print. */
export async function setNodeRevoked (o: NodeRevokeOptions): Promise<string> {
  // A ConfigMap key allows [-._a-zA-Z0-9]; node names are lowercase RFC 1123 subdomains, which fit.
  if (nodeGroup(o.node) === undefined) throw new Error(`"${o.node}" is not a node name (lowercase RFC 1123, at most 213 characters)`)
  const [namespace, name] = o.configMap.split('/')
  if (namespace === undefined || name === undefined || namespace === '' || name === '') throw new Error(`--configmap must be NAMESPACE/NAME, got "${o.configMap}"`)
  const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps/${encodeURIComponent(name)}`
  return await withAdminClient(o.kubeconfig, async (upstream) => {
    if (!o.revoke) {
      const res = await upstream.json<any>('PATCH', path, { data: { [o.node]: null } }, 'application/json', MERGE_PATCH)
      if (res.status === 404) return `node ${o.node} was not revoked (no ConfigMap ${o.configMap})`
      check(res, 'updating', o.configMap)
      return `node ${o.node} is no longer revoked (ConfigMap ${o.configMap})`
    }
    const value = `revoked at ${new Date().toISOString()}`
    const done = `node ${o.node} revoked (ConfigMap ${o.configMap}); shims watching it close its tunnel now`
    for (let attempt = 0; attempt < 2; attempt++) {
      const res = await upstream.json<any>('PATCH', path, { data: { [o.node]: value } }, 'application/json', MERGE_PATCH)
      if (res.status !== 404) { check(res, 'updating', o.configMap); return done }
      // No list yet: create it; another operator creating it meanwhile (409) means patch again.
      if (await create(upstream, namespace, name, o.node, value)) return done
    }
    throw new Error(`ConfigMap ${o.configMap} was created and deleted while this ran; run it again`)
  })
}

async function create (upstream: Upstream, namespace: string, name: string, node: string, value: string): Promise<boolean> {
  const res = await upstream.json<any>('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`, {
    apiVersion: 'v1', kind: 'ConfigMap',
    metadata: { name, labels: { 'app.kubernetes.io/name': 'edge-metaserver', 'app.kubernetes.io/component': 'revoked-nodes' } },
    data: { [node]: value },
  })
  if (res.status === 409) return false
  check(res, 'creating', `${namespace}/${name}`)
  return true
}

function check (res: { status: number, body: any }, doing: string, configMap: string): void {
  if (res.status >= 200 && res.status < 300) return
  throw new Error(`${doing} ConfigMap ${configMap} failed (HTTP ${res.status}): ${res.body?.message ?? ''}`)
}
