// Hostile pod traffic for test/e2e/edge-fuzz.test.ts: a seeded generator of malformed and
// ill-timed requests (raw TLS garbage, bad HTTP/1.1 framing, slowloris, half-open connections,
// random methods/paths/bodies/disconnect points) and the raw-socket client that plays them.
// Every case is bounded in bytes and in time, so a phase of N cases with C workers is bounded too.
//
// Cases are plain data (`FuzzCase`), generated from one 32-bit seed: printing the seed and the
// index of a case is enough to replay it (FUZZ_SEED=… in the test).
import net from 'node:net'
import tls from 'node:tls'
import { prng } from '../helpers/prng.js'

export class Gen {
  readonly next: () => number
  constructor (seed: number) { this.next = prng(seed) }
  int (lo: number, hi: number): number { return lo + Math.floor(this.next() * (hi - lo + 1)) }
  pick<T> (xs: readonly T[]): T { return xs[Math.floor(this.next() * xs.length)]! }
  chance (p: number): boolean { return this.next() < p }
  bytes (n: number): Buffer {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256)
    return b
  }
}

/** What the generator needs to know about the test bed. */
export interface FuzzTarget {
  /** A token the gate admits (a pod on this node), so requests really reach the tunnel and kube-apiserver. */
  token: string
  /** The pod's namespace (it may get/list/watch/create/update/delete ConfigMaps there). */
  namespace: string
  /** An existing ConfigMap in that namespace. */
  configMap: string
  /** The edge's body limit (maxRequestBodyBytes). */
  maxBody: number
}

/** How the client ends its side. */
export type Ending =
  | 'wait' //        read until the server closes or the case's time is up, then close
  | 'fin' //         end the write side right after sending (half-open), then read as 'wait'
  | 'destroy' //     close at once after sending (FIN)
  | 'reset' //       vanish: RST right after sending
  | 'after-first-byte' // close as soon as the first response byte arrives
  | 'stall' //       stop reading (never close) until the case's time is up, then RST

export interface FuzzCase {
  index: number
  kind: 'raw-garbage' | 'tls-garbage' | 'framing' | 'slowloris' | 'half-open' | 'random-request'
  /** Plain TCP (raw TLS garbage) instead of TLS. */
  plain: boolean
  /** Chunks written in order, with a pause (ms) before each. */
  writes: Array<{ delayMs: number, data: Buffer }>
  ending: Ending
  /** The whole case is cut (RST) after this long, whatever happens. */
  budgetMs: number
  /** A one-line description for failure output. */
  what: string
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'CONNECT', 'TRACE', 'PROPFIND', 'get', 'G\x00T', 'BREW'] as const

function paths (g: Gen, t: FuzzTarget): string {
  const ns = t.namespace
  return g.pick([
    `/api/v1/namespaces/${ns}/configmaps`,
    `/api/v1/namespaces/${ns}/configmaps/${t.configMap}`,
    `/api/v1/namespaces/${ns}/configmaps?watch=1&timeoutSeconds=${g.int(1, 3)}`,
    `/api/v1/namespaces/${ns}/configmaps?watch=true&resourceVersion=0&timeoutSeconds=1`,
    `/api/v1/namespaces/${ns}/configmaps?limit=${g.int(-5, 5)}&continue=${g.bytes(6).toString('base64url')}`,
    `/api/v1/namespaces/${ns}/configmaps/fuzz-${g.int(0, 20)}`,
    `/api/v1/namespaces/${ns}/configmaps/${t.configMap}?fieldSelector=metadata.name%3D${g.int(0, 9)}`,
    `/api/v1/namespaces/${ns}/secrets`,
    '/api/v1/namespaces/kube-system/configmaps',
    `/api/v1/namespaces/${ns}/pods/x/exec?command=true`,
    `/api/v1/namespaces/${ns}/pods/x/log?follow=true`,
    '/api', '/apis', '/version', '/openapi/v2', '/livez', '/readyz?verbose', '/healthz', '/metrics',
    '/%zz', '/api/v1/namespaces/%', `/${'a'.repeat(g.int(1, 9000))}`, '//..//../etc/passwd', '*',
    `/api/v1/namespaces/${ns}/configmaps?${'x=1&'.repeat(g.int(1, 2000))}`,
    `/apis/${g.bytes(4).toString('hex')}/v1/namespaces/${ns}/things`,
    `/api/v1/namespaces/${ns}/configmaps/${encodeURIComponent(g.bytes(5).toString('latin1'))}`,
  ])
}

function authHeader (g: Gen, t: FuzzTarget): string {
  return g.pick([
    `Authorization: Bearer ${t.token}\r\n`, `Authorization: Bearer ${t.token}\r\n`, `Authorization: Bearer ${t.token}\r\n`,
    '', 'Authorization: Bearer\r\n', `Authorization: Basic ${Buffer.from('a:b').toString('base64')}\r\n`,
    `Authorization: Bearer ${t.token.slice(0, -3)}xyz\r\n`, `Authorization: Bearer ${t.token}\r\nAuthorization: Bearer other\r\n`,
  ])
}

/** A JSON-ish body of `n` bytes (sometimes a valid ConfigMap, mostly not). */
function body (g: Gen, n: number, t: FuzzTarget): Buffer {
  if (n === 0) return Buffer.alloc(0)
  if (g.chance(0.3) && n < 4096) {
    const cm = JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `fuzz-${g.int(0, 20)}`, namespace: t.namespace }, data: { k: 'v' } })
    return Buffer.from(cm)
  }
  if (g.chance(0.5)) return Buffer.alloc(n, g.pick(['{', 'a', ' ', '\x00']))
  return n <= 65536 ? g.bytes(n) : Buffer.concat([g.bytes(65536), Buffer.alloc(n - 65536, 0x7b)])
}

function bodySize (g: Gen, t: FuzzTarget): number {
  // Mostly small; ~1 in 30 crosses the tunnel's 1 MiB stream window, some reach or pass the limit.
  const r = g.next()
  if (r < 0.5) return 0
  if (r < 0.8) return g.int(1, 200)
  if (r < 0.967) return g.int(200, 70_000)
  if (r < 0.98) return g.int(1 << 20, (1 << 20) + 300_000)
  if (r < 0.99) return g.int(t.maxBody - 1000, t.maxBody)
  return t.maxBody + g.int(1, 5000)
}

const ENDINGS: readonly Ending[] = ['wait', 'wait', 'fin', 'destroy', 'reset', 'after-first-byte', 'stall']

/** Splits `data` into 1..n writes with small random pauses (disconnect points fall between them). */
function chop (g: Gen, data: Buffer, maxParts: number, maxDelayMs: number): Array<{ delayMs: number, data: Buffer }> {
  const parts = Math.min(g.int(1, maxParts), Math.max(1, data.length))
  const cuts = new Set<number>()
  while (cuts.size < parts - 1) cuts.add(g.int(1, data.length - 1))
  const sorted = [0, ...[...cuts].sort((a, b) => a - b), data.length]
  const out: Array<{ delayMs: number, data: Buffer }> = []
  for (let i = 0; i + 1 < sorted.length; i++) out.push({ delayMs: i === 0 ? 0 : g.int(0, maxDelayMs), data: data.subarray(sorted[i], sorted[i + 1]) })
  return out
}

/** Case `index` of the run seeded with `seed`: the same pair always gives the same case. */
export function fuzzCase (seed: number, index: number, t: FuzzTarget): FuzzCase {
  const g = new Gen((seed ^ Math.imul(index + 1, 0x9E3779B1)) >>> 0)
  const roll = g.next()
  const budgetMs = 2500
  if (roll < 0.05) {
    // Bytes that are not TLS at all on the TLS port, or a TLS record header with junk behind it.
    const head = g.chance(0.5) ? Buffer.from([0x16, 0x03, g.int(0, 4), g.int(0, 255), g.int(0, 255)]) : Buffer.alloc(0)
    const data = Buffer.concat([head, g.bytes(g.int(0, 3000))])
    return { index, kind: 'raw-garbage', plain: true, writes: chop(g, data, 3, 20), ending: g.pick(ENDINGS), budgetMs, what: `${data.length} raw bytes` }
  }
  if (roll < 0.12) {
    const data = g.chance(0.5) ? g.bytes(g.int(1, 5000)) : Buffer.from(`GET / HTTP/1.1\r\nHost: x\r\n${g.bytes(g.int(1, 400)).toString('latin1')}\r\n\r\n`, 'latin1')
    return { index, kind: 'tls-garbage', plain: false, writes: chop(g, data, 3, 20), ending: g.pick(ENDINGS), budgetMs, what: `${data.length} bytes of junk over TLS` }
  }
  if (roll < 0.40) return framingCase(g, index, t, budgetMs)
  if (roll < 0.45) {
    // Slowloris: a valid request's headers trickled a few bytes at a time, cut before they are complete (or not).
    const req = Buffer.from(`GET ${paths(g, t)} HTTP/1.1\r\nHost: edge\r\n${authHeader(g, t)}Accept: application/json\r\nX-Pad: ${'p'.repeat(g.int(10, 300))}\r\n\r\n`, 'latin1')
    const upTo = g.chance(0.7) ? g.int(1, req.length - 1) : req.length
    const writes: Array<{ delayMs: number, data: Buffer }> = []
    for (let at = 0; at < upTo && writes.length < 40;) {
      const n = Math.min(upTo - at, g.int(1, 8))
      writes.push({ delayMs: writes.length === 0 ? 0 : g.int(20, 80), data: req.subarray(at, at + n) })
      at += n
    }
    return { index, kind: 'slowloris', plain: false, writes, ending: g.pick(['wait', 'reset', 'destroy', 'stall']), budgetMs, what: `slowloris ${upTo}/${req.length} bytes in ${writes.length} writes` }
  }
  if (roll < 0.55) {
    // Half-open: a request (complete or not), then the write side ends (FIN) or the peer vanishes.
    const { data, what } = httpRequest(g, t)
    const upTo = g.chance(0.5) ? data.length : g.int(1, data.length)
    return { index, kind: 'half-open', plain: false, writes: [{ delayMs: 0, data: data.subarray(0, upTo) }], ending: g.pick(['fin', 'fin', 'reset', 'stall']), budgetMs, what: `half-open after ${upTo}/${data.length} bytes of ${what}` }
  }
  const { data, what } = httpRequest(g, t)
  return { index, kind: 'random-request', plain: false, writes: chop(g, data, 4, 30), ending: g.pick(ENDINGS), budgetMs, what }
}

/** A well-formed HTTP/1.1 request with random method, path, headers and body. */
function httpRequest (g: Gen, t: FuzzTarget): { data: Buffer, what: string } {
  const method = g.pick(METHODS)
  const path = paths(g, t)
  const n = bodySize(g, t)
  const b = body(g, n, t)
  const chunked = n > 0 && g.chance(0.3)
  const headers = [
    `${method} ${path} HTTP/1.1`, 'Host: edge', authHeader(g, t).trimEnd(),
    g.pick(['Accept: application/json', 'Accept: application/json;as=Table;v=v1;g=meta.k8s.io', 'Accept: application/vnd.kubernetes.protobuf', 'Accept: */*', '']),
    g.pick(['Content-Type: application/json', 'Content-Type: application/merge-patch+json', 'Content-Type: text/plain', '']),
    chunked ? 'Transfer-Encoding: chunked' : (n > 0 || g.chance(0.2) ? `Content-Length: ${n}` : ''),
    g.pick(['', 'Connection: close', 'Connection: keep-alive', 'Expect: 100-continue', 'Connection: Upgrade\r\nUpgrade: SPDY/3.1', 'Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13']),
  ].filter((h) => h !== '')
  let payload = b
  if (chunked) payload = Buffer.concat([...chunks(g, b).flatMap((c) => [Buffer.from(`${c.length.toString(16)}\r\n`), c, Buffer.from('\r\n')]), Buffer.from('0\r\n\r\n')])
  return { data: Buffer.concat([Buffer.from(`${headers.join('\r\n')}\r\n\r\n`, 'latin1'), payload]), what: `${JSON.stringify(method)} ${path.slice(0, 80)} body=${n}${chunked ? ' chunked' : ''}` }
}

function chunks (g: Gen, b: Buffer): Buffer[] {
  const out: Buffer[] = []
  for (let at = 0; at < b.length;) {
    const n = Math.min(b.length - at, g.int(1, 300_000))
    out.push(b.subarray(at, at + n))
    at += n
  }
  return out
}

/** Broken HTTP/1.1 framing: bad chunk sizes, CL+TE conflicts, bad request lines, header junk. */
function framingCase (g: Gen, index: number, t: FuzzTarget, budgetMs: number): FuzzCase {
  const path = paths(g, t)
  const auth = authHeader(g, t)
  const variants: Array<() => [string, Buffer]> = [
    () => ['bad chunk size', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Transfer-Encoding: chunked\r\n\r\n${g.pick(['zz', '-1', 'ffffffffffffffffff', '1;' + 'x'.repeat(5000), '', '0x10', '7fffffff'])}\r\n${g.bytes(g.int(0, 500)).toString('latin1')}\r\n0\r\n\r\n`, 'latin1')],
    () => ['CL and TE', Buffer.from(`PUT ${path} HTTP/1.1\r\nHost: e\r\n${auth}Content-Length: ${g.int(0, 100)}\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n`, 'latin1')],
    () => ['two CLs', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Content-Length: 5\r\nContent-Length: ${g.int(6, 99999999)}\r\n\r\nhello`, 'latin1')],
    () => ['CL lies (short body)', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Content-Type: application/json\r\nContent-Length: ${g.int(100, 3_000_000)}\r\n\r\n{"a":`, 'latin1')],
    () => ['CL lies (long body)', Buffer.concat([Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Content-Length: 3\r\n\r\n`, 'latin1'), g.bytes(g.int(4, 3000))])],
    () => ['negative CL', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Content-Length: ${g.pick(['-1', '1e3', '0x10', ' 12', '99999999999999999999', ''])}\r\n\r\nabc`, 'latin1')],
    () => ['TE gzip, chunked / unknown', Buffer.from(`POST ${path} HTTP/1.1\r\nHost: e\r\n${auth}Transfer-Encoding: ${g.pick(['gzip, chunked', 'identity', 'chunked, chunked', 'xchunked', 'chunked\r\nTransfer-Encoding: gzip'])}\r\n\r\n3\r\nabc\r\n0\r\n\r\n`, 'latin1')],
    () => ['bad request line', Buffer.from(`${g.pick(['GET', 'G ET', '', 'GET  /', 'GET / HTTP/9.9', 'GET / HTTP/1.1 extra', 'GET\t/\tHTTP/1.1', '\x00\x01', 'GET ' + 'a'.repeat(70000)])} ${g.pick([path, '', 'http://evil/', '/\r'])} HTTP/1.1\r\nHost: e\r\n\r\n`, 'latin1')],
    () => ['header junk', Buffer.from(`GET ${path} HTTP/1.1\r\nHost: e\r\n${auth}${g.pick([
      'Bad Header: x\r\n', 'X-A: \x00\x01\x7f\r\n', ' folded: continuation\r\n', 'X-Long: ' + 'v'.repeat(g.int(10_000, 80_000)) + '\r\n',
      Array.from({ length: g.int(100, 3000) }, (_, i) => `X-${i}: ${i}\r\n`).join(''), ':authority: x\r\n', 'X-Ems-Control: 1\r\nX-Ems-Client-Address: 1.2.3.4\r\n',
      'Host: second\r\n', 'Content-Length: 0\r\nContent-Length: 0\r\n', 'Connection: x-ems-control\r\nX-Ems-Control: 1\r\n', 'X-Nolf: a\rb\r\n',
    ])}\r\n`, 'latin1')],
    () => ['bare LF', Buffer.from(`GET ${path} HTTP/1.1\nHost: e\n${auth.replace('\r\n', '\n')}\n`, 'latin1')],
    () => ['pipelined junk', Buffer.from(`GET ${path} HTTP/1.1\r\nHost: e\r\n${auth}\r\n`.repeat(g.int(2, 20)) + g.bytes(g.int(0, 200)).toString('latin1'), 'latin1')],
    () => ['HTTP/2 preface over HTTP/1', Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00', 'latin1')],
  ]
  const [what, data] = g.pick(variants)()
  return { index, kind: 'framing', plain: false, writes: chop(g, data, 3, 20), ending: g.pick(ENDINGS), budgetMs, what }
}

export interface CaseResult {
  /** The status line of what the edge answered, '' when nothing came back. */
  statusLine: string
  /** The first 4 KiB of the answer (to look for stack traces and framework errors). */
  head: string
  bytesIn: number
  error: string | undefined
  /** The client's port: ties a socket the edge left open (ss) back to its case. */
  localPort: number | undefined
}

// One TLS context for every connection of a run: building one per connection (parsing the CA each
// time) was a good part of the fuzzer's own CPU, on a machine the edge under test shares.
const secureContexts = new Map<string, tls.SecureContext>()
function secureContext (ca: string): tls.SecureContext {
  let context = secureContexts.get(ca)
  if (context === undefined) secureContexts.set(ca, context = tls.createSecureContext({ ca }))
  return context
}

/** A TLS connection over a TCP socket of our own, so the client can end it with an RST (a TLSSocket cannot). */
export function tlsOverTcp (host: string, port: number, ca: string): { raw: net.Socket, socket: tls.TLSSocket } {
  const raw = net.connect({ host, port })
  const socket = tls.connect({ socket: raw, host, secureContext: secureContext(ca), ALPNProtocols: ['http/1.1'] })
  return { raw, socket }
}

/** Resets the client refused (see `cut`): each one is a socket the test process leaked. */
export const refusedResets: string[] = []

/**
 * Ends a client connection at once: with an RST when `rst` and Node can send one, else with a
 * close (FIN, or an RST from the kernel if unread data is left).
 *
 * Node (20.20, and its TCPWrap::Reset as of today) cannot reset a TCP socket whose shutdown (FIN)
 * is still pending — queued behind data the peer has not read: libuv's uv_tcp_close_reset refuses
 * with EINVAL, yet Node marks the handle as closing and never closes it. The socket and its file
 * descriptor leak, no 'close' is ever emitted, and when the test ends the process spins forever in
 * Environment::CleanupHandles waiting for those handles (100 % of a core, tap's timeout after 10
 * minutes): that was the fuzzer's "hang", in the test client, not in the edge. A shutdown may be
 * pending once the write side was ended — by the case ('fin'), or by the TLS socket itself when
 * the edge closed first (allowHalfOpen is off) — so such a socket is closed, not reset.
 */
export function cut (raw: net.Socket, socket: net.Socket, rst: boolean, label: string): void {
  if (rst && !raw.destroyed && !raw.writableEnded && !socket.writableEnded) {
    raw.on('error', (err: NodeJS.ErrnoException) => { if (err.syscall === 'reset') refusedResets.push(`${label}: ${err.code}`) })
    raw.resetAndDestroy()
  }
  if (!socket.destroyed) socket.destroy()
  if (!raw.destroyed) raw.destroy()
}

/** Plays one case against host:port (TLS unless the case is plain), never longer than its budget. */
export function playCase (c: FuzzCase, host: string, port: number, ca: string): Promise<CaseResult> {
  return new Promise((resolve) => {
    let bytesIn = 0
    let head = ''
    let error: string | undefined
    let finished = false
    let idle: NodeJS.Timeout | undefined
    const timers: NodeJS.Timeout[] = []
    const { raw, socket } = c.plain ? { raw: net.connect({ host, port }), socket: undefined } : tlsOverTcp(host, port, ca)
    const conn: net.Socket = socket ?? raw
    let localPort: number | undefined
    raw.once('connect', () => { localPort = raw.localPort })
    const label = `case ${c.index} (${c.kind}, ending ${c.ending})`
    const finish = (): void => {
      if (finished) return
      finished = true
      clearTimeout(idle)
      for (const timer of timers) clearTimeout(timer)
      cut(raw, conn, true, label)
      resolve({ statusLine: head.split('\r\n')[0] ?? '', head, bytesIn, error, localPort })
    }
    timers.push(setTimeout(finish, c.budgetMs))
    raw.on('error', (err: Error) => { error ??= err.message; finish() })
    conn.on('error', (err: Error) => { error ??= err.message; finish() })
    conn.on('close', finish)
    conn.on('data', (d: Buffer) => {
      bytesIn += d.length
      if (head.length < 4096) head += d.subarray(0, 4096).toString('latin1')
      if (c.ending === 'after-first-byte') { finish(); return }
      // A keep-alive connection is never closed by the server: an answer followed by a quiet
      // moment is the end of the case.
      clearTimeout(idle)
      idle = setTimeout(finish, 300)
    })
    conn.once(c.plain ? 'connect' : 'secureConnect', () => {
      const writeNext = (i: number): void => {
        if (finished || conn.destroyed) return
        if (i >= c.writes.length) { end(); return }
        const w = c.writes[i]!
        timers.push(setTimeout(() => {
          if (finished || conn.destroyed) return
          conn.write(w.data, () => writeNext(i + 1))
        }, w.delayMs))
      }
      writeNext(0)
    })
    const end = (): void => {
      switch (c.ending) {
        case 'fin': conn.end(); break
        case 'destroy': conn.destroy(); break
        case 'reset': cut(raw, conn, true, label); break
        case 'stall': conn.pause(); timers.push(setTimeout(finish, 1000)); break
        case 'wait': case 'after-first-byte': break
      }
    }
  })
}

/**
 * Runs `count` cases through `workers` concurrent players. `stopped` is checked before each case:
 * once it says so, no further case starts (the ones in flight end within their budgets).
 */
export async function runCases (count: number, workers: number, play: (i: number) => Promise<void>, stopped: () => boolean = () => false): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: workers }, async () => {
    for (let i = next++; i < count && !stopped(); i = next++) await play(i)
  }))
}

/** `promise`, or a rejection naming what is still pending (`what()`, read then) once `ms` have passed. */
export function withDeadline<T> (promise: Promise<T>, ms: number, what: () => string): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: ${what()}`)), ms)
  })
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer))
}
