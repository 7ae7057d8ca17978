// Every error this product answers is a Kubernetes `Status` (DESIGN decision 5), built here with the
// code, reason and message shape a real kube-apiserver uses, so clients (client-go's
// apierrors.IsForbidden, kubectl's messages) behave exactly as against the apiserver.

export interface StatusDetails {
  name?: string
  group?: string
  kind?: string
  retryAfterSeconds?: number
  causes?: Array<{ reason?: string, message?: string, field?: string }>
}

export interface Status {
  kind: 'Status'
  apiVersion: 'v1'
  metadata: Record<string, never>
  status: 'Failure'
  message: string
  reason: StatusReason
  details?: StatusDetails
  code: number
}

/** The metav1.StatusReason values we emit, with their HTTP codes. */
export const STATUS_REASONS = {
  Unauthorized: 401,
  Forbidden: 403,
  NotFound: 404,
  MethodNotAllowed: 405,
  NotAcceptable: 406,
  RequestEntityTooLarge: 413,
  // Not metav1 reasons (kube-apiserver's Go server answers these in plain text); clients go by the code.
  RequestHeaderFieldsTooLarge: 431,
  BadGateway: 502,
  UnsupportedMediaType: 415,
  BadRequest: 400,
  TooManyRequests: 429,
  InternalError: 500,
  ServiceUnavailable: 503,
  Timeout: 504,
  Gone: 410,
  Expired: 410,
} as const

export type StatusReason = keyof typeof STATUS_REASONS

export function status (reason: StatusReason, message: string, details?: StatusDetails): Status {
  // Field order as metav1.Status marshals it, so bodies can be byte-identical to the apiserver's.
  return details === undefined
    ? { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code: STATUS_REASONS[reason] }
    : { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, details, code: STATUS_REASONS[reason] }
}

// The constructors below reproduce kube-apiserver's exact messages (k8s.io/apiserver endpoints/
// handlers/responsewriters and apimachinery/pkg/api/errors) because clients and humans match on them.

export const unauthorized = (): Status => status('Unauthorized', 'Unauthorized')

export const forbidden = (message: string, details?: StatusDetails): Status => status('Forbidden', message, details)

export const serviceUnavailable = (message: string, retryAfterSeconds?: number): Status =>
  status('ServiceUnavailable', message, retryAfterSeconds === undefined ? undefined : { retryAfterSeconds })

export const tooLarge = (limitBytes: number): Status =>
  status('RequestEntityTooLarge', `the request body is too large: limit is ${limitBytes} bytes`)

export const headersTooLarge = (limitBytes: number): Status =>
  status('RequestHeaderFieldsTooLarge', `the request headers are too large: limit is ${limitBytes} bytes`)

export const badGateway = (message: string): Status => status('BadGateway', message)

export const gatewayTimeout = (message: string): Status => status('Timeout', message)

export const internalError = (message: string): Status =>
  status('InternalError', `Internal error occurred: ${message}`)

export const tooManyRequests = (message: string, retryAfterSeconds: number): Status =>
  status('TooManyRequests', message, { retryAfterSeconds })

export const notFound = (message: string, details?: StatusDetails): Status => status('NotFound', message, details)

export const badRequest = (message: string): Status => status('BadRequest', message)

/** JSON as Go's encoding/json writes it: it also escapes <, >, &, U+2028 and U+2029. */
export function goJson (value: unknown): string {
  return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

/** The serialised body plus headers every Status response carries. */
export function statusBody (s: Status): { code: number, headers: Record<string, string>, body: string } {
  // Byte identity with kube-apiserver: Go's encoding/json escapes <, >, &, U+2028 and U+2029,
  // and its serializer ends every body with a newline.
  const body = goJson(s) + '\n'
  const headers: Record<string, string> = {
    'content-type': 'application/json',
    'cache-control': 'no-cache, private',
    'content-length': String(Buffer.byteLength(body)),
  }
  if (s.details?.retryAfterSeconds !== undefined) headers['retry-after'] = String(s.details.retryAfterSeconds)
  // kube-apiserver's authorization denial (responsewriters.Forbidden) sets nosniff; the edge's
  // own 403s stand for that denial (test/e2e/websocket-upgrade.test.ts compares the headers).
  if (s.code === 403 && s.reason === 'Forbidden') headers['x-content-type-options'] = 'nosniff'
  return { code: s.code, headers, body }
}
