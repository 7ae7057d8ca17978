// Which cloud shim the edge dials next. The configured list (modules.edgeHub.server) holds
// `host:port` entries in order of preference; a name may resolve to several addresses (a headless
// Service, DNS round robin), each of which is a server of its own. Names are resolved when a round
// over the list starts, not once at start-up, so replicas that come and go are found.
import { lookup } from 'node:dns/promises'
import { isIP } from 'node:net'

export interface ServerEntry {
  /** IP literal or DNS name, as configured; also the TLS name unless serverName says otherwise. */
  readonly host: string
  readonly port: number
}

/** One dialable server: a configured entry with one of its addresses. */
export interface Candidate {
  /** The configured host (a name stays a name: it is what the certificate is checked against). */
  readonly name: string
  readonly port: number
  /** The IP address to dial. */
  readonly address: string
  /** For logs and /readyz: `name:port`, plus the address when the name is not an IP. */
  readonly label: string
}

export type Resolve = (host: string) => Promise<string[]>

export function formatHostPort (host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`
}

export function candidateLabel (name: string, port: number, address: string): string {
  return name === address ? formatHostPort(name, port) : `${formatHostPort(name, port)} (${address})`
}

/** getaddrinfo, as tls.connect itself would use (so /etc/hosts counts), bounded in time. */
export function systemResolver (timeoutMs: number): Resolve {
  return async (host) => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`DNS lookup timed out after ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      const found = await Promise.race([lookup(host, { all: true, verbatim: true }), timeout])
      return found.map((a) => a.address)
    } finally {
      clearTimeout(timer)
    }
  }
}

/** Fisher-Yates with an injectable random source (tests pin the order). */
function shuffled<T> (items: readonly T[], random: () => number): T[] {
  const out = [...items]
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

/**
 * Expands the configured entries into candidates, in configured order. The addresses of one name
 * are shuffled: every edge of a fleet resolves the same name, and in getaddrinfo's order they would
 * all pile onto the first replica. A server listed twice (directly and through a name) is dialled
 * once. Names that do not resolve are reported, not fatal, while any other entry has an address.
 */
export async function resolveCandidates (entries: readonly ServerEntry[], resolve: Resolve, random: () => number = Math.random):
Promise<{ candidates: Candidate[], unresolved: Array<{ entry: string, error: string }> }> {
  type Resolved = { entry: ServerEntry, addresses: string[] } | { entry: ServerEntry, error: string }
  const results = await Promise.all(entries.map(async (e): Promise<Resolved> => {
    if (isIP(e.host) !== 0) return { entry: e, addresses: [e.host] }
    try {
      const addresses = await resolve(e.host)
      return addresses.length === 0
        ? { entry: e, error: 'the name resolved to no address' }
        : { entry: e, addresses: shuffled(addresses, random) }
    } catch (err) {
      return { entry: e, error: (err as Error).message }
    }
  }))
  const candidates: Candidate[] = []
  const unresolved: Array<{ entry: string, error: string }> = []
  const seen = new Set<string>()
  for (const r of results) {
    if ('error' in r) { unresolved.push({ entry: formatHostPort(r.entry.host, r.entry.port), error: r.error }); continue }
    for (const address of r.addresses) {
      const key = formatHostPort(address, r.entry.port)
      if (seen.has(key)) continue
      seen.add(key)
      candidates.push({ name: r.entry.host, port: r.entry.port, address, label: candidateLabel(r.entry.host, r.entry.port, address) })
    }
  }
  return { candidates, unresolved }
}

export type Pick =
  | { ok: true, candidate: Candidate, unresolved: Array<{ entry: string, error: string }> }
  | { ok: false, error: string }

/**
 * Round robin over the candidates. The edge stays on a server as long as it works (it only asks
 * for the next one when the current one failed), so there is no fail-back and no flapping: the
 * server after the one that failed is next, and a new round (with fresh DNS answers) starts when
 * every candidate of this round has been tried. A new round never starts with the server that
 * failed last when there is any other.
 */
export class ServerRotation {
  private round: Candidate[] = []
  private index = -1
  private lastKey: string | undefined

  constructor (private readonly entries: readonly ServerEntry[], private readonly resolve: Resolve, private readonly random: () => number = Math.random) {}

  /** Labels of the servers of the current round (what a failover log line lists). */
  get servers (): string[] {
    return this.round.length > 0 ? this.round.map((c) => c.label) : this.entries.map((e) => formatHostPort(e.host, e.port))
  }

  /** The server to dial now: the one after the last one dialled. */
  async next (): Promise<Pick> {
    let unresolved: Array<{ entry: string, error: string }> = []
    if (this.index + 1 >= this.round.length) {
      const r = await resolveCandidates(this.entries, this.resolve, this.random)
      unresolved = r.unresolved
      this.round = r.candidates
      this.index = -1
      if (this.entries.length === 0) return { ok: false, error: 'no tunnel server configured (modules.edgeHub.server)' }
      if (this.round.length === 0) {
        return { ok: false, error: `no tunnel server address: ${r.unresolved.map((u) => `${u.entry}: ${u.error}`).join('; ')}` }
      }
      const first = this.round[0]!
      if (this.round.length > 1 && keyOf(first) === this.lastKey) this.round = [...this.round.slice(1), first]
    }
    this.index++
    const candidate = this.round[this.index]!
    this.lastKey = keyOf(candidate)
    return { ok: true, candidate, unresolved }
  }
}

function keyOf (c: Candidate): string {
  return formatHostPort(c.address, c.port)
}
