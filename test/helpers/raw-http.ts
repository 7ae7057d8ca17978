// A raw HTTP/1.1-over-TLS client for tests that must send exactly the bytes they mean: request
// targets with raw or percent-encoded bytes, absolute-form targets, hundreds of headers, bodies
// sized or chunked — things undici or Node's http client would normalise or refuse. It reads the
// status line and headers, then a bounded body (or stops after the headers), and gives up after a
// timeout. One connection per request (TLS sessions are resumed to keep handshakes cheap).
import tls from 'node:tls'
import { parse as parseYaml } from 'yaml'

export interface RawRequest {
  method: string
  /** The request target exactly as sent: one character per byte (latin1), so raw non-UTF-8 bytes survive. */
  target: string
  /** In order, duplicates allowed; Host is added first unless present. */
  headers: Array<[string, string]>
  body?: { bytes: Buffer, framing: 'sized' | 'chunked', chunkSize?: number }
}

export interface RawResponse {
  /** 0 when no status line arrived. */
  status: number
  headers: Array<[string, string]>
  /** At most `maxBodyBytes`; empty when only the headers were read. */
  body: Buffer
  /** The body was cut at the limit or the read stopped after the headers. */
  truncated: boolean
  /** Why no (complete) answer arrived: 'timeout', 'ECONNRESET', 'closed', a parse problem, ... */
  error?: string
  ms: number
}

export interface RawTarget {
  host: string
  port: number
  caPem: string
}

export interface SendOptions {
  timeoutMs?: number
  maxBodyBytes?: number
  /** Stop reading after the headers when the status is 2xx (watches, large documents). */
  headersOnlyOn2xx?: boolean
}

const sessions = new Map<string, Buffer>()

/** The value of a response header (first occurrence, case-insensitive). */
export function header (res: RawResponse, name: string): string | undefined {
  const lower = name.toLowerCase()
  return res.headers.find(([k]) => k.toLowerCase() === lower)?.[1]
}

export function sendRaw (target: RawTarget, req: RawRequest, opts: SendOptions = {}): Promise<RawResponse> {
  const timeoutMs = opts.timeoutMs ?? 20_000
  const maxBody = opts.maxBodyBytes ?? 256 * 1024
  const started = Date.now()
  const key = `${target.host}:${target.port}`
  return new Promise((resolve) => {
    let settled = false
    let received: Buffer = Buffer.alloc(0)
    let head: { status: number, headers: Array<[string, string]>, bodyStart: number } | undefined
    const session = sessions.get(key)
    const socket = tls.connect({
      host: target.host, port: target.port, ca: target.caPem,
      ALPNProtocols: ['http/1.1'], ...(session === undefined ? {} : { session }),
    })
    socket.on('session', (s: Buffer) => { sessions.set(key, s) })
    const finish = (body: Buffer, truncated: boolean, error?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({
        status: head?.status ?? 0, headers: head?.headers ?? [], body, truncated, ms: Date.now() - started,
        ...(error === undefined ? {} : { error }),
      })
    }
    const timer = setTimeout(() => finish(bodySoFar(), true, 'timeout'), timeoutMs)
    const bodySoFar = (): Buffer => head === undefined ? Buffer.alloc(0) : received.subarray(head.bodyStart, head.bodyStart + maxBody)

    // Writes the request; keeps going only while nothing came back (a server may answer early).
    socket.once('secureConnect', () => { void writeRequest() })
    async function writeRequest (): Promise<void> {
      const lines = [`${req.method} ${req.target} HTTP/1.1`]
      const headers = [...req.headers]
      if (!headers.some(([k]) => k.toLowerCase() === 'host')) headers.unshift(['Host', `${target.host}:${target.port}`])
      if (req.body !== undefined) {
        headers.push(req.body.framing === 'sized' ? ['Content-Length', String(req.body.bytes.length)] : ['Transfer-Encoding', 'chunked'])
      }
      for (const [k, v] of headers) lines.push(`${k}: ${v}`)
      const ok = await write(Buffer.from(lines.join('\r\n') + '\r\n\r\n', 'latin1'))
      if (!ok || req.body === undefined) return
      const { bytes, framing } = req.body
      const step = req.body.chunkSize ?? 64 * 1024
      for (let at = 0; at < bytes.length; at += step) {
        if (settled || head !== undefined) return
        const piece = bytes.subarray(at, Math.min(bytes.length, at + step))
        const framed = framing === 'chunked'
          ? Buffer.concat([Buffer.from(`${piece.length.toString(16)}\r\n`), piece, Buffer.from('\r\n')])
          : piece
        if (!await write(framed)) return
      }
      if (framing === 'chunked') await write(Buffer.from('0\r\n\r\n'))
    }
    function write (data: Buffer): Promise<boolean> {
      if (settled || socket.destroyed || !socket.writable) return Promise.resolve(false)
      return new Promise((resolve) => {
        if (socket.write(data)) { resolve(true); return }
        const done = (): void => { socket.off('drain', done); socket.off('close', done); resolve(!socket.destroyed) }
        socket.once('drain', done)
        socket.once('close', done)
      })
    }

    socket.on('data', (chunk: Buffer) => {
      if (settled) return
      received = received.length === 0 ? chunk : Buffer.concat([received, chunk])
      if (head === undefined) {
        const end = received.indexOf('\r\n\r\n')
        if (end === -1) {
          if (received.length > 1 << 20) finish(Buffer.alloc(0), true, 'response headers over 1 MiB')
          return
        }
        const lines = received.subarray(0, end).toString('latin1').split('\r\n')
        const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? '')
        if (m === null) { finish(Buffer.alloc(0), true, `not an HTTP status line: ${JSON.stringify(lines[0]?.slice(0, 80))}`); return }
        const headers: Array<[string, string]> = lines.slice(1).map((l) => {
          const colon = l.indexOf(':')
          return [l.slice(0, colon).trim(), l.slice(colon + 1).trim()]
        })
        head = { status: Number(m[1]), headers, bodyStart: end + 4 }
        if (head.status === 100) { // a 100 Continue: the real answer follows
          received = received.subarray(end + 4)
          head = undefined
          if (received.length > 0) socket.emit('data', Buffer.alloc(0))
          return
        }
        if (opts.headersOnlyOn2xx === true && head.status >= 200 && head.status < 300) { finish(Buffer.alloc(0), true); return }
      }
      checkComplete()
    })
    function checkComplete (): void {
      if (head === undefined) return
      const raw = received.subarray(head.bodyStart)
      const status = head.status
      if (req.method === 'HEAD' || status === 204 || status === 304) { finish(Buffer.alloc(0), false); return }
      const length = headerOf('content-length')
      const chunked = (headerOf('transfer-encoding') ?? '').toLowerCase().includes('chunked')
      if (chunked) {
        const decoded = dechunk(raw)
        if (decoded.complete) finish(decoded.body.subarray(0, maxBody), decoded.body.length > maxBody)
        else if (decoded.body.length > maxBody) finish(decoded.body.subarray(0, maxBody), true)
        return
      }
      if (length !== undefined) {
        const n = Number(length)
        if (raw.length >= n) finish(raw.subarray(0, Math.min(n, maxBody)), n > maxBody)
        else if (raw.length > maxBody) finish(raw.subarray(0, maxBody), true)
        return
      }
      if (raw.length > maxBody) finish(raw.subarray(0, maxBody), true)
      // Otherwise the body ends when the connection does.
    }
    function headerOf (name: string): string | undefined {
      return head?.headers.find(([k]) => k.toLowerCase() === name)?.[1]
    }
    socket.on('end', () => onClose('closed'))
    socket.on('close', () => onClose('closed'))
    socket.on('error', (err: NodeJS.ErrnoException) => onClose(err.code ?? err.message))
    function onClose (why: string): void {
      if (settled) return
      if (head === undefined) { finish(Buffer.alloc(0), false, why); return }
      const raw = received.subarray(head.bodyStart)
      const length = headerOf('content-length')
      const chunked = (headerOf('transfer-encoding') ?? '').toLowerCase().includes('chunked')
      if (chunked) {
        const decoded = dechunk(raw)
        finish(decoded.body.subarray(0, maxBody), !decoded.complete, decoded.complete ? undefined : `body cut: ${why}`)
      } else if (length !== undefined && raw.length < Number(length)) {
        finish(raw.subarray(0, maxBody), true, `body cut: ${why}`)
      } else {
        finish(raw.subarray(0, maxBody), raw.length > maxBody)
      }
    }
  })
}

function dechunk (raw: Buffer): { body: Buffer, complete: boolean } {
  const parts: Buffer[] = []
  let at = 0
  for (;;) {
    const eol = raw.indexOf('\r\n', at)
    if (eol === -1) return { body: Buffer.concat(parts), complete: false }
    const size = parseInt(raw.subarray(at, eol).toString('latin1').split(';')[0]!, 16)
    if (Number.isNaN(size)) return { body: Buffer.concat(parts), complete: false }
    if (size === 0) return { body: Buffer.concat(parts), complete: true }
    if (raw.length < eol + 2 + size + 2) {
      parts.push(raw.subarray(eol + 2, Math.min(raw.length, eol + 2 + size)))
      return { body: Buffer.concat(parts), complete: false }
    }
    parts.push(raw.subarray(eol + 2, eol + 2 + size))
    at = eol + 2 + size + 2
  }
}

export interface StatusLike { kind: string, code: number, reason?: string, message?: string }

/**
 * The answer's body as a Kubernetes Status in any of the encodings kube-apiserver negotiates
 * (JSON, YAML, protobuf), or undefined when it is not one.
 */
export function asStatus (res: RawResponse): StatusLike | undefined {
  const body = res.body
  if (body.subarray(0, 4).toString('latin1') === 'k8s\0') return protobufStatus(body.subarray(4))
  const text = body.toString('utf8')
  let parsed: any
  try {
    parsed = /^\s*\{/.test(text) ? JSON.parse(text) : parseYaml(text)
  } catch {
    return undefined
  }
  return parsed !== null && typeof parsed === 'object' && parsed.kind === 'Status' && parsed.apiVersion === 'v1' ? parsed : undefined
}

/** runtime.Unknown{typeMeta(1), raw(2)} wrapping a metav1.Status{status(2), message(3), reason(4), code(6)}. */
function protobufStatus (envelope: Buffer): StatusLike | undefined {
  const unknown = protoFields(envelope)
  const typeMeta = unknown?.get(1)
  const raw = unknown?.get(2)
  if (!Buffer.isBuffer(typeMeta) || !Buffer.isBuffer(raw)) return undefined
  const meta = protoFields(typeMeta)
  if (String(meta?.get(1)) !== 'v1' || String(meta?.get(2)) !== 'Status') return undefined
  const status = protoFields(raw)
  if (status === undefined || typeof status.get(6) !== 'number') return undefined
  return { kind: 'Status', code: status.get(6) as number, reason: String(status.get(4) ?? ''), message: String(status.get(3) ?? '') }
}

/** The last value of each field of a protobuf message (varints as numbers, length-delimited as Buffers). */
function protoFields (buf: Buffer): Map<number, number | Buffer> | undefined {
  const out = new Map<number, number | Buffer>()
  let at = 0
  const varint = (): number => {
    let value = 0
    for (let shift = 0; shift < 35; shift += 7) {
      if (at >= buf.length) throw new Error('truncated varint')
      const b = buf[at++]!
      value += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return value
    }
    throw new Error('varint too long')
  }
  try {
    while (at < buf.length) {
      const key = varint()
      const field = Math.floor(key / 8)
      switch (key & 7) {
        case 0: out.set(field, varint()); break
        case 2: { const n = varint(); if (at + n > buf.length) return undefined; out.set(field, buf.subarray(at, at + n)); at += n; break }
        case 1: at += 8; break
        case 5: at += 4; break
        default: return undefined
      }
    }
  } catch {
    return undefined
  }
  return out
}

/** A request target for humans: printable ASCII as is, every other byte as \xNN. */
export function printable (s: string, max = 300): string {
  const escaped = s.replace(/[^\x20-\x7e]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
  return escaped.length > max ? `${escaped.slice(0, max)}…(${s.length} bytes)` : escaped
}
