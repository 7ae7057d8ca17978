// Per-shim admission for relayed requests: long-running streams (watches, logs, exec, ...) and
// short requests are counted separately, each against its own limit. A request that finds no slot
// is answered 429 with Retry-After by the handler right away — a queue in front of kube-apiserver
// would only turn overload into hangs (issue 16).

export type SlotKind = 'longRunning' | 'short'

export interface SlotLimits {
  longRunning: number
  short: number
}

export class UpstreamSlots {
  private readonly inUse: Record<SlotKind, number> = { longRunning: 0, short: 0 }

  constructor (private readonly limits: SlotLimits) {}

  /** A release function (idempotent: safe to call from every path that ends the request), or undefined when full. */
  tryAcquire (kind: SlotKind): (() => void) | undefined {
    if (this.inUse[kind] >= this.limits[kind]) return undefined
    this.inUse[kind]++
    let released = false
    return () => {
      if (released) return
      released = true
      this.inUse[kind]--
    }
  }

  count (kind: SlotKind): number { return this.inUse[kind] }
  limit (kind: SlotKind): number { return this.limits[kind] }
}
