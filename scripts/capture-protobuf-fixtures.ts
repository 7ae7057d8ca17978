// Captures golden protobuf/JSON answer pairs from the real test bed for the protobuf codec's unit
// tests (test/kube/protobuf/fixtures/). Each fixture is the same object (same resourceVersion)
// as kube-apiserver serves it with Accept protobuf (NAME.pb) and JSON (NAME.json); watch.pb is a
// raw protobuf watch stream with its JSON events in watch.json.
// usage: npx tsx scripts/capture-protobuf-fixtures.ts   (starts its own etcd + kube-apiserver)
import { writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { request } from 'undici'
import { TestCluster } from '../test/cluster/cluster.js'

const out = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'kube', 'protobuf', 'fixtures')
const PB = 'application/vnd.kubernetes.protobuf'
const cluster = await TestCluster.start({ controllerManager: false })
try {
  const a = cluster.admin
  const ns = '/api/v1/namespaces/fixtures'
  await a.must('POST', '/api/v1/namespaces', { body: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'fixtures' } } })
  await a.must('POST', `${ns}/serviceaccounts`, { body: { metadata: { name: 'default' } } })
  await a.must('POST', `${ns}/configmaps`, { body: { metadata: { name: 'cm', labels: { b: '2', a: '1' } }, data: { x: 'y', empty: '' }, binaryData: { bin: 'AAEC/w==' } } })
  await a.must('POST', `${ns}/secrets`, { body: { metadata: { name: 's' }, data: { k: 'aHVudGVyMg==' }, type: 'Opaque' } })
  await a.must('POST', `${ns}/services`, { body: { metadata: { name: 'svc' }, spec: { selector: { app: 'x' }, ports: [{ name: 'a', port: 80, targetPort: 8080 }, { name: 'b', port: 81, targetPort: 'web' }] } } })
  await a.must('POST', `${ns}/pods`, {
    body: {
      metadata: { name: 'pod' },
      spec: {
        containers: [{ name: 'c', image: 'i', resources: { requests: { cpu: '250m', memory: '64Mi' } }, livenessProbe: { httpGet: { path: '/', port: 'http' } }, ports: [{ name: 'http', containerPort: 80 }] }],
        volumes: [{ name: 'e', emptyDir: { sizeLimit: '1Gi' } }], securityContext: { supplementalGroups: [1, 2] }, priority: 0,
      },
    },
  })
  await a.must('POST', '/apis/apps/v1/namespaces/fixtures/deployments', {
    body: { metadata: { name: 'd' }, spec: { selector: { matchLabels: { a: 'b' } }, strategy: { rollingUpdate: { maxSurge: 1, maxUnavailable: '10%' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'i' }] } } } },
  })
  await a.must('POST', '/apis/coordination.k8s.io/v1/namespaces/fixtures/leases', {
    body: { metadata: { name: 'l' }, spec: { holderIdentity: 'h', leaseDurationSeconds: 10, renewTime: '2026-12-02T07:16:14.123456Z' } },
  })
  await a.must('POST', '/apis/apps/v1/namespaces/fixtures/controllerrevisions', { body: { metadata: { name: 'r' }, revision: 1, data: { any: ['json', 1, null] } } })
  const fixtures: Record<string, [string, string]> = {
    configmap: [`${ns}/configmaps/cm`, ''],
    secret: [`${ns}/secrets/s`, ''],
    service: [`${ns}/services/svc`, ''],
    pod: [`${ns}/pods/pod`, ''],
    deployment: ['/apis/apps/v1/namespaces/fixtures/deployments/d', ''],
    lease: ['/apis/coordination.k8s.io/v1/namespaces/fixtures/leases/l', ''],
    controllerrevision: ['/apis/apps/v1/namespaces/fixtures/controllerrevisions/r', ''],
    configmaplist: [`${ns}/configmaps`, ''],
    emptylist: [`${ns}/endpoints`, ''],
    partialmetadatalist: [`${ns}/configmaps`, ';as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'],
    status404: [`${ns}/configmaps/missing`, ''],
  }
  for (const [name, [path, suffix]] of Object.entries(fixtures)) {
    const pb = await a.get(path, { headers: { accept: PB + suffix } })
    const json = await a.get(path, { headers: { accept: 'application/json' + suffix } })
    writeFileSync(join(out, `${name}.pb`), pb.raw)
    writeFileSync(join(out, `${name}.json`), json.raw)
  }
  const watch = async (accept: string): Promise<Buffer> => {
    const controller = new AbortController()
    const res = await request(new URL(`${ns}/configmaps?watch=1&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true`, cluster.url), {
      headers: { accept, authorization: `Bearer ${cluster.adminToken}` }, signal: controller.signal,
      dispatcher: (a as any).dispatcher,
    })
    const chunks: Buffer[] = []
    try {
      for await (const chunk of res.body) {
        chunks.push(chunk)
        if (Buffer.concat(chunks).includes('initial-events-end')) break
      }
    } finally { controller.abort() }
    return Buffer.concat(chunks)
  }
  writeFileSync(join(out, 'watch.pb'), await watch(PB))
  writeFileSync(join(out, 'watch.json'), await watch('application/json'))
  console.log(`fixtures written to ${out} from kube-apiserver ${(await a.must('GET', '/version')).gitVersion}`)
} finally { await cluster.stop() }
