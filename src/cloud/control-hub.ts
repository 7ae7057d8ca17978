// Keeps every connected edge's control stream current: the JWKS and its node's policy bundle on
// attach, then again whenever either changes (coalesced), and only when what that node would
// receive actually differs from what it last got.
import type { ServerHttp2Stream } from 'node:http2'
import type { Logger } from '../obs/logger.js'
import { encodeControl } from '../tunnel/control.js'
import type { JwksSource } from './jwks-source.js'
import type { PolicySource } from './policy-source.js'

const COALESCE_MS = 50
// A control stream this far behind is a dead or stuck edge: drop it, it will reconnect.
const MAX_PENDING_BYTES = 64 << 20

export class ControlHub {
  private readonly streams = new Map<string, Set<ServerHttp2Stream>>()
  private readonly lastPolicy = new Map<ServerHttp2Stream, string>()
  private readonly lastJwks = new Map<ServerHttp2Stream, string>()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly policy: PolicySource, private readonly jwks: JwksSource, private readonly logger: Logger) {
    const schedule = (): void => {
      this.timer ??= setTimeout(() => { this.timer = undefined; this.publish() }, COALESCE_MS)
    }
    policy.on('change', schedule)
    jwks.on('change', schedule)
  }

  attach (node: string, stream: ServerHttp2Stream): void {
    stream.respond({ ':status': 200, 'content-type': 'application/x-ndjson' })
    let set = this.streams.get(node)
    if (set === undefined) this.streams.set(node, set = new Set())
    set.add(stream)
    stream.once('close', () => {
      set!.delete(stream)
      if (set!.size === 0) this.streams.delete(node)
      this.lastPolicy.delete(stream)
      this.lastJwks.delete(stream)
    })
    stream.on('error', () => {})
    this.send(node, stream)
  }

  close (): void {
    clearTimeout(this.timer)
    for (const set of this.streams.values()) for (const s of set) s.end()
  }

  private publish (): void {
    for (const [node, set] of this.streams) for (const stream of set) this.send(node, stream)
  }

  private send (node: string, stream: ServerHttp2Stream): void {
    if (stream.destroyed || stream.closed) return
    if (stream.writableLength > MAX_PENDING_BYTES) { stream.destroy(); return }
    const keys = this.jwks.current
    if (keys !== undefined) {
      const line = encodeControl({ type: 'jwks', jwks: keys })
      if (this.lastJwks.get(stream) !== line) { stream.write(line); this.lastJwks.set(stream, line) }
    }
    if (this.policy.synced) {
      const line = encodeControl({ type: 'policy', bundle: this.policy.bundleFor(node) })
      if (this.lastPolicy.get(stream) !== line) {
        stream.write(line)
        this.lastPolicy.set(stream, line)
        this.logger.debug({ node, bytes: line.length }, 'policy bundle sent')
      }
    }
  }
}
