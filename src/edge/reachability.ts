// Since when the cloud has been unreachable, for the offline Warning and /readyz: either the
// tunnel is down (the tunnel knows since when), or the tunnel is up but the cloud shim reported it
// cannot reach kube-apiserver (`x-ems-error: upstream-unreachable`), until any real answer comes back.
import type { TunnelClient } from '../tunnel/client.js'

export class CloudReachability {
  private upstreamDownSince: number | undefined

  constructor (private readonly tunnel: TunnelClient) {}

  upstreamUnreachable (): void { this.upstreamDownSince ??= Date.now() }

  upstreamAnswered (): void { this.upstreamDownSince = undefined }

  /** When the current outage began (now, if there is none). */
  get since (): number {
    const t = this.tunnel.state
    const upstream = this.upstreamDownSince ?? Number.POSITIVE_INFINITY
    if (!t.connected) return Math.min(t.since, upstream)
    return Number.isFinite(upstream) ? upstream : Date.now()
  }
}
