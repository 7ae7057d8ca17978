// The whole product on the test bed: a real cluster, the cloud shim running with exactly the
// ServiceAccount and RBAC of deploy/ (least privilege is tested, not assumed), and an edge daemon
// whose tunnel certificate names `nodeName`. Both roles start from YAML config files through the
// same loaders and run* functions the CLI uses.
import { join } from 'node:path'
import type { CloudShim } from '../../src/cloud/run.js'
import type { EdgeDaemon } from '../../src/edge/run.js'
import { TestCluster } from '../cluster/cluster.js'
import { podEnvironment, type PodEnvironment } from '../cluster/clients.js'
import { Fixtures } from '../cluster/fixtures.js'
import type { KeyPair } from '../cluster/pki.js'
import type { RestClient } from '../cluster/rest.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig, type StackFiles, type TunnelPki } from './configs.js'
import { startCloudInProcess, startEdgeInProcess } from '../helpers/product.js'
import { waitUntil as waitUntilHelper } from '../helpers/wait.js'

/**
 * Fixtures that also wait, after creating a pod identity, until every running edge of that node
 * has received it in its policy bundle (with the identity's RoleBinding): requireAuthorization
 * decides at the edge, and a test must not race the bundle push.
 */
class EdgeAwareFixtures extends Fixtures {
  constructor (admin: RestClient, private readonly edges: () => EdgeDaemon[]) { super(admin) }

  override async podIdentity (namespace: string, nodeName: string, opts: Parameters<Fixtures['podIdentity']>[2] = {}): ReturnType<Fixtures['podIdentity']> {
    const identity = await super.podIdentity(namespace, nodeName, opts)
    for (const edge of this.edges().filter((e) => e.nodeName === nodeName && e.policy !== undefined)) {
      await waitUntil(() => {
        const bundle = edge.policy!.bundle
        return bundle !== undefined && bundle.pods.some((p) => p.uid === identity.pod.uid) &&
          (identity.roleBinding === undefined || bundle.rbac.roleBindings.some((b: any) => b.metadata.name === identity.roleBinding))
      }, 10_000, `edge ${nodeName} to receive pod ${namespace}/${identity.pod.name}`)
    }
    return identity
  }
}

export class Stack {
  readonly fixtures: Fixtures
  private edges: EdgeDaemon[] = []

  private constructor (
    readonly cluster: TestCluster,
    readonly files: StackFiles,
    readonly cloud: CloudShim,
    readonly cloudConfigFile: string
  ) {
    this.fixtures = new EdgeAwareFixtures(cluster.admin, () => this.edges)
  }

  get tunnelPki (): TunnelPki { return this.files.tunnelPki }

  get admin (): RestClient { return this.cluster.admin }

  /** `cloudHub`: more shim keys, made from the stack's files (e.g. join's, see joined-node.ts). */
  static async start (cluster?: TestCluster, opts: { cloudHub?: (files: StackFiles) => string[] } = {}): Promise<Stack> {
    cluster ??= await TestCluster.start()
    try {
      const files = await prepareStackFiles(cluster)
      const cloudConfigFile = await writeCloudConfig(cluster, files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', cloudHub: opts.cloudHub?.(files) ?? [] })
      const { shim } = await startCloudInProcess({ configFile: cloudConfigFile, logFile: join(cluster.dir, 'cloud.log') })
      return new Stack(cluster, files, shim, cloudConfigFile)
    } catch (err) {
      await cluster.stop()
      throw err
    }
  }

  /** Starts an edge daemon for `nodeName` (the Node object is created too). */
  async startEdge (nodeName: string, opts: { tunnelCert?: KeyPair, extraYaml?: string[], metaServer?: string[], tunnelPort?: number, waitForTunnel?: boolean, stateDir?: string } = {}): Promise<EdgeDaemon> {
    await this.fixtures.node(nodeName)
    const file = await writeEdgeConfig(this.cluster, this.files, nodeName, {
      server: '127.0.0.1:0', tunnelPort: opts.tunnelPort ?? this.cloud.tunnelPort,
      ...(opts.tunnelCert === undefined ? {} : { tunnelCert: opts.tunnelCert }), extraYaml: opts.extraYaml ?? [],
      ...(opts.stateDir === undefined ? {} : { stateDir: opts.stateDir }),
      ...(opts.metaServer === undefined ? {} : { metaServer: opts.metaServer }),
    })
    return this.startEdgeFromConfig(file, `edge-${nodeName}`, opts.waitForTunnel)
  }

  /** Starts an edge daemon from a config file written elsewhere (e.g. by `join`), stopped by stop(). */
  async startEdgeFromConfig (configFile: string, logName: string, waitForTunnel = true): Promise<EdgeDaemon> {
    // Not waiting for the tunnel here: the edge must be in this.edges (and so stopped by stop()) even
    // when its tunnel never connects.
    const { daemon: edge } = await startEdgeInProcess({ configFile, logFile: join(this.cluster.dir, `${logName}.log`), waitForTunnel: false })
    this.edges.push(edge)
    if (waitForTunnel) {
      await waitUntil(() => edge.tunnel.state.connected, 10_000, `edge ${edge.nodeName} tunnel to connect`)
      if (edge.policy !== undefined) {
        await waitUntil(() => edge.policy!.bundle !== undefined && edge.policy!.keys !== undefined, 10_000, `edge ${edge.nodeName} to receive its policy`)
      }
    }
    return edge
  }

  /** What a pod on `edge` sees: KUBERNETES_SERVICE_HOST/PORT pointing at the edge, its token and the cluster CA. */
  async podEnv (edge: EdgeDaemon, token: string, namespace: string): Promise<PodEnvironment> {
    const { host, port } = edge.listening.server!
    return podEnvironment(await this.cluster.tempDir('pod'), { host, port, token, caPem: this.cluster.pki.caPem, namespace })
  }

  /**
   * A fresh namespace (its kube-root-ca.crt already published, so listings and watches see no late
   * arrivals) and a pod on `edge`'s node whose ServiceAccount has `rules` there: what that pod sees
   * through the edge, and the same pod pointed straight at kube-apiserver.
   */
  async podWith (edge: EdgeDaemon, prefix: string, rules: unknown[]): Promise<{ ns: string, pod: PodEnvironment, direct: PodEnvironment, token: string }> {
    const ns = await this.fixtures.namespace(prefix)
    const me = await this.fixtures.podIdentity(ns, edge.nodeName, { rules })
    await waitUntil(async () => (await this.admin.get(`/api/v1/namespaces/${ns}/configmaps/kube-root-ca.crt`)).status === 200,
      20_000, `kube-root-ca.crt in ${ns}`)
    return { ns, pod: await this.podEnv(edge, me.token, ns), direct: await this.directPodEnv(me.token, ns), token: me.token }
  }

  /** A counter of the cloud shim's /metrics, summed over all its label sets (0 when absent). */
  async cloudMetric (name: string): Promise<number> {
    return metricSum(await fetch(`http://127.0.0.1:${this.cloud.healthPort}/metrics`).then((r) => r.text()), name)
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

/** The e2e files' spelling of test/helpers/wait.ts waitUntil (probes cost a request: every 50 ms). */
export async function waitUntil (predicate: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  await waitUntilHelper(predicate, { what, timeoutMs, intervalMs: 50 })
}

/** A metric in Prometheus text, summed over the label sets that contain `label` (all when omitted); 0 when absent. */
export function metricSum (text: string, name: string, label = ''): number {
  let sum = 0
  for (const m of text.matchAll(new RegExp(`^${name}(\\{[^}]*\\})? (\\d+)`, 'gm'))) {
    if ((m[1] ?? '').includes(label)) sum += Number(m[2])
  }
  return sum
}
