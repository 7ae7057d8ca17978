// The protobuf codec (src/kube/protobuf) proven against kube-apiserver itself: for a wide set of
// built-in objects (hand-written ones plus seeded generated variations), the apiserver's protobuf
// answer to GET, LIST, PartialObjectMetadata, WATCH, WatchList and error Status decodes to exactly
// its JSON answer (same values, same key order), and the JSON answer encodes to exactly the
// apiserver's protobuf bytes. Our encoding of client-written objects is POSTed as
// `Content-Type: application/vnd.kubernetes.protobuf` and must create the same object as the JSON
// POST. CustomResourceDefinitions (apiextensions' JSON-schema unions) and APIServices are covered
// too. Custom resources and Table must come out as not protobuf-encodable, as the apiserver
// serves them in JSON only.
import t, { type Test } from 'tap'
import { isDeepStrictEqual } from 'node:util'
import { request } from 'undici'
import {
  decodeObject, decodeWatchEvent, encodeObject, encodeWatchEvent, isProtobufEncodable, PROTOBUF_MEDIA_TYPE,
  type JsonObject,
} from '../../src/kube/protobuf/codec.js'
import { FrameSplitter } from '../../src/util/frames.js'
import { k8sApiSchema } from '../../src/kube/protobuf/k8s-api.schema.js'
import { TestCluster } from '../cluster/cluster.js'
import type { RestResponse } from '../cluster/rest.js'
import { prng } from '../helpers/prng.js'
import { waitUntil } from './stack.js'

const seed = Number(process.env.PROTO_SEED ?? (Date.now() % 2 ** 31))
t.comment(`seed ${seed} (replay: PROTO_SEED=${seed} npx tap test/e2e/protobuf-codec.test.ts)`)
const random = prng(seed)

const cluster = await TestCluster.start()
t.teardown(() => cluster.stop())
t.comment(`cluster started in ${cluster.startMs} ms`)
const admin = cluster.admin
const version: string = (await admin.must('GET', '/version')).gitVersion
const minor = (v: string): number => Number(/^v\d+\.(\d+)/.exec(v)?.[1])
/** Whether the apiserver predates the schema (v0.37.2 ⇔ 1.37): its protobuf lacks newer fields. */
const olderServer = minor(version) < minor(k8sApiSchema.versions['k8s.io/api']!)
t.comment(`kube-apiserver ${version}, schema k8s.io/api ${k8sApiSchema.versions['k8s.io/api']}`)

const PB = PROTOBUF_MEDIA_TYPE
const JSON_TYPE = 'application/json'
const PARTIAL = ';as=PartialObjectMetadata;g=meta.k8s.io;v=v1'
const PARTIAL_LIST = ';as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'

// ---------------------------------------------------------------------------------------------
// objects

const ns = 'proto-codec'
const nsPath = `/api/v1/namespaces/${ns}`
interface Created { collection: string, name: string, body: JsonObject }
const created: Created[] = []
async function create (collection: string, body: JsonObject): Promise<void> {
  await admin.must('POST', collection, { body })
  created.push({ collection, name: (body.metadata as JsonObject).name as string, body })
}

await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { team: 'edge' } } })
const core = (r: string): string => `${nsPath}/${r}`
const group = (g: string, r: string): string => `/apis/${g}/namespaces/${ns}/${r}`

await create(core('configmaps'), {
  apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-rich', labels: { b: '2', a: '1', 'z.example.com/x': '' }, annotations: { note: '<&> "quoted" ü 😀' } },
  data: { 'app.properties': 'a=1\nb=2\n', empty: '', 10: 'ten', 9: 'nine' }, binaryData: { blob: Buffer.from([0, 1, 2, 255]).toString('base64'), none: '' },
})
await create(core('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-empty' } })
await create(core('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-immutable', finalizers: ['example.com/keep'] }, data: { k: 'v' }, immutable: true })
await create(core('secrets'), {
  apiVersion: 'v1', kind: 'Secret', metadata: { name: 'secret-opaque' }, type: 'Opaque',
  data: { password: Buffer.from('hunter2').toString('base64'), empty: '' }, stringData: { plain: 'text' },
})
await create(core('secrets'), {
  apiVersion: 'v1', kind: 'Secret', metadata: { name: 'secret-tls' }, type: 'kubernetes.io/tls',
  data: { 'tls.crt': Buffer.from('cert').toString('base64'), 'tls.key': Buffer.from('key').toString('base64') },
})
await create(core('serviceaccounts'), { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'sa-1' }, automountServiceAccountToken: false, imagePullSecrets: [{ name: 'pull' }] })
await create(core('services'), {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-clusterip' },
  spec: { selector: { app: 'web' }, ports: [{ name: 'http', port: 80, targetPort: 8080 }, { name: 'https', port: 443, targetPort: 'https', protocol: 'TCP', appProtocol: 'https' }], sessionAffinity: 'ClientIP' },
})
await create(core('services'), {
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-nodeport' },
  spec: { type: 'NodePort', selector: { app: 'web' }, ports: [{ port: 53, targetPort: 53, protocol: 'UDP' }], externalTrafficPolicy: 'Local' },
})
await create(core('services'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-external' }, spec: { type: 'ExternalName', externalName: 'example.com' } })
await create(core('services'), { apiVersion: 'v1', kind: 'Service', metadata: { name: 'svc-headless' }, spec: { clusterIP: 'None', selector: { app: 'db' }, ports: [{ port: 5432 }], publishNotReadyAddresses: true } })
const podSpec = (image: string): JsonObject => ({
  initContainers: [{ name: 'init', image: 'busybox', command: ['sh', '-c', 'true'] }],
  containers: [{
    name: 'app', image, args: ['--port=8080'],
    ports: [{ name: 'http', containerPort: 8080 }, { containerPort: 9090, protocol: 'UDP', hostPort: 9090 }],
    env: [{ name: 'A', value: '1' }, { name: 'EMPTY', value: '' }, { name: 'POD', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } }],
    resources: { requests: { cpu: '250m', memory: '64Mi', 'ephemeral-storage': '1G' }, limits: { cpu: '1.5', memory: '128Mi' } },
    livenessProbe: { httpGet: { path: '/healthz', port: 'http', httpHeaders: [{ name: 'X', value: 'y' }] }, initialDelaySeconds: 3, periodSeconds: 10 },
    readinessProbe: { tcpSocket: { port: 8080 }, failureThreshold: 1 },
    startupProbe: { exec: { command: ['cat', '/tmp/ok'] }, terminationGracePeriodSeconds: 5 },
    lifecycle: { preStop: { sleep: { seconds: 2 } } },
    securityContext: { runAsNonRoot: true, runAsUser: 1000, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, allowPrivilegeEscalation: false },
    volumeMounts: [{ name: 'cfg', mountPath: '/etc/cfg', readOnly: true }, { name: 'scratch', mountPath: '/tmp' }],
  }],
  volumes: [
    { name: 'cfg', configMap: { name: 'cm-rich', items: [{ key: 'app.properties', path: 'app.properties', mode: 0o400 }], defaultMode: 0o644 } },
    { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '32Mi' } },
    { name: 'proj', projected: { sources: [{ serviceAccountToken: { path: 'token', expirationSeconds: 3600, audience: 'edge' } }, { downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } }] } },
  ],
  affinity: {
    nodeAffinity: { requiredDuringSchedulingIgnoredDuringExecution: { nodeSelectorTerms: [{ matchExpressions: [{ key: 'kubernetes.io/os', operator: 'In', values: ['linux'] }] }] } },
    podAntiAffinity: { preferredDuringSchedulingIgnoredDuringExecution: [{ weight: 50, podAffinityTerm: { topologyKey: 'kubernetes.io/hostname', labelSelector: { matchLabels: { app: 'web' } } } }] },
  },
  tolerations: [{ key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 }, { operator: 'Exists' }],
  nodeSelector: { 'kubernetes.io/os': 'linux' },
  securityContext: { fsGroup: 2000, supplementalGroups: [3000, 4000], seccompProfile: { type: 'RuntimeDefault' }, sysctls: [{ name: 'net.ipv4.ip_local_port_range', value: '1024 65535' }] },
  dnsConfig: { nameservers: ['1.1.1.1'], options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }] },
  hostAliases: [{ ip: '10.0.0.1', hostnames: ['a.local'] }],
  topologySpreadConstraints: [{ maxSkew: 1, topologyKey: 'zone', whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app: 'web' } } }],
  priority: 0, enableServiceLinks: false, terminationGracePeriodSeconds: 30, activeDeadlineSeconds: 600,
})
await create(core('pods'), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod-rich', labels: { app: 'web' } }, spec: podSpec('nginx:1.27') })
await create(core('pods'), { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'pod-min' }, spec: { containers: [{ name: 'c', image: 'pause' }] } })
await create(group('apps/v1', 'deployments'), {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'deploy-web' },
  spec: {
    replicas: 2, selector: { matchLabels: { app: 'web' } }, minReadySeconds: 5,
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: '50%' } },
    template: { metadata: { labels: { app: 'web' }, annotations: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'nginx', resources: { limits: { cpu: '100m' } } }] } },
  },
})
await create(group('apps/v1', 'deployments'), {
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'deploy-zero' },
  spec: { replicas: 0, paused: true, selector: { matchLabels: { app: 'z' } }, strategy: { type: 'Recreate' }, template: { metadata: { labels: { app: 'z' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } },
})
await create(group('apps/v1', 'statefulsets'), {
  apiVersion: 'apps/v1', kind: 'StatefulSet', metadata: { name: 'sts-db' },
  spec: {
    serviceName: 'svc-headless', replicas: 1, selector: { matchLabels: { app: 'db' } },
    template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'db', image: 'postgres' }] } },
    volumeClaimTemplates: [{ metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } }],
    persistentVolumeClaimRetentionPolicy: { whenDeleted: 'Delete', whenScaled: 'Retain' },
  },
})
await create(group('apps/v1', 'daemonsets'), {
  apiVersion: 'apps/v1', kind: 'DaemonSet', metadata: { name: 'ds-agent' },
  spec: { selector: { matchLabels: { app: 'agent' } }, updateStrategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: 0 } }, template: { metadata: { labels: { app: 'agent' } }, spec: { hostNetwork: true, containers: [{ name: 'a', image: 'agent' }] } } },
})
await create(group('apps/v1', 'controllerrevisions'), {
  apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'rev-1' }, revision: 3, data: { spec: { template: { x: [1, 'two', null, true] } } },
})
await create(group('batch/v1', 'jobs'), {
  apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'job-1' },
  spec: { backoffLimit: 2, completions: 3, parallelism: 1, ttlSecondsAfterFinished: 60, template: { spec: { restartPolicy: 'Never', containers: [{ name: 'j', image: 'busybox' }] } } },
})
await create(group('batch/v1', 'cronjobs'), {
  apiVersion: 'batch/v1', kind: 'CronJob', metadata: { name: 'cron-1' },
  spec: { schedule: '*/5 * * * *', timeZone: 'Etc/UTC', suspend: true, jobTemplate: { spec: { template: { spec: { restartPolicy: 'OnFailure', containers: [{ name: 'j', image: 'busybox' }] } } } } },
})
await create(group('discovery.k8s.io/v1', 'endpointslices'), {
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'eps-1', labels: { 'kubernetes.io/service-name': 'svc-clusterip' } },
  addressType: 'IPv4',
  endpoints: [{ addresses: ['10.1.0.1'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'n1', zone: 'z1', hints: { forZones: [{ name: 'z1' }] } },
    { addresses: ['10.1.0.2'], conditions: {}, targetRef: { kind: 'Pod', name: 'p2', namespace: ns } }],
  ports: [{ name: 'http', port: 8080, protocol: 'TCP', appProtocol: 'http' }, { name: '', port: 53, protocol: 'UDP' }],
})
const now = new Date()
const micro = (d: Date): string => d.toISOString().replace(/\.(\d{3})Z$/, '.$1456Z')
await create(group('coordination.k8s.io/v1', 'leases'), {
  apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'lease-1' },
  spec: { holderIdentity: 'edge-1', leaseDurationSeconds: 15, acquireTime: micro(now), renewTime: micro(now), leaseTransitions: 2 },
})
await create(group('coordination.k8s.io/v1', 'leases'), { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'lease-empty' }, spec: {} })
await create(core('events'), {
  apiVersion: 'v1', kind: 'Event', metadata: { name: 'ev-core' }, involvedObject: { kind: 'Pod', name: 'pod-rich', namespace: ns, apiVersion: 'v1' },
  reason: 'Started', message: 'started container', type: 'Normal', count: 3, firstTimestamp: now.toISOString().slice(0, 19) + 'Z', lastTimestamp: now.toISOString().slice(0, 19) + 'Z',
  source: { component: 'kubelet', host: 'n1' },
})
await create(group('events.k8s.io/v1', 'events'), {
  apiVersion: 'events.k8s.io/v1', kind: 'Event', metadata: { name: 'ev-new' }, eventTime: micro(now), reportingController: 'example.com/ctl', reportingInstance: 'i-1',
  action: 'Bind', reason: 'Scheduled', type: 'Warning', regarding: { kind: 'Pod', name: 'pod-min', namespace: ns }, note: 'a note',
  series: { count: 2, lastObservedTime: micro(now) },
})
await create(group('rbac.authorization.k8s.io/v1', 'roles'), {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role', metadata: { name: 'role-1' },
  rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list'], resourceNames: ['cm-rich'] }],
})
await create(group('rbac.authorization.k8s.io/v1', 'rolebindings'), {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding', metadata: { name: 'rb-1' },
  roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'role-1' },
  subjects: [{ kind: 'ServiceAccount', name: 'sa-1', namespace: ns }, { kind: 'User', name: 'alice', apiGroup: 'rbac.authorization.k8s.io' }],
})
await create('/apis/rbac.authorization.k8s.io/v1/clusterroles', {
  apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', metadata: { name: 'proto-codec-aggregate' },
  aggregationRule: { clusterRoleSelectors: [{ matchLabels: { 'proto-codec/aggregate': 'true' } }] },
})
await create('/api/v1/nodes', {
  apiVersion: 'v1', kind: 'Node', metadata: { name: 'proto-node', labels: { 'kubernetes.io/os': 'linux' } },
  spec: { podCIDR: '10.2.0.0/24', podCIDRs: ['10.2.0.0/24'], taints: [{ key: 'edge', value: 'true', effect: 'NoSchedule' }], unschedulable: true },
})
// Quota and limits in a namespace of their own: they would reject the pods created elsewhere.
const limited = `/api/v1/namespaces/${ns}-limits`
await create('/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: `${ns}-limits` } })
await create(`${limited}/resourcequotas`, { apiVersion: 'v1', kind: 'ResourceQuota', metadata: { name: 'quota' }, spec: { hard: { pods: '10', 'requests.cpu': '4', 'limits.memory': '8Gi' } } })
await create(`${limited}/limitranges`, {
  apiVersion: 'v1', kind: 'LimitRange', metadata: { name: 'limits' },
  spec: { limits: [{ type: 'Container', default: { cpu: '500m' }, defaultRequest: { cpu: '100m' }, max: { memory: '1Gi' } }] },
})
await create('/api/v1/persistentvolumes', {
  apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'proto-pv' },
  spec: { capacity: { storage: '5Gi' }, accessModes: ['ReadWriteOnce'], hostPath: { path: '/data', type: 'DirectoryOrCreate' }, persistentVolumeReclaimPolicy: 'Retain', storageClassName: 'manual' },
})
await create(core('persistentvolumeclaims'), {
  apiVersion: 'v1', kind: 'PersistentVolumeClaim', metadata: { name: 'pvc-1' },
  spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'manual', volumeMode: 'Filesystem' },
})
await create(group('networking.k8s.io/v1', 'networkpolicies'), {
  apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'np-1' },
  spec: {
    podSelector: { matchExpressions: [{ key: 'app', operator: 'In', values: ['web', 'db'] }] }, policyTypes: ['Ingress', 'Egress'],
    ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8', except: ['10.1.0.0/16'] } }], ports: [{ port: 'http' }, { protocol: 'TCP', port: 8000, endPort: 9000 }] }],
    egress: [{}],
  },
})
await create(group('networking.k8s.io/v1', 'ingresses'), {
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name: 'ing-1' },
  spec: { rules: [{ host: 'a.example.com', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'svc-clusterip', port: { number: 80 } } } }] } }], tls: [{ hosts: ['a.example.com'], secretName: 'secret-tls' }] },
})
await create(group('autoscaling/v2', 'horizontalpodautoscalers'), {
  apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: 'hpa-1' },
  spec: {
    scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'deploy-web' }, minReplicas: 1, maxReplicas: 5,
    metrics: [{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } } }, { type: 'Pods', pods: { metric: { name: 'qps' }, target: { type: 'AverageValue', averageValue: '1500m' } } }],
    behavior: { scaleDown: { stabilizationWindowSeconds: 300, policies: [{ type: 'Percent', value: 10, periodSeconds: 60 }] } },
  },
})
await create(group('policy/v1', 'poddisruptionbudgets'), {
  apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name: 'pdb-1' }, spec: { minAvailable: '50%', selector: { matchLabels: { app: 'web' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' },
})
await create('/apis/scheduling.k8s.io/v1/priorityclasses', { apiVersion: 'scheduling.k8s.io/v1', kind: 'PriorityClass', metadata: { name: 'proto-high' }, value: 1000, globalDefault: false, description: 'high' })
await create('/apis/storage.k8s.io/v1/storageclasses', {
  apiVersion: 'storage.k8s.io/v1', kind: 'StorageClass', metadata: { name: 'proto-sc' }, provisioner: 'example.com/csi', parameters: { type: 'fast' },
  reclaimPolicy: 'Delete', allowVolumeExpansion: true, volumeBindingMode: 'WaitForFirstConsumer', mountOptions: ['ro'],
})
await create('/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations', {
  apiVersion: 'admissionregistration.k8s.io/v1', kind: 'ValidatingWebhookConfiguration', metadata: { name: 'proto-webhook' },
  webhooks: [{
    name: 'v.example.com', admissionReviewVersions: ['v1'], sideEffects: 'None', failurePolicy: 'Ignore', timeoutSeconds: 2,
    clientConfig: { url: 'https://127.0.0.1:1/validate', caBundle: Buffer.from('not a real CA').toString('base64') },
    rules: [{ operations: ['CREATE'], apiGroups: ['example.com'], apiVersions: ['v1'], resources: ['nothing'], scope: '*' }],
    objectSelector: { matchLabels: { never: 'matches' } },
  }],
})

// Generated variations: maps with awkward keys and values, bytes of every length, ports of both
// IntOrString forms, and quantities in every suffix the apiserver canonicalises.
const pick = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)]!
const int = (n: number): number => Math.floor(random() * n)
const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._'
// valid as a ConfigMap/Secret key and as a label name: starts and ends alphanumeric, ≤ 63 chars
const key = (): string => (pick(['', '1', '10']) + Array.from({ length: 1 + int(12) }, () => pick([...KEY_CHARS])).join(''))
  .replace(/^[-._]+/, 'k').replace(/[-._]+$/, 'z')
const VALUE_PIECES = ['', 'x', ' ', '\n', '\t', '"', '\\', '<', '>', '&', 'ü', 'é', '中文', '😀', '\u2028', '\u0000', 'long'.repeat(50)]
const value = (): string => Array.from({ length: int(6) }, () => pick(VALUE_PIECES)).join('')
const QUANTITIES = ['0', '1', '100m', '1500m', '1.5', '2Gi', '512Mi', '1G', '1e3', '0.5', '123456789', '1k', '10M']
const generatedCount = 24
for (let i = 0; i < generatedCount; i++) {
  const labels: Record<string, string> = {}
  for (let j = int(4); j > 0; j--) labels[key()] = pick(['', 'v', 'a-b_c.d', String(int(1000))])
  const annotations: Record<string, string> = {}
  for (let j = int(4); j > 0; j--) annotations[key()] = value()
  const metadata: JsonObject = { name: `gen-${i}` }
  if (Object.keys(labels).length > 0 || random() < 0.3) metadata.labels = labels
  if (Object.keys(annotations).length > 0 || random() < 0.3) metadata.annotations = annotations
  switch (i % 4) {
    case 0: {
      const data: Record<string, string> = {}
      for (let j = int(5); j > 0; j--) data[key()] = value()
      const binaryData: Record<string, string> = {}
      for (let j = int(3); j > 0; j--) binaryData[`b${key()}`] = Buffer.from(Array.from({ length: int(40) }, () => int(256))).toString('base64')
      const cm: JsonObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata, data }
      if (Object.keys(binaryData).length > 0) cm.binaryData = binaryData
      if (random() < 0.3) cm.immutable = random() < 0.5
      await create(core('configmaps'), cm)
      break
    }
    case 1: {
      const data: Record<string, string> = {}
      for (let j = int(5); j > 0; j--) data[key()] = Buffer.from(Array.from({ length: int(64) }, () => int(256))).toString('base64')
      await create(core('secrets'), { apiVersion: 'v1', kind: 'Secret', metadata, type: pick(['Opaque', 'example.com/custom']), data })
      break
    }
    case 2: {
      const ports = Array.from({ length: 1 + int(3) }, (_, j) => ({
        name: `p${j}`, port: 1 + int(65535), protocol: pick(['TCP', 'UDP', 'SCTP']),
        ...(random() < 0.5 ? { targetPort: random() < 0.5 ? 1 + int(65535) : `t${j}` } : {}),
      }))
      await create(core('services'), { apiVersion: 'v1', kind: 'Service', metadata, spec: { selector: labels, ports, ...(random() < 0.3 ? { sessionAffinity: 'ClientIP' } : {}) } })
      break
    }
    case 3: {
      const containers = Array.from({ length: 1 + int(3) }, (_, j) => ({
        name: `c${j}`, image: `img${j}`,
        resources: { requests: { cpu: pick(QUANTITIES), memory: pick(QUANTITIES) }, ...(random() < 0.5 ? { limits: { cpu: pick(['1T', '5T', '1e13']) } } : {}) },
        ...(random() < 0.5 ? { ports: [{ containerPort: 1 + int(65535) }] } : {}),
        ...(random() < 0.5 ? { env: [{ name: 'V', value: value() }] } : {}),
      }))
      await create(core('pods'), { apiVersion: 'v1', kind: 'Pod', metadata, spec: { containers, ...(random() < 0.5 ? { activeDeadlineSeconds: 1 + int(100000) } : {}) } })
      break
    }
  }
}
t.comment(`${created.length} objects created, ${generatedCount} of them generated`)

// ---------------------------------------------------------------------------------------------
// comparison

async function fetchBoth (path: string, jsonAccept: string, pbAccept: string, query: Record<string, string> = {}): Promise<[RestResponse, RestResponse]> {
  return await Promise.all([admin.get(path, { headers: { accept: jsonAccept }, query }), admin.get(path, { headers: { accept: pbAccept }, query })])
}

function firstDifference (a: Buffer, b: Buffer): number {
  const n = Math.min(a.length, b.length)
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i
  return n
}

/** The three claims for one apiserver answer pair. */
function assertPair (t: Test, label: string, json: RestResponse, pb: RestResponse): void {
  t.equal(pb.status, json.status, `${label}: same status`)
  t.match(String(pb.headers['content-type']), /^application\/vnd\.kubernetes\.protobuf/, `${label}: protobuf answer`)
  const decoded = decodeObject(pb.raw)
  if (!decoded.ok) { t.fail(`${label}: decode failed: ${decoded.message}`); return }
  if (!isDeepStrictEqual(decoded.object, json.body)) t.strictSame(decoded.object, json.body, `${label}: decoded protobuf = JSON answer`)
  else t.pass(`${label}: decoded protobuf = JSON answer`)
  t.equal(JSON.stringify(decoded.object), JSON.stringify(json.body), `${label}: same key order as the JSON answer`)
  const encoded = encodeObject(json.body)
  if (!encoded.ok) { t.fail(`${label}: encode failed: ${encoded.message}`); return }
  const same = encoded.bytes.equals(pb.raw)
  const detail = same ? '' : ` (${encoded.bytes.length} vs ${pb.raw.length} bytes, first difference at ${firstDifference(encoded.bytes, pb.raw)})`
  if (same || !olderServer) {
    t.ok(same, `${label}: encoded JSON answer = protobuf answer byte for byte${detail}`)
    return
  }
  // An apiserver older than the schema does not write the value fields added since (gogo writes
  // every value field, zero or not): our bytes carry them as zeros. They must still mean the same.
  const back = decodeObject(encoded.bytes)
  t.ok(back.ok && isDeepStrictEqual(back.object, decoded.object),
    `${label}: encoded JSON answer differs from kube-apiserver ${version}'s bytes${detail} only by fields newer than it: decodes to the same object`)
  t.comment(`${label}: not byte-identical against ${version} (schema ${k8sApiSchema.versions['k8s.io/api']})${detail}`)
}

const rvOf = (body: any): string | undefined => body?.metadata?.resourceVersion

/** GET in both encodings; retried while a controller changes the object between the two reads. */
async function getPair (path: string, suffix = ''): Promise<[RestResponse, RestResponse]> {
  let pair: [RestResponse, RestResponse] | undefined
  for (let attempt = 0; attempt < 5; attempt++) {
    pair = await fetchBoth(path, JSON_TYPE + suffix, PB + suffix)
    const d = decodeObject(pair[1].raw)
    if (!d.ok || rvOf(d.object) === rvOf(pair[0].body)) return pair
  }
  return pair!
}

/** LIST in both encodings at one exact resourceVersion, so both answers are the same snapshot. */
async function listPair (path: string, suffix = ''): Promise<[RestResponse, RestResponse]> {
  const rv = rvOf((await admin.get(path)).body)!
  return await fetchBoth(path, JSON_TYPE + suffix, PB + suffix, { resourceVersion: rv, resourceVersionMatch: 'Exact' })
}

t.test('GET of each object: protobuf decodes to the JSON answer, JSON encodes to the protobuf bytes', async (t) => {
  for (const c of created) {
    const path = `${c.collection}/${c.name}`
    const [json, pb] = await getPair(path)
    assertPair(t, `GET ${path}`, json, pb)
  }
})

const collections = [...new Set(created.map((c) => c.collection))]
// Lists the controllers filled too: cluster-wide kinds with objects we did not write.
const clusterLists = ['/api/v1/namespaces', '/api/v1/configmaps', '/api/v1/secrets', '/api/v1/serviceaccounts', '/api/v1/events',
  '/apis/coordination.k8s.io/v1/leases', '/apis/discovery.k8s.io/v1/endpointslices', '/api/v1/endpoints', '/apis/apps/v1/replicasets',
  '/apis/rbac.authorization.k8s.io/v1/clusterroles', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', '/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas',
  '/apis/flowcontrol.apiserver.k8s.io/v1/prioritylevelconfigurations', '/apis/admissionregistration.k8s.io/v1/validatingadmissionpolicies',
  '/apis/certificates.k8s.io/v1/certificatesigningrequests', '/apis/apiregistration.k8s.io/v1/apiservices']

t.test('LIST of each collection (ours and the controllers\'), same snapshot in both encodings', async (t) => {
  for (const path of [...collections, ...clusterLists]) {
    const [json, pb] = await listPair(path)
    assertPair(t, `LIST ${path} (${(json.body.items ?? []).length} items)`, json, pb)
  }
})

t.test('PartialObjectMetadata and PartialObjectMetadataList', async (t) => {
  for (const c of created.slice(0, 20)) {
    const path = `${c.collection}/${c.name}`
    const [json, pb] = await getPair(path, PARTIAL)
    t.equal(json.body.kind, 'PartialObjectMetadata')
    assertPair(t, `GET ${path} as PartialObjectMetadata`, json, pb)
  }
  for (const path of collections) {
    const [json, pb] = await listPair(path, PARTIAL_LIST)
    t.equal(json.body.kind, 'PartialObjectMetadataList')
    assertPair(t, `LIST ${path} as PartialObjectMetadataList`, json, pb)
  }
})

t.test('error Status answers', async (t) => {
  const cases: Array<[string, string, unknown]> = [
    ['GET', core('configmaps/does-not-exist'), undefined],
    ['GET', '/apis/apps/v1/namespaces/nowhere/deployments/x', undefined],
    ['POST', core('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cm-rich' } }], // 409
    ['POST', core('configmaps'), { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'Not_Valid' } }], // 422
    ['DELETE', '/api/v1/nodes/no-such-node', undefined],
  ]
  for (const [method, path, body] of cases) {
    const json = await admin.call(method, path, { body, headers: { accept: JSON_TYPE } })
    const pb = await admin.call(method, path, { body, headers: { accept: PB } })
    t.equal(json.body.kind, 'Status')
    t.ok(json.status >= 400, `${method} ${path}: ${json.status}`)
    assertPair(t, `${method} ${path} → ${json.status}`, json, pb)
  }
})

// ---------------------------------------------------------------------------------------------
// watch

interface RawStream { events: JsonObject[], frames: Buffer[], close: () => void, done: Promise<void> }

function openWatch (path: string, accept: string): RawStream {
  const controller = new AbortController()
  const events: JsonObject[] = []
  const frames: Buffer[] = []
  const done = (async () => {
    const res = await request(new URL(path, cluster.url), {
      headers: { accept, authorization: `Bearer ${cluster.adminToken}` }, dispatcher: (admin as any).dispatcher, signal: controller.signal,
    })
    const splitter = new FrameSplitter(64 << 20)
    let text = ''
    for await (const chunk of res.body) {
      if (accept.startsWith(PB)) {
        frames.push(...splitter.push(chunk))
      } else {
        text += chunk.toString()
        const lines = text.split('\n')
        text = lines.pop()!
        for (const line of lines) if (line !== '') events.push(JSON.parse(line))
      }
    }
  })().catch(() => {})
  return { events, frames, close: () => controller.abort(), done }
}

function assertWatchFrames (t: Test, label: string, frames: Buffer[], jsonEvents: JsonObject[]): void {
  t.equal(frames.length, jsonEvents.length, `${label}: same number of events`)
  frames.forEach((frame, i) => {
    const decoded = decodeWatchEvent(frame)
    if (!decoded.ok) { t.fail(`${label} #${i}: ${decoded.message}`); return }
    t.strictSame(decoded.event, jsonEvents[i], `${label} #${i} ${decoded.event.type}: decoded frame = JSON event`)
    const encoded = encodeWatchEvent(jsonEvents[i] as any)
    t.ok(encoded.ok && encoded.bytes.subarray(4).equals(frame) && encoded.bytes.readUInt32BE(0) === frame.length,
      `${label} #${i}: encoded JSON event = protobuf frame byte for byte`)
  })
}

for (const [suffix, what] of [['', 'full objects'], [PARTIAL, 'as=PartialObjectMetadata (metadata informers)']]) {
  t.test(`WATCH from a resourceVersion, ${what}: the same events in both encodings`, async (t) => {
    const rv = rvOf((await admin.must('GET', core('configmaps'))))!
    const path = `${core('configmaps')}?watch=1&resourceVersion=${rv}`
    const jsonStream = openWatch(path, JSON_TYPE + suffix)
    const pbStream = openWatch(path, PB + suffix)
    t.teardown(() => { jsonStream.close(); pbStream.close() })
    const name = `watched${suffix === '' ? '' : '-meta'}`
    await admin.must('POST', core('configmaps'), { body: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name }, data: { a: '1' } } })
    await admin.must('PATCH', core(`configmaps/${name}`), { body: { metadata: { labels: { l: 'x' } }, data: { a: '2', b: '' } }, contentType: 'application/merge-patch+json' })
    await admin.must('DELETE', core(`configmaps/${name}`))
    await waitUntil(() => jsonStream.events.length >= 3 && pbStream.frames.length >= 3, 30_000, 'three events on both watches')
    t.same(jsonStream.events.map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED'])
    if (suffix !== '') t.same(jsonStream.events.map((e: any) => e.object.kind), ['PartialObjectMetadata', 'PartialObjectMetadata', 'PartialObjectMetadata'])
    assertWatchFrames(t, 'watch', pbStream.frames, jsonStream.events)
  })

  t.test(`WatchList (sendInitialEvents), ${what}: ADDED objects then the initial-events-end BOOKMARK, in both encodings`, async (t) => {
    const path = `${core('configmaps')}?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`
    const jsonStream = openWatch(path, JSON_TYPE + suffix)
    const pbStream = openWatch(path, PB + suffix)
    t.teardown(() => { jsonStream.close(); pbStream.close() })
    const isEnd = (e: any): boolean => e?.type === 'BOOKMARK' && e.object?.metadata?.annotations?.['k8s.io/initial-events-end'] === 'true'
    await waitUntil(() => jsonStream.events.some(isEnd) && pbStream.frames.some((f) => { const d = decodeWatchEvent(f); return d.ok && isEnd(d.event) }),
      30_000, 'the initial-events-end bookmark on both watches')
    const pbEvents = pbStream.frames.map((f) => decodeWatchEvent(f)).map((d) => d.ok ? d.event : d)
    const added = (events: any[]): Map<string, unknown> => new Map(events.filter((e) => e.type === 'ADDED').map((e) => [e.object.metadata.name, e]))
    const jsonAdded = added(jsonStream.events)
    t.ok(jsonAdded.size >= created.filter((c) => c.collection === core('configmaps')).length, `${jsonAdded.size} ADDED events`)
    t.strictSame(added(pbEvents), jsonAdded, 'the same ADDED events, decoded = JSON')
    t.strictSame(pbEvents.filter(isEnd).map((e: any) => e.object.kind), jsonStream.events.filter(isEnd).map((e: any) => e.object.kind), 'the bookmark object has the same kind')
    // The two streams' bookmarks may carry different resourceVersions (the controllers write in
    // between); each frame must still re-encode byte for byte from its own decoded JSON.
    let reencoded = 0
    for (const frame of pbStream.frames) {
      const d = decodeWatchEvent(frame)
      const back = d.ok ? encodeWatchEvent(d.event) : d
      if (back.ok && back.bytes.subarray(4).equals(frame)) reencoded++
    }
    t.equal(reencoded, pbStream.frames.length, `all ${pbStream.frames.length} frames re-encode byte for byte from their JSON`)
  })
}

t.test('chunked LIST (limit/continue): every page in both encodings', async (t) => {
  for (const suffix of ['', PARTIAL_LIST]) {
    const rv = rvOf((await admin.get(core('configmaps'))).body)!
    let query: Record<string, string> = { limit: '4', resourceVersion: rv, resourceVersionMatch: 'Exact' }
    for (let page = 0; page < 50; page++) {
      const [json, pb] = await fetchBoth(core('configmaps'), JSON_TYPE + suffix, PB + suffix, query)
      assertPair(t, `LIST page ${page}${suffix} (continue ${json.body.metadata?.continue === undefined ? 'none' : 'set'}, remainingItemCount ${json.body.metadata?.remainingItemCount})`, json, pb)
      const token = json.body.metadata?.continue
      if (token === undefined) break
      query = { limit: '4', continue: token }
    }
  }
})

t.test('meta.k8s.io/v1beta1 PartialObjectMetadataList (older clients)', async (t) => {
  const suffix = ';as=PartialObjectMetadataList;g=meta.k8s.io;v=v1beta1'
  const [json, pb] = await listPair(core('configmaps'), suffix)
  if (json.status === 406) {
    t.equal(pb.status, 406, 'kube-apiserver no longer serves meta.k8s.io/v1beta1; neither encoding is offered')
    return
  }
  assertPair(t, `LIST as v1beta1 PartialObjectMetadataList (${json.status})`, json, pb)
})

// ---------------------------------------------------------------------------------------------
// writes in protobuf

/** What two creations of the same body must share: all but identity, times and allocated values. */
function comparable (obj: any): any {
  // the service-account token volume gets a random name per pod
  const copy = JSON.parse(JSON.stringify(obj).replace(/kube-api-access-[a-z0-9]{5}/g, 'kube-api-access-*'))
  for (const k of ['name', 'uid', 'resourceVersion', 'creationTimestamp', 'managedFields', 'selfLink']) delete copy.metadata[k]
  if (copy.kind === 'Service') {
    delete copy.spec.clusterIP; delete copy.spec.clusterIPs
    for (const p of copy.spec.ports ?? []) delete p.nodePort
  }
  return copy
}

t.test('POST in protobuf: our encoding of a client\'s object creates what its JSON creates', async (t) => {
  const writable = created.filter((c) => c.collection.startsWith(nsPath) || c.collection === '/api/v1/nodes')
  for (const c of writable) {
    const body = structuredClone(c.body) as any
    body.metadata.name = `${c.name}-pb`
    const encoded = encodeObject(body)
    if (!encoded.ok) { t.fail(`${c.name}: ${encoded.message}`); continue }
    const res = await admin.call('POST', c.collection, { body: encoded.bytes, contentType: PB, headers: { accept: JSON_TYPE } })
    t.equal(res.status, 201, `POST ${c.collection} (protobuf body) → ${res.status} ${res.status === 201 ? '' : JSON.stringify(res.body).slice(0, 300)}`)
    if (res.status !== 201) continue
    const viaJson = await admin.must('GET', `${c.collection}/${c.name}`)
    const viaPb = await admin.must('GET', `${c.collection}/${c.name}-pb`)
    const a = comparable(viaJson); const b = comparable(viaPb)
    t.strictSame(b, a, `${c.collection}/${c.name}: same object whether created from JSON or from our protobuf`)
  }
})

// ---------------------------------------------------------------------------------------------
// what has no protobuf form

/** A CRD whose schema uses every JSON-schema union and raw JSON field apiextensions has. */
function richCrd (g: string, plural: string, kind: string): JsonObject {
  const props: JsonObject = {
    size: { type: 'integer', minimum: 0, maximum: 1e6, multipleOf: 1, default: 3, description: 'a size' },
    ratio: { type: 'number', exclusiveMinimum: true, minimum: 0.5 },
    mode: { type: 'string', enum: ['a', 'b', 'c'], default: 'a', pattern: '^[a-c]$', maxLength: 1 },
    port: { 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }, { type: 'string' }] },
    tags: { type: 'array', items: { type: 'string' }, maxItems: 10, 'x-kubernetes-list-type': 'set' },
    tuple: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } },
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    open: { type: 'object', additionalProperties: true, 'x-kubernetes-preserve-unknown-fields': true },
    closed: { type: 'object', properties: { x: { type: 'boolean', nullable: true } }, required: ['x'] },
    obj: {
      type: 'object', default: { nested: [{ a: 1 }, { b: ['two', 3.5, true] }] },
      properties: { nested: { type: 'array', items: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } },
    },
    limited: {
      type: 'object', properties: { n: { type: 'integer' } },
      'x-kubernetes-validations': [{ rule: 'self.n < 5', message: 'too big', fieldPath: '.n', reason: 'FieldValueInvalid' }],
    },
    embedded: { type: 'object', 'x-kubernetes-embedded-resource': true, 'x-kubernetes-preserve-unknown-fields': true },
  }
  return {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: `${plural}.${g}` },
    spec: {
      group: g, scope: 'Namespaced',
      names: { plural, singular: kind.toLowerCase(), kind, listKind: `${kind}List`, shortNames: [`${plural.slice(0, 2)}x`], categories: ['all'] },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: { openAPIV3Schema: { type: 'object', properties: { spec: { type: 'object', properties: props } } } },
        subresources: { status: {}, scale: { specReplicasPath: '.spec.size', statusReplicasPath: '.status.size' } },
        additionalPrinterColumns: [{ name: 'Size', type: 'integer', jsonPath: '.spec.size', priority: 0 }],
      }],
    },
  }
}

t.test('CustomResourceDefinitions and APIServices: protobuf like the other built-in kinds, in both directions', async (t) => {
  const g = 'proto.example.com'
  const crd = richCrd(g, 'gadgets', 'Gadget')
  await admin.must('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: crd })
  const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.${g}`
  await waitUntil(async () => (await admin.get(`/apis/${g}/v1/namespaces/${ns}/gadgets`)).status === 200, 30_000, 'the gadgets resource to be served')
  const [json, pb] = await getPair(crdPath)
  assertPair(t, `GET ${crdPath}`, json, pb)
  const [ljson, lpb] = await listPair('/apis/apiextensions.k8s.io/v1/customresourcedefinitions')
  assertPair(t, 'LIST customresourcedefinitions', ljson, lpb)

  const second = richCrd(g, 'doodads', 'Doodad')
  const encoded = encodeObject(second)
  if (!encoded.ok) throw new Error(encoded.message)
  const res = await admin.call('POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', { body: encoded.bytes, contentType: PB })
  t.equal(res.status, 201, `POST of our protobuf CRD → ${res.status}`)
  const a = comparable(await admin.must('GET', crdPath))
  const b = comparable(await admin.must('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/doodads.${g}`))
  for (const x of [a, b]) { delete x.status; delete x.metadata.generation }
  t.strictSame(JSON.parse(JSON.stringify(b).replaceAll('doodads', 'P').replaceAll('Doodad', 'K').replaceAll('doodad', 'k').replaceAll('dox', 'S')),
    JSON.parse(JSON.stringify(a).replaceAll('gadgets', 'P').replaceAll('Gadget', 'K').replaceAll('gadget', 'k').replaceAll('gax', 'S')),
    'the CRD created from our protobuf has the same spec as the one created from JSON')
})

t.test('custom resources and Table are JSON-only, and the codec says so', async (t) => {
  const g = 'proto.example.com'
  const crs = `/apis/${g}/v1/namespaces/${ns}/gadgets`
  await waitUntil(async () => (await admin.get(crs)).status === 200, 30_000, 'the gadgets resource to be served')
  const cr = await admin.must('POST', crs, { body: { apiVersion: `${g}/v1`, kind: 'Gadget', metadata: { name: 'g1' }, spec: { size: 3 } } })
  const onlyPb = await admin.get(`${crs}/g1`, { headers: { accept: PB } })
  t.equal(onlyPb.status, 406, 'kube-apiserver will not serve a custom resource as protobuf')
  t.match(encodeObject(cr), { ok: false, reason: 'not-protobuf-encodable' }, 'encodeObject(custom resource) is refused')
  t.notOk(isProtobufEncodable(`${g}/v1`, 'Gadget'))

  const table = await admin.get(core('configmaps'), { headers: { accept: `${PB};as=Table;g=meta.k8s.io;v=v1` } })
  t.equal(table.status, 406, 'kube-apiserver will not serve a Table as protobuf')
  t.notOk(isProtobufEncodable('meta.k8s.io/v1', 'Table'))
})
