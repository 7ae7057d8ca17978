// What the shim takes from the kubernetes Service object for edges with redirect.serviceClusterIP: auto.
import t from 'tap'
import { kubernetesServiceOf } from '../../src/cloud/policy-bundle-builder.js'

// As kube-apiserver creates it (trimmed).
const service = {
  kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default' },
  spec: { clusterIP: '10.0.0.1', clusterIPs: ['10.0.0.1'], ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], type: 'ClusterIP' },
}

t.test('the ClusterIP and the https port (not the targetPort)', async (t) => {
  t.same(kubernetesServiceOf(service), { clusterIP: '10.0.0.1', port: 443 })
  t.same(kubernetesServiceOf({ spec: { clusterIP: '10.0.0.1', ports: [{ name: 'metrics', port: 9000 }, { name: 'https', port: 8443 }] } }), { clusterIP: '10.0.0.1', port: 8443 }, 'the port named https among several')
  t.same(kubernetesServiceOf({ spec: { clusterIP: '10.0.0.1', ports: [{ port: 443 }] } }), { clusterIP: '10.0.0.1', port: 443 }, 'a single unnamed port')
})

t.test('nothing usable: undefined, never a guess', async (t) => {
  for (const [what, o] of [
    ['headless', { spec: { clusterIP: 'None', ports: [{ name: 'https', port: 443 }] } }],
    ['IPv6 only', { spec: { clusterIP: 'fd00::1', ports: [{ name: 'https', port: 443 }] } }],
    ['no https among several ports', { spec: { clusterIP: '10.0.0.1', ports: [{ name: 'a', port: 1 }, { name: 'b', port: 2 }] } }],
    ['no ports', { spec: { clusterIP: '10.0.0.1' } }],
    ['no spec', { kind: 'Status' }],
    ['not an object', 'forbidden'],
    ['null', null],
  ] as const) t.equal(kubernetesServiceOf(o), undefined, what)
})
