// Which nodes may hold a tunnel: not a revoked one (the static modules.cloudHub.revokedNodes, and the
// ConfigMap `edge-metaserver node revoke` writes, watched), and — with requireNodeObject — only one
// whose Node object exists (watched: deleting the Node cuts its edge off). Fail closed: until a
// watched source has been listed once, every node is refused with that reason.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions) */
import type { Logger } from '../obs/logger.js'
import type { NodeRefusal } from '../tunnel/server.js'
import { Reflector, type KubeObject } from './reflector.js'
import type { Upstream } from './upstream.js'

interface DenyList extends KubeObject { nodes: string[] }

export interface NodeAdmissionOptions {
  upstream: Upstream
  logger: Logger
  revokedNodes: readonly string[]
  /** `namespace/name`, or null. */
  revokedNodesConfigMap: string | null
  requireNodeObject: boolean
  /** Called after any watched source changed: live connections are checked again. */
  onChange: () => void
}

export class NodeAdmission {
  private readonly nodes: Reflector<KubeObject> | undefined
  private readonly denyList: Reflector<DenyList> | undefined

  constructor (private readonly opts: NodeAdmissionOptions) {
    // Names only: a Node's status churns, and nothing else of it is read here.
    if (opts.requireNodeObject) {
      this.nodes = new Reflector(opts.upstream, '/api/v1/nodes', (o: any) => ({ metadata: { name: String(o.metadata?.name) } }), opts.onChange, opts.logger)
    }
    if (opts.revokedNodesConfigMap !== null) {
      const [namespace, name] = opts.revokedNodesConfigMap.split('/') as [string, string]
      // A list and watch narrowed to one name by fieldSelector is authorized by resourceName: the
      // shim's Role names exactly this ConfigMap (deploy/10-rbac.yaml).
      this.denyList = new Reflector(opts.upstream, `/api/v1/namespaces/${namespace}/configmaps?fieldSelector=${encodeURIComponent(`metadata.name=${name}`)}`,
        (o: any) => ({ metadata: { name: String(o.metadata?.name) }, nodes: Object.keys(o.data ?? {}) }), opts.onChange, opts.logger)
    }
  }

  private get watched (): Array<Reflector<KubeObject>> {
    return [this.nodes, this.denyList].filter((r): r is Reflector<KubeObject> => r !== undefined)
  }

  start (): void { for (const r of this.watched) r.start() }
  stop (): void { for (const r of this.watched) r.stop() }

  /** True once every watched source has been listed (always, when nothing is watched). */
  get synced (): boolean { return this.watched.every((r) => r.synced) }

  /** Why `node` must not hold a tunnel, or undefined. */
  refusal (node: string): NodeRefusal | undefined {
    if (this.opts.revokedNodes.includes(node)) return { reason: 'revoked', message: 'listed in modules.cloudHub.revokedNodes' }
    if (this.denyList !== undefined) {
      if (!this.denyList.synced) return { reason: 'revoked', message: `ConfigMap ${this.opts.revokedNodesConfigMap!} (revoked nodes) not read yet` }
      for (const list of this.denyList.items.values()) {
        if (list.nodes.includes(node)) return { reason: 'revoked', message: `revoked in ConfigMap ${this.opts.revokedNodesConfigMap!} (edge-metaserver node revoke)` }
      }
    }
    if (this.nodes !== undefined) {
      if (!this.nodes.synced) return { reason: 'no-node-object', message: 'Node objects not listed yet (modules.cloudHub.requireNodeObject)' }
      if (!this.nodes.items.has(`/${node}`)) return { reason: 'no-node-object', message: 'no Node object with this name (modules.cloudHub.requireNodeObject)' }
    }
    return undefined
  }
}
