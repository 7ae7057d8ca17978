// Protobuf wire primitives (varints, tags, length-delimited fields), sized for what Kubernetes
// sends: int32/int64/bool varints, strings, bytes and nested messages. int64 values become JS
// numbers: exact up to 2^53, which covers every Kubernetes field in practice (generation,
// seconds, byte counts); beyond that they round like any JSON.parse would.

export class ProtobufError extends Error {}

export const WIRE_VARINT = 0
export const WIRE_FIXED64 = 1
export const WIRE_BYTES = 2
export const WIRE_FIXED32 = 5

const TWO_32 = 4294967296

export class Reader {
  pos: number
  constructor (readonly buf: Buffer, start = 0, readonly end = buf.length) { this.pos = start }

  done (): boolean { return this.pos >= this.end }

  /** An unsigned varint up to 2^53 (tags, lengths, non-negative values). */
  uvarint (): number {
    let result = 0
    let shift = 1
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint')
      const b = this.buf[this.pos++]!
      result += (b & 0x7f) * shift
      if (b < 0x80) return result
      shift *= 128
    }
    throw new ProtobufError('varint longer than 10 bytes')
  }

  /** A varint read as a signed 64-bit two's-complement number (int32 and int64 fields). */
  int64 (): number {
    const start = this.pos
    let lo = 0
    let hi = 0
    for (let i = 0; i < 10; i++) {
      if (this.pos >= this.end) throw new ProtobufError('truncated varint')
      const b = this.buf[this.pos++]!
      if (i < 4) lo |= (b & 0x7f) << (7 * i)
      else if (i === 4) { lo |= (b & 0x0f) << 28; hi |= (b & 0x7f) >> 4 } else hi |= (b & 0x7f) << (7 * i - 32)
      if (b < 0x80) {
        if (this.pos - start === 1) return b
        lo >>>= 0
        if (hi & 0x80000000) return -((~hi >>> 0) * TWO_32 + (~lo >>> 0) + 1)
        return (hi >>> 0) * TWO_32 + lo
      }
    }
    throw new ProtobufError('varint longer than 10 bytes')
  }

  /** The [start, end) of a length-delimited field's payload; the reader moves past it. */
  delimited (): [number, number] {
    const len = this.uvarint()
    const start = this.pos
    if (len > this.end - start) throw new ProtobufError('length-delimited field runs past its message')
    this.pos = start + len
    return [start, this.pos]
  }

  string (): string {
    const [s, e] = this.delimited()
    return this.buf.toString('utf8', s, e)
  }

  fixed64 (): number {
    if (this.end - this.pos < 8) throw new ProtobufError('truncated fixed64')
    const v = this.buf.readDoubleLE(this.pos)
    this.pos += 8
    return v
  }

  fixed32 (): number {
    if (this.end - this.pos < 4) throw new ProtobufError('truncated fixed32')
    const v = this.buf.readFloatLE(this.pos)
    this.pos += 4
    return v
  }

  skip (wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT: this.uvarint(); return
      case WIRE_FIXED64: this.fixed64(); return
      case WIRE_BYTES: this.delimited(); return
      case WIRE_FIXED32: this.fixed32(); return
      default: throw new ProtobufError(`unsupported wire type ${wireType}`)
    }
  }
}

/**
 * One growing buffer. A nested message is written in place after a 1-byte length placeholder
 * (begin/end); if it turns out 128 bytes or longer, end() moves it right to make room for the
 * longer varint. Each byte moves at most once per enclosing message of 128+ bytes (a native
 * memmove), and nothing is allocated per message.
 */
export class Writer {
  private buf: Buffer
  private pos = 0

  constructor (initial = 1024) { this.buf = Buffer.allocUnsafe(initial) }

  get length (): number { return this.pos }

  private room (n: number): void {
    if (this.buf.length - this.pos >= n) return
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n))
    this.buf.copy(next, 0, 0, this.pos)
    this.buf = next
  }

  uvarint (n: number): void {
    this.room(10)
    while (n >= 0x80) {
      this.buf[this.pos++] = (n % 128) | 0x80
      n = Math.floor(n / 128)
    }
    this.buf[this.pos++] = n
  }

  /** Go's encoding of an int32/int64 field: negative values as 10-byte two's complement. */
  int64 (n: number): void {
    if (n >= 0) { this.uvarint(n); return }
    let v = BigInt.asUintN(64, BigInt(Math.trunc(n)))
    this.room(10)
    while (v >= 0x80n) {
      this.buf[this.pos++] = Number(v & 0x7fn) | 0x80
      v >>= 7n
    }
    this.buf[this.pos++] = Number(v)
  }

  tag (field: number, wireType: number): void { this.uvarint(field * 8 + wireType) }

  bytes (data: Uint8Array): void {
    this.uvarint(data.length)
    this.room(data.length)
    this.buf.set(data, this.pos)
    this.pos += data.length
  }

  string (s: string): void {
    if (s.length <= 42) {
      // at most 126 UTF-8 bytes: a 1-byte length, written after encoding
      this.room(127)
      const n = this.buf.write(s, this.pos + 1, 'utf8')
      this.buf[this.pos] = n
      this.pos += n + 1
      return
    }
    const n = Buffer.byteLength(s, 'utf8')
    this.uvarint(n)
    this.room(n)
    this.pos += this.buf.write(s, this.pos, 'utf8')
  }

  double (v: number): void { this.room(8); this.buf.writeDoubleLE(v, this.pos); this.pos += 8 }
  float (v: number): void { this.room(4); this.buf.writeFloatLE(v, this.pos); this.pos += 4 }

  /** Starts a length-delimited payload; pass the result to end() once the payload is written. */
  begin (): number {
    this.room(1)
    return this.pos++
  }

  end (mark: number): void {
    const len = this.pos - mark - 1
    if (len < 128) { this.buf[mark] = len; return }
    let size = 1
    for (let n = len; n >= 128; n = Math.floor(n / 128)) size++
    this.room(size - 1)
    this.buf.copyWithin(mark + size, mark + 1, this.pos)
    this.pos += size - 1
    let p = mark
    let n = len
    while (n >= 128) { this.buf[p++] = (n % 128) | 0x80; n = Math.floor(n / 128) }
    this.buf[p] = n
  }

  /** A copy of the bytes written, sized to fit (callers may keep it long, e.g. in a cache). */
  finish (): Buffer { return Buffer.from(this.buf.subarray(0, this.pos)) }
}
