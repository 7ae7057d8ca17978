// Prometheus metrics. Each role gets its own registry (tests run both roles in one process).
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

export function createRegistry (role: 'edge' | 'cloud'): Registry {
  const registry = new Registry()
  registry.setDefaultLabels({ role })
  collectDefaultMetrics({ register: registry, prefix: 'edge_metaserver_' })
  return registry
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

/** The edge cache's size and the watches it holds open, read when scraped. */
export function cacheGauges (registry: Registry, prefix: string, read: { bytes: () => number, heldWatches: () => number }): void {
  // prom-client registers a metric when it is constructed (registers: [registry]); nothing else holds it.
  // eslint-disable-next-line no-new
  new Gauge({ name: `${prefix}_cache_bytes`, help: 'Bytes of objects and documents held in the edge cache', registers: [registry], collect () { this.set(read.bytes()) } })
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
