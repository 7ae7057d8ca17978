// Prometheus metrics. Each role gets its own registry (tests run both roles in one process).
// Node's default metrics keep their standard names (process_*, nodejs_*), so stock dashboards and
// alerts for Node.js processes find them; the product's own are prefixed edge_metaserver_.
import { X509Certificate } from 'node:crypto'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createRegistry (role: 'edge' | 'cloud'): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry })
  return registry
}

/**
 * `<prefix>_certificate_not_after_seconds{key}`: the expiry of the certificate in use for each config
 * key, from the PEM its getter returns at each scrape (held in memory: the edge's current pair, which
 * certificate-files.ts swaps when the files change; the shim's, which tunnel-certificates.ts swaps). A getter returning
 * nothing, or a PEM that does not parse, leaves that key out of the scrape.
 */
export function certificateGauge (registry: Registry, prefix: string, certificates: Record<string, () => string | Buffer | undefined>): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${prefix}_certificate_not_after_seconds`,
    help: 'Unix time at which the certificate in use for a config key expires',
    labelNames: ['key'],
    registers: [registry],
    collect () {
      this.reset()
      for (const [key, read] of Object.entries(certificates)) {
        try {
          const pem = read()
          if (pem !== undefined) this.set({ key }, Math.floor(Date.parse(new X509Certificate(pem).validTo) / 1000))
        } catch { /* left out: see above */ }
      }
    },
  })
}

export interface RequestMetrics {
  requests: Counter<'verb' | 'code' | 'source'>
  duration: Histogram<'verb'>
  inflight: Gauge<'kind'>
}

/** Requests answered, by Kubernetes verb, HTTP code and who answered (`cloud`, `edge`, `cache`). */
export function requestMetrics (registry: Registry, prefix: string): RequestMetrics {
  return {
    requests: new Counter({ name: `${prefix}_requests_total`, help: 'Requests answered, by verb, code and source (cloud: relayed; edge: answered locally; cache: answered from the edge cache while the cloud was unreachable)', labelNames: ['verb', 'code', 'source'], registers: [registry] }),
    duration: new Histogram({ name: `${prefix}_request_duration_seconds`, help: 'Time to response headers of non-long-running requests', labelNames: ['verb'], buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60], registers: [registry] }),
    inflight: new Gauge({ name: `${prefix}_inflight_requests`, help: 'Requests in flight (kind: long-running or short)', labelNames: ['kind'], registers: [registry] }),
  }
}

/** The edge's request metrics: the common ones, bytes relayed and offline cache answers. */
export interface EdgeRequestMetrics extends RequestMetrics {
  /** direction: request (body bytes sent upstream) or response (answer bytes received); resource: see relay.ts. */
  relayedBytes: Counter<'resource' | 'direction'>
  /** Requests that reached the cache while the cloud was unreachable: hit = answered from it, miss = 503. */
  cacheRequests: Counter<'verb' | 'result'>
}

export function edgeRequestMetrics (registry: Registry, prefix: string): EdgeRequestMetrics {
  return {
    ...requestMetrics(registry, prefix),
    relayedBytes: new Counter({ name: `${prefix}_relayed_bytes_total`, help: 'Bytes relayed over the tunnel, by Kubernetes resource (group/resource, or "other") and direction (request: body sent; response: answer received)', labelNames: ['resource', 'direction'], registers: [registry] }),
    cacheRequests: new Counter({ name: `${prefix}_cache_requests_total`, help: 'Requests the edge cache was asked to answer while the cloud was unreachable, by verb and result (hit: answered from the cache; miss: 503, nothing in the cache covers it)', labelNames: ['verb', 'result'], registers: [registry] }),
  }
}

/** The edge cache's size, its limit and the watches it holds open, read when scraped. */
export function cacheGauges (registry: Registry, prefix: string, read: { bytes: () => number, limitBytes: () => number, heldWatches: () => number }): void {
  // prom-client registers a metric when it is constructed (registers: [registry]); nothing else holds it.
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_cache_bytes`, help: 'Bytes of objects and documents held in the edge cache', registers: [registry], collect () { this.set(read.bytes()) } })
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_cache_limit_bytes`, help: 'The edge cache size limit (modules.cache.maxSizeBytes; SIGHUP may change it)', registers: [registry], collect () { this.set(read.limitBytes()) } })
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_held_watches`, help: 'Watches held open from the edge cache while the cloud is unreachable', registers: [registry], collect () { this.set(read.heldWatches()) } })
}

/** The edge's tunnel as it is scraped: streams open and the active connection's flow control. */
export function tunnelGauges (registry: Registry, prefix: string, read: { streams: () => number, flowControl: () => { sendWindow: number, outboundQueue: number } | undefined }): void {
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_tunnel_streams`, help: 'Tunnel streams opened and not yet closed (pod requests, watches, the control stream)', registers: [registry], collect () { this.set(read.streams()) } })
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${prefix}_tunnel_send_window_bytes`,
    help: 'Bytes the edge may still send on the active tunnel connection (HTTP/2 connection-level flow control); 0 stalls every request body',
    registers: [registry],
    collect () { this.set(read.flowControl()?.sendWindow ?? 0) },
  })
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_tunnel_outbound_queue_frames`, help: 'HTTP/2 frames queued for sending on the active tunnel connection', registers: [registry], collect () { this.set(read.flowControl()?.outboundQueue ?? 0) } })
}

/** The tunnel as the edge sees it: up (1/0), seconds offline (0 while up) and reconnections. */
export function tunnelMetrics (registry: Registry, prefix: string, read: { up: () => boolean, downSince: () => number | undefined }): { reconnects: Counter } {
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_tunnel_up`, help: '1 while the tunnel to a cloud shim is connected, else 0', registers: [registry], collect () { this.set(read.up() ? 1 : 0) } })
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${prefix}_tunnel_offline_seconds`,
    help: 'Seconds since the tunnel went down (since start if it never connected); 0 while connected',
    registers: [registry],
    collect () { const since = read.downSince(); this.set(since === undefined ? 0 : Math.max(0, (Date.now() - since) / 1000)) },
  })
  return {
    reconnects: new Counter({ name: `${prefix}_tunnel_reconnects_total`, help: 'Tunnel connections made after the first one (each ends an outage or a failover)', registers: [registry] }),
  }
}

/** `<prefix>_readiness_check_ok{check}`: 1 when that /readyz check passes, else 0 (evaluated at scrape). */
export function readinessGauge (registry: Registry, prefix: string, checks: ReadonlyArray<{ name: string, check: () => string | undefined }>): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${prefix}_readiness_check_ok`,
    help: 'Whether each /readyz check passes (1) or fails (0)',
    labelNames: ['check'],
    registers: [registry],
    collect () { for (const c of checks) this.set({ check: c.name }, c.check() === undefined ? 1 : 0) },
  })
}

/** `<prefix>_policy_age_seconds{kind}`: seconds since the edge last received its JWKS / policy bundle from the cloud (absent until known). */
export function policyAgeGauge (registry: Registry, prefix: string, receivedAt: { jwks?: number, policy?: number }): void {
  // eslint-disable-next-line no-new
  new Gauge({
    name: `${prefix}_policy_age_seconds`,
    help: 'Seconds since the signing keys (kind="jwks") or the policy bundle (kind="policy") were last received from the cloud',
    labelNames: ['kind'],
    registers: [registry],
    collect () {
      this.reset()
      for (const kind of ['jwks', 'policy'] as const) {
        const at = receivedAt[kind]
        if (at !== undefined) this.set({ kind }, Math.max(0, (Date.now() - at) / 1000))
      }
    },
  })
}
