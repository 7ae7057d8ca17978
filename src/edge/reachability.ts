// Since when the cloud has been unreachable, for the offline Warning and /readyz: either the
// tunnel is down (the tunnel knows since when), or the tunnel is up but the cloud shim reported it
// cannot reach kube-apiserver (`x-ems-error: upstream-unreachable`), until any real answer comes back.
// The moment that first real answer comes back, 'upstream-back' is emitted: held watches resume
// on it instead of waiting for their next periodic retry.
import { EventEmitter } from 'node:events'
import type { TunnelClient } from '../tunnel/client.js'

export class CloudReachability extends EventEmitter {
  private upstreamDownSince: number | undefined

  constructor (private readonly tunnel: TunnelClient) { super() }

  upstreamUnreachable (): void { this.upstreamDownSince ??= Date.now() }

  upstreamAnswered (): void {
    if (this.upstreamDownSince === undefined) return
    this.upstreamDownSince = undefined
    this.emit('upstream-back')
  }

  /** True while the shim last said kube-apiserver is unreachable and nothing has answered since. */
  get upstreamDown (): boolean { return this.upstreamDownSince !== undefined }

  /** When the current outage began (now, if there is none). */
  get since (): number {
    const t = this.tunnel.state
    const upstream = this.upstreamDownSince ?? Number.POSITIVE_INFINITY
    if (!t.connected) return Math.min(t.since, upstream)
    return Number.isFinite(upstream) ? upstream : Date.now()
  }
}
