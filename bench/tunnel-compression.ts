// Tunnel compression: bytes saved against CPU spent (issue 15, "tunnel bytes / apiserver bytes,
// list+watch workload ≤ 0.3"). An informer's traffic is captured from the real kube-apiserver of
// the test bed — a LIST of 500 ConfigMaps and a watch carrying 1 000 updates, in JSON and in
// protobuf, exactly as kube-apiserver sent it, chunk by chunk — and then run through the tunnel's
// own codec (src/tunnel/compression.ts) as the shim and the edge run it: a list compressed whole,
// a watch flushed after every chunk. Figures per coding (none, gzip, zstd): bytes on the tunnel
// (compressed payload plus the 9-byte header of each HTTP/2 DATA frame it travels in) over the
// bytes kube-apiserver sent, and the CPU the shim (compress) and the edge (decompress) spend per MB
// of kube-apiserver's bytes (process.cpuUsage, best of several rounds; the machine is shared).
//
//   node --import tsx bench/tunnel-compression.ts            (needs the test-bed binaries:
//   bash test/cluster/build-binaries.sh)
import { once } from 'node:events'
import type { Transform } from 'node:stream'
import zlib, { constants, gzipSync } from 'node:zlib'
import { Agent, request } from 'undici'
import { decoder, enabledCodings, encoder, type Coding } from '../src/tunnel/compression.js'
import { TestCluster } from '../test/cluster/cluster.js'

const CONFIGMAPS = 500
const UPDATES = 1000
const ROUNDS = 5
const NS = 'tunnel-compression'
const JSON_TYPE = 'application/json'
const PROTOBUF = 'application/vnd.kubernetes.protobuf'
// Node's HTTP/2 sends at most 16 KiB per DATA frame (the peer's default SETTINGS_MAX_FRAME_SIZE).
const FRAME_PAYLOAD = 16_384
const FRAME_HEADER = 9

interface Capture { name: string, chunks: Buffer[], watch: boolean }

async function main (): Promise<void> {
  const cluster = await TestCluster.start({ controllerManager: false })
  try {
    await report(await capture(cluster))
  } finally {
    await cluster.stop()
  }
}

async function capture (cluster: TestCluster): Promise<Capture[]> {
  const admin = cluster.admin
  await admin.post('/api/v1/namespaces', { metadata: { name: NS } })
  const configMap = (i: number, version: number): unknown => ({
    metadata: { name: `cm-${i}`, namespace: NS, labels: { app: 'bench', shard: String(i % 10) } },
    data: { 'app.properties': `greeting=hello\ncolor=blue\nreplica=${i}\nversion=${version}\n`, 'version.txt': String(version) },
  })
  for (let i = 0; i < CONFIGMAPS; i += 25) {
    await Promise.all(Array.from({ length: 25 }, (_, k) => admin.post(`/api/v1/namespaces/${NS}/configmaps`, configMap(i + k, 0))))
  }
  const dispatcher = new Agent({ connect: { ca: cluster.pki.caPem } })
  const get = async (path: string, accept: string): Promise<{ chunks: Buffer[], body: AsyncIterable<Buffer> }> => {
    const res = await request(new URL(path, cluster.url), { headers: { accept, authorization: `Bearer ${cluster.adminToken}` }, dispatcher })
    if (res.statusCode !== 200) throw new Error(`GET ${path}: HTTP ${res.statusCode}`)
    return { chunks: [], body: res.body }
  }
  const list = async (accept: string): Promise<{ chunks: Buffer[], rv: string }> => {
    const { body } = await get(`/api/v1/namespaces/${NS}/configmaps`, accept)
    const chunks: Buffer[] = []
    for await (const chunk of body) chunks.push(chunk)
    const json = await admin.get(`/api/v1/namespaces/${NS}/configmaps`, { query: { limit: 1 } })
    return { chunks, rv: String(json.body.metadata.resourceVersion) }
  }
  const listJson = await list(JSON_TYPE)
  const listProto = await list(PROTOBUF)
  const rv = listJson.rv
  // Both watches start where the lists ended, and see the same 1 000 updates.
  const watches = await Promise.all([JSON_TYPE, PROTOBUF].map(async (accept) => {
    const { body } = await get(`/api/v1/namespaces/${NS}/configmaps?watch=1&resourceVersion=${rv}&allowWatchBookmarks=false`, accept)
    const chunks: Buffer[] = []
    const iterator = body[Symbol.asyncIterator]()
    return { chunks, iterator }
  }))
  const reading = watches.map(async ({ chunks, iterator }, w) => {
    let events = 0
    while (events < UPDATES) {
      const { value, done } = await iterator.next()
      if (done === true) throw new Error('watch ended early')
      chunks.push(value as Buffer)
      events = w === 0 ? countLines(chunks) : countFrames(chunks)
    }
  })
  for (let u = 0; u < UPDATES; u += 20) {
    await Promise.all(Array.from({ length: 20 }, (_, k) => {
      const i = (u + k) % CONFIGMAPS
      return admin.put(`/api/v1/namespaces/${NS}/configmaps/cm-${i}`, configMap(i, u + k + 1))
    }))
  }
  await Promise.all(reading)
  await dispatcher.destroy()
  return [
    { name: 'list, JSON', chunks: listJson.chunks, watch: false },
    { name: 'watch, JSON', chunks: watches[0]!.chunks, watch: true },
    { name: 'list, protobuf', chunks: listProto.chunks, watch: false },
    { name: 'watch, protobuf', chunks: watches[1]!.chunks, watch: true },
  ]
}

function countLines (chunks: Buffer[]): number {
  let n = 0
  for (const c of chunks) for (const b of c) if (b === 0x0a) n++
  return n
}

/** Length-delimited protobuf watch frames (4-byte big-endian length, then the frame). */
function countFrames (chunks: Buffer[]): number {
  const all = Buffer.concat(chunks)
  let n = 0
  for (let at = 0; at + 4 <= all.length; n++) {
    const length = all.readUInt32BE(at)
    if (at + 4 + length > all.length) break
    at += 4 + length
  }
  return n
}

interface Measured { wire: number, frames: number, shimMs: number, edgeMs: number }

/** One pass of the codec over a capture, as the shim and the edge run it. */
async function codecPass (coding: Coding, chunks: Buffer[], watch: boolean): Promise<Measured> {
  const compressed: Buffer[] = []
  const enc = encoder(coding, watch)
  enc.on('data', (c: Buffer) => compressed.push(c))
  let cpu = process.cpuUsage()
  for (const chunk of chunks) {
    // A watch writes each chunk as kube-apiserver sent it, and waits for it to come out (flushed).
    if (!enc.write(chunk) || watch) await new Promise((resolve) => setImmediate(resolve))
  }
  enc.end()
  await once(enc, 'end')
  const shim = process.cpuUsage(cpu)
  const dec = decoder(coding)
  dec.resume()
  cpu = process.cpuUsage()
  for (const c of compressed) if (!dec.write(c)) await once(dec, 'drain')
  dec.end()
  await once(dec, 'end')
  const edge = process.cpuUsage(cpu)
  const wire = compressed.reduce((n, c) => n + c.length, 0)
  // A watch: one DATA frame per flushed event; a list: full frames.
  const frames = watch ? compressed.length : Math.ceil(wire / FRAME_PAYLOAD)
  return { wire, frames, shimMs: (shim.user + shim.system) / 1000, edgeMs: (edge.user + edge.system) / 1000 }
}

async function measure (coding: Coding | 'none', c: Capture): Promise<Measured> {
  const bytes = c.chunks.reduce((n, b) => n + b.length, 0)
  if (coding === 'none') {
    const frames = c.watch ? c.chunks.length : Math.ceil(bytes / FRAME_PAYLOAD)
    return { wire: bytes, frames, shimMs: 0, edgeMs: 0 }
  }
  let best: Measured | undefined
  for (let r = 0; r < ROUNDS; r++) {
    const m = await codecPass(coding, c.chunks, c.watch)
    if (best === undefined || m.shimMs + m.edgeMs < best.shimMs + best.edgeMs) best = m
  }
  return best!
}

async function report (captures: Capture[]): Promise<void> {
  const codings: Array<Coding | 'none'> = ['none', 'gzip', ...(enabledCodings('auto').includes('zstd') ? ['zstd' as const] : [])]
  const lines = ['| workload | coding | kube-apiserver bytes | tunnel bytes | tunnel / apiserver | shim CPU ms/MB | edge CPU ms/MB |', '|---|---|---|---|---|---|---|']
  const informer: Record<string, { api: number, wire: number }> = {}
  for (const c of captures) {
    const api = c.chunks.reduce((n, b) => n + b.length, 0)
    for (const coding of codings) {
      const m = await measure(coding, c)
      const wire = m.wire + FRAME_HEADER * m.frames
      const mb = api / 1e6
      lines.push(`| ${c.name} | ${coding} | ${api} | ${wire} | ${(wire / api).toFixed(3)} | ${(m.shimMs / mb).toFixed(1)} | ${(m.edgeMs / mb).toFixed(1)} |`)
      const key = `${c.name.split(', ')[1]} ${coding}`
      informer[key] ??= { api: 0, wire: 0 }
      informer[key].api += api
      informer[key].wire += wire
    }
  }
  process.stdout.write(`${lines.join('\n')}\n\ninformer (list + watch), tunnel bytes (DATA frame headers included) / body bytes kube-apiserver sent:\n`)
  for (const [key, { api, wire }] of Object.entries(informer)) process.stdout.write(`  ${key}: ${(wire / api).toFixed(3)}\n`)
  const event = captures.find((c) => c.name === 'watch, JSON')!.chunks[0]!
  process.stdout.write('\nmemory per open compressed watch (RSS growth over 1 000 streams, one event written to each):\n')
  for (const coding of codings) {
    if (coding !== 'none') process.stdout.write(`  ${coding}: shim ${await kibPerStream(() => encoder(coding, true), event)} KiB, edge ${await kibPerStream(() => decoder(coding), encodeOnce(coding, event))} KiB\n`)
  }
}

/** RSS growth per stream with 1 000 streams open, each having handled `chunk`. */
async function kibPerStream (open: () => Transform, chunk: Buffer): Promise<number> {
  const before = process.memoryUsage().rss
  const streams = Array.from({ length: 1000 }, () => {
    const s = open()
    s.resume()
    s.write(chunk)
    return s
  })
  await new Promise((resolve) => setTimeout(resolve, 200))
  const kib = Math.round((process.memoryUsage().rss - before) / 1024 / streams.length)
  for (const s of streams) s.destroy()
  return kib
}

function encodeOnce (coding: Coding, chunk: Buffer): Buffer {
  return coding === 'gzip' ? gzipSync(chunk, { flush: constants.Z_SYNC_FLUSH }) : (zlib as unknown as { zstdCompressSync: (b: Buffer) => Buffer }).zstdCompressSync(chunk)
}

main().catch((err: unknown) => { process.stderr.write(`${String((err as Error).stack ?? err)}\n`); process.exitCode = 1 })
