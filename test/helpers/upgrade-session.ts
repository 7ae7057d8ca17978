// A raw HTTP/1.1 upgrade over TLS (exec/attach/port-forward as kubectl opens them), without a
// WebSocket or SPDY library: the test sends exactly the handshake it means, reads the status line
// and headers, writes its bytes once the answer is 101, and keeps everything that arrives until the
// server closes (bounded in bytes and time). Also the few WebSocket frame helpers (RFC 6455 §5.2)
// the tests need to read the apiserver's frames and send masked ones.
import { createHash, randomBytes } from 'node:crypto'
import tls from 'node:tls'
import type { RawTarget } from './raw-http.js'

export interface UpgradeRequest {
  method: string
  target: string
  headers: Array<[string, string]>
}

export interface UpgradeResult {
  /** 0 when no status line arrived. */
  status: number
  headers: Array<[string, string]>
  /** Everything after the response head, until the server closed (an answer's body, or the upgraded stream). */
  bytes: Buffer
  /** Why the read stopped other than by the server closing: 'timeout', 'over N bytes', a socket error. */
  error?: string
}

export function upgradeSession (target: RawTarget, req: UpgradeRequest,
  opts: {
    onUpgraded?: Buffer[]
    /** Stop reading (as if the server had closed) once this holds for the bytes after the head. */
    until?: (bytes: Buffer) => boolean
    maxBytes?: number
    timeoutMs?: number
  } = {}): Promise<UpgradeResult> {
  const maxBytes = opts.maxBytes ?? 32 << 20
  return new Promise((resolve) => {
    const socket = tls.connect({ host: target.host, port: target.port, ca: target.caPem, ALPNProtocols: ['http/1.1'] })
    let received = Buffer.alloc(0)
    const chunks: Buffer[] = []
    let total = 0
    let head: { status: number, headers: Array<[string, string]> } | undefined
    let settled = false
    const finish = (error?: string): void => {
      if (settled) return
      settled = true
      clearTimeout(timer)
      socket.destroy()
      resolve({ status: head?.status ?? 0, headers: head?.headers ?? [], bytes: Buffer.concat(chunks), ...(error === undefined ? {} : { error }) })
    }
    const timer = setTimeout(() => finish('timeout'), opts.timeoutMs ?? 30_000)
    socket.once('secureConnect', () => {
      const lines = [`${req.method} ${req.target} HTTP/1.1`, `Host: ${target.host}:${target.port}`, ...req.headers.map(([k, v]) => `${k}: ${v}`)]
      socket.write(lines.join('\r\n') + '\r\n\r\n')
    })
    socket.on('data', (chunk: Buffer) => {
      if (head !== undefined) {
        total += chunk.length
        if (total > maxBytes) { finish(`over ${maxBytes} bytes`); return }
        chunks.push(chunk)
        if (opts.until?.(Buffer.concat(chunks)) === true) finish()
        return
      }
      received = Buffer.concat([received, chunk])
      const end = received.indexOf('\r\n\r\n')
      if (end === -1) { if (received.length > 1 << 20) finish('response head over 1 MiB'); return }
      const lines = received.subarray(0, end).toString('latin1').split('\r\n')
      const m = /^HTTP\/1\.1 (\d{3})/.exec(lines[0] ?? '')
      if (m === null) { finish(`not a status line: ${JSON.stringify(lines[0]?.slice(0, 80))}`); return }
      head = {
        status: Number(m[1]),
        headers: lines.slice(1).map((l) => [l.slice(0, l.indexOf(':')).trim(), l.slice(l.indexOf(':') + 1).trim()]),
      }
      const rest = received.subarray(end + 4)
      total = rest.length
      if (rest.length > 0) chunks.push(rest)
      if (head.status === 101) for (const b of opts.onUpgraded ?? []) socket.write(b)
    })
    socket.on('end', () => finish())
    socket.on('close', () => finish())
    socket.on('error', (err: NodeJS.ErrnoException) => finish(err.code ?? err.message))
  })
}

/** The value of a header (first occurrence, case-insensitive). */
export function headerOf (res: { headers: Array<[string, string]> }, name: string): string | undefined {
  const lower = name.toLowerCase()
  return res.headers.find(([k]) => k.toLowerCase() === lower)?.[1]
}

/** Sec-WebSocket-Accept for a key (RFC 6455 §4.2.2). */
export function websocketAccept (key: string): string {
  return createHash('sha1').update(key + '258EAFA5-E914-47DA-95CA-C5AB0DC85B11').digest('base64')
}

export interface Frame { opcode: number, payload: Buffer }

/** Unmasked server-to-client frames; stops at a frame cut short or a masked one (servers never mask). */
export function websocketFrames (bytes: Buffer): Frame[] {
  const frames: Frame[] = []
  let at = 0
  while (at + 2 <= bytes.length) {
    const opcode = bytes[at]! & 0x0f
    if ((bytes[at + 1]! & 0x80) !== 0) break
    let length = bytes[at + 1]! & 0x7f
    let header = 2
    if (length === 126) {
      if (at + 4 > bytes.length) break
      length = bytes.readUInt16BE(at + 2)
      header = 4
    } else if (length === 127) {
      if (at + 10 > bytes.length) break
      length = Number(bytes.readBigUInt64BE(at + 2))
      header = 10
    }
    if (at + header + length > bytes.length) break
    frames.push({ opcode, payload: bytes.subarray(at + header, at + header + length) })
    at += header + length
  }
  return frames
}

/** A masked client-to-server frame with FIN set (opcode 2: binary). */
export function maskedFrame (payload: Buffer, opcode = 2): Buffer {
  const mask = randomBytes(4)
  const length = payload.length
  const head = length < 126
    ? Buffer.from([0x80 | opcode, 0x80 | length])
    : length < 65536
      ? Buffer.from([0x80 | opcode, 0x80 | 126, length >> 8, length & 0xff])
      : Buffer.concat([Buffer.from([0x80 | opcode, 0x80 | 127]), (() => { const b = Buffer.alloc(8); b.writeBigUInt64BE(BigInt(length)); return b })()])
  const masked = Buffer.alloc(length)
  for (let i = 0; i < length; i++) masked[i] = payload[i]! ^ mask[i & 3]!
  return Buffer.concat([head, mask, masked])
}
