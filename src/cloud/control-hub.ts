// Keeps every connected edge's control stream current: the JWKS and its node's policy bundle on
// attach, then again whenever either changes (coalesced), and only when what that node would
// receive actually differs from what it last got.
import type { ServerHttp2Stream } from 'node:http2'
import type { Logger } from '../obs/logger.js'
import { encodeControl } from '../tunnel/control.js'
import type { JwksSource } from './jwks-source.js'
import type { PolicyBundleBuilder } from './policy-bundle-builder.js'

const COALESCE_MS = 50
// A control stream this far behind is a dead or stuck edge: drop it, it will reconnect.
const MAX_PENDING_BYTES = 64 << 20

export class ControlHub {
  private readonly streams = new Map<string, Set<ServerHttp2Stream>>()
  private readonly lastPolicy = new Map<ServerHttp2Stream, string>()
  private readonly lastJwks = new Map<ServerHttp2Stream, string>()
  private timer: NodeJS.Timeout | undefined

  constructor (private readonly policy: PolicyBundleBuilder, private readonly jwks: JwksSource, private readonly logger: Logger) {
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
    this.sendCurrent(node, stream)
  }

  close (): void {
    clearTimeout(this.timer)
    for (const set of this.streams.values()) for (const s of set) s.end()
  }

  private publish (): void {
    for (const [node, set] of this.streams) {
      const lines = this.linesFor(node)
      for (const stream of set) this.send(stream, lines)
    }
  }

  private sendCurrent (node: string, stream: ServerHttp2Stream): void {
    this.send(stream, this.linesFor(node))
  }

  /** What `node` should hold now: computed once per node per publish, shared by its streams. */
  private linesFor (node: string): { jwks: string | undefined, policy: string | undefined } {
    const keys = this.jwks.current
    return {
      jwks: keys === undefined ? undefined : encodeControl({ type: 'jwks', jwks: keys }),
      policy: this.policy.synced ? encodeControl({ type: 'policy', bundle: this.policy.bundleFor(node) }) : undefined,
    }
  }

  private send (stream: ServerHttp2Stream, lines: { jwks: string | undefined, policy: string | undefined }): void {
    if (stream.destroyed || stream.closed) return
    if (stream.writableLength > MAX_PENDING_BYTES) { stream.destroy(); return }
    if (lines.jwks !== undefined && this.lastJwks.get(stream) !== lines.jwks) {
      stream.write(lines.jwks)
      this.lastJwks.set(stream, lines.jwks)
    }
    if (lines.policy !== undefined && this.lastPolicy.get(stream) !== lines.policy) {
      stream.write(lines.policy)
      this.lastPolicy.set(stream, lines.policy)
      this.logger.debug({ bytes: lines.policy.length }, 'policy bundle sent')
    }
  }
}
