// Just enough ASN.1 DER to build and read PKCS#10 requests and X.509 certificates: Node's crypto
// signs and verifies but cannot build either, and a PKI dependency would be the largest one we
// ship. Encoders return complete TLVs; the reader hands out bounded views, never copies.

export type Der = Buffer

function length (n: number): Buffer {
  if (n < 0x80) return Buffer.from([n])
  const bytes: number[] = []
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff)
  return Buffer.from([0x80 | bytes.length, ...bytes])
}

export function tlv (tag: number, content: Buffer): Der {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content])
}

export const seq = (...parts: Der[]): Der => tlv(0x30, Buffer.concat(parts))
export const set = (...parts: Der[]): Der => tlv(0x31, Buffer.concat(parts))
export const nul = (): Der => Buffer.from([0x05, 0x00])
export const bool = (v: boolean): Der => Buffer.from([0x01, 0x01, v ? 0xff : 0x00])
export const utf8 = (s: string): Der => tlv(0x0c, Buffer.from(s, 'utf8'))
export const octets = (b: Buffer): Der => tlv(0x04, b)
/** A BIT STRING of whole bytes (no unused bits): signatures and public keys. */
export const bits = (b: Buffer): Der => tlv(0x03, Buffer.concat([Buffer.from([0]), b]))
/** [n] EXPLICIT: wraps a complete TLV. */
export const explicit = (n: number, inner: Der): Der => tlv(0xa0 | n, inner)
/** [n] IMPLICIT of a primitive type: the content with the context tag. */
export const implicit = (n: number, content: Buffer): Der => tlv(0x80 | n, content)

/** A non-negative INTEGER from its big-endian magnitude (a leading zero is added when the top bit is set). */
export function uint (magnitude: Buffer): Der {
  let start = 0
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++
  const trimmed = magnitude.subarray(start)
  return tlv(0x02, trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed)
}

export const smallInt = (n: number): Der => uint(Buffer.from([n]))

export function oid (dotted: string): Der {
  const parts = dotted.split('.').map(Number)
  const out = [parts[0]! * 40 + parts[1]!]
  for (const p of parts.slice(2)) {
    const chunk = [p & 0x7f]
    for (let v = Math.floor(p / 128); v > 0; v = Math.floor(v / 128)) chunk.unshift(0x80 | (v & 0x7f))
    out.push(...chunk)
  }
  return tlv(0x06, Buffer.from(out))
}

/** RFC 5280 4.1.2.5: UTCTime through 2049, GeneralizedTime after; always seconds and Z. */
export function time (d: Date): Der {
  const iso = d.toISOString() // YYYY-MM-DDTHH:MM:SS.sssZ
  const digits = iso.slice(0, 19).replace(/[-T:]/g, '') + 'Z'
  return d.getUTCFullYear() < 2050 ? tlv(0x17, Buffer.from(digits.slice(2), 'ascii')) : tlv(0x18, Buffer.from(digits, 'ascii'))
}

/** One decoded TLV: its tag, the whole encoding and the content, both views of the input. */
export interface Node {
  tag: number
  raw: Buffer
  content: Buffer
}

export class DerError extends Error {}

/** Reads the TLV at the start of `buf` (bounded by buf: a length past its end is an error). */
export function read (buf: Buffer): Node {
  if (buf.length < 2) throw new DerError('truncated DER')
  const tag = buf[0]!
  if ((tag & 0x1f) === 0x1f) throw new DerError('multi-byte tags are not used here')
  let len = buf[1]!
  let header = 2
  if (len & 0x80) {
    const n = len & 0x7f
    if (n === 0 || n > 4 || buf.length < 2 + n) throw new DerError('bad DER length')
    len = 0
    for (let i = 0; i < n; i++) len = len * 256 + buf[2 + i]!
    header += n
  }
  if (header + len > buf.length) throw new DerError('DER length past the end of the input')
  return { tag, raw: buf.subarray(0, header + len), content: buf.subarray(header, header + len) }
}

/** The TLVs inside a constructed node, in order. */
export function children (node: Node): Node[] {
  const out: Node[] = []
  for (let rest = node.content; rest.length > 0;) {
    const child = read(rest)
    out.push(child)
    rest = rest.subarray(child.raw.length)
  }
  return out
}

/** A child that must be there, with the expected tag. */
export function expect (node: Node | undefined, tag: number, what: string): Node {
  if (node === undefined || node.tag !== tag) throw new DerError(`${what}: expected tag 0x${tag.toString(16)}`)
  return node
}

export function decodeOid (node: Node): string {
  const b = expect(node, 0x06, 'OBJECT IDENTIFIER').content
  if (b.length === 0) throw new DerError('empty OBJECT IDENTIFIER')
  const parts = [Math.floor(b[0]! / 40), b[0]! % 40]
  let v = 0
  for (const byte of b.subarray(1)) {
    v = v * 128 + (byte & 0x7f)
    if (!(byte & 0x80)) { parts.push(v); v = 0 }
  }
  return parts.join('.')
}

/** The bytes of a BIT STRING with no unused bits (signatures). */
export function decodeBits (node: Node): Buffer {
  const b = expect(node, 0x03, 'BIT STRING').content
  if (b[0] !== 0) throw new DerError('BIT STRING with unused bits')
  return b.subarray(1)
}
