// Cuts each node's policy bundle (tunnel/control.ts PolicyBundle) from the cluster state: scheduled
// pods and all RBAC objects, each kept by a reflector with the shim's own identity (list/watch;
// see deploy/10-rbac.yaml), indexed by policy-index.ts and scoped per node by
// kube/node-policy-scope.ts. Emits 'change' with the nodes an event may have changed (DirtyNodes):
// the control hub cuts and sends only theirs, and still sends only what differs.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions, explicit checks) */
import { EventEmitter } from 'node:events'
import type { Logger } from '../obs/logger.js'
import type { ClusterRole, RoleBinding } from '../kube/rbac-objects.js'
import { isKubernetesService, type KubernetesService, type PolicyBundle } from '../tunnel/control.js'
import { PolicyIndex, type DirtyNodes, type RbacKind } from './policy-index.js'
import { Reflector, type KubeObject, type ReflectorChange } from './reflector.js'
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
  private readonly rbac: Record<RbacKind, Reflector<RoleObject | BindingObject>>
  private readonly index = new PolicyIndex()
  private kubeVersion: string | undefined
  private kubernetesService: KubernetesService | undefined

  constructor (upstream: Upstream, logger: Logger) {
    super()
    const changed = (dirty: DirtyNodes): void => { if (dirty === 'all' || dirty.size > 0) this.emit('change', dirty) }
    const indexed = (o: PodObject): { node: string | undefined, pod: { namespace: string, name: string, uid: string, serviceAccount: string } } => ({
      node: o.spec.nodeName === '' ? undefined : o.spec.nodeName,
      pod: { namespace: o.metadata.namespace!, name: o.metadata.name, uid: o.metadata.uid!, serviceAccount: o.spec.serviceAccountName! },
    })
    this.pods = new Reflector(upstream, '/api/v1/pods?fieldSelector=spec.nodeName%21%3D', trimPod, (c: ReflectorChange<PodObject>) => {
      changed(c.type === 'reset'
        ? this.index.replacePods([...this.pods.items].map(([k, o]) => [k, indexed(o)]))
        : this.index.setPod(c.key, c.after === undefined ? undefined : indexed(c.after)))
    }, logger)
    const reflect = (kind: RbacKind, path: string, trim: (o: any) => RoleObject | BindingObject): Reflector<RoleObject | BindingObject> => {
      const r: Reflector<RoleObject | BindingObject> = new Reflector(upstream, path, trim, (c) => {
        changed(c.type === 'reset' ? this.index.replaceRbac(kind, r.items) : this.index.setRbac(kind, c.key, c.after))
      }, logger)
      return r
    }
    this.rbac = {
      roles: reflect('roles', `${RBAC}/roles`, trimRole),
      clusterRoles: reflect('clusterRoles', `${RBAC}/clusterroles`, trimRole),
      roleBindings: reflect('roleBindings', `${RBAC}/rolebindings`, trimBinding),
      clusterRoleBindings: reflect('clusterRoleBindings', `${RBAC}/clusterrolebindings`, trimBinding),
    }
  }

  private get all (): Array<Pick<Reflector<KubeObject>, 'start' | 'stop' | 'synced'>> {
    return [this.pods, ...Object.values(this.rbac)]
  }

  start (): void { for (const r of this.all) r.start() }
  stop (): void { for (const r of this.all) r.stop() }

  /** kube-apiserver's /version gitVersion (read by the shim's probe); a change re-sends the bundles. */
  setKubeVersion (gitVersion: string): void {
    if (gitVersion === this.kubeVersion) return
    this.kubeVersion = gitVersion
    this.emit('change', 'all')
  }

  /** The `kubernetes` Service's ClusterIP and port (read by the shim's probe); a change re-sends the bundles. */
  setKubernetesService (service: KubernetesService): void {
    if (service.clusterIP === this.kubernetesService?.clusterIP && service.port === this.kubernetesService.port) return
    this.kubernetesService = service
    this.emit('change', 'all')
  }

  /** True once every reflector has listed: bundles cut before that would deny too much. */
  get synced (): boolean { return this.all.every((r) => r.synced) }

  bundleFor (node: string): PolicyBundle {
    const bundle = this.index.bundleFor(node, this.kubeVersion)
    return this.kubernetesService === undefined ? bundle : { ...bundle, kubernetesService: this.kubernetesService }
  }
}
