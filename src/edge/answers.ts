// Every answer the edge composes itself, in one place: the Status writer, Retry-After, and the
// messages that say why the cloud did not answer. Pods (and kubectl users) read these; keeping
// them together keeps them consistent.
import type { ServerResponse } from 'node:http'
import { serviceUnavailable, statusBody, type Status } from '../kube/status.js'

/** What every 429/503 of the edge tells clients (client-go honours it, up to 10 retries). */
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

/** 503 for a request the cloud could not be asked about; `what` says what the edge could not do instead. */
export function cloudUnreachable (since: number, what: string): Status {
  return serviceUnavailable(`edge-metaserver: the cloud is unreachable (since ${rfc3339(since)}) ${what}`, RETRY_AFTER_SECONDS)
}
