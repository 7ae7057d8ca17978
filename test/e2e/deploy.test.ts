// deploy/ against a real kube-apiserver: the manifests pass server-side validation and admission
// (including the namespace's own Pod Security "restricted" level), hang together (config, ports,
// mounts, grace period), and the cloud shim's RBAC is least privilege — by reading the YAML and by
// asking the apiserver what the ServiceAccount can actually do.
import t, { type Test } from 'tap'
import { execFile } from 'node:child_process'
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { parseAllDocuments } from 'yaml'
import { parseConfigText } from '../../src/config/index.js'
import { binaries, TestCluster } from '../cluster/cluster.js'
import { repo, runCommand } from './process.js'

const exec = promisify(execFile)
const DEPLOY = join(repo, 'deploy')
const NAMESPACE = 'edge-metaserver'
const SA = `system:serviceaccount:${NAMESPACE}:edge-metaserver-cloud`

const files = (await readdir(DEPLOY)).filter((f) => f.endsWith('.yaml')).sort()
const docs: Array<{ file: string, obj: any }> = []
for (const file of files) {
  for (const doc of parseAllDocuments(await readFile(join(DEPLOY, file), 'utf8'))) {
    t.same(doc.errors, [], `${file} parses`)
    const obj = doc.toJS()
    if (obj !== null) docs.push({ file, obj })
  }
}
const find = (kind: string): any[] => docs.filter((d) => d.obj.kind === kind).map((d) => d.obj)

// A control plane without kube-controller-manager is enough for admission and RBAC.
const cluster = await TestCluster.start({ controllerManager: false })
t.teardown(() => cluster.stop())
const bin = await binaries()

async function kubectl (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const { stdout, stderr } = await exec(bin.KUBECTL, ['--kubeconfig', cluster.adminKubeconfig, ...args], { maxBuffer: 1 << 22 })
    return { code: 0, stdout, stderr }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

t.test('kubectl apply --dry-run=server -f deploy/ passes validation and admission', async (t) => {
  // A server-side dry run creates nothing, so on an empty cluster every namespaced object fails
  // with "namespaces edge-metaserver not found" — a property of dry runs, not of the manifests.
  // The namespace is therefore created first (as `kubectl apply -f deploy/` does, in file order).
  const cold = await kubectl(['apply', '--dry-run=server', '-f', DEPLOY])
  for (const line of cold.stderr.trim().split('\n')) t.match(line, /namespaces "edge-metaserver" not found/, 'a cold dry run fails only on the namespace')

  const ns = await kubectl(['apply', '-f', join(DEPLOY, '00-namespace.yaml')])
  t.equal(ns.code, 0, ns.stderr)
  const r = await kubectl(['apply', '--dry-run=server', '-f', DEPLOY])
  t.equal(r.code, 0, r.stderr)
  // Nothing is wrong enough for a warning either: no unknown fields, no deprecated APIs, and the
  // pod template satisfies the namespace's enforce=restricted Pod Security level.
  t.equal(r.stderr, '', 'no warnings')
  const accepted = r.stdout.trim().split('\n')
  t.equal(accepted.length, docs.length, 'one line per object')
  for (const { obj } of docs) {
    const line = new RegExp(`^${obj.kind.toLowerCase()}(\\.[a-z0-9.]+)?/${obj.metadata.name} \\w+ \\(server dry run\\)$`)
    t.ok(accepted.some((l) => line.test(l)), `${obj.kind} ${obj.metadata.name} accepted (server dry run)`)
  }
  // The referenced Secret does not exist, and need not for the dry run (the Deployment only names it).
  const secret = await kubectl(['get', 'secret', '-n', NAMESPACE, 'edge-metaserver-cloud-tls'])
  t.not(secret.code, 0)
  t.match(secret.stderr, /NotFound/)
})

t.test('the pod template would be admitted under Pod Security "restricted"', async (t) => {
  t.equal(find('Namespace')[0].metadata.labels['pod-security.kubernetes.io/enforce'], 'restricted')
  // Pod admission also looks up the ServiceAccount, so the namespace and RBAC are applied for real.
  const applied = await kubectl(['apply', '-f', join(DEPLOY, '00-namespace.yaml'), '-f', join(DEPLOY, '10-rbac.yaml')])
  t.equal(applied.code, 0, applied.stderr)
  // Admission of the Pod itself (warnings on a Deployment are only advisory): a dry-run Pod from the template.
  const deployment = find('Deployment')[0]
  const pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name: 'pod-security-probe', namespace: NAMESPACE, labels: deployment.spec.template.metadata.labels },
    spec: deployment.spec.template.spec,
  }
  const res = await cluster.admin.post(`/api/v1/namespaces/${NAMESPACE}/pods?dryRun=All`, pod)
  t.equal(res.status, 201, res.status === 201 ? 'admitted (dry run)' : JSON.stringify(res.body))
  t.equal(res.headers.warning, undefined, 'no admission warnings')
})

t.test('the manifests agree with each other and with the CLI', async (t) => {
  const deployment = find('Deployment')[0]
  const configMap = find('ConfigMap')[0]
  const service = find('Service')[0]
  const container = deployment.spec.template.spec.containers[0]

  // The embedded config is valid (the referenced files live in the pod, so they are not checked).
  const parsed = parseConfigText(configMap.data['config.yaml'], 'deploy/20-config.yaml', '/etc/edge-metaserver')
  t.equal(parsed.ok, true, parsed.ok ? '' : JSON.stringify(parsed.errors))
  if (!parsed.ok || parsed.config.kind !== 'CloudShim') return
  const hub = parsed.config.modules.cloudHub
  t.equal(parsed.config.kubeAPIConfig.kubeConfig, null, 'in-cluster credentials (the ServiceAccount)')

  t.same(container.args, ['cloud', '--config', '/etc/edge-metaserver/config.yaml'])
  const mounts = Object.fromEntries(container.volumeMounts.map((m: any) => [m.name, m]))
  t.match(mounts.config, { mountPath: '/etc/edge-metaserver/config.yaml', subPath: 'config.yaml', readOnly: true })
  const volumes = Object.fromEntries(deployment.spec.template.spec.volumes.map((v: any) => [v.name, v]))
  t.equal(volumes.config.configMap.name, configMap.metadata.name)
  t.equal(volumes.pki.secret.secretName, 'edge-metaserver-cloud-tls')
  t.equal(hub.join.enable, true, 'join is on')
  for (const file of [hub.tlsCaFile, hub.tlsCertFile, hub.tlsPrivateKeyFile, hub.join.tlsCaKeyFile]) {
    t.match(file, new RegExp(`^${mounts.pki.mountPath}/(tls\\.crt|tls\\.key|tunnel-ca\\.crt|tunnel-ca\\.key)$`), `${file} comes from the Secret`)
  }

  const ports = Object.fromEntries(container.ports.map((p: any) => [p.name, p.containerPort]))
  t.equal(ports.tunnel, hub.address.port)
  t.equal(ports.health, hub.healthzAddress.port)
  t.equal(ports.join, hub.join.address.port)
  t.equal(container.readinessProbe.httpGet.path, '/readyz')
  t.equal(container.livenessProbe.httpGet.path, '/livez')
  t.same(service.spec.ports.map((p: any) => p.targetPort), ['tunnel', 'join'])
  t.same(service.spec.selector, deployment.spec.selector.matchLabels)
  t.ok(deployment.spec.template.spec.terminationGracePeriodSeconds * 1000 > hub.shutdownGracePeriod,
    'terminationGracePeriodSeconds exceeds modules.cloudHub.shutdownGracePeriod')
  t.equal(deployment.spec.template.spec.serviceAccountName, 'edge-metaserver-cloud')
})

// Every permission the cloud shim may hold, with the reason (DESIGN decision 3: passthrough
// execution, so nothing on the resources pods use). A grant outside this list fails the test;
// widening it is a deliberate edit here, next to its justification.
const ALLOWED: Record<string, string> = {
  'authentication.k8s.io/tokenreviews:create': 'node restriction: whose token is this, bound to which pod',
  '/pods:get': 'node restriction when the token lacks the node claim',
  '/pods:list': 'which pods (and so which service accounts) are on each node: policy bundles',
  '/pods:watch': 'the same, kept current',
  'rbac.authorization.k8s.io/roles:list': 'policy bundles (requireAuthorization at the edge)',
  'rbac.authorization.k8s.io/roles:watch': '〃',
  'rbac.authorization.k8s.io/rolebindings:list': '〃',
  'rbac.authorization.k8s.io/rolebindings:watch': '〃',
  'rbac.authorization.k8s.io/clusterroles:list': '〃',
  'rbac.authorization.k8s.io/clusterroles:watch': '〃',
  'rbac.authorization.k8s.io/clusterrolebindings:list': '〃',
  'rbac.authorization.k8s.io/clusterrolebindings:watch': '〃',
  'url:/openid/v1/jwks:get': 'the signing keys the edges verify tokens with',
  '/nodes:list': 'requireNodeObject: a tunnel only for a node whose Node exists',
  '/nodes:watch': 'the same, kept current: a deleted Node cuts its edge off',
  'certificates.k8s.io/certificatesigningrequests:create': 'join: the node\'s kubelet-serving CSR',
  'certificates.k8s.io/certificatesigningrequests:get': 'join: waiting for the signed certificate',
  'certificates.k8s.io/certificatesigningrequests/approval:update': 'join: approving or denying that CSR',
  'certificates.k8s.io/signers:approve': 'join: for kubernetes.io/kubelet-serving only (resourceNames, pinned below)',
}
// The only writes, the only resourceNames rule and the only dangerous verb the role may hold.
const ALLOWED_WRITES = new Set(['authentication.k8s.io/tokenreviews:create', 'certificates.k8s.io/certificatesigningrequests:create',
  'certificates.k8s.io/certificatesigningrequests/approval:update'])
const SIGNER_RULE = { apiGroups: ['certificates.k8s.io'], resources: ['signers'], resourceNames: ['kubernetes.io/kubelet-serving'], verbs: ['approve'] }
// The Role in the shim's namespace: the deny list `node revoke` writes, that one ConfigMap, read only.
const DENY_LIST_RULE = { apiGroups: [''], resources: ['configmaps'], resourceNames: ['edge-metaserver-revoked-nodes'], verbs: ['list', 'watch'] }
// Never, whatever the list above says.
const WRITE_VERBS = new Set(['create', 'update', 'patch', 'delete', 'deletecollection'])
const DANGEROUS_VERBS = new Set(['escalate', 'bind', 'impersonate', 'approve', 'sign'])
const SENSITIVE_RESOURCES = new Set(['secrets', 'serviceaccounts/token', 'nodes/proxy', 'pods/exec'])

t.test('least privilege: the ClusterRole grants what ALLOWED lists, no wildcards, no writes', async (t) => {
  t.equal(find('ClusterRole').length, 1, 'deploy/ defines exactly one ClusterRole (the two Roles are pinned below)')
  const role = find('ClusterRole')[0]
  t.equal(role.kind, 'ClusterRole')
  t.equal(role.aggregationRule, undefined, 'not an aggregated role')
  const grants = new Set<string>()
  const problems: string[] = []
  for (const rule of role.rules) {
    for (const field of ['apiGroups', 'resources', 'verbs', 'nonResourceURLs'] as const) {
      if ((rule[field] ?? []).some((v: string) => v.includes('*'))) problems.push(`wildcard in ${field}: ${JSON.stringify(rule[field])}`)
    }
    const isSignerRule = JSON.stringify(rule) === JSON.stringify(SIGNER_RULE)
    if (rule.resourceNames !== undefined && !isSignerRule) problems.push(`resourceNames: ${JSON.stringify(rule.resourceNames)}`)
    for (const verb of rule.verbs) {
      if (DANGEROUS_VERBS.has(verb) && !isSignerRule) problems.push(`verb ${verb}`)
      for (const url of rule.nonResourceURLs ?? []) grants.add(`url:${url}:${verb}`)
      for (const g of rule.apiGroups ?? []) {
        for (const r of rule.resources ?? []) {
          const grant = `${g}/${r}:${verb}`
          grants.add(grant)
          if (SENSITIVE_RESOURCES.has(r)) problems.push(`access to ${r}`)
          if (WRITE_VERBS.has(verb) && !ALLOWED_WRITES.has(grant)) problems.push(`write: ${grant}`)
        }
      }
    }
  }
  t.same(problems, [], 'no wildcards, resourceNames, escalate/bind/impersonate/approve (but approve on the kubelet-serving signer), sensitive resources, or writes other than TokenReviews and CSRs')
  const extra = [...grants].filter((g) => !(g in ALLOWED))
  t.same(extra, [], 'nothing beyond ALLOWED')
  t.ok(grants.has('authentication.k8s.io/tokenreviews:create') && grants.has('/pods:get'), 'tokenreviews create and pods get are granted')

  const bindings = find('ClusterRoleBinding')
  t.equal(bindings.length, 1, 'one ClusterRoleBinding')
  t.match(bindings[0], {
    kind: 'ClusterRoleBinding',
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role.metadata.name },
  })
  t.same(bindings[0].subjects, [{ kind: 'ServiceAccount', name: 'edge-metaserver-cloud', namespace: NAMESPACE }])
})

// redirect.serviceClusterIP: auto — the shim reads one object, the kubernetes Service, and nothing else in any namespace.
const SERVICE_RULE = { apiGroups: [''], resources: ['services'], resourceNames: ['kubernetes'], verbs: ['get'] }

t.test('least privilege: two Roles — the deny-list ConfigMap in the shim\'s namespace, the kubernetes Service in default — each bound to the shim', async (t) => {
  const roles = find('Role')
  t.same(roles.map((r) => r.metadata.namespace).sort(), ['default', NAMESPACE].sort(), 'one Role in each namespace, none elsewhere')
  const inNamespace = (list: any[], ns: string): any => list.find((o) => o.metadata.namespace === ns)
  t.same(inNamespace(roles, NAMESPACE).rules, [DENY_LIST_RULE], 'list and watch the deny-list ConfigMap by name, nothing else')
  t.same(inNamespace(roles, 'default').rules, [SERVICE_RULE], 'get services/kubernetes only')
  const bindings = find('RoleBinding')
  t.equal(bindings.length, 2, 'one RoleBinding per Role')
  for (const ns of [NAMESPACE, 'default']) {
    const b = inNamespace(bindings, ns)
    t.match(b, { roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: inNamespace(roles, ns).metadata.name } }, `the RoleBinding in ${ns} names that namespace's Role`)
    t.same(b.subjects, [{ kind: 'ServiceAccount', name: 'edge-metaserver-cloud', namespace: NAMESPACE }])
  }
})

t.test('least privilege, as the apiserver sees it: what the ServiceAccount may do', async (t) => {
  const applied = await kubectl(['apply', '-f', join(DEPLOY, '00-namespace.yaml'), '-f', join(DEPLOY, '10-rbac.yaml')])
  t.equal(applied.code, 0, applied.stderr)
  const can = async (...args: string[]): Promise<string> =>
    (await kubectl(['auth', 'can-i', '--as', SA, ...args])).stdout.trim()
  t.equal(await can('create', 'tokenreviews.authentication.k8s.io'), 'yes')
  t.equal(await can('get', 'pods', '--all-namespaces'), 'yes')
  for (const args of [
    ['create', 'pods', '-A'], ['delete', 'pods', '-A'], ['create', 'pods/exec', '-A'], ['get', 'secrets', '-A'],
    ['list', 'secrets', '-A'], ['get', 'configmaps', '-A'], ['create', 'serviceaccounts/token', '-A'],
    ['create', 'roles.rbac.authorization.k8s.io', '-A'], ['escalate', 'clusterroles.rbac.authorization.k8s.io'],
    ['bind', 'clusterroles.rbac.authorization.k8s.io'], ['impersonate', 'users'], ['impersonate', 'serviceaccounts', '-A'],
    ['update', 'nodes'], ['*', '*'],
    ['update', 'certificatesigningrequests.certificates.k8s.io'], ['delete', 'certificatesigningrequests.certificates.k8s.io'],
    ['update', 'certificatesigningrequests.certificates.k8s.io', '--subresource=status'],
    ['list', 'services', '-n', 'default'], ['get', 'services/other', '-n', 'default'], ['get', 'services/kubernetes', '-n', 'kube-system'],
    ['update', 'services/kubernetes', '-n', 'default'], ['get', 'endpoints/kubernetes', '-n', 'default'],
    ['get', 'nodes'], ['list', 'configmaps', '-n', NAMESPACE], ['get', 'configmaps/edge-metaserver-revoked-nodes', '-n', NAMESPACE],
    ['update', 'configmaps/edge-metaserver-revoked-nodes', '-n', NAMESPACE], ['list', 'configmaps/edge-metaserver-revoked-nodes', '-n', 'default'],
  ]) t.equal(await can(...args), 'no', `cannot ${args.join(' ')}`)
  t.equal(await can('get', 'services/kubernetes', '-n', 'default'), 'yes', 'may get the kubernetes Service (redirect.serviceClusterIP: auto)')
  t.equal(await can('list', 'nodes'), 'yes')
  t.equal(await can('watch', 'nodes'), 'yes')
  for (const verb of ['list', 'watch']) t.equal(await can(verb, 'configmaps/edge-metaserver-revoked-nodes', '-n', NAMESPACE), 'yes', `${verb} the deny list by name`)
  // join: exactly the CSR verbs, and approval for the kubelet-serving signer only. Signer names hold
  // a "/", which `kubectl auth can-i` cannot spell: a SubjectAccessReview asks kube-apiserver directly.
  t.equal(await can('create', 'certificatesigningrequests.certificates.k8s.io'), 'yes')
  t.equal(await can('get', 'certificatesigningrequests.certificates.k8s.io'), 'yes')
  t.equal(await can('update', 'certificatesigningrequests.certificates.k8s.io', '--subresource=approval'), 'yes')
  const approve = async (signer: string): Promise<boolean> => {
    const res = await cluster.admin.post('/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
      spec: {
        user: SA, groups: ['system:serviceaccounts', `system:serviceaccounts:${NAMESPACE}`, 'system:authenticated'],
        resourceAttributes: { group: 'certificates.k8s.io', resource: 'signers', verb: 'approve', name: signer },
      },
    })
    return res.body.status.allowed === true
  }
  t.equal(await approve('kubernetes.io/kubelet-serving'), true, 'may approve for kubernetes.io/kubelet-serving')
  for (const signer of ['kubernetes.io/kube-apiserver-client', 'kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/legacy-unknown', 'kubernetes.io/*', 'example.com/other']) {
    t.equal(await approve(signer), false, `may not approve for ${signer}`)
  }
})

// --- deploy/chart: the same objects from Helm, with the Service type, health port, monitors and
// Secret as values; checked by the same server-side dry run (helm built by build-binaries.sh).
const CHART = join(DEPLOY, 'chart')
const helmHome = { HELM_CACHE_HOME: join(cluster.dir, 'helm'), HELM_CONFIG_HOME: join(cluster.dir, 'helm'), HELM_DATA_HOME: join(cluster.dir, 'helm') }

const helm = (args: string[]): ReturnType<typeof runCommand> => runCommand(bin.HELM, args, { env: { ...process.env, ...helmHome } })

async function render (t: Test, extra: string[] = []): Promise<{ yaml: string, objects: any[] }> {
  const r = await helm(['template', 'ems', CHART, '--namespace', NAMESPACE, ...extra])
  t.equal(r.code, 0, `helm template ${extra.join(' ')}: ${r.stderr}`)
  const objects = parseAllDocuments(r.stdout).map((d) => d.toJS()).filter((o) => o !== null)
  return { yaml: r.stdout, objects }
}

/** `helm template … | kubectl apply --dry-run=server -f -` */
const dryRun = (yaml: string): ReturnType<typeof runCommand> =>
  runCommand(bin.KUBECTL, ['--kubeconfig', cluster.adminKubeconfig, 'apply', '--dry-run=server', '-f', '-'], { stdin: yaml })

// Keyed by namespace too: the two Roles share a name (one in the shim's namespace, one in default).
const byKey = (objects: any[]): Map<string, any> => new Map(objects.map((o) => [`${o.kind}/${o.metadata.name}@${o.metadata.namespace ?? NAMESPACE}`, o]))

t.test('helm lint deploy/chart', async (t) => {
  const r = await helm(['lint', CHART, '--namespace', NAMESPACE])
  t.equal(r.code, 0, r.stdout + r.stderr)
  t.match(r.stdout, /1 chart\(s\) linted, 0 chart\(s\) failed/)
})

t.test('the chart\'s defaults render deploy/ (but the Namespace), and pass the server dry run', async (t) => {
  const { yaml, objects } = await render(t)
  const chart = byKey(objects)
  const plain = byKey(docs.map((d) => d.obj).filter((o) => o.kind !== 'Namespace'))
  t.same([...chart.keys()].sort(), [...plain.keys()].sort(), 'the same kinds and names')
  // The Role that reads the kubernetes Service lives beside it, in default; everything else in the release's namespace.
  for (const o of objects) {
    const ns = o.metadata.namespace ?? NAMESPACE
    t.ok(ns === NAMESPACE || (/^Role(Binding)?$/.test(o.kind) && ns === 'default'), `${o.kind} ${o.metadata.name} in ${ns}`)
  }
  const spec = (k: string, ns = NAMESPACE): [any, any] => [chart.get(`${k}@${ns}`), plain.get(`${k}@${ns}`)]
  const [cd, pd] = spec('Deployment/edge-metaserver-cloud')
  t.same(cd.spec.template.spec, pd.spec.template.spec, 'the same pod spec (image, args, ports, probes, security, volumes)')
  t.same(cd.spec.selector, pd.spec.selector)
  t.same(cd.spec.replicas, pd.spec.replicas)
  t.same(cd.spec.strategy, pd.spec.strategy)
  t.same(spec('ClusterRole/edge-metaserver-cloud')[0].rules, spec('ClusterRole/edge-metaserver-cloud')[1].rules, 'the same least-privilege rules')
  t.same(spec('ClusterRoleBinding/edge-metaserver-cloud')[0].subjects, spec('ClusterRoleBinding/edge-metaserver-cloud')[1].subjects)
  for (const ns of [NAMESPACE, 'default']) {
    t.same(spec('Role/edge-metaserver-cloud', ns)[0].rules, spec('Role/edge-metaserver-cloud', ns)[1].rules, `the same Role in ${ns}`)
    t.same(spec('RoleBinding/edge-metaserver-cloud', ns)[0].subjects, spec('RoleBinding/edge-metaserver-cloud', ns)[1].subjects)
  }
  t.same(spec('Service/edge-metaserver-cloud')[0].spec, spec('Service/edge-metaserver-cloud')[1].spec, 'LoadBalancer, tunnel and join ports')
  t.same(spec('PodDisruptionBudget/edge-metaserver-cloud')[0].spec, spec('PodDisruptionBudget/edge-metaserver-cloud')[1].spec)
  const config = (o: any): unknown => {
    const r = parseConfigText(o.data['config.yaml'], 'config.yaml', '/etc/edge-metaserver')
    if (!r.ok) throw new Error(JSON.stringify(r.errors))
    return r.config
  }
  t.same(config(spec('ConfigMap/edge-metaserver-cloud')[0]), config(spec('ConfigMap/edge-metaserver-cloud')[1]), 'the same shim config')

  const ns = await kubectl(['apply', '-f', join(DEPLOY, '00-namespace.yaml')])
  t.equal(ns.code, 0, ns.stderr)
  const r = await dryRun(yaml)
  t.equal(r.code, 0, r.stderr)
  t.equal(r.stderr, '', 'no warnings')
  t.equal(r.stdout.trim().split('\n').length, objects.length, `every object accepted:\n${r.stdout}`)
})

t.test('chart values: NodePort with the health port, ServiceMonitor and PodMonitor, the Secret made from four files', async (t) => {
  // Stand-ins for the Prometheus Operator's CRDs (same group, kinds and scope; schema left open).
  const crds = ['ServiceMonitor', 'PodMonitor'].map((kind) => ({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition',
    metadata: { name: `${kind.toLowerCase()}s.monitoring.coreos.com` },
    spec: {
      group: 'monitoring.coreos.com', scope: 'Namespaced',
      names: { kind, plural: `${kind.toLowerCase()}s`, singular: kind.toLowerCase(), listKind: `${kind}List` },
      versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: { type: 'object', 'x-kubernetes-preserve-unknown-fields': true } } }],
    },
  }))
  const applied = await runCommand(bin.KUBECTL, ['--kubeconfig', cluster.adminKubeconfig, 'apply', '-f', '-'], { stdin: crds.map((c) => JSON.stringify(c)).join('\n---\n') })
  t.equal(applied.code, 0, applied.stderr)
  await kubectl(['wait', '--for=condition=Established', '--timeout=30s', 'crd/servicemonitors.monitoring.coreos.com', 'crd/podmonitors.monitoring.coreos.com'])

  const pki = join(cluster.dir, 'chart-pki')
  const files = { tlsCrt: join(pki, 'cloud.crt'), tlsKey: join(pki, 'cloud.key'), tunnelCaCrt: join(pki, 'tunnel-ca.crt'), tunnelCaKey: join(pki, 'tunnel-ca.key') }
  await mkdir(pki, { recursive: true })
  for (const [k, f] of Object.entries(files)) await writeFile(f, `-----BEGIN TEST ${k}-----\n-----END TEST ${k}-----\n`)
  const { yaml, objects } = await render(t, ['--set', 'service.type=NodePort', '--set', 'service.tunnelNodePort=30560', '--set', 'service.exposeHealth=true',
    '--set', 'serviceMonitor.enabled=true', '--set', 'podMonitor.enabled=true', '--set', 'tunnelSecret.create=true',
    ...Object.entries(files).flatMap(([k, f]) => ['--set-file', `tunnelSecret.${k}=${f}`])])
  const byName = byKey(objects)
  const o = { get: (k: string): any => byName.get(`${k}@${NAMESPACE}`) }
  const service = o.get('Service/edge-metaserver-cloud')
  t.equal(service.spec.type, 'NodePort')
  t.same(service.spec.ports, [
    { name: 'tunnel', port: 10560, targetPort: 'tunnel', protocol: 'TCP', nodePort: 30560 },
    { name: 'join', port: 10562, targetPort: 'join', protocol: 'TCP' },
    { name: 'health', port: 10561, targetPort: 'health', protocol: 'TCP' },
  ])
  const secret = o.get('Secret/edge-metaserver-cloud-tls')
  t.same(Object.keys(secret.data).sort(), ['tls.crt', 'tls.key', 'tunnel-ca.crt', 'tunnel-ca.key'], 'the four keys the shim mounts')
  t.equal(Buffer.from(secret.data['tunnel-ca.crt'], 'base64').toString(), await readFile(files.tunnelCaCrt, 'utf8'))
  const sm = o.get('ServiceMonitor/edge-metaserver-cloud')
  t.same(sm.spec.selector.matchLabels, service.spec.selector, 'the ServiceMonitor selects the Service')
  t.match(sm.spec.endpoints, [{ port: 'health', path: '/metrics' }])
  t.match(o.get('PodMonitor/edge-metaserver-cloud').spec.podMetricsEndpoints, [{ port: 'health', path: '/metrics' }])

  const r = await dryRun(yaml)
  t.equal(r.code, 0, r.stderr)
  for (const k of ['service/edge-metaserver-cloud', 'secret/edge-metaserver-cloud-tls', 'servicemonitor.monitoring.coreos.com/edge-metaserver-cloud', 'podmonitor.monitoring.coreos.com/edge-metaserver-cloud']) {
    t.match(r.stdout, `${k} `, `${k} accepted (server dry run)`)
  }
})

t.test('chart values that cannot work are refused at render time, naming the value', async (t) => {
  const bad = async (args: string[]): Promise<string> => {
    const r = await helm(['template', 'ems', CHART, '--namespace', NAMESPACE, ...args])
    t.not(r.code, 0, args.join(' '))
    return r.stderr
  }
  t.match(await bad(['--set', 'service.type=Loadbalancer']), 'service.type must be LoadBalancer, NodePort or ClusterIP, got "Loadbalancer"')
  t.match(await bad(['--set', 'serviceMonitor.enabled=true']), 'serviceMonitor.enabled needs service.exposeHealth: true')
  t.match(await bad(['--set', 'tunnelSecret.create=true']), 'tunnelSecret.tlsCrt: the tunnel serving certificate (PEM) is required')
})
