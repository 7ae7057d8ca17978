// Length-delimited streams: kube-apiserver's protobuf watch bodies are a sequence of frames, each a
// 4-byte big-endian length and that many bytes (apimachinery's LengthDelimitedFramer), cut into
// arbitrary chunks by the transport. A frame whose announced length exceeds the bound is an error
// as soon as the length is read, so a peer cannot make the reader buffer without limit.

export class FrameTooLongError extends Error {
  override readonly name = 'FrameTooLongError'
  constructor (readonly maxFrameBytes: number, readonly announced: number) {
    super(`frame of ${announced} bytes, longer than ${maxFrameBytes}`)
  }
}

export class FrameSplitter {
  private readonly partial: Buffer[] = []
  private partialBytes = 0

  constructor (private readonly maxFrameBytes: number) {}

  /**
   * The frames this chunk completes, without their length prefix. Throws FrameTooLongError when a
   * frame announces more than the bound; the splitter is then spent and the caller should stop.
   */
  push (chunk: Buffer): Buffer[] {
    if (chunk.length > 0) { this.partial.push(chunk); this.partialBytes += chunk.length }
    const frames: Buffer[] = []
    for (;;) {
      if (this.partialBytes < 4) break
      const head = this.peek(4)
      const length = head.readUInt32BE(0)
      if (length > this.maxFrameBytes) {
        this.partial.length = 0
        this.partialBytes = 0
        throw new FrameTooLongError(this.maxFrameBytes, length)
      }
      if (this.partialBytes < 4 + length) break
      const all = Buffer.concat(this.partial, this.partialBytes)
      frames.push(all.subarray(4, 4 + length))
      const rest = all.subarray(4 + length)
      this.partial.length = 0
      this.partialBytes = rest.length
      if (rest.length > 0) this.partial.push(rest)
    }
    return frames
  }

  /** Bytes of an unfinished frame (a stream that ends here was cut mid-frame when > 0). */
  get pendingBytes (): number { return this.partialBytes }

  private peek (n: number): Buffer {
    const first = this.partial[0]!
    return first.length >= n ? first : Buffer.concat(this.partial, this.partialBytes).subarray(0, n)
  }
}

/** One frame as kube-apiserver writes it on a protobuf watch stream. */
export function frame (payload: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(payload.length, 0)
  return Buffer.concat([head, payload])
}
