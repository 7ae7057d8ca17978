// Keeps every connected edge's control stream current: the JWKS and its node's policy bundle on
// attach, then again whenever either changes (coalesced), and only when what that node would
// receive actually differs from what it last got. A policy change names the nodes it may have
// changed (policy-index.ts): only their bundles are cut again, so the cost of an event follows the
// nodes it touches, not the fleet.
import type { ServerHttp2Stream } from 'node:http2'
import type { Logger } from '../obs/logger.js'
import { encodeControl } from '../tunnel/control.js'
import type { JwksSource } from './jwks-source.js'
import type { PolicyBundleBuilder } from './policy-bundle-builder.js'
import type { DirtyNodes } from './policy-index.js'

const COALESCE_MS = 50
// A control stream this far behind is a dead or stuck edge: drop it, it will reconnect.
const MAX_PENDING_BYTES = 64 << 20

export class ControlHub {
  private readonly streams = new Map<string, Set<ServerHttp2Stream>>()
  private readonly lastPolicy = new Map<ServerHttp2Stream, string>()
  private readonly lastJwks = new Map<ServerHttp2Stream, string>()
  private timer: NodeJS.Timeout | undefined
  /** What changed since the last publish: the nodes whose policy to cut again, and whether the JWKS did. */
  private pending: { policy: Set<string> | 'all', jwks: boolean } = { policy: new Set(), jwks: false }

  constructor (private readonly policy: PolicyBundleBuilder, private readonly jwks: JwksSource, private readonly logger: Logger) {
    const schedule = (): void => {
      this.timer ??= setTimeout(() => { this.timer = undefined; this.publish() }, COALESCE_MS)
    }
    policy.on('change', (dirty: DirtyNodes) => {
      if (this.pending.policy !== 'all') {
        if (dirty === 'all') this.pending.policy = 'all'
        else for (const node of dirty) this.pending.policy.add(node)
      }
      schedule()
    })
    jwks.on('change', () => { this.pending.jwks = true; schedule() })
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
    const { policy, jwks } = this.pending
    this.pending = { policy: new Set(), jwks: false }
    const jwksLine = jwks ? this.jwksLine() : undefined
    if (jwksLine !== undefined) for (const set of this.streams.values()) for (const stream of set) this.send(stream, { jwks: jwksLine, policy: undefined })
    const nodes = policy === 'all' ? [...this.streams.keys()] : [...policy].filter((node) => this.streams.has(node))
    for (const node of nodes) {
      const line = this.policyLine(node)
      for (const stream of this.streams.get(node)!) this.send(stream, { jwks: undefined, policy: line })
    }
  }

  private sendCurrent (node: string, stream: ServerHttp2Stream): void {
    this.send(stream, { jwks: this.jwksLine(), policy: this.policyLine(node) })
  }

  private jwksLine (): string | undefined {
    const keys = this.jwks.current
    return keys === undefined ? undefined : encodeControl({ type: 'jwks', jwks: keys })
  }

  /** What `node` should hold now: cut once per node per publish, shared by its streams. */
  private policyLine (node: string): string | undefined {
    return this.policy.synced ? encodeControl({ type: 'policy', bundle: this.policy.bundleFor(node) }) : undefined
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
