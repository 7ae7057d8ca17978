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
    // Until a frame is complete only its 4-byte head is read, so a long frame arriving in many
    // chunks is not copied again on each one.
    if (this.partialBytes < 4 || this.partialBytes < 4 + this.announced(this.peek(4), 0)) return []
    // Then the pending bytes are made contiguous once and every complete frame cut out of them:
    // copying the remainder after each frame made a chunk holding n frames cost O(n × chunk).
    const all = this.partial.length === 1 ? this.partial[0]! : Buffer.concat(this.partial, this.partialBytes)
    const frames: Buffer[] = []
    let at = 0
    while (all.length - at >= 4) {
      const length = this.announced(all, at)
      if (all.length - at < 4 + length) break
      frames.push(all.subarray(at + 4, at + 4 + length))
      at += 4 + length
    }
    const rest = all.subarray(at)
    this.partial.length = 0
    this.partialBytes = rest.length
    if (rest.length > 0) this.partial.push(rest)
    return frames
  }

  /** Bytes of an unfinished frame (a stream that ends here was cut mid-frame when > 0). */
  get pendingBytes (): number { return this.partialBytes }

  /** The length a frame head at `at` announces; over the bound, the splitter is spent and it throws. */
  private announced (buf: Buffer, at: number): number {
    const length = buf.readUInt32BE(at)
    if (length > this.maxFrameBytes) {
      this.partial.length = 0
      this.partialBytes = 0
      throw new FrameTooLongError(this.maxFrameBytes, length)
    }
    return length
  }

  private peek (n: number): Buffer {
    const first = this.partial[0]!
    // Chunks are never empty, so the first n of them hold the first n bytes.
    return first.length >= n ? first : Buffer.concat(this.partial.slice(0, n)).subarray(0, n)
  }
}

/** One frame as kube-apiserver writes it on a protobuf watch stream. */
export function frame (payload: Buffer): Buffer {
  const head = Buffer.alloc(4)
  head.writeUInt32BE(payload.length, 0)
  return Buffer.concat([head, payload])
}
