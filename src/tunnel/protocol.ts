// The one protocol both ends speak (DESIGN decision 2). A pod request is one HTTP/2 stream on the
// node's single mTLS connection: the original method and path (query included) become the
// stream's :method and :path, end-to-end headers are copied, the body is the stream's body. The
// response comes back the same way. Everything either end adds lives here, under `x-ems-`.
import { X509Certificate } from 'node:crypto'

/** ALPN id; the cloud refuses anything else. */
export const ALPN = 'h2'

/**
 * Debug data of the GOAWAY (no error) the shim sends to a connection that a newer one with the same
 * node identity replaced (the newer one wins: see server.ts).
 */
export const SUPERSEDED_GOAWAY = 'superseded by a newer connection with the same node identity'

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
/**
 * A pod request whose headers are within kube-apiserver's limit but too large for an HTTP/2 header
 * block (see MAX_TUNNEL_FIELD_BYTES) travels with this header, whose value is the byte length of a
 * header envelope (`encodeHeaderEnvelope`) that starts the stream's body; the request body follows it.
 */
export const HEADER_ENVELOPE = 'x-ems-header-envelope'
/** The pod's address as the edge saw it; appended to X-Forwarded-For upstream for audit. */
export const HEADER_CLIENT_ADDRESS = 'x-ems-client-address'

// RFC 9110 §7.6.1 connection-specific headers, plus those HTTP/2 forbids (RFC 9113 §8.2.2) and
// Node's HTTP/2 pseudo-headers. They never cross a hop.
const HOP_BY_HOP = new Set([
  'connection', 'keep-alive', 'proxy-connection', 'proxy-authenticate', 'proxy-authorization', 'te',
  'trailer', 'transfer-encoding', 'upgrade', 'http2-settings', 'host',
  // Answered by the hop that reads the body (Node's server sends 100 Continue itself); undici
  // refuses to send it at all.
  'expect',
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
/**
 * Marks the edge's certificate renewal (GET: the serving SANs the shim approves; POST: new
 * requests → new certificates for the tunnel's own node). Like HEADER_CONTROL, pods cannot send it.
 */
export const HEADER_RENEW = 'x-ems-renew-certificates'
export const RENEW_PATH = '/.edge-metaserver/v1/certificates'
/** Control messages are NDJSON lines; one line never exceeds this. */
export const MAX_CONTROL_LINE_BYTES = 32 << 20

// Header limits. The pod listener takes kube-apiserver's: Go's net/http accepts a request line plus
// headers of up to 1 MiB (http.DefaultMaxHeaderBytes, plus 4 KiB of slack) and any number of fields.
// The tunnel is narrower, and must never be cut by one pod's request: nghttp2 (Node's HTTP/2)
// refuses a single header field much over 64 KiB (COMPRESSION_ERROR) and a header block spread over
// more than one HEADERS and 8 CONTINUATION frames of 16 KiB (a CVE-2024-27983 guard), both with a
// GOAWAY for the whole connection. So the edge answers 431 to a request whose headers could not
// cross, before opening a stream; below these bounds every request reaches kube-apiserver.
export const MAX_REQUEST_HEADER_BYTES = (1 << 20) + 4096
/** name + value of one header field the tunnel carries (HPACK may not shrink it: bound the raw size). */
export const MAX_TUNNEL_FIELD_BYTES = 65_536 - 64
/** A whole header block, counted as HPACK literals without Huffman (the worst case): 9 frames of 16 KiB, less slack. */
export const MAX_TUNNEL_HEADER_BLOCK_BYTES = 140 * 1024
/** Header fields one tunnel stream may carry. */
export const MAX_HEADER_FIELDS = 16_384
/** HTTP/2 SETTINGS_MAX_HEADER_LIST_SIZE on both tunnel ends (name + value + 32 per field, RFC 9113 §6.5.2). */
export const MAX_HEADER_LIST_BYTES = MAX_TUNNEL_HEADER_BLOCK_BYTES + 32 * MAX_HEADER_FIELDS
/** Node's own HTTP/2 limits that must follow: fields per header list, bytes per serialised header block. */
export const HTTP2_HEADER_OPTIONS = {
  maxHeaderListPairs: MAX_HEADER_FIELDS + 16,
  maxSendHeaderBlockLength: MAX_HEADER_LIST_BYTES,
  // nghttp2 keeps a whole header block in session memory while it is being received (MB).
  maxSessionMemory: 64,
}

/** Whether a header list can cross the tunnel: the bounds above, as HPACK literals would need them. */
export function headersFitTunnel (headers: Record<string, string | string[] | number | undefined>): boolean {
  let fields = 0
  let block = 0
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue
    for (const v of Array.isArray(value) ? value : [value]) {
      const size = Buffer.byteLength(name) + Buffer.byteLength(String(v))
      if (size > MAX_TUNNEL_FIELD_BYTES) return false
      fields++
      // A literal's prefix byte and the two length prefixes (up to 4 bytes each for these sizes).
      block += size + 9
    }
  }
  return fields <= MAX_HEADER_FIELDS && block <= MAX_TUNNEL_HEADER_BLOCK_BYTES
}

/**
 * Impersonate-* headers as kube-apiserver reads them, from the header lines as received (Node
 * joins repeated lines with ", ", which would turn two groups into one): every line of
 * Impersonate-Group and Impersonate-Extra-* is one value; Impersonate-User and Impersonate-Uid are
 * their first line (Go's Header.Get). `lines` is [name, value, name, value, ...].
 */
export function impersonationHeaders (lines: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {}
  for (let i = 0; i + 1 < lines.length; i += 2) {
    const name = lines[i]!.toLowerCase()
    if (!name.startsWith('impersonate-')) continue
    const value = lines[i + 1]!
    if (name === 'impersonate-group' || name.startsWith('impersonate-extra-')) {
      const values = out[name]
      out[name] = Array.isArray(values) ? [...values, value] : [value]
    } else {
      out[name] ??= value
    }
  }
  return out
}

/** The largest header envelope the shim reads: the listener's limit, plus JSON's quoting. */
export const MAX_HEADER_ENVELOPE_BYTES = 2 * MAX_REQUEST_HEADER_BYTES

export interface HeaderEnvelope {
  headers: Record<string, string | string[]>
  /** Whether a request body follows the envelope. */
  body: boolean
}

export function encodeHeaderEnvelope (envelope: HeaderEnvelope): Buffer {
  return Buffer.from(JSON.stringify(envelope))
}

/** The envelope, or undefined when the bytes are not one (the shim then answers 400). */
export function decodeHeaderEnvelope (bytes: Buffer): HeaderEnvelope | undefined {
  let parsed: unknown
  try { parsed = JSON.parse(bytes.toString('utf8')) } catch { return undefined }
  const e = parsed as Partial<HeaderEnvelope> | null
  if (e === null || typeof e !== 'object' || typeof e.body !== 'boolean' || typeof e.headers !== 'object' || e.headers === null) return undefined
  for (const value of Object.values(e.headers)) {
    const ok = typeof value === 'string' || (Array.isArray(value) && value.every((v) => typeof v === 'string'))
    if (!ok) return undefined
  }
  return { headers: e.headers, body: e.body }
}
