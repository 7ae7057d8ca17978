// Every answer the edge composes itself, in one place: the Status writer, Retry-After, and the
// messages that say why the cloud did not answer. Pods (and kubectl users) read these; keeping
// them together keeps them consistent.
import type { ServerResponse } from 'node:http'
import { badGateway, badRequest, gatewayTimeout, internalError, serviceUnavailable, status, statusBody, tooManyRequests, type Status } from '../kube/status.js'
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
  undecodable: (why: string): Status => badGateway(`edge-metaserver: the cloud shim's compressed answer could not be decoded (${why})`),
  timeout: (timeoutMs: number): Status => gatewayTimeout(`edge-metaserver: the request did not complete within ${timeoutMs / 1000}s`),
  /** Headers within kube-apiserver's limit that the tunnel cannot carry (src/tunnel/protocol.ts). */
  headersTooLargeForTunnel: (): Status => status('RequestHeaderFieldsTooLarge', 'edge-metaserver: the request headers are too large ' +
    `for the tunnel to the cloud: at most ${MAX_TUNNEL_FIELD_BYTES} bytes per field and ${MAX_TUNNEL_HEADER_BLOCK_BYTES} bytes in all`),
  noPolicyYet: (): Status => serviceUnavailable('edge-metaserver: the node policy has not been received from the cloud yet', RETRY_AFTER_SECONDS),
  /** CONNECT is no Kubernetes verb (kube-apiserver's own text for a method it does not serve). */
  connectNotAllowed: (): Status => status('MethodNotAllowed', 'the server does not allow this method on the requested resource (CONNECT)'),
  /** A request Node's HTTP parser refused (the code names what was wrong). */
  malformedRequest: (code: string | undefined): Status => badRequest(`malformed HTTP request: ${code ?? 'parse error'}`),
  metricsFailed: (): Status => internalError('metrics could not be collected'),
  /** A bug on the request path, never a crash: the pod still gets a Status. */
  relayFailed: (): Status => internalError('edge-metaserver failed to relay the request'),
}

/**
 * What the edge cache says offline. Each `why` completes "the cloud is unreachable (since …)" in a
 * `cloudUnreachable` 503; the Statuses are kube-apiserver's own where the cache answers as it would.
 */
export const offlineAnswers = {
  why: {
    writes: 'and writes are not accepted offline: nothing was changed or queued',
    subresource: (name: string): string => `and the edge cache does not keep the ${name} subresource`,
    unusual: (what: string): string => `and the edge cache does not answer ${what}`,
    noDocument: (path: string): string => `and the edge cache holds no copy of ${path} in an acceptable content type`,
    noObject: (path: string): string => `and the edge cache holds no copy of ${path}`,
    olderObject: (path: string, rv: string, wanted: string): string => `and the edge cache holds ${path} at resourceVersion ${rv}, older than the requested ${wanted}`,
    olderList: (rv: string, wanted: string): string => `and the edge cache (resourceVersion ${rv}) is older than the requested ${wanted}`,
    notExactList: (rv: string, wanted: string): string => `and the edge cache holds resourceVersion ${rv}, not exactly ${wanted}`,
    noList: (path: string): string => `the edge cache holds no complete list for ${path}`,
    toWatchFrom: ' to watch from',
    tableWatch: 'and the edge cache does not serve watches as Tables',
    notProtobuf: (detail: string): string => `and the cached copy cannot be written in protobuf: ${detail}`,
    fieldNotEvaluable: (field: string, resource: string): string => `the edge cannot evaluate the field selector "${field}" for ${resource}`,
    metadataOnly: (field: string, resource: string): string => `the edge cache holds only the metadata of ${resource} to evaluate the field selector "${field}" on`,
  },
  notAcceptable: (): Status => status('NotAcceptable', 'only the following media types are accepted while the cloud is unreachable: application/json, ' +
    'application/vnd.kubernetes.protobuf (built-in kinds), application/json;as=Table;v=v1;g=meta.k8s.io, application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io'),
  watchNotAcceptable: (): Status => status('NotAcceptable', 'only watches of whole objects or PartialObjectMetadata, in JSON or protobuf, are served while the cloud is unreachable'),
  /** kube-apiserver's own answer for a watch from a version it no longer has. */
  tooOld: (requested: string, current: string): Status => status('Expired', `too old resource version: ${requested} (${current})`),
  /** A held watch's resume refused with a body that is not a Status: the client still gets an ERROR event it understands. */
  resumeFailed: (code: number): Status => status(code === 410 ? 'Expired' : 'InternalError', `resuming the watch failed with HTTP ${code}`),
  /** kube-apiserver's own answer for a continue token of another snapshot. */
  continueExpired: (): Status => status('Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.'),
}
