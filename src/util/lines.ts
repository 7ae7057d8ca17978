// Newline-delimited streams (watch events, control messages) arrive in arbitrary chunks. Lines are
// split on the byte '\n' and decoded only once whole: in UTF-8 that byte never occurs inside a
// multi-byte character, so a character cut between two chunks comes out intact (decoding each
// chunk on its own would turn both halves into U+FFFD). A line longer than the bound is an error,
// whether or not its end has arrived, so a peer cannot make the reader buffer without limit.

export class LineTooLongError extends Error {
  override readonly name = 'LineTooLongError'
  constructor (readonly maxLineBytes: number) {
    super(`line longer than ${maxLineBytes} bytes`)
  }
}

export class LineSplitter {
  private readonly partial: Buffer[] = []
  private partialBytes = 0

  constructor (private readonly maxLineBytes: number) {}

  /**
   * The lines this chunk completes, without their '\n' (a '\r' before it is kept: NDJSON and JSON
   * ignore it). Throws LineTooLongError when a line, complete or not, exceeds the bound; the
   * splitter is then spent and the caller should stop reading.
   */
  push (chunk: Buffer): string[] {
    const lines: string[] = []
    let start = 0
    for (let nl = chunk.indexOf(0x0a); nl !== -1; nl = chunk.indexOf(0x0a, start)) {
      this.take(chunk.subarray(start, nl))
      lines.push(Buffer.concat(this.partial.splice(0), this.partialBytes).toString('utf8'))
      this.partialBytes = 0
      start = nl + 1
    }
    if (start < chunk.length) this.take(chunk.subarray(start))
    return lines
  }

  /** Bytes of the unfinished last line (a stream that ends here was cut mid-line when > 0). */
  get pendingBytes (): number { return this.partialBytes }

  private take (piece: Buffer): void {
    this.partialBytes += piece.length
    if (this.partialBytes > this.maxLineBytes) {
      this.partial.length = 0
      throw new LineTooLongError(this.maxLineBytes)
    }
    if (piece.length > 0) this.partial.push(piece)
  }
}
