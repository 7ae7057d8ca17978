// Everything both roles need on disk for a test or bench run: the tunnel PKI (its own CA, the
// shim's serving certificate, node certificates on demand), the edge's serving certificate
// (chained to the cluster CA, so pods' ca.crt trusts it), the shim's kubeconfig for exactly the
// ServiceAccount and RBAC of deploy/, and the YAML config files the CLI and run* functions load.
import { readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { kubeconfigYaml, SERVICE_CLUSTER_IP, SERVICE_DNS_NAMES, type TestCluster } from '../cluster/cluster.js'
import { CertificateAuthority, type KeyPair } from '../cluster/pki.js'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface TunnelPki {
  ca: CertificateAuthority
  cloud: KeyPair
  node: (name: string) => Promise<KeyPair>
}

export interface StackFiles {
  tunnelPki: TunnelPki
  edgeServing: KeyPair
  shimKubeconfig: string
}

export async function prepareStackFiles (cluster: TestCluster): Promise<StackFiles> {
  const pkiDir = await cluster.tempDir('tunnel-pki')
  const ca = await CertificateAuthority.create(pkiDir, 'tunnel-ca', 'edge-metaserver-test-tunnel-ca')
  const cloud = await ca.issue('cloud', { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], dnsSans: ['localhost'] })
  // What a pod may dial: loopback (host network), the dummy address, and — for the transparent
  // redirection — the kubernetes Service by ClusterIP and by name, as the join issue's CSR asks.
  const edgeServing = await cluster.pki.ca.issue(`edge-serving-${Date.now()}`, {
    cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', '169.254.30.10', SERVICE_CLUSTER_IP], dnsSans: SERVICE_DNS_NAMES,
  })
  return {
    tunnelPki: {
      ca,
      cloud,
      node: (name) => ca.issue(`node-${name}`, { cn: `system:node:${name}`, organizations: ['system:nodes'], usage: 'client' }),
    },
    edgeServing,
    shimKubeconfig: await shimKubeconfig(cluster),
  }
}

export async function writeCloudConfig (cluster: TestCluster, files: StackFiles, opts: {
  address: string
  healthzAddress: string
  logLevel?: string
  /** More keys under modules.cloudHub, e.g. ['join:', '  enable: true']. */
  cloudHub?: string[]
  /** More keys under kubeAPIConfig, e.g. ['maxLongRunningRequests: 20000']. */
  kubeAPIConfig?: string[]
}): Promise<string> {
  const { ca, cloud } = files.tunnelPki
  const file = join(await cluster.tempDir('cloud'), 'cloud.yaml')
  await writeFile(file, [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: CloudShim',
    'kubeAPIConfig:', `  kubeConfig: ${files.shimKubeconfig}`,
    ...(opts.kubeAPIConfig ?? []).map((line) => `  ${line}`),
    'modules:', '  cloudHub:', `    address: ${opts.address}`, `    healthzAddress: ${opts.healthzAddress}`,
    `    tlsCaFile: ${ca.certFile}`, `    tlsCertFile: ${cloud.certFile}`, `    tlsPrivateKeyFile: ${cloud.keyFile}`,
    '    shutdownGracePeriod: 2s',
    ...(opts.cloudHub ?? []).map((line) => `    ${line}`),
    'logging:', `  level: ${opts.logLevel ?? 'debug'}`, '',
  ].join('\n'))
  return file
}

export async function writeEdgeConfig (cluster: TestCluster, files: StackFiles, nodeName: string, opts: {
  server: string
  /** The cloud shim's tunnel port on 127.0.0.1 (one server). */
  tunnelPort?: number
  /** Several shims on 127.0.0.1, in order: modules.edgeHub.server becomes a list (takes precedence over tunnelPort). */
  tunnelPorts?: number[]
  tunnelCert?: KeyPair
  extraYaml?: string[]
  logLevel?: string
  /** Reuse an earlier edge's state directory (a restart); a fresh one otherwise. */
  stateDir?: string
  shutdownGracePeriod?: string
  /** More keys under modules.metaServer, e.g. ['requestTimeout: 1ms']. */
  metaServer?: string[]
  /** modules.metaServer.dummyServer; off ("") unless given. */
  dummyServer?: string
}): Promise<string> {
  const dir = await cluster.tempDir(`edge-${nodeName}`)
  const stateDir = opts.stateDir ?? dir
  const cert = opts.tunnelCert ?? await files.tunnelPki.node(nodeName)
  const file = join(dir, 'edge.yaml')
  const tunnelPorts = opts.tunnelPorts ?? (opts.tunnelPort === undefined ? [] : [opts.tunnelPort])
  if (tunnelPorts.length === 0) throw new Error('writeEdgeConfig: tunnelPort or tunnelPorts is required')
  const hubServer = opts.tunnelPorts === undefined ? `127.0.0.1:${tunnelPorts[0]}` : `[${tunnelPorts.map((p) => `"127.0.0.1:${p}"`).join(', ')}]`
  await writeFile(file, [
    'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer',
    `stateDir: ${stateDir}`,
    'modules:', '  metaServer:', `    server: ${opts.server}`, `    dummyServer: ${opts.dummyServer ?? '""'}`,
    `    tlsCertFile: ${files.edgeServing.certFile}`, `    tlsPrivateKeyFile: ${files.edgeServing.keyFile}`,
    `    shutdownGracePeriod: ${opts.shutdownGracePeriod ?? '2s'}`,
    ...(opts.metaServer ?? []).map((line) => `    ${line}`),
    '  edgeHub:', `    server: ${hubServer}`,
    `    tlsCaFile: ${files.tunnelPki.ca.certFile}`, `    tlsCertFile: ${cert.certFile}`, `    tlsPrivateKeyFile: ${cert.keyFile}`,
    '    heartbeatPeriod: 2s', '    heartbeatTimeout: 2s', '    reconnectBackoffInitial: 100ms', '    reconnectBackoffMax: 1s',
    ...(opts.extraYaml ?? []),
    'logging:', `  level: ${opts.logLevel ?? 'debug'}`, '',
  ].join('\n'))
  return file
}

/** Applies deploy/'s namespace and RBAC and returns a kubeconfig for the shim's ServiceAccount. */
async function shimKubeconfig (cluster: TestCluster): Promise<string> {
  const paths: Record<string, (doc: any) => string> = {
    Namespace: () => '/api/v1/namespaces',
    ServiceAccount: (d) => `/api/v1/namespaces/${d.metadata.namespace}/serviceaccounts`,
    ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
    Role: (d) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${d.metadata.namespace}/roles`,
    RoleBinding: (d) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${d.metadata.namespace}/rolebindings`,
  }
  for (const file of ['00-namespace.yaml', '10-rbac.yaml']) {
    for (const doc of parseAllDocuments(await readFile(join(repo, 'deploy', file), 'utf8'))) {
      const obj = doc.toJS()
      const res = await cluster.admin.post(paths[obj.kind]!(obj), obj)
      if (res.status !== 201 && res.status !== 409) throw new Error(`apply ${obj.kind}: ${res.status} ${JSON.stringify(res.body)}`)
    }
  }
  const token = await cluster.admin.must('POST', '/api/v1/namespaces/edge-metaserver/serviceaccounts/edge-metaserver-cloud/token', {
    body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds: 7200 } },
  })
  const file = join(await cluster.tempDir('shim'), 'kubeconfig')
  await writeFile(file, kubeconfigYaml(cluster.url, cluster.pki.caPem, token.status.token))
  return file
}
