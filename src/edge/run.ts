// Wires the edge role from a validated config, in start-up order (each step logged, numbered):
// identity → serving certificate → dummy address → cache → listeners → tunnel → redirection. Start-up is all or
// nothing: every step that can fail (files, keys, the SQLite module, the cache file, binding the
// listeners) runs before the tunnel is dialled, and any failure closes what was opened and throws
// one clear line (the CLI exits 1), so systemd never sees a live process that serves nothing.
// Returns a handle so tests can run the daemon in-process exactly as the CLI does.
import { X509Certificate } from 'node:crypto'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import type { Registry } from 'prom-client'
import { checkTlsMaterial, listenFailure, readConfiguredFiles, StartupError, type EdgeConfig } from '../config/index.js'
import { READINESS_POLL_MS, readinessLog, type HealthCheck } from '../obs/health.js'
import { createLogger, type Logger } from '../obs/logger.js'
import { cacheGauges, certificateGauge, createRegistry, policyAgeGauge, readinessGauge, edgeRequestMetrics, tunnelGauges, tunnelMetrics } from '../obs/metrics.js'
import { enabledCodings } from '../tunnel/compression.js'
import { TunnelClient } from '../tunnel/client.js'
import { nodeNameOfCertificate } from '../tunnel/protocol.js'
import { HeldWatches } from './cache/held-watch.js'
import { OfflineCacheAnswers } from './cache/offline.js'
import { rowCovers } from './cache/scope.js'
import { CacheStore } from './cache/store.js'
import { CacheTee } from './cache/tee.js'
import { CertificateFiles, chooseCertificates, type ReloadResult } from './certificate-files.js'
import { CertificateRenewal } from './certificate-renewal.js'
import { startControlChannel } from './control-channel.js'
import { ensureDummyAddress } from './dummy-address.js'
import { createGate, type Gate } from './gate.js'
import { InflightTracker } from './inflight.js'
import { startListener, type Listener } from './listeners.js'
import { requestPipeline, type PipelineParts } from './pipeline.js'
import { ReceivedPolicy } from './received-policy.js'
import { CloudReachability } from './reachability.js'
import { installRedirect, type Redirection } from './redirect.js'
import type { KubernetesService, PolicyBundle } from '../tunnel/control.js'

// A held watch whose tunnel is up but whose last resume found kube-apiserver unreachable tries again this often.
const HELD_WATCH_RETRY_MS = 5000
// The largest single body or watch event the cache reads (a quarter of the cache, at most 64 MiB).
const MAX_CACHED_BODY_BYTES = 64 << 20
// How often certificate files are compared with the ones in use (a few small reads).
const CERTIFICATE_CHECK_MS = 5000
/** How long past the request timeout a short request's slot may stay before it is taken as never ending. */
const SHORT_SLOT_MARGIN_MS = 5000

export interface EdgeDaemon {
  nodeName: string
  stateDir: string
  tunnel: TunnelClient
  /** The keys and policy the edge authorizes with (requireAuthorization); undefined when the gate is off. */
  policy: ReceivedPolicy | undefined
  /** host:port of every listener that is up, keyed by config key (`server`, `dummyServer`). */
  listening: Record<string, { host: string, port: number }>
  /** Watches answered from the cache and not (yet) resumed upstream (0 without the cache); also the held_watches gauge. */
  heldWatches: () => number
  /**
   * Re-reads the tunnel and serving certificate files now and uses what changed, without a restart
   * (what SIGHUP should call; the files are also checked every few seconds).
   */
  reloadCertificates: () => Promise<ReloadResult>
  /** Applies the keys of EDGE_RELOADABLE from a re-read config (SIGHUP); the caller has checked which changed. */
  reload: (config: EdgeConfig) => void
  close: () => Promise<void>
}

/** Config keys a running edge applies without a restart (the CLI applies logging.level itself). */
export const EDGE_RELOADABLE: ReadonlySet<string> = new Set(['logging.level', 'modules.cache.maxSizeBytes'])

export async function runEdge (config: EdgeConfig, logger: Logger = createLogger({ level: config.logging.level, role: 'edge' })): Promise<EdgeDaemon> {
  const ms = config.modules.metaServer
  const hub = config.modules.edgeHub
  const gated = config.featureGates.requireAuthorization

  logger.info('1. loading the node identity from the tunnel client certificate')
  const tunnelFiles = await readConfiguredFiles({
    'modules.edgeHub.tlsCaFile': hub.tlsCaFile, 'modules.edgeHub.tlsCertFile': hub.tlsCertFile, 'modules.edgeHub.tlsPrivateKeyFile': hub.tlsPrivateKeyFile,
  })
  const tunnelCa = tunnelFiles['modules.edgeHub.tlsCaFile']
  const nodeCert = tunnelFiles['modules.edgeHub.tlsCertFile']
  const nodeKey = tunnelFiles['modules.edgeHub.tlsPrivateKeyFile']
  checkTlsMaterial('modules.edgeHub.tlsCaFile/tlsCertFile/tlsPrivateKeyFile', { ca: tunnelCa, cert: nodeCert, key: nodeKey })
  let nodeName: string
  try {
    nodeName = nodeNameOfCertificate(nodeCert)
  } catch (err) {
    throw new StartupError(`modules.edgeHub.tlsCertFile: ${(err as Error).message}`)
  }
  if (gated) {
    logger.info('2. checking the serving certificate')
    const serving = await readConfiguredFiles({ 'modules.metaServer.tlsCertFile': ms.tlsCertFile, 'modules.metaServer.tlsPrivateKeyFile': ms.tlsPrivateKeyFile })
    checkTlsMaterial('modules.metaServer.tlsCertFile/tlsPrivateKeyFile', { cert: serving['modules.metaServer.tlsCertFile'], key: serving['modules.metaServer.tlsPrivateKeyFile'] })
  }
  if (config.nodeName !== null && config.nodeName !== nodeName) {
    throw new StartupError(`nodeName "${config.nodeName}" does not match the tunnel certificate's node "${nodeName}" (modules.edgeHub.tlsCertFile)`)
  }
  const log = logger.child({ node: nodeName })
  // The configured files or this daemon's own renewals, whichever expire last (certificate-files.ts).
  const certificatePaths = {
    tunnelCa: hub.tlsCaFile, tunnelCert: hub.tlsCertFile, tunnelKey: hub.tlsPrivateKeyFile,
    servingCert: gated ? ms.tlsCertFile : undefined, servingKey: gated ? ms.tlsPrivateKeyFile : undefined,
    renewedDir: join(config.stateDir, 'pki'),
  }
  const chosen = await chooseCertificates(certificatePaths, nodeName)
  if ('refused' in chosen.tunnel) throw new StartupError(`modules.edgeHub.tlsCertFile: ${chosen.tunnel.refused}`)
  if (chosen.serving !== undefined && 'refused' in chosen.serving) throw new StartupError(`modules.metaServer.tlsCertFile: ${chosen.serving.refused}`)
  const tunnelCredentials = chosen.tunnel

  // Built now (the pipeline and control channel hold it), dialled only once everything else is up.
  const tunnel = new TunnelClient({
    servers: hub.server, ...(hub.serverName === null ? {} : { serverName: hub.serverName }),
    ...tunnelCredentials,
    heartbeatPeriodMs: hub.heartbeatPeriod, heartbeatTimeoutMs: hub.heartbeatTimeout, connectTimeoutMs: hub.connectTimeout,
    backoffInitialMs: hub.reconnectBackoffInitial, backoffMaxMs: hub.reconnectBackoffMax, logger: log,
    dialFailureLogIntervalMs: hub.dialFailureLogInterval,
  })

  const registry = createRegistry('edge')
  const metrics = edgeRequestMetrics(registry, 'edge_metaserver')
  tunnelGauges(registry, 'edge_metaserver', { streams: () => tunnel.openStreams, flowControl: () => tunnel.flowControl })
  const tunnelCounters = tunnelMetrics(registry, 'edge_metaserver', { up: () => tunnel.state.connected, downSince: () => tunnel.state.connected ? undefined : tunnel.state.since })
  let connectedBefore = false
  tunnel.on('connected', () => { if (connectedBefore) tunnelCounters.reconnects.inc(); connectedBefore = true })
  // The certificates in use: the configured files or this daemon's renewals (certificate-files.ts).
  let certificates: CertificateFiles | undefined
  certificateGauge(registry, 'edge_metaserver', {
    'modules.edgeHub.tlsCertFile': () => certificates?.current.tunnelCert ?? tunnelCredentials.cert,
    ...(gated ? { 'modules.metaServer.tlsCertFile': () => certificates?.current.servingCert ?? tls?.cert } : {}),
  })
  // A short request's slot outlives its request timeout only when nothing will ever end it (inflight.ts).
  const inflight = new InflightTracker(metrics.inflight, {
    ms: ms.requestTimeout + SHORT_SLOT_MARGIN_MS,
    onExpired: (request) => log.warn({ ...request, afterMs: ms.requestTimeout + SHORT_SLOT_MARGIN_MS }, 'in-flight slot of a request that never ended returned at its deadline'),
  })
  const reachability = new CloudReachability(tunnel)
  const listeners: Array<{ key: string, listener: Listener }> = []
  let shuttingDown = false
  const health: { livez: HealthCheck[], readyz: HealthCheck[] } = {
    livez: [{ name: 'ping', check: () => undefined }],
    readyz: [
      { name: 'shutdown', check: () => shuttingDown ? 'the daemon is shutting down' : undefined },
      { name: 'listeners', check: () => listeners.length > 0 ? undefined : 'no listener is up' },
    ],
  }

  let tls: { cert: string, key: string } | undefined
  if (gated) {
    tls = chosen.serving as { cert: string, key: string }
  } else {
    log.warn('featureGates.requireAuthorization is off: serving plain HTTP on the loopback listener only, without ' +
      'TLS; pod tokens are still relayed and checked by the cloud shim, but anything on this host can reach it')
    // Cached answers could only be authorized by the cloud, which is exactly what is missing offline.
    if (config.modules.cache.enable) log.warn('modules.cache is not used without featureGates.requireAuthorization: nothing is served offline')
  }

  const targets: Array<{ key: string, address: { host: string, port: number } }> = [{ key: 'server', address: ms.server }]
  if (gated && ms.dummyServer !== null) {
    log.info({ address: ms.dummyServer.host, interface: ms.dummyInterface }, '3. setting up the dummy address')
    const result = await ensureDummyAddress(ms.dummyServer.host, ms.dummyInterface)
    if (result.ok) {
      log.info({ device: result.device, created: result.created }, 'dummy address ready')
      targets.push({ key: 'dummyServer', address: ms.dummyServer })
    } else {
      log.error({ reason: result.error }, `cannot set up ${ms.dummyServer.host}; pods using it will fail, the loopback listener keeps serving`)
    }
  }

  let stopControl = (): void => {}
  let gate: Gate | undefined
  let policy: ReceivedPolicy | undefined
  let store: CacheStore | undefined
  let cache: PipelineParts['cache']
  let held: HeldWatches | undefined
  if (gated) {
    log.info({ stateDir: config.stateDir }, '4. opening the edge cache; loading persisted keys and policy')
    try {
      await mkdir(config.stateDir, { recursive: true, mode: 0o700 })
    } catch (err) {
      throw new StartupError(`stateDir: cannot create ${config.stateDir}: ${(err as Error).message}`)
    }
    store = CacheStore.open(config.stateDir, { maxSizeBytes: config.modules.cache.maxSizeBytes, logger: log, covers: rowCovers })
    const state = policy = new ReceivedPolicy(store, nodeName, log)
    state.load()
    policyAgeGauge(registry, 'edge_metaserver', state.receivedAt)
    if (config.modules.cache.enable) ({ held, ...cache } = startCache(store, tunnel, reachability, config, log, registry))
    // Subscribed before the tunnel is dialled, so the first connection's control stream is not missed.
    stopControl = startControlChannel(tunnel, state, log)
    gate = createGate(state, { nodeName, issuers: ms.serviceAccountIssuers, audiences: ms.apiAudiences })
  }
  // Ready when the cloud answers, or when the cache can answer in its place (DESIGN decision 8).
  health.readyz.push({
    name: 'tunnel',
    check: () => {
      const s = tunnel.state
      if (s.connected) return undefined
      const down = `disconnected since ${new Date(s.since).toISOString()}: ${s.lastError ?? 'unknown'}`
      return cache !== undefined && store!.warm ? undefined : down
    },
    note: () => tunnel.state.connected ? `connected to ${tunnel.state.server}` : `offline since ${new Date(tunnel.state.since).toISOString()}: reads are served from the edge cache`,
  })
  if (policy !== undefined) {
    const state = policy
    health.readyz.push({
      name: 'policy',
      check: () => state.authorizer !== undefined && state.keys !== undefined ? undefined : 'no signing keys or policy bundle received yet',
    })
  }

  log.info('5. starting listeners')
  const pipeline = requestPipeline({
    limits: { maxRequestBodyBytes: ms.maxRequestBodyBytes, maxInflight: ms.maxInflightRequests, maxLongRunning: ms.maxLongRunningRequests },
    requestTimeoutMs: ms.requestTimeout, inflight, gate, tunnel, reachability, cache, metrics, logger: log,
    codings: enabledCodings(hub.compression),
  })
  const listening: EdgeDaemon['listening'] = {}
  for (const { key, address } of targets) {
    try {
      const listener = await startListener({ host: address.host, port: address.port, tls, withMetrics: key === 'server' },
        { pipeline, health, registry })
      listening[key] = { host: address.host, port: listener.address.port }
      listeners.push({ key, listener })
      log.info({ listener: key, ...listening[key], tls: tls !== undefined }, 'listening')
    } catch (err) {
      // Every configured listener or none: a daemon serving on one address of two is the half-dead state systemd cannot see.
      for (const { listener } of listeners) { listener.closeAllConnections(); await listener.close() }
      stopControl()
      store?.close()
      throw listenFailure(`modules.metaServer.${key}`, address, err)
    }
  }

  if (hub.enable) {
    log.info({ server: hub.server }, '6. dialling the tunnel to the cloud shim')
    tunnel.start()
  }
  const files = certificates = new CertificateFiles(certificatePaths, {
    tunnel: (credentials) => { if (hub.enable) tunnel.useCredentials(credentials) },
    serving: (pair) => { for (const { listener } of listeners) listener.useCertificate(pair) },
  }, nodeName, { tunnel: tunnelCredentials, serving: tls }, log)
  files.start(CERTIFICATE_CHECK_MS)
  const renewal = new CertificateRenewal(tunnel, files, nodeName, certificatePaths.renewedDir, log)
  if (hub.enable) renewal.start()
  // Last, so no pod connection is redirected before the listener it goes to is up.
  // The serving certificate in use when a rule is installed (a renewal may have replaced the start-up one).
  const redirection = await startRedirection(config, () => files.current.servingCert ?? tls?.cert, listening, policy, log)
  readinessGauge(registry, 'edge_metaserver', health.readyz)
  const readiness = readinessLog(health.readyz, log)
  readiness.poll()
  const readinessTimer = setInterval(readiness.poll, READINESS_POLL_MS).unref()

  return {
    nodeName,
    stateDir: config.stateDir,
    tunnel,
    policy,
    listening,
    heldWatches: () => held?.count ?? 0,
    reloadCertificates: () => files.reload(),
    reload: (next) => {
      // The per-body bound (maxSizeBytes / 4) stays as started: the tee holds buffers sized by it.
      store?.setMaxSizeBytes(next.modules.cache.maxSizeBytes)
    },
    close: async () => {
      shuttingDown = true
      files.stop()
      renewal.stop()
      // First: pods' new connections go back to kube-proxy's path while the listeners drain.
      await redirection?.stop()
      log.info('shutting down: draining in-flight requests')
      readiness.poll()
      clearInterval(readinessTimer)
      const closing = listeners.map(({ listener }) => listener.close())
      const cut = await inflight.drain(ms.shutdownGracePeriod)
      // What the drain did not end (a request still arriving, a connection with no request yet) is cut.
      for (const { listener } of listeners) listener.closeAllConnections()
      await Promise.all(closing)
      stopControl()
      await tunnel.close(Math.min(ms.shutdownGracePeriod, 5000))
      store?.close()
      log.info({ cutOff: cut }, 'stopped')
    },
  }
}

interface RedirectionControl {
  /** Removes the rules (if any are installed) and stops following the policy bundles. */
  stop: () => Promise<void>
}

/**
 * The redirection as configured: a fixed ClusterIP, installed now; or with `auto` the kubernetes
 * Service the policy bundles carry — the persisted one at start-up (so an offline start redirects
 * as before), then whatever a new bundle says (rules replaced if it ever changes, kept when a bundle
 * carries none). Undefined when redirection is off. Never fatal: failures are logged.
 */
async function startRedirection (config: EdgeConfig, cert: () => string | undefined, listening: EdgeDaemon['listening'], policy: ReceivedPolicy | undefined,
  log: Logger): Promise<RedirectionControl | undefined> {
  const r = config.modules.metaServer.redirect
  if (r.serviceClusterIP === null) return undefined
  let current: { service: KubernetesService, redirection: Redirection | undefined, stopRecheck: () => void } | undefined
  let stopped = false
  // One change at a time, in order: nft/iptables runs must not interleave.
  let chain = Promise.resolve()
  const remove = async (): Promise<void> => {
    const installed = current?.redirection
    current?.stopRecheck()
    current = undefined
    if (installed === undefined) return
    await installed.remove().then(() => log.info({ backend: installed.backend }, 'redirection removed'),
      (err: unknown) => log.error({ err, backend: installed.backend }, 'cannot remove the redirection'))
  }
  const use = (service: KubernetesService | undefined): void => {
    chain = chain.then(async () => {
      if (stopped || service === undefined) return
      const same = current !== undefined && current.service.clusterIP === service.clusterIP && current.service.port === service.port
      // Not installed (e.g. the serving certificate lacked the IP): tried again with the next bundle,
      // so a renewed certificate that carries it takes effect without a restart.
      if (same && current?.redirection !== undefined) return
      if (current !== undefined && !same) log.warn({ from: current.service, to: service }, 'the kubernetes Service changed: replacing the redirection')
      await remove()
      const redirection = await installFor(service, r.backend, config.modules.metaServer.tlsCertFile, cert(), listening, log)
      current = { service, redirection, stopRecheck: redirection === undefined ? () => {} : keepPrecedence(redirection, r.recheckPeriod, log) }
    }).catch((err: unknown) => { log.error({ err }, 'cannot update the redirection') })
  }
  const onBundle = (bundle: PolicyBundle): void => { use(bundle.kubernetesService) }
  if (r.serviceClusterIP === 'auto') {
    // Config validation requires the gate with redirect, so the policy state exists.
    const known = policy?.bundle?.kubernetesService
    if (known === undefined) log.info('redirect.serviceClusterIP auto: no kubernetes Service known yet; redirecting once the cloud sends it')
    else log.info(known, 'redirect.serviceClusterIP auto: the kubernetes Service of the last policy bundle')
    use(known)
    policy?.on('bundle', onBundle)
  } else {
    use({ clusterIP: r.serviceClusterIP, port: r.servicePort })
  }
  await chain
  return {
    stop: async () => {
      stopped = true
      policy?.off('bundle', onBundle)
      await chain
      await remove()
    },
  }
}

/** Installs the redirection of pods' connections to `service` to the dummy listener; a failure is logged, never fatal. */
async function installFor (service: KubernetesService, backend: EdgeConfig['modules']['metaServer']['redirect']['backend'], certFile: string,
  cert: string | undefined, listening: EdgeDaemon['listening'], log: Logger): Promise<Redirection | undefined> {
  const target = listening['dummyServer']
  const bypass = `pods using ${service.clusterIP}:${service.port} keep reaching kube-apiserver directly, not through the edge`
  if (target === undefined || cert === undefined) {
    log.error(`not redirecting the kubernetes Service: the dummy listener is not up; ${bypass}`)
    return undefined
  }
  // Pods verify the ClusterIP they dial against their ca.crt: redirecting to a certificate without
  // it would break every pod instead of leaving them on the direct path.
  if (new X509Certificate(cert).checkIP(service.clusterIP) === undefined) {
    log.error({ file: certFile },
      `not redirecting the kubernetes Service: the serving certificate has no IP SAN ${service.clusterIP}; ${bypass}`)
    return undefined
  }
  log.info({ clusterIP: service.clusterIP, port: service.port, target, backend }, '7. redirecting pods\' connections to the kubernetes Service to the dummy listener')
  const result = await installRedirect({ clusterIP: service.clusterIP, servicePort: service.port, target }, backend)
  if (!result.ok) {
    log.error({ reason: result.error }, `cannot redirect the kubernetes Service; ${bypass}`)
    return undefined
  }
  log.info({ backend: result.redirection.backend, clusterIP: service.clusterIP, port: service.port }, 'redirection installed')
  return result.redirection
}

/** Re-asserts the redirection's precedence every `periodMs` (one check at a time); returns the stopper. */
function keepPrecedence (redirection: Redirection, periodMs: number, log: Logger): () => void {
  let running = false
  const timer = setInterval(() => {
    if (running) return
    running = true
    redirection.recheck().then((moved) => {
      if (moved) log.warn({ backend: redirection.backend }, 'another nat PREROUTING rule had gone above the redirection (kube-proxy re-creating its jump); put it first again')
    }, (err: unknown) => log.error({ err, backend: redirection.backend }, 'cannot check the redirection\'s place in nat PREROUTING')).finally(() => { running = false })
  }, periodMs)
  timer.unref()
  return () => clearInterval(timer)
}

function startCache (store: CacheStore, tunnel: TunnelClient, reachability: CloudReachability, config: EdgeConfig, log: Logger, registry: Registry): NonNullable<PipelineParts['cache']> & { held: HeldWatches } {
  const c = config.modules.cache
  const maxBodyBytes = Math.min(MAX_CACHED_BODY_BYTES, Math.floor(c.maxSizeBytes / 4))
  const tee = new CacheTee(store, log, { maxBodyBytes, maxCollectingBytes: 2 * maxBodyBytes })
  const watches = new HeldWatches({
    store, tee, tunnel, reachability, logger: log, bookmarkIntervalMs: c.watchBookmarkInterval, timeoutMs: c.offlineWatchTimeout, retryMs: HELD_WATCH_RETRY_MS,
  })
  cacheGauges(registry, 'edge_metaserver', { bytes: () => store.sizeBytes, limitBytes: () => store.maxSizeBytes, heldWatches: () => watches.count })
  log.info({ sizeBytes: store.sizeBytes, limitBytes: c.maxSizeBytes }, 'edge cache open')
  return { tee, offline: new OfflineCacheAnswers(store, watches), held: watches }
}
