// Wires the cloud role from a validated config: credentials → upstream pool → token reviews and
// node restriction → tunnel listener → health listener. Stateless: everything it caches is
// rebuilt from kube-apiserver, so any number of replicas can run behind one Service.
import { createPrivateKey, type KeyObject } from 'node:crypto'
// Files and keys are read and checked first; a listener that cannot bind fails the start with one
// line naming its key (the CLI exits 1), so a shim never runs without its tunnel or health port.
import { Counter, Gauge } from 'prom-client'
import { checkTlsMaterial, listenFailure, readConfiguredFiles, StartupError, type CloudConfig } from '../config/index.js'
import { READINESS_POLL_MS, readinessLog } from '../obs/health.js'
import { createLogger, type Logger } from '../obs/logger.js'
import { certificateGauge, createRegistry, readinessGauge, requestMetrics } from '../obs/metrics.js'
import { enabledCodings } from '../tunnel/compression.js'
import { TunnelServer } from '../tunnel/server.js'
import { ControlHub } from './control-hub.js'
import { createStreamHandler } from './handler.js'
import { startHealthServer } from './health-server.js'
import { JoinServer } from './join-server.js'
import { NodeAdmission } from './node-admission.js'
import { NodeCertificates } from './node-certificates.js'
import { renewalHandler } from './renewal.js'
import { JwksSource } from './jwks-source.js'
import { loadKubeCredentials } from './kube-credentials.js'
import { NodeRestriction } from './node-restriction.js'
import { KUBERNETES_SERVICE_PATH, kubernetesServiceOf, PolicyBundleBuilder } from './policy-bundle-builder.js'
import { TokenReviewer } from './token-reviews.js'
import { TunnelCertificates, type ReloadResult } from './tunnel-certificates.js'
import { Upstream } from './upstream.js'
import { UpstreamSlots } from './upstream-slots.js'

export interface CloudShim {
  tunnelPort: number
  healthPort: number
  /** Undefined when modules.cloudHub.join.enable is false. */
  joinPort: number | undefined
  tokenReviewer: TokenReviewer
  connectedNodes: () => string[]
  /**
   * Re-reads the tunnel CA, certificate and key now and applies a changed, whole set to new
   * connections (what SIGHUP calls; the files are also checked every few seconds).
   */
  reloadCertificates: () => Promise<ReloadResult>
  close: () => Promise<void>
}

const UPSTREAM_PROBE_MS = 10_000
const JWKS_REFRESH_MS = 60_000
const ADMISSION_SYNC_WAIT_MS = 10_000
// How often the tunnel certificate files are compared with the ones in use (three small reads), as the edge does.
const CERTIFICATE_CHECK_MS = 5000

async function waitForSync (synced: () => boolean, maxMs: number): Promise<void> {
  for (const until = Date.now() + maxMs; !synced() && Date.now() < until;) await new Promise((resolve) => setTimeout(resolve, 50))
}

export async function runCloud (config: CloudConfig, logger: Logger = createLogger({ level: config.logging.level, role: 'cloud' })): Promise<CloudShim> {
  const hub = config.modules.cloudHub
  const dc = config.modules.dynamicController
  if (!dc.enable) throw new Error('modules.dynamicController.enable is false: the cloud shim has nothing to do')

  const tunnelFiles = await readConfiguredFiles({
    'modules.cloudHub.tlsCaFile': hub.tlsCaFile, 'modules.cloudHub.tlsCertFile': hub.tlsCertFile, 'modules.cloudHub.tlsPrivateKeyFile': hub.tlsPrivateKeyFile,
  })
  const ca = tunnelFiles['modules.cloudHub.tlsCaFile']
  const cert = tunnelFiles['modules.cloudHub.tlsCertFile']
  const key = tunnelFiles['modules.cloudHub.tlsPrivateKeyFile']
  checkTlsMaterial('modules.cloudHub.tlsCaFile/tlsCertFile/tlsPrivateKeyFile', { ca, cert, key })
  // The tunnel CA's key signs joining nodes' certificates: read and parsed now, so a bad one fails the start.
  let joinCaKey: KeyObject | undefined
  if (hub.join.enable) {
    const caKeyPem = (await readConfiguredFiles({ 'modules.cloudHub.join.tlsCaKeyFile': hub.join.tlsCaKeyFile! }))['modules.cloudHub.join.tlsCaKeyFile']
    try {
      joinCaKey = createPrivateKey(caKeyPem)
    } catch (err) {
      throw new StartupError(`modules.cloudHub.join.tlsCaKeyFile: not a private key (${(err as Error).message}): ${hub.join.tlsCaKeyFile!}`)
    }
  }

  logger.info({ kubeConfig: config.kubeAPIConfig.kubeConfig ?? 'in-cluster' }, '1. loading kube-apiserver credentials')
  const credentials = await loadKubeCredentials(config.kubeAPIConfig.kubeConfig ?? '')
  const api = config.kubeAPIConfig
  const upstream = new Upstream({
    credentials, timeoutMs: api.timeout, maxConnections: api.maxConnections,
    maxLongRunning: api.maxLongRunningRequests, streamsPerConnection: api.http2MaxStreamsPerConnection,
  })
  const slots = new UpstreamSlots({ longRunning: api.maxLongRunningRequests, short: api.maxInflightRequests })

  const registry = createRegistry('cloud')
  const metrics = requestMetrics(registry, 'edge_metaserver_cloud')
  const handshakeFailures = new Counter({
    name: 'edge_metaserver_cloud_tunnel_handshake_failures_total',
    help: 'Tunnel TLS handshakes refused (client certificate missing or not from the tunnel CA)',
    registers: [registry],
  })
  const refusedConnections = new Counter({
    name: 'edge_metaserver_cloud_tunnel_connections_refused_total',
    help: 'Tunnel connections the shim closed itself: not a node identity, HTTP/2 protocol error, GOAWAY from the edge, a peer that half-closed or went silent, a revoked node, or a node without a Node object (requireNodeObject)',
    labelNames: ['reason'],
    registers: [registry],
  })
  // eslint-disable-next-line no-new -- registered and read through its collect()
  new Gauge({
    name: 'edge_metaserver_cloud_upstream_requests_in_flight',
    help: 'Requests relayed to kube-apiserver right now, by kind (longRunning: watches, logs, exec...; short: everything else)',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      this.set({ kind: 'longRunning' }, slots.count('longRunning'))
      this.set({ kind: 'short' }, slots.count('short'))
    },
  })
  // eslint-disable-next-line no-new -- registered and read through its collect()
  new Gauge({
    name: 'edge_metaserver_cloud_upstream_pool_requests',
    help: 'Connections to kube-apiserver and the requests on them, by pool (watches, requests, own) and state (connected: connections open; running: requests on them; queued: requests waiting for a connection)',
    labelNames: ['pool', 'state'],
    registers: [registry],
    collect () {
      for (const { pool, ...counts } of upstream.poolStats()) {
        for (const [state, n] of Object.entries(counts)) this.set({ pool, state }, n)
      }
    },
  })
  const tokenReviewer = new TokenReviewer(upstream, {
    cacheSize: dc.tokenReviewCacheSize, maxTtlMs: dc.tokenReviewCacheMaxTTL, negativeTtlMs: dc.tokenReviewNegativeTTL,
    audiences: [...dc.apiAudiences],
  })
  const restriction = new NodeRestriction(tokenReviewer, upstream, dc.tokenReviewCacheSize)
  // eslint-disable-next-line no-new -- registered and read through its collect()
  new Counter({
    name: 'edge_metaserver_cloud_tokenreview_cache_requests_total',
    help: 'Token reviews asked of the shim, by result: hit (answered from the cache or joined a review in flight) or miss (a TokenReview sent to kube-apiserver)',
    labelNames: ['result'],
    registers: [registry],
    collect () {
      this.reset()
      this.inc({ result: 'miss' }, tokenReviewer.reviewsSent)
      this.inc({ result: 'hit' }, tokenReviewer.lookups - tokenReviewer.reviewsSent)
    },
  })

  let control: ControlHub | undefined
  let policy: PolicyBundleBuilder | undefined
  let jwks: JwksSource | undefined

  // For edges with redirect.serviceClusterIP: auto. A failure is logged when it changes, not every probe.
  let serviceProblem: string | undefined = 'not read yet'
  const readKubernetesService = async (builder: PolicyBundleBuilder): Promise<void> => {
    const res = await upstream.json<unknown>('GET', KUBERNETES_SERVICE_PATH)
    const service = res.status === 200 ? kubernetesServiceOf(res.body) : undefined
    let problem: string | undefined
    if (res.status !== 200) problem = `kube-apiserver answered ${res.status} (the Role in default of deploy/10-rbac.yaml?)`
    else if (service === undefined) problem = 'it has no IPv4 ClusterIP and https port'
    if (problem !== serviceProblem) {
      if (problem === undefined) logger.info(service, 'kubernetes Service read: edges with redirect.serviceClusterIP auto get it')
      else logger.warn({ path: KUBERNETES_SERVICE_PATH }, `cannot read the kubernetes Service: ${problem}; edges with redirect.serviceClusterIP auto do not redirect`)
      serviceProblem = problem
    }
    if (service !== undefined) builder.setKubernetesService(service)
  }
  // kube-apiserver reachability, probed in the background so /readyz never blocks on it. The probe
  // also reads /version for the policy bundles (an upgraded apiserver words its 403s differently).
  let upstreamProblem: string | undefined = 'not probed yet'
  const probe = async (): Promise<void> => {
    try {
      const res = await upstream.json('GET', '/readyz')
      upstreamProblem = res.status === 200 ? undefined : `kube-apiserver /readyz answered ${res.status}`
      if (policy !== undefined) {
        const version = await upstream.json<{ gitVersion?: unknown }>('GET', '/version')
        if (version.status === 200 && typeof version.body?.gitVersion === 'string') policy.setKubeVersion(version.body.gitVersion)
        await readKubernetesService(policy)
      }
    } catch (err) {
      upstreamProblem = `kube-apiserver unreachable: ${(err as Error).message}`
    }
  }
  if (config.featureGates.requireAuthorization) {
    logger.info('2. watching pods and RBAC for the edges\' policy bundles; fetching the signing keys')
    policy = new PolicyBundleBuilder(upstream, logger)
    jwks = new JwksSource(upstream, JWKS_REFRESH_MS, logger)
    control = new ControlHub(policy, jwks, logger)
    policy.start()
  }
  // Once the policy builder exists, so this first probe also gives it the version.
  await probe()
  const probeTimer = setInterval(() => { void probe() }, UPSTREAM_PROBE_MS)
  await jwks?.start()

  logger.info({ address: hub.address }, '3. starting the tunnel listener')
  let issuer: NodeCertificates | undefined
  if (hub.join.enable) {
    const clusterCa = upstream.tlsOptions().ca
    if (clusterCa === undefined) throw new StartupError('modules.cloudHub.join needs the cluster CA, but the kube-apiserver credentials name none (certificate-authority-data)')
    issuer = new NodeCertificates({ config: hub.join, tunnelCa: ca, tunnelCaKey: joinCaKey!, clusterCa, upstream })
  }
  const tunnel = new TunnelServer({
    host: hub.address.host, port: hub.address.port, ca, cert, key,
    maxConcurrentStreamsPerNode: hub.maxConcurrentStreamsPerNode, heartbeatPeriodMs: hub.heartbeatPeriod, logger,
    onStream: createStreamHandler({ control, restriction, upstream, slots, logger, metrics, renew: renewalHandler(issuer, logger), codings: enabledCodings(hub.compression) }),
    onHandshakeFailure: () => handshakeFailures.inc(),
    onConnectionRefused: (reason) => refusedConnections.inc({ reason }),
    // Called only for connections, so after the listener opens below, when `admission` exists.
    refuseNode: (node) => admission.refusal(node),
  })
  // A change of what the admission watches re-checks the live connections.
  const admission = new NodeAdmission({
    upstream, logger, revokedNodes: hub.revokedNodes, revokedNodesConfigMap: hub.revokedNodesConfigMap,
    requireNodeObject: hub.requireNodeObject, onChange: () => tunnel.recheck(),
  })
  admission.start()
  // Edges dialling a shim that has not listed yet would all be refused (fail closed) and back off:
  // the listener opens once the lists are in, or after ADMISSION_SYNC_WAIT_MS (then refusing until they are).
  await waitForSync(() => admission.synced, ADMISSION_SYNC_WAIT_MS)
  // eslint-disable-next-line no-new -- registered and read through its collect()
  new Gauge({
    name: 'edge_metaserver_cloud_connected_edges',
    help: 'Edges (nodes) with a tunnel to this shim replica',
    registers: [registry],
    collect () { this.set(tunnel.connectedNodes().length) },
  })
  // The certificate the tunnel listener serves (tunnel-certificates.ts swaps it when the files
  // change), not the file as it is now — a refused replacement must not hide an expiring certificate in use.
  // The join listener serves the same certificate; what it hands joining edges (the tunnel CA) and
  // signs with (join.tlsCaKeyFile) stay as read at start-up: the signing CA changes with a restart.
  // Checked from once both listeners are open (start() below).
  const certificates = new TunnelCertificates({ ca: hub.tlsCaFile, cert: hub.tlsCertFile, key: hub.tlsPrivateKeyFile }, { ca, cert, key }, (material) => {
    tunnel.useCredentials(material)
    join?.useCertificate(material)
  }, logger)
  certificateGauge(registry, 'edge_metaserver_cloud', { 'modules.cloudHub.tlsCertFile': () => certificates.current.cert })
  const tunnelAddress = await tunnel.listen().catch((err: unknown) => { throw listenFailure('modules.cloudHub.address', hub.address, err) })

  let join: JoinServer | undefined
  if (issuer !== undefined) {
    logger.info({ address: hub.join.address }, '3b. starting the join listener (bootstrap tokens → node certificates)')
    join = new JoinServer({
      config: hub.join, cert, key, tunnelCa: ca, issuer,
      // The port edges dial: the configured one (behind a Service it is the same), or the bound one when it was 0.
      tunnelPort: hub.address.port === 0 ? tunnelAddress.port : hub.address.port,
      // Bootstrap tokens are not audience-aware and expire by their Secret: no audiences, no caching.
      reviewer: new TokenReviewer(upstream, { cacheSize: 1, maxTtlMs: 0, negativeTtlMs: 0, audiences: [] }),
      logger,
    })
  }
  const joinAddress = await join?.listen()
  certificates.start(CERTIFICATE_CHECK_MS)

  let shuttingDown = false
  logger.info({ address: hub.healthzAddress }, '4. starting the health listener')
  const readyz = [
    { name: 'shutdown', check: () => shuttingDown ? 'the shim is shutting down' : undefined },
    { name: 'kube-apiserver', check: () => upstreamProblem },
    ...(policy === undefined ? [] : [{ name: 'policy-sync', check: () => policy!.synced ? undefined : 'pods and RBAC not listed yet' }]),
    // Until then every edge is refused (fail closed): not ready for them.
    { name: 'node-admission', check: () => admission.synced ? undefined : 'Node objects or the revoked-nodes ConfigMap not listed yet' },
  ]
  const health = await startHealthServer(hub.healthzAddress.host, hub.healthzAddress.port, {
    livez: [{ name: 'ping', check: () => undefined }],
    readyz,
  }, registry).catch(async (err: unknown) => {
    admission.stop()
    certificates.stop()
    await tunnel.close(0)
    throw listenFailure('modules.cloudHub.healthzAddress', hub.healthzAddress, err)
  })
  logger.info({ tunnelPort: tunnelAddress.port, healthPort: health.address.port, joinPort: joinAddress?.port }, 'cloud shim ready')
  readinessGauge(registry, 'edge_metaserver_cloud', readyz)
  const readiness = readinessLog(readyz, logger)
  readiness.poll()
  const readinessTimer = setInterval(readiness.poll, READINESS_POLL_MS).unref()

  return {
    tunnelPort: tunnelAddress.port,
    healthPort: health.address.port,
    joinPort: joinAddress?.port,
    tokenReviewer,
    connectedNodes: () => tunnel.connectedNodes(),
    reloadCertificates: () => certificates.reload(),
    close: async () => {
      shuttingDown = true
      clearInterval(probeTimer)
      certificates.stop()
      readiness.poll()
      clearInterval(readinessTimer)
      logger.info('shutting down: GOAWAY to every edge, draining streams')
      control?.close()
      policy?.stop()
      admission.stop()
      jwks?.stop()
      await join?.close()
      await tunnel.close(hub.shutdownGracePeriod)
      await health.close()
      await upstream.close()
      credentials.close()
      logger.info('stopped')
    },
  }
}
