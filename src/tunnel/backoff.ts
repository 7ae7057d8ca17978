// Reconnect delays: capped exponential backoff with full jitter (AWS architecture blog, "Exponential
// Backoff And Jitter"), so a thousand edges that lost the cloud at once do not return in lock-step.

export interface Backoff {
  /** The delay before the next attempt; each call counts as one more failure. */
  next (): number
  reset (): void
}

export function fullJitterBackoff (initialMs: number, maxMs: number, random: () => number = Math.random): Backoff {
  let attempt = 0
  return {
    next () {
      const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30))
      attempt++
      return Math.floor(random() * ceiling)
    },
    reset () { attempt = 0 },
  }
}
