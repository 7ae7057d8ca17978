// The one protocol both ends speak (DESIGN decision 2). A pod request is one HTTP/2 stream on the
// node's single mTLS connection: the original method and path (query included) become the
// stream's :method and :path, end-to-end headers are copied, the body is the stream's body. The
// response comes back the same way. Everything either end adds lives here, under `x-ems-`.
import { X509Certificate } from 'node:crypto'

/** ALPN id; the cloud refuses anything else. */
export const ALPN = 'h2'

/** Set on responses the shim generated itself (not kube-apiserver): `node-restriction`, `upstream-unreachable`, ... */
export const HEADER_ORIGIN = 'x-ems-origin'
export const ORIGIN_SHIM = 'shim'
/** Why the shim answered itself; `upstream-unreachable` means a connectivity failure (issue #5: cache fallback). */
export const HEADER_ERROR = 'x-ems-error'
export const ERROR_UPSTREAM_UNREACHABLE = 'upstream-unreachable'
export const ERROR_UNAUTHENTICATED = 'unauthenticated'
/** The token is not a pod bound to the tunnel's node (node restriction). */
export const ERROR_NODE_RESTRICTION = 'node-restriction'
/** The shim is at its own in-flight limit: a 429, never a reason to answer from the cache. */
export const ERROR_SHIM_BUSY = 'too-many-requests'
export const ERROR_BAD_REQUEST = 'bad-request'
export const ERROR_INTERNAL = 'internal'
/** A control stream on a shim that runs without requireAuthorization. */
export const ERROR_NO_CONTROL = 'no-control'
/** Upgrade requests (exec/attach/port-forward): the client's Upgrade header, carried because HTTP/2 forbids it. */
export const HEADER_UPGRADE = 'x-ems-upgrade'
/** On an upgrade stream, the upstream's real status (101 when switched; then the stream carries raw bytes). */
export const HEADER_UPGRADE_STATUS = 'x-ems-upgrade-status'
/** The pod's address as the edge saw it; appended to X-Forwarded-For upstream for audit. */
export const HEADER_CLIENT_ADDRESS = 'x-ems-client-address'

// RFC 9110 §7.6.1 connection-specific headers, plus those HTTP/2 forbids (RFC 9113 §8.2.2) and
// Node's HTTP/2 pseudo-headers. They never cross a hop.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'host',
])

/** Copies end-to-end headers, dropping hop-by-hop ones, pseudo-headers and our own x-ems-* markers. */
export function endToEndHeaders (headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const connectionListed = new Set(String(headers.connection ?? '').toLowerCase().split(',').map((s) => s.trim()).filter(Boolean))
  const out: Record<string, string | string[]> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    const lower = name.toLowerCase()
    if (lower.startsWith(':') || lower.startsWith('x-ems-') || HOP_BY_HOP.has(lower) || connectionListed.has(lower)) continue
    out[lower] = value
  }
  return out
}

/** The node name of a tunnel client certificate (PEM); throws when it is not a node identity. */
export function nodeNameOfCertificate (certPem: string): string {
  const subject: Record<string, string[]> = {}
  for (const line of new X509Certificate(certPem).subject.split('\n')) {
    const at = line.indexOf('=')
    if (at > 0) (subject[line.slice(0, at)] ??= []).push(line.slice(at + 1))
  }
  const name = nodeNameFromSubject({ CN: subject.CN ?? [], O: subject.O ?? [] })
  if (name === undefined) throw new Error('the tunnel client certificate is not a node identity (need CN=system:node:<name>, O=system:nodes)')
  return name
}

/** The node name from a tunnel client certificate subject, or undefined when it is not a node identity. */
export function nodeNameFromSubject (subject: { CN?: string | string[], O?: string | string[] } | undefined): string | undefined {
  if (subject === undefined) return undefined
  const cn = Array.isArray(subject.CN) ? subject.CN : [subject.CN]
  const orgs = Array.isArray(subject.O) ? subject.O : [subject.O]
  if (cn.length !== 1 || !orgs.includes('system:nodes')) return undefined
  const m = /^system:node:([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/.exec(cn[0] ?? '')
  return m?.[1]
}

/**
 * Marks the edge's control stream (cloud → edge pushes of the JWKS and the node's policy bundle).
 * Pods can never send it: the edge drops every x-ems-* header from pod requests.
 */
export const HEADER_CONTROL = 'x-ems-control'
export const CONTROL_PATH = '/.edge-metaserver/v1/control'
/** Control messages are NDJSON lines; one line never exceeds this. */
export const MAX_CONTROL_LINE_BYTES = 32 << 20

// Header limits, the same at every hop and at least kube-apiserver's: Go's net/http accepts a
// request line plus headers of up to 1 MiB (http.DefaultMaxHeaderBytes, plus 4 KiB of slack) and
// any number of fields. The pod listener enforces the byte limit; both tunnel ends accept a header
// list that large (HTTP/2 counts 32 bytes of overhead per field, RFC 9113 §6.5.2), so nothing a
// pod may send to kube-apiserver is refused between the hops.
export const MAX_REQUEST_HEADER_BYTES = (1 << 20) + 4096
/** Header fields one tunnel stream may carry; a pod request with more gets a 431 Status at the edge. */
export const MAX_HEADER_FIELDS = 16_384
/** HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE on both tunnel ends: the byte limit plus per-field overhead. */
export const MAX_HEADER_LIST_BYTES = MAX_REQUEST_HEADER_BYTES + 32 * MAX_HEADER_FIELDS
/** Node's own HTTP/2 limits that must follow: fields per header list, bytes per serialised header block. */
export const HTTP2_HEADER_OPTIONS = {
  maxHeaderListPairs: MAX_HEADER_FIELDS + 16,
  maxSendHeaderBlockLength: MAX_HEADER_LIST_BYTES,
  // nghttp2 keeps a whole header block in session memory while it is being received (MB).
  maxSessionMemory: 64,
}

/** The size HTTP/2 accounts for a header list (name + value + 32 per field); what SETTINGS_MAX_HEADER_LIST_SIZE bounds. */
export function headerListBytes (headers: Record<string, string | string[] | number | undefined>): { fields: number, bytes: number } {
  let fields = 0
  let bytes = 0
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) {
      fields++
      bytes += name.length + Buffer.byteLength(String(v)) + 32
    }
  }
  return { fields, bytes }
}
