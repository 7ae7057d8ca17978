// Holds `n` watches open at once, each on a connection of its own (HTTP/1.1: a watch holds its
// connection), the way the pods of a busy node do; a watch that ends (the tunnel lost, the edge
// switching to its cache) is opened again. Used to read the edge's RSS with 1 000 watches open,
// online and offline.
import { once } from 'node:events'
import { Client } from 'undici'
import type { Target } from './load.js'

export interface HeldWatches {
  /** Watches whose 200 has arrived and whose stream is still open. */
  open: () => number
  /** What ended or refused watches so far, by status code or error, with counts (for a timeout's message). */
  problems: () => string
  close: () => Promise<void>
}

const REOPEN_DELAY_MS = 200

export function holdWatches (target: Target, path: string, n: number): HeldWatches {
  const abort = new AbortController()
  let open = 0
  const problems = new Map<string, number>()
  const note = (what: string): void => { problems.set(what, (problems.get(what) ?? 0) + 1) }
  const clients: Client[] = []
  const one = async (): Promise<void> => {
    const client = new Client(target.origin, { connect: { ca: target.ca }, bodyTimeout: 0, headersTimeout: 0 })
    clients.push(client)
    while (!abort.signal.aborted) {
      let counted = false
      try {
        const res = await client.request({ path, method: 'GET', headers: { authorization: `Bearer ${target.token}`, accept: 'application/json' }, signal: abort.signal })
        if (res.statusCode === 200) { open++; counted = true } else note(`HTTP ${res.statusCode}`)
        // Drained: only the connection and the edge's side of it matter here. Resolves when it ends, rejects if cut.
        res.body.resume()
        await once(res.body, 'close')
        note('ended')
      } catch (err) { if (!abort.signal.aborted) note((err as Error).message) } // opened again below unless closing
      if (counted) open--
      if (!abort.signal.aborted) await new Promise((resolve) => setTimeout(resolve, REOPEN_DELAY_MS))
    }
  }
  const all = Promise.all(Array.from({ length: n }, one))
  return {
    open: () => open,
    problems: () => [...problems].map(([what, n]) => `${what} ×${n}`).join(', '),
    close: async () => {
      abort.abort()
      await all
      await Promise.all(clients.map(async (c) => await c.destroy()))
    },
  }
}
