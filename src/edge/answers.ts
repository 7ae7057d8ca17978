// Every answer the edge composes itself, in one place: the Status writer, Retry-After, and the
// messages that say why the cloud did not answer. Pods (and kubectl users) read these; keeping
// them together keeps them consistent.
import type { ServerResponse } from 'node:http'
import { badGateway, gatewayTimeout, serviceUnavailable, status, statusBody, tooManyRequests, type Status } from '../kube/status.js'
import { MAX_TUNNEL_FIELD_BYTES, MAX_TUNNEL_HEADER_BLOCK_BYTES } from '../tunnel/protocol.js'

/** What the edge's 429s and transient 503s tell clients (client-go honours it, up to 10 retries); offline answers carry none. */
export const RETRY_AFTER_SECONDS = 1

/** Answers with a Status (plus `extraHeaders`, e.g. the offline Warning); returns its HTTP code. */
export function sendStatus (res: ServerResponse, s: Status, extraHeaders: Record<string, string> = {}): number {
  const { code, headers, body } = statusBody(s)
  if (!res.headersSent && !res.destroyed) res.writeHead(code, { ...headers, ...extraHeaders }).end(body)
  return code
}

/** RFC 3339 in whole seconds, as Kubernetes prints times. */
export function rfc3339 (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z')
}

/** The Warning header on every answer served from the cache (kubectl prints it). */
export function offlineWarning (since: number): string {
  return `299 - "edge-metaserver: cloud unreachable since ${rfc3339(since)}; served from edge cache"`
}

/**
 * 503 for a request the cloud could not be asked about; `what` says what the edge could not do
 * instead. Without Retry-After: client-go retries a 5xx carrying it up to ten times inside one
 * request, so a leader's Lease renewal would outlive its RenewDeadline and kubectl would hang for
 * ten seconds before saying the cloud is away. Clients back off on their own (reflectors, leader
 * election's retry period); an outage is not a moment's overload.
 */
export function cloudUnreachable (since: number, what: string): Status {
  return serviceUnavailable(`edge-metaserver: the cloud is unreachable (since ${rfc3339(since)}) ${what}`)
}

/**
 * The Statuses the edge composes on the request path, by situation (the cache's own ones are built
 * with `cloudUnreachable` above). A test pins each text: users and scripts read them.
 */
export const edgeAnswers = {
  /** In-flight or long-running limit reached (kube-apiserver's own text for its limit). */
  tooManyRequests: (): Status => tooManyRequests('Too many requests, please try again later.', RETRY_AFTER_SECONDS),
  /** No tunnel connection, and no cache to answer in its place. */
  unreachable: (why: string): Status => serviceUnavailable(`edge-metaserver: ${why}`, RETRY_AFTER_SECONDS),
  tunnelDown: (detail: string): string => `the cloud is unreachable (${detail})`,
  shimCannotReachApiserver: 'the cloud shim cannot reach kube-apiserver',
  refusedByShim: 'the cloud shim did not accept the request (its connection is closing)',
  tunnelLostDuringRead: 'the tunnel to the cloud was lost during the request',
  /** A write whose tunnel vanished: the shim may have carried it out, so the cache must not say "nothing changed". */
  tunnelLostDuringWrite: (): Status => serviceUnavailable('edge-metaserver: the tunnel to the cloud was lost during the request; ' +
    'it may or may not have been carried out', RETRY_AFTER_SECONDS),
  streamReset: (rstCode: number | undefined): Status =>
    badGateway(`edge-metaserver: the cloud shim reset the request (HTTP/2 error code ${rstCode ?? 'unknown'})`),
  timeout: (timeoutMs: number): Status => gatewayTimeout(`edge-metaserver: the request did not complete within ${timeoutMs / 1000}s`),
  /** Headers within kube-apiserver's limit that the tunnel cannot carry (src/tunnel/protocol.ts). */
  headersTooLargeForTunnel: (): Status => status('RequestHeaderFieldsTooLarge', 'edge-metaserver: the request headers are too large ' +
    `for the tunnel to the cloud: at most ${MAX_TUNNEL_FIELD_BYTES} bytes per field and ${MAX_TUNNEL_HEADER_BLOCK_BYTES} bytes in all`),
  noPolicyYet: (): Status => serviceUnavailable('edge-metaserver: the node policy has not been received from the cloud yet', RETRY_AFTER_SECONDS),
}
