// The bench's load generator. `measure` runs one operation `count` times over `concurrency`
// keep-alive connections and reports latency percentiles and throughput; the operations are a plain
// request, a LIST read chunk by chunk (limit/continue until the end) and a WatchList sync (until the
// initial-events-end BOOKMARK). Every answer's status and content type are checked; the warm-up
// answers are also decoded in full (JSON, or protobuf through src/kube/protobuf) and must be
// non-empty lists or streams of the expected kind — decoding every measured answer would add the
// load generator's own CPU to the figures on a machine where it shares the cores.
import { Pool } from 'undici'
import { cpuPerRequest, cpuSnapshot, type Measured } from './cpu.js'
import { decodeObject, decodeWatchEvent, PROTOBUF_MEDIA_TYPE, type JsonObject } from '../src/kube/protobuf/codec.js'
import { FrameSplitter } from '../src/util/frames.js'
import { LineSplitter } from '../src/util/lines.js'

/** Latency percentiles (ms), throughput, and with `procs` each process's CPU ms per request. */
export interface Sample { p50: number, p99: number, rps: number, cpu?: Record<string, number> }
export interface Target { origin: string, token: string, ca: string }
/** One operation on `pool`; resolves once the answer is read (and, with `full`, decoded and checked). */
export type Op = (pool: Pool, token: string, full: boolean) => Promise<void>
export type Encoding = 'json' | 'protobuf'

const MEDIA: Record<Encoding, string> = { json: 'application/json', protobuf: PROTOBUF_MEDIA_TYPE }
const MAX_EVENT_BYTES = 16 * 1024 * 1024

/**
 * `count` operations on `concurrency` connections after a warm-up (connections, TLS sessions, token
 * caches); the CPU of `procs` is sampled around the measured part only.
 */
export async function measure (target: Target, concurrency: number, count: number, op: Op,
  warmup = Math.max(50, concurrency * 4), procs: Measured[] = []): Promise<Sample> {
  const pool = new Pool(target.origin, { connections: concurrency, connect: { ca: target.ca } })
  const run = async (n: number, full: boolean): Promise<number[]> => {
    const latencies: number[] = []
    let next = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next++ < n) {
        const started = process.hrtime.bigint()
        await op(pool, target.token, full)
        latencies.push(Number(process.hrtime.bigint() - started) / 1e6)
      }
    }))
    return latencies
  }
  try {
    await run(warmup, true)
    const cpuBefore = cpuSnapshot(procs)
    const started = process.hrtime.bigint()
    const latencies = (await run(count, false)).sort((a, b) => a - b)
    const seconds = Number(process.hrtime.bigint() - started) / 1e9
    const cpu = procs.length === 0 ? undefined : cpuPerRequest(cpuBefore, cpuSnapshot(procs), latencies.length)
    const pick = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]!
    return { p50: pick(0.5), p99: pick(0.99), rps: latencies.length / seconds, ...(cpu === undefined ? {} : { cpu }) }
  } finally {
    await pool.close()
  }
}

/** A GET (or a POST of `write.body`) answered `write.expect` (200 for GETs); with `listKind`, a non-empty list of that kind. */
export function request (path: string, opts: { encoding?: Encoding, listKind?: string, write?: { body: string, expect: number } } = {}): Op {
  const { encoding = 'json', listKind, write } = opts
  return async (pool, token, full) => {
    const headers = { authorization: `Bearer ${token}`, accept: MEDIA[encoding], ...(write === undefined ? {} : { 'content-type': 'application/json' }) }
    const res = await pool.request({ path, method: write === undefined ? 'GET' : 'POST', headers, ...(write === undefined ? {} : { body: write.body }) })
    const body = Buffer.from(await res.body.arrayBuffer())
    if (res.statusCode !== (write?.expect ?? 200)) throw new Error(`${path}: HTTP ${res.statusCode}`)
    if (listKind !== undefined) checkContentType(path, res.headers['content-type'], encoding)
    if (full && listKind !== undefined) decodeList(path, body, encoding, listKind)
  }
}

/** A LIST read `limit` items at a time, following `continue` to the end (every chunk is decoded: the token is in it). */
export function chunkedList (path: string, limit: number, encoding: Encoding, listKind: string): Op {
  return async (pool, token) => {
    let next = ''
    let chunks = 0
    do {
      const chunkPath = `${path}?limit=${limit}${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`
      const res = await pool.request({ path: chunkPath, method: 'GET', headers: { authorization: `Bearer ${token}`, accept: MEDIA[encoding] } })
      const body = Buffer.from(await res.body.arrayBuffer())
      if (res.statusCode !== 200) throw new Error(`${chunkPath}: HTTP ${res.statusCode}`)
      checkContentType(chunkPath, res.headers['content-type'], encoding)
      const list = decodeList(chunkPath, body, encoding, listKind)
      next = String((list.metadata as JsonObject | undefined)?.continue ?? '')
      if (++chunks > 10_000) throw new Error(`${path}: more than 10 000 chunks`)
    } while (next !== '')
  }
}

/**
 * A WatchList (`sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`)
 * read until the BOOKMARK annotated `k8s.io/initial-events-end`, then closed; at least `minAdded`
 * ADDED events must precede it. Only each event's type is read (the apiserver and the edge both
 * put it first); with `full`, every event is decoded.
 */
export function watchList (collection: string, encoding: Encoding, minAdded: number): Op {
  const path = `${collection}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`
  return async (pool, token, full) => {
    const abort = new AbortController()
    const res = await pool.request({ path, method: 'GET', headers: { authorization: `Bearer ${token}`, accept: MEDIA[encoding] }, signal: abort.signal })
    try {
      if (res.statusCode !== 200) throw new Error(`${path} (${encoding}): HTTP ${res.statusCode}`)
      checkContentType(path, res.headers['content-type'], encoding)
      const split = encoding === 'json' ? jsonEvents(full) : protobufEvents(full)
      let added = 0
      for await (const chunk of res.body) {
        for (const event of split(chunk as Buffer)) {
          if (event.type === 'ADDED') added++
          else if (event.type === 'BOOKMARK' && isInitialEventsEnd(event.object())) {
            if (added < minAdded) throw new Error(`${path} (${encoding}): ${added} ADDED events before the initial-events-end bookmark, expected ≥ ${minAdded}`)
            return
          } else if (event.type !== 'BOOKMARK') throw new Error(`${path} (${encoding}): unexpected ${event.type} event before the initial-events-end bookmark`)
        }
      }
      throw new Error(`${path} (${encoding}): the stream ended without the initial-events-end bookmark (${added} ADDED)`)
    } finally {
      abort.abort()
      res.body.on('error', () => {}) // the abort's own error, after the answer was complete
    }
  }
}

interface StreamEvent { type: string, object: () => JsonObject }

function jsonEvents (full: boolean): (chunk: Buffer) => StreamEvent[] {
  const lines = new LineSplitter(MAX_EVENT_BYTES)
  return (chunk) => lines.push(chunk).filter((line) => line.trim() !== '').map((line) => {
    const head = /^\{"type":"(\w+)"/.exec(line)
    const parse = (): JsonObject => {
      const event = JSON.parse(line) as JsonObject
      if (typeof event.type !== 'string' || typeof event.object !== 'object') throw new Error(`not a watch event: ${line.slice(0, 100)}`)
      return event
    }
    if (head === null || full) { const event = parse(); return { type: event.type as string, object: () => event.object as JsonObject } }
    return { type: head[1]!, object: () => parse().object as JsonObject }
  })
}

function protobufEvents (full: boolean): (chunk: Buffer) => StreamEvent[] {
  const frames = new FrameSplitter(MAX_EVENT_BYTES)
  const decode = (frame: Buffer): { type: string, object: JsonObject } => {
    const decoded = decodeWatchEvent(frame)
    if (!decoded.ok) throw new Error(`undecodable protobuf watch event: ${decoded.message}`)
    return decoded.event
  }
  return (chunk) => frames.push(chunk).map((frame) => {
    // A WatchEvent's first field is its type (field 1, a short string): 0x0a, length, bytes.
    if (full || frame[0] !== 0x0a || frame[1]! >= 0x80) { const event = decode(frame); return { type: event.type, object: () => event.object } }
    return { type: frame.toString('latin1', 2, 2 + frame[1]!), object: () => decode(frame).object }
  })
}

function isInitialEventsEnd (object: JsonObject): boolean {
  const annotations = (object.metadata as JsonObject | undefined)?.annotations as JsonObject | undefined
  return annotations?.['k8s.io/initial-events-end'] === 'true'
}

function checkContentType (path: string, contentType: string | string[] | undefined, encoding: Encoding): void {
  if (!String(contentType ?? '').startsWith(MEDIA[encoding])) throw new Error(`${path}: Content-Type ${String(contentType)}, expected ${MEDIA[encoding]}`)
}

function decodeList (path: string, body: Buffer, encoding: Encoding, listKind: string): JsonObject {
  let list: JsonObject
  if (encoding === 'json') list = JSON.parse(body.toString('utf8')) as JsonObject
  else {
    const decoded = decodeObject(body)
    if (!decoded.ok) throw new Error(`${path}: undecodable protobuf answer: ${decoded.message}`)
    list = decoded.object
  }
  const items = list.items
  if (list.kind !== listKind || !Array.isArray(items) || items.length === 0) {
    throw new Error(`${path}: expected a non-empty ${listKind}, got ${String(list.kind)} with ${Array.isArray(items) ? items.length : 'no'} items`)
  }
  return list
}
