// The one way tests wait for something to happen: poll a probe until it holds, bounded in time,
// and fail with a message that names what was awaited. Tests wait on the event a sleep would stand
// for; the machine is shared and slow, so the bound is generous and never asserted as a timing.

export interface WaitOptions {
  /** Named in the timeout error: "timed out after N ms waiting for <what>" (a function is read then, to show the last state). */
  what: string | (() => string)
  /** Default 10 s. */
  timeoutMs?: number
  /** Default 10 ms: cheap probes; probes that cost a request pass a larger one. */
  intervalMs?: number
  /** Checked before every probe: a message ends the wait at once (e.g. the process under test exited). */
  failIf?: () => string | undefined
  /**
   * A probe that throws counts as "not yet" (e.g. a port that still refuses), and the last error is
   * named on timeout. Off by default: a probe error is usually a bug to see at once.
   */
  retryErrors?: boolean
}

const DEFAULT_TIMEOUT_MS = 10_000
const DEFAULT_INTERVAL_MS = 10

/** Polls `probe` until it returns a value other than undefined, and returns that value. */
export async function waitForValue<T> (probe: () => T | undefined | Promise<T | undefined>, opts: WaitOptions): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const deadline = Date.now() + timeoutMs
  let lastError: unknown
  for (;;) {
    const failure = opts.failIf?.()
    if (failure !== undefined) throw new Error(`${describe(opts.what)}: ${failure}`)
    try {
      const value = await probe()
      if (value !== undefined) return value
    } catch (err) {
      if (opts.retryErrors !== true) throw err
      lastError = err
    }
    if (Date.now() >= deadline) break
    await new Promise((resolve) => setTimeout(resolve, opts.intervalMs ?? DEFAULT_INTERVAL_MS))
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${describe(opts.what)}` +
    (lastError instanceof Error ? `: ${lastError.message}` : ''))
}

/** Polls `predicate` (sync or async) until it is true. */
export async function waitUntil (predicate: () => boolean | Promise<boolean>, opts: WaitOptions): Promise<void> {
  await waitForValue(async () => (await predicate()) ? true : undefined, opts)
}

function describe (what: WaitOptions['what']): string {
  return typeof what === 'string' ? what : what()
}
