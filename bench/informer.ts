// Bytes on the tunnel versus bytes kube-apiserver sends, for an informer: a LIST of a namespace's
// ConfigMaps, then a WATCH from the list's resourceVersion while `updates` changes are made to them
// (by the admin, straight to kube-apiserver), until every MODIFIED event has arrived. Bytes are
// counted on the wire (TLS records included) by a TCP relay the bench puts in front of kube-apiserver
// (the direct run) or in front of the shim's tunnel port (the edge's tunnel, the run through the edge):
// whatever the edge and the shim do to the stream (framing, compression), the count is what a
// metered uplink would bill.
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { once } from 'node:events'
import { Pool } from 'undici'
import type { RestClient } from '../test/cluster/rest.js'
import { LineSplitter } from '../src/util/lines.js'
import type { Target } from './load.js'

/** A TCP relay on 127.0.0.1 to `port` that counts the bytes each way. */
export interface CountingRelay { port: number, bytes: () => { up: number, down: number }, close: () => Promise<void> }

export async function countingRelay (port: number): Promise<CountingRelay> {
  let up = 0
  let down = 0
  const sockets = new Set<Socket>()
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: '127.0.0.1', port, noDelay: true })
    client.setNoDelay(true)
    for (const s of [client, upstream]) { sockets.add(s); s.on('close', () => sockets.delete(s)); s.on('error', () => { client.destroy(); upstream.destroy() }) }
    client.on('data', (chunk: Buffer) => { up += chunk.length })
    upstream.on('data', (chunk: Buffer) => { down += chunk.length })
    client.pipe(upstream)
    upstream.pipe(client)
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  return {
    port: typeof address === 'object' && address !== null ? address.port : 0,
    bytes: () => ({ up, down }),
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}

const MAX_EVENT_BYTES = 16 * 1024 * 1024

/**
 * One informer run through `target`: LIST `collection`, WATCH from its resourceVersion, `updates`
 * merge-patches through `admin` (10 at a time, over the list's items), until every MODIFIED event is in.
 */
export async function informerRun (target: Target, admin: RestClient, collection: string, updates: number, round: number): Promise<void> {
  const pool = new Pool(target.origin, { connections: 2, connect: { ca: target.ca }, bodyTimeout: 0 })
  const headers = { authorization: `Bearer ${target.token}`, accept: 'application/json' }
  const abort = new AbortController()
  try {
    const listRes = await pool.request({ path: collection, method: 'GET', headers })
    const list = JSON.parse(await listRes.body.text()) as { metadata: { resourceVersion: string }, items: Array<{ metadata: { name: string } }> }
    if (listRes.statusCode !== 200) throw new Error(`informer LIST ${collection}: HTTP ${listRes.statusCode}`)
    const names = list.items.map((item) => item.metadata.name)
    const watchPath = `${collection}?watch=1&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`
    const watch = await pool.request({ path: watchPath, method: 'GET', headers, signal: abort.signal })
    if (watch.statusCode !== 200) throw new Error(`informer WATCH ${collection}: HTTP ${watch.statusCode}`)
    let modified = 0
    const allIn = (async () => {
      const lines = new LineSplitter(MAX_EVENT_BYTES)
      for await (const chunk of watch.body) {
        for (const line of lines.push(chunk as Buffer)) {
          const type = /^\{"type":"(\w+)"/.exec(line)?.[1]
          if (type === 'MODIFIED' && ++modified >= updates) return
          if (type === 'ERROR') throw new Error(`informer WATCH ${collection}: ${line.slice(0, 300)}`)
        }
      }
      throw new Error(`informer WATCH ${collection}: the stream ended after ${modified} of ${updates} MODIFIED events`)
    })()
    for (let i = 0; i < updates; i += 10) {
      await Promise.all(Array.from({ length: Math.min(10, updates - i) }, async (_, j) => {
        const name = names[(i + j) % names.length]!
        const res = await admin.patch(`${collection}/${name}`, { data: { round: `${round}-${i + j}` } })
        if (res.status !== 200) throw new Error(`informer update ${name}: HTTP ${res.status}`)
      }))
    }
    await allIn
  } finally {
    abort.abort()
    await pool.destroy()
  }
}
