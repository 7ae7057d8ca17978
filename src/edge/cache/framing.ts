// How the tee reads the bodies it follows, apart from what it stores: whole bodies collected under
// a per-body and a global byte bound (then gunzipped when the answer was), and watch bodies as
// events (NDJSON, or length-delimited protobuf frames), each bounded. Protobuf is decoded into the
// JSON kube-apiserver would have served, so the cache keeps one truth per object whatever the
// client asked for. Anything it cannot read exactly makes it give up on that body, never on the
// client's stream, which it only listens to.
import type { Readable } from 'node:stream'
import { createGunzip, gunzip } from 'node:zlib'
import { decodeObject, decodeWatchEvent, PROTOBUF_MEDIA_TYPE } from '../../kube/protobuf/codec.js'
import { FrameSplitter } from '../../util/frames.js'
import { LineSplitter } from '../../util/lines.js'

/** The encodings the cache reads. */
export type BodyEncoding = 'json' | 'protobuf'

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
 * Reads a watch body: `onEvent` for each event (as JSON), in order. An event over `maxEventBytes`
 * or one that does not decode stops the reading (`onStop` says why): what follows could not be
 * trusted to be the next event. `gzipped`: the body is gzip (Content-Encoding), read gunzipped.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON; the caller checks each field it reads
export function readWatchEvents (body: Readable, encoding: BodyEncoding, maxEventBytes: number, onEvent: (event: any) => void, onStop: (why: string) => void,
  gzipped = false): void {
  if (gzipped) {
    // kube-apiserver 1.37 gzips WatchList streams for clients that accept it, flushing per event.
    // Fed by hand rather than piped: the tee must never pause the stream the client is reading.
    const plain = createGunzip() // no total bound: a watch is long; each event is bounded below
    const feed = (chunk: Buffer): void => { plain.write(chunk) }
    const end = (): void => { plain.end() }
    const stop = (why: string): void => {
      body.off('data', feed)
      body.off('end', end)
      plain.destroy()
      onStop(why)
    }
    body.on('data', feed)
    body.once('end', end)
    plain.once('error', (err) => stop(`undecodable gzip: ${err.message}`))
    readWatchEvents(plain, encoding, maxEventBytes, onEvent, stop)
    return
  }
  const split = encoding === 'json' ? jsonEvents(maxEventBytes) : protobufEvents(maxEventBytes)
  const stop = (why: string): void => {
    body.off('data', onData)
    onStop(why)
  }
  const onData = (chunk: Buffer): void => {
    let events: unknown[]
    try { events = split(chunk) } catch (err) { stop(err instanceof UnreadableEvent ? err.message : 'event larger than the cache body limit'); return }
    for (const event of events) onEvent(event)
  }
  body.on('data', onData)
}

class UnreadableEvent extends Error {}

function jsonEvents (maxEventBytes: number): (chunk: Buffer) => unknown[] {
  const lines = new LineSplitter(maxEventBytes)
  return (chunk) => lines.push(chunk).filter((line) => line.trim() !== '').map((line) => {
    try { return JSON.parse(line) } catch { throw new UnreadableEvent('unparsable event') }
  })
}

function protobufEvents (maxEventBytes: number): (chunk: Buffer) => unknown[] {
  const frames = new FrameSplitter(maxEventBytes)
  return (chunk) => frames.push(chunk).map((frame) => {
    const decoded = decodeWatchEvent(frame)
    if (!decoded.ok) throw new UnreadableEvent(`undecodable protobuf event: ${decoded.message}`)
    return decoded.event
  })
}

/**
 * A whole answer body as kube-apiserver's JSON: `text` is the body itself when it was JSON (stored
 * as it came, never re-encoded), else the decoded object's JSON. undefined: it does not decode.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed JSON; the caller checks each field it reads
export function parseBody (bytes: Buffer, encoding: BodyEncoding): { object: any, text: string } | undefined {
  if (encoding === 'json') {
    const text = bytes.toString('utf8')
    try { return { object: JSON.parse(text), text: text.trimEnd() } } catch { return undefined }
  }
  const decoded = decodeObject(bytes)
  return decoded.ok ? { object: decoded.object, text: JSON.stringify(decoded.object) } : undefined
}

/**
 * The encoding of an answer the cache reads, from its Content-Type: plain JSON (charset allowed)
 * or Kubernetes protobuf (a watch's `stream=watch` allowed); undefined for anything else.
 */
export function answerEncoding (contentType: string): BodyEncoding | undefined {
  const [media, ...params] = contentType.split(';').map((s) => s.trim().toLowerCase())
  if (media === 'application/json' && params.every((p) => p.startsWith('charset='))) return 'json'
  // Protobuf has no Table form; the as/g/v of a PartialObjectMetadata answer are allowed (the
  // tee reads the kind from the objects themselves).
  if (media === PROTOBUF_MEDIA_TYPE && params.every((p) => p === 'stream=watch' || /^(as=partialobjectmetadata(list)?|g=meta\.k8s\.io|v=v1(beta1)?)$/.test(p))) return 'protobuf'
  return undefined
}
