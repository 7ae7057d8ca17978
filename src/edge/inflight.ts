// In-flight requests, so a shutdown can drain: short requests get the grace period to finish,
// watches are ended cleanly at once (clients re-watch from their last resourceVersion).
import type { ServerResponse } from 'node:http'
import type { Gauge } from 'prom-client'

export class InflightTracker {
  private readonly short = new Set<ServerResponse>()
  private readonly long = new Set<ServerResponse>()
  private idle: (() => void) | undefined

  constructor (private readonly gauge: Gauge<'kind'>) {}

  /** Registers a response; call the returned function once it is finished (idempotent). */
  begin (res: ServerResponse, longRunning: boolean): () => void {
    const set = longRunning ? this.long : this.short
    const kind = longRunning ? 'long-running' : 'short'
    set.add(res)
    this.gauge.inc({ kind })
    let done = false
    return () => {
      if (done) return
      done = true
      set.delete(res)
      this.gauge.dec({ kind })
      if (this.short.size === 0) this.idle?.()
    }
  }

  get shortCount (): number { return this.short.size }

  /** Ends every watch now, then waits up to graceMs for short requests; returns how many were cut off. */
  async drain (graceMs: number): Promise<number> {
    for (const res of this.long) res.end()
    if (this.short.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs)
        this.idle = () => { clearTimeout(timer); resolve() }
      })
    }
    const cut = this.short.size
    for (const res of [...this.short, ...this.long]) res.destroy()
    return cut
  }
}
