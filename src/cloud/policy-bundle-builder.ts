// Cuts each node's policy bundle (tunnel/control.ts PolicyBundle) from the cluster state: scheduled
// pods and all RBAC objects, each kept by a reflector with the shim's own identity (list/watch;
// see deploy/10-rbac.yaml), scoped per node by kube/node-policy-scope.ts. Emits 'change' when
// any of them changes; the control hub decides which nodes' bundles actually differ.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions, explicit checks) */
import { EventEmitter } from 'node:events'
import type { Logger } from '../obs/logger.js'
import type { BoundPod } from '../kube/bound-pod.js'
import { scopePolicyToNode } from '../kube/node-policy-scope.js'
import type { ClusterRole, RoleBinding } from '../kube/rbac-objects.js'
import { isKubernetesService, type KubernetesService, type PolicyBundle } from '../tunnel/control.js'
import { Reflector, type KubeObject } from './reflector.js'
import type { Upstream } from './upstream.js'

interface PodObject extends KubeObject { spec: { nodeName?: string, serviceAccountName?: string } }
type RoleObject = ClusterRole & KubeObject
type BindingObject = RoleBinding & KubeObject

const RBAC = '/apis/rbac.authorization.k8s.io/v1'

function trimPod (o: any): PodObject {
  return {
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid },
    spec: { nodeName: o.spec?.nodeName, serviceAccountName: o.spec?.serviceAccountName ?? 'default' },
  }
}

// Only what authorization reads; labels stay for aggregation.
const trimmedMetadata = (o: any): KubeObject['metadata'] => ({ name: o.metadata.name, namespace: o.metadata.namespace, labels: o.metadata.labels })

function trimRole (o: any): RoleObject {
  return { metadata: trimmedMetadata(o), rules: o.rules, aggregationRule: o.aggregationRule }
}

function trimBinding (o: any): BindingObject {
  return { metadata: trimmedMetadata(o), roleRef: o.roleRef, subjects: o.subjects }
}

/** Where the shim reads it: only this object (deploy/10-rbac.yaml's Role in `default`, resourceNames [kubernetes]). */
export const KUBERNETES_SERVICE_PATH = '/api/v1/namespaces/default/services/kubernetes'

/** The ClusterIP and https port of the `kubernetes` Service object; undefined when it has no IPv4 ClusterIP or https port. */
export function kubernetesServiceOf (o: any): KubernetesService | undefined {
  const ports: any[] = Array.isArray(o?.spec?.ports) ? o.spec.ports : []
  // kube-apiserver names its port "https"; a single unnamed port is the same thing.
  const port = ports.find((p) => p?.name === 'https') ?? (ports.length === 1 ? ports[0] : undefined)
  const service = { clusterIP: o?.spec?.clusterIP, port: port?.port }
  return isKubernetesService(service) ? service : undefined
}

export class PolicyBundleBuilder extends EventEmitter {
  private readonly pods: Reflector<PodObject>
  private readonly roles: Reflector<RoleObject>
  private readonly clusterRoles: Reflector<RoleObject>
  private readonly roleBindings: Reflector<BindingObject>
  private readonly clusterRoleBindings: Reflector<BindingObject>
  private kubeVersion: string | undefined
  private kubernetesService: KubernetesService | undefined

  constructor (upstream: Upstream, logger: Logger) {
    super()
    const changed = (): void => { this.emit('change') }
    this.pods = new Reflector(upstream, '/api/v1/pods?fieldSelector=spec.nodeName%21%3D', trimPod, changed, logger)
    this.roles = new Reflector(upstream, `${RBAC}/roles`, trimRole, changed, logger)
    this.clusterRoles = new Reflector(upstream, `${RBAC}/clusterroles`, trimRole, changed, logger)
    this.roleBindings = new Reflector(upstream, `${RBAC}/rolebindings`, trimBinding, changed, logger)
    this.clusterRoleBindings = new Reflector(upstream, `${RBAC}/clusterrolebindings`, trimBinding, changed, logger)
  }

  private get all (): Array<Reflector<KubeObject>> {
    return [this.pods, this.roles, this.clusterRoles, this.roleBindings, this.clusterRoleBindings]
  }

  start (): void { for (const r of this.all) r.start() }
  stop (): void { for (const r of this.all) r.stop() }

  /** kube-apiserver's /version gitVersion (read by the shim's probe); a change re-sends the bundles. */
  setKubeVersion (gitVersion: string): void {
    if (gitVersion === this.kubeVersion) return
    this.kubeVersion = gitVersion
    this.emit('change')
  }

  /** The `kubernetes` Service's ClusterIP and port (read by the shim's probe); a change re-sends the bundles. */
  setKubernetesService (service: KubernetesService): void {
    if (service.clusterIP === this.kubernetesService?.clusterIP && service.port === this.kubernetesService.port) return
    this.kubernetesService = service
    this.emit('change')
  }

  /** True once every reflector has listed: bundles cut before that would deny too much. */
  get synced (): boolean { return this.all.every((r) => r.synced) }

  bundleFor (node: string): PolicyBundle {
    const pods: BoundPod[] = []
    for (const p of this.pods.items.values()) {
      if (p.spec.nodeName === node) {
        pods.push({ namespace: p.metadata.namespace!, name: p.metadata.name, uid: p.metadata.uid!, serviceAccount: p.spec.serviceAccountName! })
      }
    }
    pods.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`))
    const sorted = <T extends KubeObject>(r: Reflector<T>): T[] => [...r.items.entries()].sort(([a], [b]) => a.localeCompare(b)).map(([, v]) => v)
    const rbac = scopePolicyToNode(pods, {
      roles: sorted(this.roles), clusterRoles: sorted(this.clusterRoles),
      roleBindings: sorted(this.roleBindings), clusterRoleBindings: sorted(this.clusterRoleBindings),
    })
    return {
      node, pods, rbac,
      ...(this.kubeVersion === undefined ? {} : { kubeVersion: this.kubeVersion }),
      ...(this.kubernetesService === undefined ? {} : { kubernetesService: this.kubernetesService }),
    }
  }
}
