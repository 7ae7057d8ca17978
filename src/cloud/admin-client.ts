// The operator's commands (`token create`, `node revoke`) talk to kube-apiserver with the operator's
// own kubeconfig — never the shim's identity, which may not write Secrets or the deny list.
import { loadKubeCredentials } from './kube-credentials.js'
import { Upstream } from './upstream.js'

/** Runs `fn` with a one-connection client for the kubeconfig ("" for in-cluster), closed afterwards. */
export async function withAdminClient<T> (kubeconfig: string, fn: (upstream: Upstream) => Promise<T>): Promise<T> {
  const credentials = await loadKubeCredentials(kubeconfig)
  const upstream = new Upstream({ credentials, timeoutMs: 30_000, maxConnections: 1, maxLongRunning: 1, streamsPerConnection: 1 })
  try {
    return await fn(upstream)
  } finally {
    await upstream.close()
    credentials.close()
  }
}
