// Compression of response bodies on the tunnel (issue 15: an edge's uplink is thin and metered).
// Per stream and negotiated: the edge names in a tunnel-internal request header the codings it
// decodes; the shim picks one for the answer and says which in a tunnel-internal response header.
// Both headers are x-ems-*: neither end ever passes them on (endToEndHeaders drops them), so the
// pod gets kube-apiserver's answer byte for byte and kube-apiserver never sees the offer.
//
// Long-running answers (watches, logs -f) are flushed after every chunk kube-apiserver sent — one
// watch event — so an event crosses as soon as it came, not when a compression block fills.
// Answers kube-apiserver already compressed (the pod asked for gzip) cross as they are.
import type { Transform } from 'node:stream'
import zlib from 'node:zlib'

/** Edge → shim: the codings the edge decodes, in its order of preference ("zstd, gzip"). */
export const HEADER_ACCEPT_CODING = 'x-ems-accept-coding'
/** Shim → edge: the coding of this answer's body on the tunnel. */
export const HEADER_CODING = 'x-ems-coding'
/** Shim → edge: kube-apiserver's Content-Length, which the compressed body no longer has. */
export const HEADER_DECODED_LENGTH = 'x-ems-decoded-length'

export type Coding = 'zstd' | 'gzip'
/** The config value on either side: `auto` = every coding this runtime has; `none` = off. */
export type CompressionSetting = 'auto' | Coding | 'none'
export const COMPRESSION_SETTINGS: readonly CompressionSetting[] = ['auto', 'zstd', 'gzip', 'none']

const C = zlib.constants
/**
 * zstd in node:zlib: Node ≥ 22.15 and ≥ 23.8 (engines also allow 22.12–22.14, which fall back to
 * gzip). Typed here because @types/node is kept at the oldest supported runtime's API.
 */
interface ZstdOptions { params?: Record<number, number>, chunkSize?: number, flush?: number }
const zstd = zlib as unknown as {
  createZstdCompress?: (opts: ZstdOptions) => Transform
  createZstdDecompress?: (opts: ZstdOptions) => Transform
  constants: Record<'ZSTD_c_compressionLevel' | 'ZSTD_c_windowLog' | 'ZSTD_c_hashLog' | 'ZSTD_c_chainLog' | 'ZSTD_e_flush' | 'ZSTD_d_windowLogMax', number>
}
const Z = zstd.constants
const HAS_ZSTD = typeof zstd.createZstdCompress === 'function'

/**
 * Answers this small gain nothing worth a stream's compression context (a Status, one small
 * object): the frame overhead eats most of what they would save.
 */
export const MIN_COMPRESSED_BYTES = 512

// Compression contexts live as long as their stream, and the shim holds one per relayed watch of
// every edge: they are kept small (measured: ~80 KiB per zstd stream with these, 820 KiB at zstd's
// level-3 defaults; ~110 KiB per gzip stream, 230 KiB at zlib's defaults). On watch events and
// lists of Kubernetes objects these lose under 3 % of the ratio (bench/tunnel-compression.ts).
const ZSTD_PARAMS = HAS_ZSTD
  ? { [Z.ZSTD_c_compressionLevel]: 1, [Z.ZSTD_c_windowLog]: 16, [Z.ZSTD_c_hashLog]: 13, [Z.ZSTD_c_chainLog]: 12 }
  : {}
/** The largest window the edge decodes (2^16 is what the shim sends; a frame asking for more is refused). */
const ZSTD_WINDOW_LOG_MAX = 16
const GZIP_OPTIONS = { level: 6, windowBits: 12, memLevel: 5 }
// Output chunks of 16 KiB (Node's default), allocated per stream while it writes.
const CHUNK_BYTES = 16 * 1024

/** The codings this side may use, from its config setting and what the runtime has. */
export function enabledCodings (setting: CompressionSetting): Coding[] {
  if (setting === 'none') return []
  if (setting === 'gzip') return ['gzip']
  if (setting === 'zstd') return HAS_ZSTD ? ['zstd'] : []
  return HAS_ZSTD ? ['zstd', 'gzip'] : ['gzip']
}

/** The value of HEADER_ACCEPT_CODING the edge sends; undefined when it decodes nothing. */
export function acceptCodingHeader (codings: readonly Coding[]): string | undefined {
  return codings.length === 0 ? undefined : codings.join(', ')
}

/**
 * The coding the shim answers with, if any: the first one the edge offers that the shim has, for
 * a body that has not been compressed already and is not too small to pay.
 */
export function chooseCoding (enabled: readonly Coding[], offered: string | string[] | undefined, method: string, status: number,
  headers: Record<string, string | string[] | undefined>): Coding | undefined {
  if (enabled.length === 0 || typeof offered !== 'string') return undefined
  // No body (HEAD, 204, 304), or one the pod asked kube-apiserver to compress itself.
  if (method === 'HEAD' || status === 204 || status === 304 || status < 200) return undefined
  if (headers['content-encoding'] !== undefined) return undefined
  const length = headers['content-length']
  if (length !== undefined && Number(length) < MIN_COMPRESSED_BYTES) return undefined
  for (const name of offered.split(',')) {
    const coding = name.trim() as Coding
    if (enabled.includes(coding)) return coding
  }
  return undefined
}

/**
 * The shim's response headers for an answer it sends in `coding`: kube-apiserver's Content-Length
 * travels aside (the tunnel stream's own length is the compressed one, and HTTP/2 checks it).
 */
export function encodedHeaders (headers: Record<string, string | string[]>, coding: Coding): Record<string, string | string[]> {
  const { 'content-length': length, ...rest } = headers
  return { ...rest, [HEADER_CODING]: coding, ...(length === undefined ? {} : { [HEADER_DECODED_LENGTH]: length }) }
}

/** kube-apiserver's Content-Length of a compressed answer, when it had one (undefined if malformed). */
export function decodedLength (headers: Record<string, string | string[] | undefined>): number | undefined {
  const value = headers[HEADER_DECODED_LENGTH]
  if (typeof value !== 'string' || !/^[0-9]{1,15}$/.test(value)) return undefined
  return Number(value)
}

/** The coding the shim announced for an answer, if the edge offered it (anything else is a broken shim). */
export function announcedCoding (offered: readonly Coding[], value: string | string[] | undefined): Coding | undefined | 'unknown' {
  if (value === undefined) return undefined
  return offered.includes(value as Coding) ? value as Coding : 'unknown'
}

/**
 * A compressing stream. `flushEachChunk`: every chunk written comes out at once (a watch event
 * must not wait for the next one); otherwise output comes as compression blocks fill.
 */
export function encoder (coding: Coding, flushEachChunk: boolean): Transform {
  if (coding === 'zstd') {
    return zstd.createZstdCompress!({ params: ZSTD_PARAMS, chunkSize: CHUNK_BYTES, ...(flushEachChunk ? { flush: Z.ZSTD_e_flush } : {}) })
  }
  return zlib.createGzip({ ...GZIP_OPTIONS, chunkSize: CHUNK_BYTES, ...(flushEachChunk ? { flush: C.Z_SYNC_FLUSH } : {}) })
}

/**
 * A long-running answer, compressed with each chunk flushed — by a compressor created at the first
 * chunk: most watches stay idle for long, and an idle one then holds no compression context (the
 * shim holds one watch per edge per informer; a context is ~80 KiB). For `pipeline()`.
 */
export function flushedLazily (coding: Coding): (source: AsyncIterable<Buffer>) => AsyncGenerator<Buffer> {
  return async function * (source) {
    let enc: Transform | undefined
    const out: Buffer[] = []
    const written = (chunk?: Buffer): Promise<void> => new Promise((resolve, reject) => {
      if (chunk === undefined) { enc!.once('end', resolve).end(); return }
      enc!.write(chunk, (err) => { if (err) reject(err); else resolve() })
    })
    try {
      for await (const chunk of source) {
        if (enc === undefined) {
          enc = encoder(coding, true)
          enc.on('data', (c: Buffer) => out.push(c))
        }
        // Flushed: the chunk's whole output has come out when its write completes.
        await written(chunk)
        yield * out.splice(0)
      }
      if (enc === undefined) enc = encoder(coding, true).on('data', (c: Buffer) => out.push(c))
      await written()
      yield * out.splice(0)
    } finally {
      enc?.destroy()
    }
  }
}

/**
 * A decompressing stream. Memory stays bounded whatever the input (zlib stops inflating while its
 * reader does not read, and a zstd frame asking for a window over 2^16 is an error); besides,
 * `maxBytes` (when the decoded length is known) makes any output past it an error: a broken or
 * hostile shim cannot make the edge send the pod more than the answer it announced.
 */
export function decoder (coding: Coding, maxBytes?: number): Transform {
  const inflate = coding === 'zstd'
    ? zstd.createZstdDecompress!({ params: { [Z.ZSTD_d_windowLogMax]: ZSTD_WINDOW_LOG_MAX }, chunkSize: CHUNK_BYTES })
    : zlib.createGunzip({ chunkSize: CHUNK_BYTES })
  if (maxBytes === undefined) return inflate
  return boundOutput(inflate, maxBytes)
}

/** Makes `inflate` fail once it has produced more than `maxBytes`. */
function boundOutput (inflate: Transform, maxBytes: number): Transform {
  let produced = 0
  const push = inflate.push.bind(inflate)
  // zlib hands every output chunk to push(): counting there costs no extra stream per answer.
  inflate.push = (chunk: Buffer | null, encoding?: BufferEncoding): boolean => {
    if (chunk !== null) {
      produced += chunk.length
      if (produced > maxBytes) {
        inflate.destroy(new DecodedTooLargeError(maxBytes))
        return false
      }
    }
    return push(chunk, encoding)
  }
  return inflate
}

export class DecodedTooLargeError extends Error {
  constructor (maxBytes: number) {
    super(`the tunnel answer decodes to more than the ${maxBytes} bytes announced`)
  }
}
