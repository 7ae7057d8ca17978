// /livez, /readyz, /healthz in kube-apiserver's format: "ok", or one "[+]name ok" / "[-]name failed:
// reason" line per check with `?verbose` (failures are always listed), HTTP 500 on any failure.
// Never a blanket 200 (DESIGN decision 8).

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
