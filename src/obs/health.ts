// /livez, /readyz, /healthz in kube-apiserver's format: "ok", or one "[+]name ok" / "[-]name failed:
// reason" line per check with `?verbose` (failures are always listed), HTTP 500 on any failure.
// Never a blanket 200 (DESIGN decision 8).
import type { Logger } from './logger.js'

export interface HealthCheck {
  name: string
  /** undefined when healthy, else the reason. */
  check: () => string | undefined
  /** Shown after "ok" with ?verbose: a passing check that is worth knowing about (degraded, offline). */
  note?: () => string | undefined
}

export function renderHealth (endpoint: string, checks: HealthCheck[], query: URLSearchParams): { code: number, body: string } {
  const excluded = new Set(query.getAll('exclude'))
  const results = checks.filter((c) => !excluded.has(c.name)).map((c) => ({ name: c.name, failure: c.check(), note: c.note }))
  const failed = results.some((r) => r.failure !== undefined)
  const verbose = query.has('verbose')
  if (!failed && !verbose) return { code: 200, body: 'ok' }
  const lines = results
    .filter((r) => verbose || r.failure !== undefined)
    .map((r) => r.failure !== undefined ? `[-]${r.name} failed: ${r.failure}` : `[+]${r.name} ok${withNote(r.note?.())}`)
  lines.push(failed ? `${endpoint} check failed` : `${endpoint} check passed`)
  return { code: failed ? 500 : 200, body: lines.join('\n') + '\n' }
}

function withNote (note: string | undefined): string {
  return note === undefined ? '' : ` (${note})`
}

/** How often the daemons re-evaluate /readyz's checks for the readiness log line. */
export const READINESS_POLL_MS = 1000

/**
 * One log line per readiness change: `poll()` evaluates the checks and logs when the set of failing
 * checks differs from the last poll — "ready" at info, "not ready" at warn with each failing
 * check's reason. Reasons alone changing (a timestamp, a retry count) are not a change.
 */
export function readinessLog (checks: readonly HealthCheck[], logger: Pick<Logger, 'info' | 'warn'>): { poll: () => void } {
  let last: string | undefined
  return {
    poll: () => {
      const failing: Record<string, string> = {}
      for (const c of checks) {
        const failure = c.check()
        if (failure !== undefined) failing[c.name] = failure
      }
      const key = Object.keys(failing).join(',')
      if (key === last) return
      last = key
      if (key === '') logger.info({ checks: checks.map((c) => c.name) }, 'readiness: ready')
      else logger.warn({ failing }, 'readiness: not ready')
    },
  }
}
