// The only paths an unauthenticated caller may reach (DESIGN decision 4): discovery, version,
// openapi roots and health — what kube-apiserver's system:public-info-viewer and
// system:discovery grant, and what KubeEdge v1.23 opened. Everything else needs a token.

const EXACT = new Set(['/api', '/api/v1', '/apis', '/version', '/openapi/v2', '/openapi/v3', '/healthz', '/livez', '/readyz'])

export function isAnonymousPath (path: string): boolean {
  const p = path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
  if (EXACT.has(p)) return true
  // /apis/<group> and /apis/<group>/<version>: group discovery documents.
  const parts = p.split('/')
  return parts[1] === 'apis' && (parts.length === 3 || parts.length === 4) && parts.slice(2).every((s) => s !== '')
}
