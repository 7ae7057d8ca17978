// What the client-go component tests share: the factory's four collections and the RBAC they need,
// objects made straight on kube-apiserver (seeds and bursts of writes over all four), and the
// comparison of an informer's store with kube-apiserver's own LIST (names and resourceVersions).
import type { Test } from 'tap'
import type { LineChild } from '../cluster/clients.js'
import { type Stack, waitUntil } from './stack.js'

const CONVERGE_MS = 90_000 // generous on a loaded machine; measured times are printed

/** The collection path of a namespaced resource the factory mode watches. */
export const collections: Record<string, (ns: string) => string> = {
  configmaps: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  services: (ns) => `/api/v1/namespaces/${ns}/services`,
  endpointslices: (ns) => `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices`,
  pods: (ns) => `/api/v1/namespaces/${ns}/pods`,
}
export const FACTORY_RESOURCES = Object.keys(collections)
export const FACTORY_RULES = [
  { apiGroups: [''], resources: ['configmaps', 'services', 'pods'], verbs: ['get', 'list', 'watch'] },
  { apiGroups: ['discovery.k8s.io'], resources: ['endpointslices'], verbs: ['get', 'list', 'watch'] },
]

export const same = (a: string[] | undefined, b: string[]): boolean => a !== undefined && a.length === b.length && a.every((x, i) => x === b[i])

export interface Convergence { stores: Map<string, string[]>, expected: Record<string, string[]>, ms: number }

/** Every final object version in `stores` reached the handlers as an add or update. */
export function assertDelivered (t: Test, child: LineChild, stores: Map<string, string[]>): void {
  const delivered = new Set(child.lines.filter((l) => l.type === 'add' || l.type === 'update').map((l) => `${l.resource}/${l.name}@${l.resourceVersion}`))
  const missing = [...stores].flatMap(([resource, items]) => items.filter((i) => !delivered.has(`${resource}/${i}`)).map((i) => `${resource}/${i}`))
  t.same(missing, [], 'every final version was handed to the handlers')
}

export class Components {
  constructor (private readonly stack: Stack) {}

  /** kube-apiserver's own state of a collection: "name@resourceVersion", sorted. */
  async truth (path: string): Promise<string[]> {
    const list = await this.stack.admin.must('GET', path)
    return list.items.map((i: any) => `${i.metadata.name}@${i.metadata.resourceVersion}`).sort()
  }

  /** Waits until every informer store of `child` equals kube-apiserver's LIST of its path; returns the last comparison. */
  async converge (child: LineChild, paths: Record<string, string>, what: string): Promise<Convergence> {
    const started = Date.now()
    let stores = new Map<string, string[]>()
    const expected: Record<string, string[]> = {}
    await waitUntil(async () => {
      for (const [resource, path] of Object.entries(paths)) expected[resource] = await this.truth(path)
      stores = await child.stores()
      return Object.entries(expected).every(([resource, items]) => same(stores.get(resource), items))
    }, CONVERGE_MS, what)
    return { stores, expected, ms: Date.now() - started }
  }

  /** A Pod that is never scheduled (no scheduler, no kubelet in the test bed) and deletes at once. */
  async pod (ns: string, name: string, labels: Record<string, string> = {}): Promise<void> {
    await this.stack.admin.must('POST', collections.pods!(ns), {
      body: {
        apiVersion: 'v1', kind: 'Pod', metadata: { name, labels },
        spec: { automountServiceAccountToken: false, containers: [{ name: 'app', image: 'registry.invalid/app:1' }] },
      },
    })
  }

  async service (ns: string, name: string): Promise<void> {
    await this.stack.admin.must('POST', collections.services!(ns), {
      body: { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { selector: { app: name }, ports: [{ port: 80 }] } },
    })
  }

  async endpointSlice (ns: string, name: string, ip: string): Promise<void> {
    await this.stack.admin.must('POST', collections.endpointslices!(ns), {
      body: {
        apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
        metadata: { name, labels: { 'kubernetes.io/service-name': 'external', 'endpointslice.kubernetes.io/managed-by': 'e2e.example.com' } },
        addressType: 'IPv4', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], endpoints: [{ addresses: [ip] }],
      },
    })
  }

  async mergePatch (path: string, body: unknown): Promise<void> {
    await this.stack.admin.must('PATCH', path, { body, contentType: 'application/merge-patch+json' })
  }

  async seedFactory (ns: string): Promise<void> {
    for (let i = 0; i < 5; i++) await this.stack.fixtures.configMap(ns, `seed-${i}`, { v: '0' })
    for (let i = 0; i < 2; i++) await this.service(ns, `seed-svc-${i}`)
    for (let i = 0; i < 2; i++) await this.endpointSlice(ns, `seed-eps-${i}`, `10.1.0.${i + 1}`)
    for (let i = 0; i < 2; i++) await this.pod(ns, `seed-pod-${i}`)
  }

  /**
   * 60 writes over the four resources, straight on kube-apiserver: creates, updates and deletes
   * (of the seeds, or — for a second burst — of objects this burst created). `tag` names what it creates.
   */
  async burstFactory (ns: string, tag = 'burst', deletes: 'seeds' | 'own' = 'seeds'): Promise<number> {
    const { stack } = this
    const victim = (seed: string, own: string): string => deletes === 'seeds' ? seed : own
    const writes: Array<() => Promise<unknown>> = []
    for (let i = 0; i < 20; i++) writes.push(() => stack.fixtures.configMap(ns, `${tag}-${i}`, { v: '1' }))
    for (let i = 0; i < 10; i++) writes.push(() => this.mergePatch(`${collections.configmaps!(ns)}/${tag}-${i}`, { data: { v: '2' } }))
    for (let i = 0; i < 3; i++) writes.push(() => stack.admin.must('DELETE', `${collections.configmaps!(ns)}/${victim(`seed-${i}`, `${tag}-${19 - i}`)}`))
    for (let i = 0; i < 4; i++) writes.push(() => this.service(ns, `${tag}-svc-${i}`))
    writes.push(() => this.mergePatch(`${collections.services!(ns)}/seed-svc-0`, { metadata: { labels: { touched: tag } } }))
    writes.push(() => stack.admin.must('DELETE', `${collections.services!(ns)}/${victim('seed-svc-1', `${tag}-svc-3`)}`))
    for (let i = 0; i < 6; i++) writes.push(() => this.endpointSlice(ns, `${tag}-eps-${i}`, `10.2.0.${i + 1}`))
    for (let i = 0; i < 3; i++) writes.push(() => this.mergePatch(`${collections.endpointslices!(ns)}/${tag}-eps-${i}`, { endpoints: [{ addresses: [`10.3.0.${i + 1}`] }] }))
    writes.push(() => stack.admin.must('DELETE', `${collections.endpointslices!(ns)}/${victim('seed-eps-0', `${tag}-eps-5`)}`))
    for (let i = 0; i < 5; i++) writes.push(() => this.pod(ns, `${tag}-pod-${i}`))
    for (let i = 0; i < 3; i++) writes.push(() => this.mergePatch(`${collections.pods!(ns)}/${tag}-pod-${i}`, { metadata: { labels: { touched: tag } } }))
    writes.push(() => stack.admin.must('DELETE', `${collections.pods!(ns)}/${victim('seed-pod-0', `${tag}-pod-3`)}`, { query: { gracePeriodSeconds: 0 } }))
    writes.push(() => stack.admin.must('DELETE', `${collections.pods!(ns)}/${tag}-pod-4`, { query: { gracePeriodSeconds: 0 } }))
    for (const write of writes) await write()
    return writes.length
  }
}
