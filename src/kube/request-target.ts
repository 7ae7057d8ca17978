// The HTTP request target as kube-apiserver's Go HTTP server sees it: net/http readRequest hands the
// raw target to url.ParseRequestURI (Go 1.26 net/url), handlers read the percent-DEcoded URL.Path
// and URL.Query() (url.ParseQuery, its error ignored). The edge must authorize that same request,
// not the still-encoded text Node gives it, or `configmaps%2Fcm1` and `?fieldSelector=…&limit=abc`
// are judged differently on both sides (issue 9). Pure: no I/O.
//
// Strings. Node hands the request line over one char per byte (latin1), so `target` chars up to
// U+00FF are bytes; a string with any char above that is taken as UTF-8 text instead. Decoded
// results (path, query keys and values) are Go byte strings turned into JS strings: valid UTF-8 is
// decoded, each byte of an invalid sequence becomes the lone surrogate U+DC80+byte — injective,
// and never equal to a name read from JSON, as Go's byte strings never equal one either.

import { isIPv4, isIPv6 } from 'node:net'
import { goQuote as goQuoteString } from './go-quote.js'

/** url.Values: every key with its values in the order they came. */
export type GoQuery = ReadonlyMap<string, readonly string[]>

export interface RequestTarget {
  /** URL.Path: percent-decoded, what kube-apiserver routes and authorizes on. */
  path: string
  /** URL.RawQuery: the query still encoded. */
  rawQuery: string
  /** URL.Query(): url.ParseQuery's pairs (pairs it cannot decode are dropped). */
  query: GoQuery
  /** The same target in origin form (escaped path, then `?query` if any): what to relay upstream as HTTP/2 :path. */
  originForm: string
  /** The client sent `scheme://authority/path…` (absolute-form) instead of `/path…`. */
  absoluteForm: boolean
}

/** Not ok: Go's HTTP server answers 400 Bad Request without reaching kube-apiserver's handlers. */
export type RequestTargetResult = { ok: true, target: RequestTarget } | { ok: false, message: string }

/** url.ParseQuery's cap on parameters (urlmaxqueryparams=10000, the default since go 1.24 in go.mod). */
export const MAX_QUERY_PARAMS = 10000

export function requestTarget (target: string): RequestTargetResult {
  const raw = toByteString(target)
  const bad = (why: string): RequestTargetResult => ({ ok: false, message: `parse ${goQuote(raw)}: ${why}` })
  // url.parse: stringContainsCTLByte.
  // eslint-disable-next-line no-control-regex -- control bytes are exactly what Go refuses here
  if (/[\x00-\x1f\x7f]/.test(raw)) return bad('net/url: invalid control character in URL')
  if (raw === '') return bad('empty url')
  if (raw === '*') return { ok: true, target: { path: '*', rawQuery: '', query: new Map(), originForm: '*', absoluteForm: false } }

  const schemeEnd = schemeLength(raw)
  if (schemeEnd === 0) return bad('missing protocol scheme')
  const scheme = schemeEnd === -1 ? '' : raw.slice(0, schemeEnd).toLowerCase()
  let rest = schemeEnd === -1 ? raw : raw.slice(schemeEnd + 1)

  let rawQuery = ''
  let hasQuery = false
  const q = rest.indexOf('?')
  if (q !== -1) {
    // A lone trailing '?' is ForceQuery with an empty RawQuery; otherwise cut at the first '?'.
    hasQuery = true
    rawQuery = rest.slice(q + 1)
    rest = rest.slice(0, q)
  }
  if (!rest.startsWith('/')) {
    // With a scheme this is an opaque URI (Path ""), which Go would serve; origin form cannot carry it.
    if (scheme !== '') return { ok: false, message: `parse ${goQuote(raw)}: edge-metaserver: an opaque request target has no origin form` }
    return bad('invalid URI for request')
  }
  let absoluteForm = false
  if (scheme !== '' && rest.startsWith('//')) {
    absoluteForm = true
    let authority = rest.slice(2)
    rest = ''
    const slash = authority.indexOf('/')
    if (slash !== -1) { rest = authority.slice(slash); authority = authority.slice(0, slash) }
    const err = checkAuthority(authority)
    if (err !== undefined) return bad(err)
    // Go serves Path "" here; origin form cannot say "", and "/" would be another path.
    if (rest === '') return { ok: false, message: `parse ${goQuote(raw)}: edge-metaserver: an absolute-form request target needs a path` }
  } else if (scheme !== '') {
    absoluteForm = true // scheme:/path (OmitHost)
  }
  const path = unescape(rest, 'path')
  if (!path.ok) return bad(path.message)
  const originForm = absoluteForm ? rest + (hasQuery ? '?' + rawQuery : '') : raw
  return { ok: true, target: { path: goString(path.value), rawQuery: goString(rawQuery), query: parseQuery(rawQuery), originForm, absoluteForm } }
}

/** url.ParseQuery, its error ignored (as URL.Query() does): pairs with `;` in them or a bad escape are dropped, `+` is a space. */
export function parseQuery (rawQuery: string): Map<string, string[]> {
  const m = new Map<string, string[]>()
  const raw = toByteString(rawQuery)
  // Over the cap Go returns the error before parsing anything: URL.Query() is then empty.
  if (countOf(raw, '&') + 1 > MAX_QUERY_PARAMS) return m
  for (const pair of raw.split('&')) {
    if (pair.includes(';') || pair === '') continue
    const eq = pair.indexOf('=')
    const key = unescape(eq === -1 ? pair : pair.slice(0, eq), 'query')
    if (!key.ok) continue
    const value = unescape(eq === -1 ? '' : pair.slice(eq + 1), 'query')
    if (!value.ok) continue
    const k = goString(key.value)
    const list = m.get(k)
    if (list === undefined) m.set(k, [goString(value.value)])
    else list.push(goString(value.value))
  }
  return m
}

/** url.Values as URLSearchParams, for code written against that API (get = Values.Get: the first value). */
export function searchParams (query: GoQuery): URLSearchParams {
  const out = new URLSearchParams()
  for (const [key, values] of query) for (const v of values) out.append(key, v)
  return out
}

function countOf (s: string, c: string): number {
  let n = 0
  for (let i = s.indexOf(c); i !== -1; i = s.indexOf(c, i + 1)) n++
  return n
}

/** getScheme: the scheme's length, -1 when there is none, 0 for a leading ':' (an error). */
function schemeLength (raw: string): number {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!
    if (/[A-Za-z]/.test(c)) continue
    if (/[0-9+\-.]/.test(c)) { if (i === 0) return -1; continue }
    if (c === ':') return i
    return -1
  }
  return -1
}

// Bytes allowed unescaped in a host (net/url encoding_table.go, encodeHost and encodeZone).
const HOST_BYTE = /^[A-Za-z0-9!"$&'()*+,\-.:;<=>[\]_~]$/

/** parseAuthority + parseHost: undefined when Go accepts it, else Go's error text. */
function checkAuthority (authority: string): string | undefined {
  const at = authority.lastIndexOf('@')
  const host = at === -1 ? authority : authority.slice(at + 1)
  const hostErr = checkHost(host)
  if (hostErr !== undefined) return hostErr
  if (at === -1) return undefined
  const userinfo = authority.slice(0, at)
  // validUserinfo ranges over runes: any non-ASCII rune (or invalid byte) is refused.
  if (!/^[A-Za-z0-9\-._:~!$&'()*+,;=%@]*$/.test(userinfo)) return 'net/url: invalid userinfo'
  for (const part of userinfo.includes(':') ? [userinfo.slice(0, userinfo.indexOf(':')), userinfo.slice(userinfo.indexOf(':') + 1)] : [userinfo]) {
    const u = unescape(part, 'userinfo')
    if (!u.ok) return u.message
  }
  return undefined
}

function checkHost (host: string): string | undefined {
  const open = host.lastIndexOf('[')
  if (open > 0) return 'invalid IP-literal'
  if (open === 0) {
    const close = host.lastIndexOf(']')
    if (close < 0) return "missing ']' in host"
    const colonPort = host.slice(close + 1)
    if (!validOptionalPort(colonPort)) return `invalid port ${goQuote(colonPort)} after host`
    const port = unescape(colonPort, 'host')
    if (!port.ok) return port.message
    const hostname = host.slice(1, close)
    const zone = hostname.indexOf('%25')
    let unescaped: string
    if (zone >= 0) {
      const h = unescape(hostname.slice(0, zone), 'host')
      if (!h.ok) return h.message
      const z = unescape(hostname.slice(zone), 'zone')
      if (!z.ok) return z.message
      unescaped = h.value + z.value
    } else {
      const h = unescape(hostname, 'host')
      if (!h.ok) return h.message
      unescaped = h.value
    }
    // netip.ParseAddr must accept it as an IPv6 address (an IPv4 one is refused too); its zone
    // may be any non-empty string.
    const pct = unescaped.indexOf('%')
    const addr = pct === -1 ? unescaped : unescaped.slice(0, pct)
    if (pct === -1 && isIPv4(addr)) return 'invalid IP-literal'
    if (!isIPv6(addr) || pct === unescaped.length - 1) return `invalid host: ParseAddr(${goQuote(unescaped)}): invalid IP address`
    return undefined
  }
  let i = host.indexOf(':')
  if (i !== -1) {
    // More than one colon: Go 1.26 refuses it for http(s) only under urlstrictcolons=1, the default
    // from go 1.26 in go.mod; the test bed's kube-apiserver (go 1.24 in go.mod) takes the last one.
    i = host.lastIndexOf(':')
    const colonPort = host.slice(i)
    if (!validOptionalPort(colonPort)) return `invalid port ${goQuote(colonPort)} after host`
  }
  const h = unescape(host, 'host')
  return h.ok ? undefined : h.message
}

function validOptionalPort (port: string): boolean {
  return port === '' || /^:[0-9]*$/.test(port)
}

type Unescaped = { ok: true, value: string } | { ok: false, message: string }
const HEX = /^[0-9A-Fa-f]{2}$/

/** net/url unescape over a byte string; the result is a byte string too. */
function unescape (s: string, mode: 'path' | 'query' | 'host' | 'zone' | 'userinfo'): Unescaped {
  let out = ''
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!
    if (c === '%') {
      const hex = s.slice(i + 1, i + 3)
      if (i + 2 >= s.length || !HEX.test(hex)) return { ok: false, message: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` }
      const v = Number.parseInt(hex, 16)
      // In a host only non-ASCII bytes may be escaped (and %25, for RFC 6874 zones).
      if (mode === 'host' && v < 0x80 && hex !== '25') return { ok: false, message: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` }
      // In a zone, escapes may only spell bytes a host could hold unescaped (or a space).
      if (mode === 'zone' && hex !== '25' && v !== 0x20 && !HOST_BYTE.test(String.fromCharCode(v))) {
        return { ok: false, message: `invalid URL escape ${goQuote(s.slice(i, i + 3))}` }
      }
      out += String.fromCharCode(v)
      i += 2
    } else if (c === '+' && mode === 'query') {
      out += ' '
    } else {
      if ((mode === 'host' || mode === 'zone') && c.charCodeAt(0) < 0x80 && !HOST_BYTE.test(c)) return { ok: false, message: `invalid character ${goQuote(c)} in host name` }
      out += c
    }
  }
  return { ok: true, value: out }
}

/** The request target as bytes, one char per byte. */
function toByteString (s: string): string {
  // eslint-disable-next-line no-control-regex
  return /[^\x00-\xff]/.test(s) ? Buffer.from(s, 'utf8').toString('latin1') : s
}

/** A Go byte string (one char per byte) as a JS string: UTF-8 decoded, invalid bytes as U+DC80+byte. */
export function goString (bytes: string): string {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(bytes)) return bytes
  let out = ''
  let i = 0
  while (i < bytes.length) {
    const b0 = bytes.charCodeAt(i)
    if (b0 < 0x80) { out += bytes[i]; i++; continue }
    const [need, min, lo, hi] = utf8Lead(b0)
    let cp = need === 1 ? b0 & 0x1f : need === 2 ? b0 & 0x0f : b0 & 0x07
    let ok = need > 0 && i + need < bytes.length
    for (let k = 1; ok && k <= need; k++) {
      const b = bytes.charCodeAt(i + k)
      const [l, h] = k === 1 ? [lo, hi] : [0x80, 0xbf]
      if (Number.isNaN(b) || b < l || b > h) ok = false
      else cp = (cp << 6) | (b & 0x3f)
    }
    if (!ok || cp < min) { out += String.fromCharCode(0xdc00 + b0); i++; continue }
    out += String.fromCodePoint(cp)
    i += need + 1
  }
  return out
}

/** The Go bytes of a string made by goString (or any JS string): for Go's byte-wise comparisons. */
export function goBytes (s: string): Buffer {
  if (!/[\udc80-\udcff]/.test(s)) return Buffer.from(s, 'utf8')
  const parts: Buffer[] = []
  let run = ''
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    const pairedLow = i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff
    if (c >= 0xdc80 && c <= 0xdcff && !pairedLow) {
      parts.push(Buffer.from(run, 'utf8'), Buffer.from([c - 0xdc00]))
      run = ''
    } else run += s[i]
  }
  parts.push(Buffer.from(run, 'utf8'))
  return Buffer.concat(parts)
}

/** Go's string comparison (byte-wise), as sort.Strings uses. */
export function goCompare (a: string, b: string): number {
  // eslint-disable-next-line no-control-regex
  if (!/[^\x00-\x7f]/.test(a + b)) return a < b ? -1 : a > b ? 1 : 0
  return Buffer.compare(goBytes(a), goBytes(b))
}

/** Go's %q of a Go byte string held as a binary (latin1) JS string, as url.Parse's errors quote it. */
function goQuote (bytes: string): string {
  return goQuoteString(goString(bytes))
}

/** For a UTF-8 lead byte: continuation bytes needed, the smallest code point, and the allowed range of the second byte (RFC 3629 table). */
function utf8Lead (b0: number): [number, number, number, number] {
  if (b0 >= 0xc2 && b0 <= 0xdf) return [1, 0x80, 0x80, 0xbf]
  if (b0 === 0xe0) return [2, 0x800, 0xa0, 0xbf]
  if (b0 === 0xed) return [2, 0x800, 0x80, 0x9f] // no surrogates
  if (b0 >= 0xe1 && b0 <= 0xef) return [2, 0x800, 0x80, 0xbf]
  if (b0 === 0xf0) return [3, 0x10000, 0x90, 0xbf]
  if (b0 >= 0xf1 && b0 <= 0xf3) return [3, 0x10000, 0x80, 0xbf]
  if (b0 === 0xf4) return [3, 0x10000, 0x80, 0x8f]
  return [0, 0, 0, 0]
}
