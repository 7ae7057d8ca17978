// Setup helpers on top of the admin client: every test gets its own namespace, service accounts,
// RBAC, nodes, pods bound to nodes and pod-bound tokens, all created for real on kube-apiserver.
import { randomBytes } from 'node:crypto'
import type { RestClient } from './rest.js'

export function uniqueName (prefix: string): string {
  return `${prefix}-${randomBytes(3).toString('hex')}`
}

/** RBAC rules granting `verbs` on ConfigMaps: what most test pods are given. */
export const configMapRules = (verbs: string[]): unknown[] => [{ apiGroups: [''], resources: ['configmaps'], verbs }]

/** The REST path of a namespace's ConfigMaps, or of one of them. */
export const configMapPath = (ns: string, name = ''): string => `/api/v1/namespaces/${ns}/configmaps${name === '' ? '' : `/${name}`}`

export class Fixtures {
  constructor (private readonly admin: RestClient) {}

  async namespace (prefix = 'e2e'): Promise<string> {
    const name = uniqueName(prefix)
    await this.admin.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name } } })
    return name
  }

  async serviceAccount (namespace: string, name: string): Promise<{ uid: string }> {
    const sa = await this.admin.must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      body: { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } },
    })
    return { uid: sa.metadata.uid }
  }

  async node (name: string): Promise<{ uid: string }> {
    const existing = await this.admin.get(`/api/v1/nodes/${name}`)
    if (existing.status === 200) return { uid: existing.body.metadata.uid }
    const node = await this.admin.must('POST', '/api/v1/nodes', {
      body: { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: { 'node-role.kubernetes.io/edge': '' } } },
    })
    return { uid: node.metadata.uid }
  }

  /** A Pod bound to `nodeName` (it stays Pending: there is no kubelet; the binding is what matters). */
  async pod (namespace: string, name: string, opts: { nodeName: string, serviceAccount: string }): Promise<{ uid: string }> {
    const pod = await this.admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      body: {
        apiVersion: 'v1', kind: 'Pod', metadata: { name },
        spec: {
          nodeName: opts.nodeName, serviceAccountName: opts.serviceAccount, automountServiceAccountToken: false,
          containers: [{ name: 'app', image: 'registry.invalid/app:1' }],
        },
      },
    })
    return { uid: pod.metadata.uid }
  }

  /** A TokenRequest bound to the pod, exactly what the kubelet would project into it (no trailing newline). */
  async podToken (namespace: string, serviceAccount: string, pod: { name: string, uid: string },
    opts: { audiences?: string[], expirationSeconds?: number } = {}): Promise<string> {
    const res = await this.admin.must('POST', `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`, {
      body: {
        apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
        spec: {
          audiences: opts.audiences ?? [], expirationSeconds: opts.expirationSeconds ?? 3600,
          boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.name, uid: pod.uid },
        },
      },
    })
    return res.status.token
  }

  async role (namespace: string, name: string, rules: unknown[]): Promise<void> {
    await this.admin.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`, {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name }, rules },
    })
  }

  async clusterRole (name: string, rules: unknown[], extra: Record<string, unknown> = {}): Promise<void> {
    await this.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      body: { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name }, rules, ...extra },
    })
  }

  async roleBinding (namespace: string, name: string, roleRef: { kind: 'Role' | 'ClusterRole', name: string },
    subjects: unknown[]): Promise<void> {
    await this.admin.must('POST', `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`, {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...roleRef }, subjects,
      },
    })
  }

  async clusterRoleBinding (name: string, roleName: string, subjects: unknown[]): Promise<void> {
    await this.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      body: {
        apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', metadata: { name },
        roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: roleName }, subjects,
      },
    })
  }

  async configMap (namespace: string, name: string, data: Record<string, string> = {},
    labels: Record<string, string> = {}): Promise<any> {
    return this.admin.must('POST', `/api/v1/namespaces/${namespace}/configmaps`, {
      body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data },
    })
  }

  /**
   * The usual test identity: a ServiceAccount `app` in `namespace` with a Role that may read
   * (get/list/watch) the named ConfigMaps only (all of them when `readable` is undefined), a Pod
   * bound to `nodeName`, and that Pod's token.
   */
  async podIdentity (namespace: string, nodeName: string, opts: {
    serviceAccount?: string
    podName?: string
    rules?: unknown[]
  } = {}): Promise<{ serviceAccount: string, pod: { name: string, uid: string }, token: string, roleBinding: string | undefined }> {
    const serviceAccount = opts.serviceAccount ?? 'app'
    const podName = opts.podName ?? uniqueName('pod')
    await this.serviceAccount(namespace, serviceAccount).catch((err: Error) => {
      if (!err.message.includes('409')) throw err
    })
    await this.node(nodeName)
    let roleName: string | undefined
    if (opts.rules !== undefined) {
      roleName = uniqueName(`${serviceAccount}-role`)
      await this.role(namespace, roleName, opts.rules)
      await this.roleBinding(namespace, roleName, { kind: 'Role', name: roleName },
        [{ kind: 'ServiceAccount', name: serviceAccount, namespace }])
    }
    const { uid } = await this.pod(namespace, podName, { nodeName, serviceAccount })
    const pod = { name: podName, uid }
    return { serviceAccount, pod, token: await this.podToken(namespace, serviceAccount, pod), roleBinding: roleName }
  }
}
