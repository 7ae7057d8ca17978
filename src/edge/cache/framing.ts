// How the tee reads the bodies it follows, apart from what it stores: whole bodies collected under
// a per-body and a global byte bound (then gunzipped when the answer was), and watch bodies as
// NDJSON events, each bounded. Anything it cannot read exactly makes it give up on that body,
// never on the client's stream, which it only listens to.
import type { Readable } from 'node:stream'
import { gunzip } from 'node:zlib'
import { LineSplitter } from '../../util/lines.js'

export interface BodyBounds {
  /** Largest body (after gunzip too) and largest single watch event read. */
  maxBodyBytes: number
  /** Bytes held by all bodies being collected at once; past it, further bodies are not read. */
  maxCollectingBytes: number
}

/** Collects whole bodies, all of them together under one byte bound. */
export class BodyCollector {
  private collecting = 0

  constructor (private readonly bounds: BodyBounds) {}

  /**
   * Calls `done` with the whole (gunzipped) body on a later turn of the event loop; never when the
   * body is over a bound, ends cut off, or does not gunzip.
   */
  collect (body: Readable, gzipped: boolean, done: (bytes: Buffer) => void): void {
    const chunks: Buffer[] = []
    let size = 0
    const release = (): void => { this.collecting -= size; size = 0; chunks.length = 0 }
    const onData = (chunk: Buffer): void => {
      size += chunk.length
      this.collecting += chunk.length
      if (size > this.bounds.maxBodyBytes || this.collecting > this.bounds.maxCollectingBytes) {
        body.off('data', onData)
        body.off('end', onEnd)
        body.off('close', release)
        release()
        return
      }
      chunks.push(chunk)
    }
    const onEnd = (): void => {
      body.off('close', release)
      const bytes = Buffer.concat(chunks)
      release()
      if (!gzipped) { setImmediate(() => done(bytes)); return }
      gunzip(bytes, { maxOutputLength: this.bounds.maxBodyBytes }, (err, plain) => { if (err === null) done(plain) })
    }
    body.on('data', onData)
    body.once('end', onEnd)
    body.once('close', release) // ended without 'end' (cut off): nothing to store
  }
}

/**
 * Reads a watch body as NDJSON: `onEvent` for each parsed line (blank lines skipped), in order.
 * An event over `maxEventBytes` or a line that is not JSON stops the reading (`onStop` says why):
 * what follows could not be trusted to be the next event.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON; the caller checks each field it reads
export function readWatchEvents (body: Readable, maxEventBytes: number, onEvent: (event: any) => void, onStop: (why: string) => void): void {
  const lines = new LineSplitter(maxEventBytes)
  const stop = (why: string): void => {
    body.off('data', onData)
    onStop(why)
  }
  const onData = (chunk: Buffer): void => {
    let complete: string[]
    try { complete = lines.push(chunk) } catch { stop('event larger than the cache body limit'); return }
    for (const line of complete) {
      if (line.trim() === '') continue
      let event: unknown
      try { event = JSON.parse(line) } catch { stop('unparsable event'); return }
      onEvent(event)
    }
  }
  body.on('data', onData)
}

/** Plain JSON (charset allowed): the only representation the cache decodes. */
export function isPlainJson (contentType: string): boolean {
  const [media, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase())
  return media === 'application/json' && params.every((p) => p.startsWith('charset='))
}
