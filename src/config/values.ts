// Pure parsers for the value syntaxes used in config files. They know nothing
// about YAML: they take the scalar's JS value and either return the converted
// value or a message that the schema layer prefixes with file:line:col and key.
import { isIPv4, isIPv6 } from 'node:net'

export type Parsed<T> = { ok: true; value: T } | { ok: false; message: string }

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
const fail = (message: string): Parsed<never> => ({ ok: false, message })

/** How a value from the file is echoed back in messages ("got ..."). */
export function describeValue (v: unknown): string {
  if (v === null || v === undefined) return 'an empty value'
  if (typeof v === 'string') {
    const s = v.length > 60 ? `${v.slice(0, 57)}...` : v
    return JSON.stringify(s)
  }
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  return typeof v
}

// --- durations -------------------------------------------------------------

// Go's time.ParseDuration units, in milliseconds. Go syntax because KubeEdge
// (and every other Kubernetes component config) uses it.
const DURATION_UNITS: Record<string, number> = {
  ns: 1e-6,
  us: 1e-3,
  µs: 1e-3, // U+00B5 micro sign
  μs: 1e-3, // U+03BC greek mu, also accepted by Go
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
}
const DURATION_RE = /^(?:(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h))+$/u
const DURATION_PART_RE = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)/gu

/**
 * Go-style duration ("500ms", "30s", "1h30m", "0") to whole milliseconds.
 * Negative durations are rejected: no setting here has a meaning for them.
 * Sub-millisecond remainders are rejected rather than rounded, because Node
 * timers have millisecond resolution and silently changing a value is worse
 * than asking the user to write it differently.
 */
export function parseDuration (v: unknown): Parsed<number> {
  const expected = `expected a duration like "500ms", "30s", "5m" or "1h30m", got ${describeValue(v)}`
  if (typeof v !== 'string') return fail(expected)
  const s = v.trim()
  if (s === '0') return ok(0)
  if (s.startsWith('-')) return fail(`duration must not be negative, got ${describeValue(v)}`)
  if (!DURATION_RE.test(s)) return fail(expected)
  // Sum in nanoseconds-as-float would lose precision for large values; the
  // per-part product in ms is exact for every realistic input.
  let ms = 0
  for (const m of s.matchAll(DURATION_PART_RE)) ms += Number(m[1]) * DURATION_UNITS[m[2]!]!
  const rounded = Math.round(ms)
  if (Math.abs(ms - rounded) > 1e-6) {
    return fail(`duration must be a whole number of milliseconds, got ${describeValue(v)}`)
  }
  if (!Number.isSafeInteger(rounded)) return fail(`duration is too large: ${describeValue(v)}`)
  return ok(rounded)
}

// --- sizes -----------------------------------------------------------------

// Kubernetes resource.Quantity suffixes (binary and decimal SI). Exponent
// forms ("1e6") are deliberately not supported: nobody writes byte sizes so.
const SIZE_SUFFIXES: Record<string, number> = {
  '': 1,
  Ki: 2 ** 10,
  Mi: 2 ** 20,
  Gi: 2 ** 30,
  Ti: 2 ** 40,
  Pi: 2 ** 50,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  P: 1e15,
}
const SIZE_RE = /^(\d+(?:\.\d+)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/

/** Kubernetes-quantity-style size ("64Mi", "1Gi", "500k", "1048576") to bytes. */
export function parseSize (v: unknown): Parsed<number> {
  const expected = `expected a size like "64Mi", "1Gi", "500k" or a number of bytes, got ${describeValue(v)}`
  // A bare YAML integer is the natural way to write a byte count.
  if (typeof v === 'number') {
    return Number.isSafeInteger(v) && v >= 0 ? ok(v) : fail(expected)
  }
  if (typeof v !== 'string') return fail(expected)
  const m = SIZE_RE.exec(v.trim())
  if (!m) {
    // Most mistakes are suffixes from other tools ("MB", "mi", "1 Gi").
    if (/^\d+(?:\.\d+)?\s*[a-zA-Z]+$/.test(v.trim())) {
      return fail(`${expected} (suffixes are Ki, Mi, Gi, Ti, Pi or k, M, G, T, P; no "B")`)
    }
    return fail(expected)
  }
  const bytes = Number(m[1]) * SIZE_SUFFIXES[m[2] ?? '']!
  const rounded = Math.round(bytes)
  if (Math.abs(bytes - rounded) > 1e-6) {
    return fail(`size must be a whole number of bytes, got ${describeValue(v)}`)
  }
  if (!Number.isSafeInteger(rounded)) return fail(`size is too large: ${describeValue(v)}`)
  return ok(rounded)
}

// --- addresses -------------------------------------------------------------

export interface Address {
  /** IPv4 literal, IPv6 literal without brackets, or hostname. */
  readonly host: string
  readonly port: number
}

// RFC 1123 hostname: dot-separated labels of letters, digits and inner
// hyphens, each at most 63 characters, total at most 253.
const LABEL_RE = /^[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?$/

export function isHostname (s: string): boolean {
  if (s.length === 0 || s.length > 253) return false
  const labels = (s.endsWith('.') ? s.slice(0, -1) : s).split('.')
  return labels.every((l) => LABEL_RE.test(l))
}

export interface AddressOptions {
  /** Port 0 ("pick any") only makes sense for listeners, not for dialing. */
  readonly allowPortZero?: boolean
}

/** "host:port", "[v6]:port" to {host, port}. IPv6 literals must be bracketed. */
export function parseAddress (v: unknown, opts: AddressOptions = {}): Parsed<Address> {
  const allowZero = opts.allowPortZero ?? true
  const expected = `expected "host:port", got ${describeValue(v)}`
  if (typeof v !== 'string') return fail(expected)
  let host: string
  let portText: string
  if (v.startsWith('[')) {
    const close = v.indexOf(']')
    if (close < 0 || v[close + 1] !== ':') return fail(expected)
    host = v.slice(1, close)
    portText = v.slice(close + 2)
    if (!isIPv6(host)) return fail(`${expected}: ${describeValue(host)} is not an IPv6 address`)
  } else {
    const colon = v.lastIndexOf(':')
    if (colon < 0) return fail(expected)
    host = v.slice(0, colon)
    portText = v.slice(colon + 1)
    if (host.includes(':')) {
      return fail(`${expected}: IPv6 addresses must be written in brackets, e.g. "[::1]:10550"`)
    }
    if (host === '') {
      // Go accepts ":port" for "all interfaces"; being explicit avoids
      // surprises about IPv4 vs dual-stack binding.
      return fail(`${expected}: host is missing (use "0.0.0.0:${portText}" or "[::]:${portText}" to listen on all interfaces)`)
    }
    if (!isIPv4(host) && !isHostname(host)) {
      return fail(`${expected}: ${describeValue(host)} is not an IPv4 address or hostname`)
    }
  }
  if (!/^\d+$/.test(portText)) return fail(`${expected}: port must be a number`)
  const port = Number(portText)
  const min = allowZero ? 0 : 1
  if (port < min || port > 65535) return fail(`${expected}: port must be between ${min} and 65535`)
  return ok(Object.freeze({ host, port }))
}

/** Inverse of parseAddress, for logs and for dialing with URL syntax. */
export function formatAddress (a: Address): string {
  return a.host.includes(':') ? `[${a.host}]:${a.port}` : `${a.host}:${a.port}`
}

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::'])

/**
 * Whether two listen addresses would fight over the same socket. Same port on
 * different specific IPs is fine (the edge defaults do exactly that: loopback
 * and the dummy interface share 10550); a wildcard host overlaps everything.
 */
export function addressesConflict (a: Address, b: Address): boolean {
  if (a.port === 0 || b.port !== a.port) return false
  return a.host === b.host || WILDCARD_HOSTS.has(a.host) || WILDCARD_HOSTS.has(b.host)
}
