// The whole product on the test bed: a real cluster, the cloud shim running with exactly the
// ServiceAccount and RBAC of deploy/ (least privilege is tested, not assumed), and an edge daemon
// whose tunnel certificate names `nodeName`. Both roles start from YAML config files through the
// same loaders and run* functions the CLI uses.
import { readFile, writeFile } from 'node:fs/promises'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseAllDocuments } from 'yaml'
import { destination } from 'pino'
import { loadCloudConfig, loadEdgeConfig } from '../../src/config/index.js'
import { runCloud, type CloudShim } from '../../src/cloud/run.js'
import { runEdge, type EdgeDaemon } from '../../src/edge/run.js'
import { createLogger } from '../../src/obs/logger.js'
import { kubeconfigYaml, TestCluster } from '../cluster/cluster.js'
import { podEnvironment, type PodEnvironment } from '../cluster/clients.js'
import { Fixtures } from '../cluster/fixtures.js'
import { CertificateAuthority, type KeyPair } from '../cluster/pki.js'
import type { RestClient } from '../cluster/rest.js'

const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..')

export interface TunnelPki {
  ca: CertificateAuthority
  cloud: KeyPair
  node: (name: string) => Promise<KeyPair>
}

export class Stack {
  readonly fixtures: Fixtures
  private edges: EdgeDaemon[] = []

  private constructor (
    readonly cluster: TestCluster,
    readonly tunnelPki: TunnelPki,
    readonly edgeServing: KeyPair,
    readonly cloud: CloudShim,
    readonly cloudConfigFile: string,
  ) {
    this.fixtures = new Fixtures(cluster.admin)
  }

  get admin (): RestClient { return this.cluster.admin }

  static async start (cluster?: TestCluster): Promise<Stack> {
    cluster ??= await TestCluster.start()
    try {
      const pkiDir = await cluster.tempDir('tunnel-pki')
      const ca = await CertificateAuthority.create(pkiDir, 'tunnel-ca', 'edge-metaserver-test-tunnel-ca')
      const cloud = await ca.issue('cloud', { cn: 'edge-metaserver-cloud', usage: 'server', ipSans: ['127.0.0.1'], dnsSans: ['localhost'] })
      const tunnelPki: TunnelPki = {
        ca,
        cloud,
        node: (name) => ca.issue(`node-${name}`, { cn: `system:node:${name}`, organizations: ['system:nodes'], usage: 'client' }),
      }
      // The edge's serving certificate chains to the cluster CA: the pods' ca.crt verifies it.
      const edgeServing = await cluster.pki.ca.issue(`edge-serving-${Date.now()}`, {
        cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', '169.254.30.10'],
      })
      const kubeconfig = await shimKubeconfig(cluster)
      const cloudConfigFile = join(pkiDir, 'cloud.yaml')
      await writeFile(cloudConfigFile, [
        'apiVersion: edge-metaserver.io/v1alpha1', 'kind: CloudShim',
        'kubeAPIConfig:', `  kubeConfig: ${kubeconfig}`,
        'modules:', '  cloudHub:', '    address: 127.0.0.1:0', '    healthzAddress: 127.0.0.1:0',
        `    tlsCaFile: ${ca.certFile}`, `    tlsCertFile: ${cloud.certFile}`, `    tlsPrivateKeyFile: ${cloud.keyFile}`,
        '    shutdownGracePeriod: 2s',
        'logging:', '  level: debug', '',
      ].join('\n'))
      const shim = await runCloud(await loadCloudConfig(cloudConfigFile),
        createLogger({ level: 'debug', role: 'cloud', destination: destination({ dest: join(cluster.dir, 'cloud.log'), sync: false }) }))
      return new Stack(cluster, tunnelPki, edgeServing, shim, cloudConfigFile)
    } catch (err) {
      await cluster.stop()
      throw err
    }
  }

  /** Starts an edge daemon for `nodeName` (the Node object is created too). */
  async startEdge (nodeName: string, opts: { tunnelCert?: KeyPair, extraYaml?: string[], tunnelPort?: number, waitForTunnel?: boolean } = {}): Promise<EdgeDaemon> {
    await this.fixtures.node(nodeName)
    const dir = await this.cluster.tempDir(`edge-${nodeName}`)
    const cert = opts.tunnelCert ?? await this.tunnelPki.node(nodeName)
    const file = join(dir, 'edge.yaml')
    await writeFile(file, [
      'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer',
      `stateDir: ${dir}`,
      'modules:', '  metaServer:', '    server: 127.0.0.1:0', '    dummyServer: ""',
      `    tlsCertFile: ${this.edgeServing.certFile}`, `    tlsPrivateKeyFile: ${this.edgeServing.keyFile}`,
      '    shutdownGracePeriod: 2s',
      '  edgeHub:', `    server: 127.0.0.1:${opts.tunnelPort ?? this.cloud.tunnelPort}`,
      `    tlsCaFile: ${this.tunnelPki.ca.certFile}`, `    tlsCertFile: ${cert.certFile}`, `    tlsPrivateKeyFile: ${cert.keyFile}`,
      '    heartbeatPeriod: 2s', '    heartbeatTimeout: 2s', '    reconnectBackoffInitial: 100ms', '    reconnectBackoffMax: 1s',
      ...(opts.extraYaml ?? []),
      'logging:', '  level: debug', '',
    ].join('\n'))
    const edge = await runEdge(await loadEdgeConfig(file),
      createLogger({ level: 'debug', role: 'edge', destination: destination({ dest: join(this.cluster.dir, `edge-${nodeName}.log`), sync: false }) }))
    this.edges.push(edge)
    if (opts.waitForTunnel !== false) await waitUntil(() => edge.tunnel.state.connected, 10_000, `edge ${nodeName} tunnel to connect`)
    return edge
  }

  /** What a pod on `edge` sees: KUBERNETES_SERVICE_HOST/PORT pointing at the edge, its token and the cluster CA. */
  async podEnv (edge: EdgeDaemon, token: string, namespace: string): Promise<PodEnvironment> {
    const { host, port } = edge.listening.server!
    return podEnvironment(await this.cluster.tempDir('pod'), { host, port, token, caPem: this.cluster.pki.caPem, namespace })
  }

  /** The same pod pointed straight at kube-apiserver (for side-by-side comparisons). */
  async directPodEnv (token: string, namespace: string): Promise<PodEnvironment> {
    return podEnvironment(await this.cluster.tempDir('pod-direct'), {
      host: '127.0.0.1', port: this.cluster.port, token, caPem: this.cluster.pki.caPem, namespace,
    })
  }

  async stop (): Promise<void> {
    for (const edge of this.edges) await edge.close().catch(() => {})
    await this.cloud.close().catch(() => {})
    await this.cluster.stop()
  }
}

/** Applies deploy/'s namespace and RBAC and returns a kubeconfig for the shim's ServiceAccount. */
async function shimKubeconfig (cluster: TestCluster): Promise<string> {
  const paths: Record<string, (doc: any) => string> = {
    Namespace: () => '/api/v1/namespaces',
    ServiceAccount: (d) => `/api/v1/namespaces/${d.metadata.namespace}/serviceaccounts`,
    ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
    ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
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

export async function waitUntil (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (await predicate()) return
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
}
