// The users kube-apiserver's authenticators hand to authorization (k8s.io/apiserver user.Info),
// and the one spelling of a service account's user: `system:serviceaccount:<ns>:<name>` with the
// groups the service-account authenticator adds (pkg/serviceaccount/util.go). Pure.

/** The authenticated user, as k8s.io/apiserver's user.Info. Implicit groups are already included. */
export interface UserInfo {
  name: string
  uid?: string
  groups: string[]
  extra?: Record<string, string[]>
}

export const SERVICE_ACCOUNT_USERNAME_PREFIX = 'system:serviceaccount:'
export const ALL_SERVICE_ACCOUNTS_GROUP = 'system:serviceaccounts'
export const ALL_AUTHENTICATED_GROUP = 'system:authenticated'

/** serviceaccount.MakeUsername. */
export function serviceAccountUsername (namespace: string, name: string): string {
  return `${SERVICE_ACCOUNT_USERNAME_PREFIX}${namespace}:${name}`
}

/** The namespace-wide group of serviceaccount.MakeNamespaceGroupName: `system:serviceaccounts:<ns>`. */
export function serviceAccountNamespaceGroup (namespace: string): string {
  return `${ALL_SERVICE_ACCOUNTS_GROUP}:${namespace}`
}

/** The groups a service account's user carries: all service accounts, its namespace's, authenticated. */
export function serviceAccountGroups (namespace: string): string[] {
  return [ALL_SERVICE_ACCOUNTS_GROUP, serviceAccountNamespaceGroup(namespace), ALL_AUTHENTICATED_GROUP]
}

/**
 * The service account a username names (serviceaccount.SplitUsername without its name
 * validation): exactly two non-empty `:`-free parts after the prefix, else undefined.
 */
export function splitServiceAccountUsername (username: string): { namespace: string, name: string } | undefined {
  if (!username.startsWith(SERVICE_ACCOUNT_USERNAME_PREFIX)) return undefined
  const parts = username.slice(SERVICE_ACCOUNT_USERNAME_PREFIX.length).split(':')
  if (parts.length !== 2 || parts[0] === '' || parts[1] === '') return undefined
  return { namespace: parts[0]!, name: parts[1]! }
}

/** The user kube-apiserver builds from a ServiceAccount token (plus the authenticated group). */
export function serviceAccountUser (namespace: string, name: string, uid?: string, extra?: Record<string, string[]>): UserInfo {
  const user: UserInfo = { name: serviceAccountUsername(namespace, name), groups: serviceAccountGroups(namespace) }
  if (uid !== undefined) user.uid = uid
  if (extra !== undefined) user.extra = extra
  return user
}
