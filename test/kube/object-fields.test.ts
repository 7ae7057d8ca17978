import t from 'tap'
import { fieldNotSupported, fieldSupported, fieldVariesByRelease, knowsFields, selectableFields } from '../../src/kube/object-fields.js'
import { fieldsMatch, parseFieldSelector } from '../../src/kube/selectors.js'

/** Whether the apiserver would list `obj` for `selector` on (group, resource); throws on a selector it would refuse. */
function selects (group: string, resource: string, selector: string, obj: unknown): boolean {
  const parsed = parseFieldSelector(selector)
  if (!parsed.ok) throw new Error(parsed.message)
  const refused = parsed.value.find((r) => !fieldSupported(group, resource, r.field))
  if (refused !== undefined) throw new Error(fieldNotSupported(group, resource, refused.field))
  return fieldsMatch(parsed.value, selectableFields(group, resource, obj))
}

const pod = {
  metadata: { name: 'web-1', namespace: 'prod' },
  spec: { nodeName: 'edge-1', restartPolicy: 'Always', schedulerName: 'default-scheduler', serviceAccountName: 'web', hostNetwork: true },
  status: { phase: 'Running', podIP: '10.0.0.7', podIPs: [{ ip: '10.0.0.7' }, { ip: 'fd00::7' }], nominatedNodeName: 'edge-2' },
}

t.test('pods (pkg/registry/core/pod/strategy.go)', async (t) => {
  t.same(selectableFields('', 'pods', pod), {
    'metadata.name': 'web-1',
    'metadata.namespace': 'prod',
    'spec.nodeName': 'edge-1',
    'spec.host': 'edge-1',
    'spec.restartPolicy': 'Always',
    'spec.schedulerName': 'default-scheduler',
    'spec.serviceAccountName': 'web',
    'spec.hostNetwork': 'true',
    'status.phase': 'Running',
    'status.podIP': '10.0.0.7',
    'status.nominatedNodeName': 'edge-2',
  })
  t.equal(selects('', 'pods', 'spec.nodeName=edge-1,status.phase!=Failed', pod), true)
  t.equal(selects('', 'pods', 'spec.host=edge-1', pod), true, 'the legacy spec.host label is spec.nodeName')
  t.equal(selects('', 'pods', 'spec.hostNetwork=false', { metadata: { name: 'p' }, spec: {} }), true, 'an absent bool is "false"')
  t.equal(selects('', 'pods', 'status.podIP=10.0.0.9', { metadata: { name: 'p' }, status: { podIPs: [{ ip: '10.0.0.9' }] } }), true, 'podIP falls back to podIPs[0]')
  t.equal(selects('', 'pods', 'spec.serviceAccountName=old', { metadata: { name: 'p' }, spec: { serviceAccount: 'old' } }), true, 'the deprecated serviceAccount alias')
  t.equal(selects('', 'pods', 'status.podIPs=10.0.0.7', pod), false, 'status.podIPs is accepted but never set, so it is ""')
  t.equal(selects('', 'pods', 'status.podIPs=', pod), true)
  t.throws(() => selects('', 'pods', 'spec.priority=1', pod), { message: 'field label not supported: spec.priority' })
})

t.test('other core kinds', async (t) => {
  t.same(selectableFields('', 'nodes', { metadata: { name: 'n1' } }), { 'metadata.name': 'n1', 'spec.unschedulable': 'false' })
  t.equal(selects('', 'nodes', 'spec.unschedulable=true', { metadata: { name: 'n1' }, spec: { unschedulable: true } }), true)
  t.equal(fieldSupported('', 'nodes', 'metadata.namespace'), false, 'nodes refuse metadata.namespace')
  t.equal(fieldSupported('', 'namespaces', 'metadata.namespace'), false)
  t.equal(fieldSupported('', 'namespaces', 'name'), false, 'the legacy "name" key is unreachable')
  t.equal(selects('', 'namespaces', 'status.phase=Terminating', { metadata: { name: 'x' }, status: { phase: 'Terminating' } }), true)
  t.equal(selects('', 'secrets', 'type=kubernetes.io/tls', { metadata: { name: 's', namespace: 'a' }, type: 'kubernetes.io/tls' }), true)
  t.equal(selects('', 'services', 'spec.clusterIP!=None', { metadata: { name: 'h', namespace: 'a' }, spec: { clusterIP: 'None', type: 'ClusterIP' } }), false)
  t.equal(selects('', 'services', 'spec.type=NodePort', { metadata: { name: 'n', namespace: 'a' }, spec: { type: 'NodePort' } }), true)
  t.equal(selects('', 'replicationcontrollers', 'status.replicas=0', { metadata: { name: 'rc', namespace: 'a' }, status: {} }), true, 'an absent count is "0"')
  t.equal(selects('', 'replicationcontrollers', 'status.replicas=3', { metadata: { name: 'rc', namespace: 'a' }, status: { replicas: 3 } }), true)
  t.throws(() => selects('', 'configmaps', 'data.x=1', {}), { message: '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"' })
  t.same(selectableFields('', 'configmaps', { metadata: { name: 'c', namespace: 'a' }, data: { x: '1' } }), { 'metadata.name': 'c', 'metadata.namespace': 'a' })
})

t.test('events, core and events.k8s.io', async (t) => {
  const core = {
    metadata: { name: 'e', namespace: 'prod' },
    involvedObject: { kind: 'Pod', namespace: 'prod', name: 'web-1', uid: 'u1', apiVersion: 'v1', resourceVersion: '9', fieldPath: 'spec.containers{web}' },
    reason: 'Started',
    reportingComponent: 'kubelet',
    source: {},
    type: 'Normal',
  }
  t.equal(selects('', 'events', 'involvedObject.kind=Pod,involvedObject.name=web-1,involvedObject.uid=u1', core), true)
  t.equal(selects('', 'events', 'source=kubelet', core), true, 'source falls back to reportingComponent')
  t.equal(selects('', 'events', 'source=kubelet', { ...core, source: { component: 'scheduler' } }), false)
  const modern = {
    metadata: { name: 'e', namespace: 'prod' },
    regarding: { kind: 'Pod', namespace: 'prod', name: 'web-1' },
    reason: 'Started',
    reportingController: 'kubelet',
    type: 'Normal',
  }
  t.equal(selects('events.k8s.io', 'events', 'regarding.name=web-1,reportingController=kubelet', modern), true)
  t.throws(() => selects('events.k8s.io', 'events', 'source=kubelet', modern), { message: 'field label not supported: source' },
    'events.k8s.io has no source label (its conversion func maps only its own names; found by field-selector-differential)')
  t.throws(() => selects('events.k8s.io', 'events', 'involvedObject.name=web-1', modern), { message: 'field label not supported: involvedObject.name' },
    'events.k8s.io refuses the core names')
})

t.test('other groups', async (t) => {
  t.equal(selects('batch', 'jobs', 'status.successful=2', { metadata: { name: 'j', namespace: 'a' }, status: { succeeded: 2 } }), true, 'status.successful reads status.succeeded')
  t.throws(() => selects('batch', 'jobs', 'spec.parallelism=1', {}), { message: 'field label "spec.parallelism" not supported for Job' })
  t.equal(fieldSupported('batch', 'cronjobs', 'status.successful'), false)
  t.equal(selects('certificates.k8s.io', 'certificatesigningrequests', 'spec.signerName=kubernetes.io/kubelet-serving', { metadata: { name: 'c' }, spec: { signerName: 'kubernetes.io/kubelet-serving' } }), true)
  t.equal(fieldSupported('certificates.k8s.io', 'certificatesigningrequests', 'metadata.namespace'), false)
  t.equal(selects('resource.k8s.io', 'resourceslices', 'spec.nodeName=edge-1', { metadata: { name: 's' }, spec: { nodeName: 'edge-1', driver: 'gpu.example.com' } }), true)
  t.equal(fieldNotSupported('resource.k8s.io', 'resourceslices', 'spec.pool', 'v1beta2'), 'field label not supported for resource.k8s.io/v1beta2, Kind=ResourceSlice: spec.pool')
  t.equal(fieldVariesByRelease('resource.k8s.io', 'resourceslices', 'spec.pool.name'), true, '1.37 accepts spec.pool.name, 1.34 refuses it: evaluated by neither')
  t.equal(fieldVariesByRelease('resource.k8s.io', 'resourceslices', 'spec.driver'), false)
  t.equal(fieldSupported('apps', 'replicasets', 'status.replicas'), false, 'apps/v1 registers no conversion func (kubernetes#135136)')
  t.equal(fieldNotSupported('apps', 'replicasets', 'status.replicas'), '"status.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"')
})

t.test('kinds we do not know', async (t) => {
  t.equal(knowsFields('example.com', 'widgets'), false, 'custom resources may declare selectable fields')
  t.equal(knowsFields('certificates.k8s.io', 'clustertrustbundles'), false)
  t.equal(knowsFields('', 'pods'), true)
  t.same(selectableFields('example.com', 'widgets', { metadata: { name: 'w', namespace: 'n' }, spec: { color: 'red' } }),
    { 'metadata.name': 'w', 'metadata.namespace': 'n' }, 'metadata only')
  t.equal(fieldSupported('example.com', 'widgets', 'metadata.name'), true)
  t.equal(fieldSupported('example.com', 'widgets', 'spec.color'), false)
})
