// The control stream's messages: what a receiver accepts, field by field, for the kubernetes Service
// an edge with redirect.serviceClusterIP: auto installs rules for (a bad value must never reach nft).
import t from 'tap'
import { decodeControl, encodeControl, type PolicyBundle } from '../../src/tunnel/control.js'

const bundle: PolicyBundle = { node: 'edge-1', pods: [], rbac: { roles: [], clusterRoles: [], roleBindings: [], clusterRoleBindings: [] } }
const line = (b: unknown): string => JSON.stringify({ type: 'policy', bundle: b })

t.test('a bundle with the kubernetes Service round-trips; one without it still decodes', async (t) => {
  const withService = { ...bundle, kubernetesService: { clusterIP: '10.96.0.1', port: 443 } }
  t.same(decodeControl(encodeControl({ type: 'policy', bundle: withService }).trim()), { type: 'policy', bundle: withService })
  t.same(decodeControl(line(bundle)), { type: 'policy', bundle })
})

t.test('a malformed kubernetes Service makes the whole message unknown (ignored), never half-applied', async (t) => {
  for (const bad of [
    { clusterIP: 'fd00::1', port: 443 }, { clusterIP: '10.96.0.1; flush ruleset', port: 443 }, { clusterIP: '10.96.0.1', port: 0 },
    { clusterIP: '10.96.0.1', port: 65536 }, { clusterIP: '10.96.0.1', port: '443' }, { clusterIP: '10.96.0.1', port: 443.5 },
    { clusterIP: 10, port: 443 }, { port: 443 }, null, 'kubernetes',
  ]) t.equal(decodeControl(line({ ...bundle, kubernetesService: bad })), undefined, JSON.stringify(bad))
})
