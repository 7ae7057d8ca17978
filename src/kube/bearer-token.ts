// The token in an Authorization header, read exactly as kube-apiserver's bearer-token
// authenticator reads it (k8s.io/apiserver/pkg/authentication/request/bearertoken): trimmed,
// split on single spaces into at most three parts, scheme "bearer" in any case, and the second
// part — empty when two spaces follow the scheme. Anything else carries no token, so kube-apiserver
// treats the request as anonymous (a `Basic` header on /version is served, not refused). Pure.

export function bearerToken (authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined
  const auth = authorization.trim()
  if (auth === '') return undefined
  const first = auth.indexOf(' ')
  if (first === -1 || auth.slice(0, first).toLowerCase() !== 'bearer') return undefined
  const rest = auth.slice(first + 1)
  const second = rest.indexOf(' ')
  const token = second === -1 ? rest : rest.slice(0, second)
  return token === '' ? undefined : token
}
