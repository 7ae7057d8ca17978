// The real-cluster test bed: etcd 3.6 + kube-apiserver 1.37 (1.34 with EDGE_METASERVER_KUBE_VERSION=1.34.4;
// + kube-controller-manager) built from the Go module proxy by build-binaries.sh, started on free 127.0.0.1 ports with a fresh PKI, and
// always stopped. One cluster per test file (tap runs files in parallel processes).
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { CertificateAuthority, createServiceAccountKeys, type KeyPair } from './pki.js'
import { freePort, startManaged, waitFor, type Managed } from './processes.js'
import { RestClient } from './rest.js'

const here = dirname(fileURLToPath(import.meta.url))
const run = promisify(execFile)

export const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local'

export interface Binaries {
  /** The test bed's Kubernetes release, e.g. v1.37.2 (what kube-apiserver's /version reports). */
  KUBE_VERSION: string
  ETCD: string
  KUBE_APISERVER: string
  KUBE_CONTROLLER_MANAGER: string
  KUBECTL: string
  /** helm v3 (test/cluster/helmbin/go.mod), for deploy/chart. */
  HELM: string
  CLIENT_GO: string
  /** The same client built against the newest client-go (test/clients/go/go.0.37.mod). */
  CLIENT_GO_LATEST: string
  /** kube-apiserver's own request parsing at the test bed's versions (test/kube/go-oracle/main.go). */
  REQUEST_ORACLE: string
}

let binariesPromise: Promise<Binaries> | undefined

/** Paths of the built binaries; builds what is missing (a no-op when the cache is warm). */
export function binaries (): Promise<Binaries> {
  binariesPromise ??= (async () => {
    const { stdout } = await run('bash', [join(here, 'build-binaries.sh')], { maxBuffer: 1 << 20 })
    const entries = stdout.trim().split('\n').map((line) => line.split('=', 2) as [string, string])
    return Object.fromEntries(entries) as unknown as Binaries
  })()
  return binariesPromise
}

export interface ClusterPki {
  ca: CertificateAuthority
  caPem: string
  apiserver: KeyPair
  serviceAccount: { privateKeyFile: string, publicKeyFile: string }
}

export interface StartOptions {
  /** kube-controller-manager: CSR signing, SA tokens, kube-root-ca.crt, namespace cleanup, ClusterRole aggregation. Default true. */
  controllerManager?: boolean
  extraApiserverArgs?: string[]
}

export class TestCluster {
  readonly admin: RestClient
  private readonly processes: Managed[]
  private stopped = false
  /** How kube-apiserver was started, so stopApiserver/startApiserver can bring the same one back. */
  private apiserverLaunch: { command: string, args: string[], logFile: string } | undefined

  private constructor (
    readonly dir: string,
    readonly url: string,
    readonly port: number,
    readonly pki: ClusterPki,
    readonly adminToken: string,
    readonly adminKubeconfig: string,
    processes: Managed[],
    readonly startMs: number
  ) {
    this.processes = processes
    this.admin = new RestClient(url, pki.caPem, adminToken)
  }

  static async start (opts: StartOptions = {}): Promise<TestCluster> {
    const started = Date.now()
    const bin = await binaries()
    const dir = await mkdtemp(join(tmpdir(), 'ems-cluster-'))
    const processes: Managed[] = []
    try {
      const pki = await createClusterPki(join(dir, 'pki'))
      const adminToken = randomBytes(24).toString('hex')
      await writeFile(join(dir, 'tokens.csv'), `${adminToken},admin,admin-uid,system:masters\n`)

      const [etcdClient, etcdPeer, apiPort] = [await freePort(), await freePort(), await freePort()]
      const etcd = startManaged('etcd', bin.ETCD, [
        '--name=e2e', `--data-dir=${join(dir, 'etcd')}`, '--unsafe-no-fsync=true', '--log-level=warn',
        `--listen-client-urls=http://127.0.0.1:${etcdClient}`, `--advertise-client-urls=http://127.0.0.1:${etcdClient}`,
        `--listen-peer-urls=http://127.0.0.1:${etcdPeer}`, `--initial-advertise-peer-urls=http://127.0.0.1:${etcdPeer}`,
        `--initial-cluster=e2e=http://127.0.0.1:${etcdPeer}`, '--listen-metrics-urls=',
      ], { logFile: join(dir, 'etcd.log') })
      processes.push(etcd)

      const apiserverArgs = [
        `--etcd-servers=http://127.0.0.1:${etcdClient}`,
        '--bind-address=127.0.0.1', `--secure-port=${apiPort}`,
        '--advertise-address=127.0.0.1', '--endpoint-reconciler-type=none',
        `--tls-cert-file=${pki.apiserver.certFile}`, `--tls-private-key-file=${pki.apiserver.keyFile}`,
        `--cert-dir=${join(dir, 'apiserver-certs')}`,
        `--token-auth-file=${join(dir, 'tokens.csv')}`, `--client-ca-file=${pki.ca.certFile}`,
        '--authorization-mode=RBAC',
        // edge-metaserver join: bootstrap tokens (kube-system Secrets) reviewed by the shim.
        '--enable-bootstrap-token-auth',
        `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
        `--service-account-key-file=${pki.serviceAccount.publicKeyFile}`,
        `--service-account-signing-key-file=${pki.serviceAccount.privateKeyFile}`,
        '--service-cluster-ip-range=10.0.0.0/24', '--profiling=false',
        ...(opts.extraApiserverArgs ?? []),
      ]
      const apiserverLaunch = { command: bin.KUBE_APISERVER, args: apiserverArgs, logFile: join(dir, 'kube-apiserver.log') }
      const apiserver = startManaged('kube-apiserver', apiserverLaunch.command, apiserverLaunch.args, { logFile: apiserverLaunch.logFile })
      processes.push(apiserver)

      const url = `https://127.0.0.1:${apiPort}`
      const probe = new RestClient(url, pki.caPem)
      const deathOf = (m: Managed) => () => m.child.exitCode !== null ? `${m.name} exited (${m.child.exitCode}); see ${m.logFile}` : undefined
      await waitFor('kube-apiserver /readyz', async () => {
        const res = await probe.get('/readyz')
        return res.status === 200 ? true : undefined
      }, { timeoutMs: 90_000, intervalMs: 250, failIf: () => deathOf(etcd)() ?? deathOf(apiserver)() })
      await probe.close()

      const adminKubeconfig = join(dir, 'admin.kubeconfig')
      await writeFile(adminKubeconfig, kubeconfigYaml(url, pki.caPem, adminToken))

      if (opts.controllerManager !== false) {
        const kcm = startManaged('kube-controller-manager', bin.KUBE_CONTROLLER_MANAGER, [
          `--kubeconfig=${adminKubeconfig}`, '--secure-port=0', '--leader-elect=false',
          '--controllers=serviceaccount-token-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,' +
            'namespace-controller,certificatesigningrequest-signing-controller,certificatesigningrequest-cleaner-controller,' +
            'garbage-collector-controller,clusterrole-aggregation-controller',
          `--cluster-signing-cert-file=${pki.ca.certFile}`, `--cluster-signing-key-file=${pki.ca.keyFile}`,
          `--root-ca-file=${pki.ca.certFile}`,
          `--service-account-private-key-file=${pki.serviceAccount.privateKeyFile}`,
          '--use-service-account-credentials=false',
        ], { logFile: join(dir, 'kube-controller-manager.log') })
        processes.push(kcm)
      }
      const cluster = new TestCluster(dir, url, apiPort, pki, adminToken, adminKubeconfig, processes, Date.now() - started)
      cluster.apiserverLaunch = apiserverLaunch
      if (opts.controllerManager !== false) {
        // The default ServiceAccount appearing proves the controller manager is up and working.
        await waitFor('kube-controller-manager (default ServiceAccount in "default")', async () => {
          const res = await cluster.admin.get('/api/v1/namespaces/default/serviceaccounts/default')
          return res.status === 200 ? true : undefined
        }, { timeoutMs: 60_000, intervalMs: 250, failIf: deathOf(processes[2]!) })
        ;(cluster as { startMs: number }).startMs = Date.now() - started
      }
      return cluster
    } catch (err) {
      await Promise.all(processes.map((p) => p.stop(1000)))
      const logs = await Promise.all(processes.map(async (p) =>
        `--- ${p.name} (last lines)\n${(await readFile(p.logFile, 'utf8').catch(() => '')).split('\n').slice(-15).join('\n')}`))
      await rm(dir, { recursive: true, force: true })
      throw new Error(`${(err as Error).message}\n${logs.join('\n')}`)
    }
  }

  /** PIDs of the control-plane processes (for the no-orphans test). */
  pids (): number[] {
    return this.processes.map((p) => p.child.pid!).filter((pid) => pid !== undefined)
  }

  /** True while every control-plane process is still running (a crash fails tests loudly). */
  get healthy (): boolean {
    return this.processes.every((p) => p.child.exitCode === null && p.child.signalCode === null)
  }

  /**
   * Kills kube-apiserver (SIGKILL by default: an outage, not a shutdown); etcd and the controller
   * manager keep running. `startApiserver` brings it back on the same port with the same data.
   */
  async stopApiserver (signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.processes.find((m) => m.name === 'kube-apiserver')!
    if (p.child.exitCode !== null || p.child.signalCode !== null) return
    p.child.kill(signal)
    await p.exited
  }

  /** Restarts kube-apiserver with its original arguments; resolves once /readyz answers 200. Returns how long it took. */
  async startApiserver (): Promise<number> {
    const started = Date.now()
    const at = this.processes.findIndex((m) => m.name === 'kube-apiserver')
    const old = this.processes[at]!
    if (old.child.exitCode === null && old.child.signalCode === null) throw new Error('kube-apiserver is still running')
    const launch = this.apiserverLaunch!
    const apiserver = startManaged('kube-apiserver', launch.command, launch.args, { logFile: launch.logFile })
    this.processes[at] = apiserver
    const probe = new RestClient(this.url, this.pki.caPem)
    try {
      await waitFor('kube-apiserver /readyz after a restart', async () => {
        const res = await probe.get('/readyz')
        return res.status === 200 ? true : undefined
      }, {
        timeoutMs: 90_000, intervalMs: 100,
        failIf: () => apiserver.child.exitCode !== null ? `kube-apiserver exited (${apiserver.child.exitCode}); see ${launch.logFile}` : undefined,
      })
    } finally {
      await probe.close()
    }
    return Date.now() - started
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    await this.admin.close()
    // Reverse order: controllers, then apiserver, then etcd.
    for (const p of [...this.processes].reverse()) await p.stop()
    if (process.env.EMS_KEEP_TEST_DIRS !== '1') await rm(this.dir, { recursive: true, force: true })
  }

  /** A fresh directory inside the cluster's work dir (removed with it). */
  async tempDir (name: string): Promise<string> {
    const path = join(this.dir, `${name}-${randomBytes(4).toString('hex')}`)
    await mkdir(path, { recursive: true })
    return path
  }
}

/** The `kubernetes` Service's ClusterIP: the first address of --service-cluster-ip-range. */
export const SERVICE_CLUSTER_IP = '10.0.0.1'
/** The names a pod may dial the `kubernetes` Service by (cluster domain cluster.local). */
export const SERVICE_DNS_NAMES = ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local']

async function createClusterPki (dir: string): Promise<ClusterPki> {
  const ca = await CertificateAuthority.create(dir, 'ca', 'edge-metaserver-test-cluster-ca')
  const apiserver = await ca.issue('apiserver', {
    cn: 'kube-apiserver', usage: 'server', ipSans: ['127.0.0.1', SERVICE_CLUSTER_IP],
    dnsSans: ['localhost', ...SERVICE_DNS_NAMES],
  })
  const serviceAccount = await createServiceAccountKeys(dir)
  return { ca, caPem: await ca.pem(), apiserver, serviceAccount }
}

export function kubeconfigYaml (server: string, caPem: string, token: string): string {
  return [
    'apiVersion: v1', 'kind: Config',
    'clusters:', '- name: e2e', '  cluster:', `    server: ${server}`,
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    'users:', '- name: admin', '  user:', `    token: ${token}`,
    'contexts:', '- name: e2e', '  context: {cluster: e2e, user: admin}',
    'current-context: e2e', '',
  ].join('\n')
}
