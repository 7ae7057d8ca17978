// Kubernetes bootstrap tokens as edge-metaserver uses them to join a node: the token format, the
// Secret `token create` writes, and the group that binds a token to one node name. kube-apiserver
// (--enable-bootstrap-token-auth) authenticates such a token as system:bootstrap:<id> with the
// Secret's auth-extra-groups; the group below is the only place a node name is bound to a token.

/** `[a-z0-9]{6}.[a-z0-9]{16}`, as kube-apiserver's bootstrap token authenticator reads it. */
export const BOOTSTRAP_TOKEN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/

export const BOOTSTRAPPERS_GROUP = 'system:bootstrappers'
const NODE_GROUP_PREFIX = 'system:bootstrappers:edge-metaserver:node:'
/** kube-apiserver's rule for auth-extra-groups (bootstrap/token/util): anything else voids the token. */
const EXTRA_GROUP = /^system:bootstrappers:[a-z0-9:-]{0,255}[a-z0-9]$/

/**
 * The group that binds a token to `node`. Node names may hold dots, which a bootstrap group may
 * not: a dot is written as ":" (which no node name contains), so the mapping is one to one.
 * Undefined when the name does not fit the group's length limit.
 */
export function nodeGroup (node: string): string | undefined {
  const group = NODE_GROUP_PREFIX + node.replaceAll('.', ':')
  return EXTRA_GROUP.test(group) ? group : undefined
}

/** The node names a reviewed token's groups bind it to (normally one). */
export function boundNodes (groups: readonly string[]): string[] {
  return groups.filter((g) => g.startsWith(NODE_GROUP_PREFIX)).map((g) => g.slice(NODE_GROUP_PREFIX.length).replaceAll(':', '.'))
}

/** True when a TokenReview's username is the bootstrap identity of exactly this token. */
export function isBootstrapIdentity (username: string, token: string): boolean {
  const id = BOOTSTRAP_TOKEN.exec(token)?.[1]
  return id !== undefined && username === `system:bootstrap:${id}`
}

/** The kube-system Secret of a bootstrap token bound to `node`, valid until `expires`. */
export function bootstrapTokenSecret (id: string, secret: string, node: string, expires: Date): Record<string, unknown> {
  const group = nodeGroup(node)
  if (group === undefined) throw new Error(`node name "${node}" is too long for a bootstrap token group`)
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system', labels: { 'app.kubernetes.io/name': 'edge-metaserver' } },
    type: 'bootstrap.kubernetes.io/token',
    stringData: {
      description: `edge-metaserver join for node ${node}`,
      'token-id': id,
      'token-secret': secret,
      expiration: expires.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      'usage-bootstrap-authentication': 'true',
      'auth-extra-groups': group,
    },
  }
}
