// client-go's own codec (main.go beside this file, client-go v0.37.2) as the oracle for
// src/kube/protobuf, on the golden kube-apiserver answers and on seeded generated objects that
// no apiserver normalised:
//   - client-go decodes our protobuf into the object the apiserver's JSON describes (what a
//     typed informer gets from an offline protobuf answer);
//   - our bytes for an object are client-go's bytes for it (what a typed clientset writes);
//   - our JSON view of our bytes is client-go's JSON view of them.
// Needs Go (as the test bed build does); the helper builds in seconds once client-go is compiled.
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { decodeObject, encodeObject, type JsonObject } from '../../../src/kube/protobuf/codec.js'
import { goBinary } from '../../helpers/go.js'
import { prng } from '../../helpers/prng.js'

const here = dirname(fileURLToPath(import.meta.url))
const fixtures = join(here, '..', 'protobuf', 'fixtures')
const seed = Number(process.env.PROTO_SEED ?? (Date.now() % 2 ** 31))
t.comment(`seed ${seed} (replay: PROTO_SEED=${seed} npx tap test/kube/protobuf-go/client-go.test.ts)`)

const work = mkdtempSync(join(tmpdir(), 'protobuf-go-'))
t.teardown(() => rmSync(work, { recursive: true, force: true }))
const started = Date.now()
execFileSync(goBinary(), ['build', '-o', join(work, 'protobuf-go'), '.'], { cwd: here, stdio: ['ignore', 'inherit', 'inherit'] })
t.comment(`client-go helper built in ${Date.now() - started} ms`)

const child = spawn(join(work, 'protobuf-go'), [], { stdio: ['pipe', 'pipe', 'inherit'] })
t.teardown(() => { child.kill() })
const lines = createInterface({ input: child.stdout })
const waiting: Array<(line: string) => void> = []
lines.on('line', (line) => waiting.shift()?.(line))

/** One request to the Go helper; answers come back in order, one line each. */
async function ask (req: object): Promise<{ json?: any, pb?: string, error?: string }> {
  const answer = new Promise<string>((resolve) => waiting.push(resolve))
  child.stdin.write(JSON.stringify(req) + '\n')
  return JSON.parse(await answer)
}

async function goDecode (bytes: Buffer): Promise<{ json?: any, error?: string }> { return await ask({ op: 'decode', pb: bytes.toString('base64') }) }
async function goEncode (object: JsonObject): Promise<Buffer | string> {
  const a = await ask({ op: 'encode', json: object })
  return a.error !== undefined ? a.error : Buffer.from(a.pb ?? '', 'base64')
}

t.test('golden apiserver answers: client-go decodes our encoding as it decodes the apiserver\'s own bytes', async (t) => {
  const names = readdirSync(fixtures).filter((f) => f.endsWith('.pb') && f !== 'watch.pb').map((f) => f.slice(0, -3))
  for (const name of names) {
    const json = JSON.parse(readFileSync(join(fixtures, `${name}.json`), 'utf8'))
    const ours = encodeObject(json)
    if (!ours.ok) { t.fail(`${name}: ${ours.message}`); continue }
    const go = await goDecode(ours.bytes)
    const direct = await goDecode(readFileSync(join(fixtures, `${name}.pb`)))
    if (go.error !== undefined || direct.error !== undefined) { t.fail(`${name}: client-go: ${go.error ?? direct.error}`); continue }
    t.strictSame(go.json, direct.json, `${name}: client-go's object from our bytes = from the apiserver's bytes`)
    // What protobuf cannot carry and client-go therefore leaves out: an empty list's items are nil
    // (the apiserver writes []), PartialObjectMetadataList items have no TypeMeta.
    const lossy = name === 'emptylist' || name === 'partialmetadatalist'
    if (!lossy) t.strictSame(go.json, json, `${name}: client-go's object = the apiserver's JSON`)
  }
})

// ---------------------------------------------------------------------------------------------
// generated objects: every shape a client might write, none normalised by an apiserver

const random = prng(seed)
const int = (n: number): number => Math.floor(random() * n)
const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!
const maybe = <T>(v: () => T): T | undefined => random() < 0.5 ? v() : undefined
const STRINGS = ['', 'a', 'ü', '😀', '<&>', '"q"', '\\', 'line\nbreak', '中文', 'x'.repeat(200), '\u0000', '9', '10']
const str = (): string => pick(STRINGS) + (random() < 0.3 ? pick(STRINGS) : '')
const map = (): Record<string, string> => Object.fromEntries(Array.from({ length: int(5) }, () => [str(), str()]))
// canonical Quantity strings only: client-go canonicalises others (see the codec's notes)
const QUANTITIES = ['0', '1', '100m', '1500m', '2Gi', '512Mi', '1G', '1k', '10M', '123456789', '1e3']
const INT32 = (): number => pick([0, 1, -1, 127, 128, 2 ** 31 - 1, -(2 ** 31), int(1000)])
const INT64 = (): number => pick([0, 1, -1, 2 ** 40, -(2 ** 40), 2 ** 53 - 1, int(100000)])
const TIME = (): string => new Date(Date.UTC(1970 + int(100), int(12), 1 + int(28), int(24), int(60), int(60))).toISOString().slice(0, 19) + 'Z'
const MICRO = (): string => TIME().slice(0, 19) + '.' + String(int(1e6)).padStart(6, '0') + 'Z'
/** The object without its undefined properties (a generated optional field left out). */
const strip = (o: Record<string, unknown>): any => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined))

function meta (): any {
  return strip({
    name: str(), namespace: maybe(str), labels: maybe(map), annotations: maybe(map), generation: maybe(INT64),
    creationTimestamp: maybe(TIME), deletionGracePeriodSeconds: maybe(INT64), finalizers: maybe(() => [str(), str()]),
    ownerReferences: maybe(() => [strip({ apiVersion: 'v1', kind: str(), name: str(), uid: str(), controller: maybe(() => random() < 0.5), blockOwnerDeletion: maybe(() => false) })]),
  })
}

function container (): any {
  return strip({
    name: str(), image: maybe(str), command: maybe(() => [str()]), args: maybe(() => []),
    ports: maybe(() => [strip({ containerPort: INT32(), hostPort: maybe(INT32), protocol: maybe(() => pick(['TCP', 'UDP'])), name: maybe(str) })]),
    env: maybe(() => [{ name: str(), value: str() }, { name: str(), valueFrom: { fieldRef: { fieldPath: str() } } }]),
    resources: maybe(() => strip({ limits: maybe(() => ({ cpu: pick(QUANTITIES) })), requests: maybe(() => ({ memory: pick(QUANTITIES), cpu: pick(QUANTITIES) })) })),
    livenessProbe: maybe(() => strip({ httpGet: { port: random() < 0.5 ? INT32() : str(), path: maybe(str) }, periodSeconds: maybe(INT32), successThreshold: maybe(INT32) })),
    securityContext: maybe(() => strip({ privileged: maybe(() => random() < 0.5), runAsUser: maybe(INT64), capabilities: maybe(() => ({ add: [str()] })) })),
    stdin: maybe(() => random() < 0.5), tty: maybe(() => false),
  })
}

const GENERATORS: Array<() => any> = [
  () => strip({ apiVersion: 'v1', kind: 'ConfigMap', metadata: meta(), data: maybe(map), binaryData: maybe(() => ({ [str()]: Buffer.from(str()).toString('base64') })), immutable: maybe(() => random() < 0.5) }),
  () => strip({ apiVersion: 'v1', kind: 'Secret', metadata: meta(), type: maybe(str), data: maybe(() => ({ a: '', b: Buffer.from([int(256), int(256)]).toString('base64') })) }),
  () => ({
    apiVersion: 'v1', kind: 'Pod', metadata: meta(),
    spec: strip({
      containers: Array.from({ length: int(3) }, container), initContainers: maybe(() => [container()]),
      priority: maybe(INT32), activeDeadlineSeconds: maybe(INT64), nodeSelector: maybe(map), hostNetwork: maybe(() => random() < 0.5),
      tolerations: maybe(() => [strip({ key: str(), operator: 'Exists', tolerationSeconds: maybe(INT64) })]),
      volumes: maybe(() => [{ name: str(), emptyDir: strip({ sizeLimit: maybe(() => pick(QUANTITIES)) }) }, { name: str(), configMap: strip({ name: str(), optional: maybe(() => true), defaultMode: maybe(INT32) }) }]),
      securityContext: maybe(() => strip({ supplementalGroups: maybe(() => [INT64(), INT64()]), fsGroup: maybe(INT64) })),
    }),
    status: strip({ phase: maybe(str), startTime: maybe(TIME), podIP: maybe(str), containerStatuses: maybe(() => [{ name: str(), ready: random() < 0.5, restartCount: INT32(), image: str(), imageID: str() }]) }),
  }),
  () => ({
    apiVersion: 'v1', kind: 'Service', metadata: meta(),
    spec: strip({ type: maybe(() => pick(['ClusterIP', 'NodePort'])), selector: maybe(map), clusterIPs: maybe(() => [str()]), ports: maybe(() => [strip({ port: INT32(), targetPort: maybe(() => random() < 0.5 ? INT32() : str()), nodePort: maybe(INT32) })]), sessionAffinityConfig: maybe(() => ({ clientIP: { timeoutSeconds: INT32() } })) }),
  }),
  () => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: meta(), spec: strip({ holderIdentity: maybe(str), leaseDurationSeconds: maybe(INT32), acquireTime: maybe(MICRO), renewTime: maybe(MICRO), leaseTransitions: maybe(INT32) }) }),
  () => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: meta(),
    spec: strip({
      replicas: maybe(INT32), paused: maybe(() => random() < 0.5), selector: maybe(() => ({ matchLabels: map(), matchExpressions: [{ key: str(), operator: 'In', values: [str()] }] })),
      template: { metadata: meta(), spec: { containers: [container()] } },
      strategy: maybe(() => ({ type: 'RollingUpdate', rollingUpdate: strip({ maxSurge: maybe(() => random() < 0.5 ? INT32() : `${int(100)}%`), maxUnavailable: maybe(INT32) }) })),
    }),
    status: strip({ replicas: maybe(INT32), conditions: maybe(() => [strip({ type: str(), status: 'True', lastUpdateTime: maybe(TIME), lastTransitionTime: maybe(TIME), reason: maybe(str) })]) }),
  }),
  () => strip({
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: meta(), addressType: 'IPv4',
    endpoints: [strip({ addresses: [str()], conditions: strip({ ready: maybe(() => random() < 0.5), serving: maybe(() => false) }), nodeName: maybe(str) })],
    ports: maybe(() => [strip({ name: maybe(str), port: maybe(INT32), protocol: maybe(() => 'TCP') })]),
  }),
  () => strip({ apiVersion: 'v1', kind: 'Event', metadata: meta(), involvedObject: { kind: str(), name: str() }, reason: maybe(str), count: maybe(INT32), firstTimestamp: maybe(TIME), eventTime: maybe(MICRO), series: maybe(() => ({ count: INT32(), lastObservedTime: MICRO() })) }),
  () => strip({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: meta(), revision: INT64(), data: maybe(() => ({ spec: { x: [1, str(), null, { y: random() < 0.5 }] } })) }),
  () => ({
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: meta(),
    spec: {
      group: str(), scope: 'Namespaced', names: { plural: str(), kind: str() },
      versions: [{
        name: 'v1', served: true, storage: true,
        schema: {
          openAPIV3Schema: strip({
            type: 'object', default: maybe(() => ({ a: [1, 'b', null] })), enum: maybe(() => [1, 'two', null]),
            additionalProperties: maybe(() => pick([true, false, { type: 'string' }])),
            items: maybe(() => random() < 0.5 ? { type: 'integer' } : [{ type: 'integer' }, { type: 'string', maxLength: INT64() }]),
            properties: maybe(() => ({ [str()]: strip({ type: 'number', maximum: maybe(() => pick([1.5, -3, 1e20, 0.1])), nullable: maybe(() => true) }) })),
            dependencies: maybe(() => ({ a: ['b'], c: { required: ['d'] } })),
          }),
        },
      }],
    },
  }),
]

t.test('generated objects: our bytes are client-go\'s bytes, and both sides read them the same', async (t) => {
  const count = Number(process.env.PROTO_CASES ?? 300)
  let differences = 0
  for (let i = 0; i < count; i++) {
    const object = GENERATORS[i % GENERATORS.length]!()
    const label = `#${i} ${object.kind as string}`
    const ours = encodeObject(object)
    if (!ours.ok) { t.fail(`${label}: ${ours.message} ${JSON.stringify(object).slice(0, 400)}`); differences++; continue }
    const theirs = await goEncode(object)
    if (typeof theirs === 'string') { t.fail(`${label}: client-go refused: ${theirs}`); differences++; continue }
    if (!ours.bytes.equals(theirs)) {
      t.fail(`${label}: our protobuf differs from client-go's: ${JSON.stringify(object)}`)
      differences++
      continue
    }
    const goView = await goDecode(ours.bytes)
    const ourView = decodeObject(ours.bytes)
    if (goView.error !== undefined || !ourView.ok) { t.fail(`${label}: ${goView.error ?? (ourView as any).message}`); differences++; continue }
    if (JSON.stringify(ourView.object) !== JSON.stringify(goView.json)) {
      t.strictSame(ourView.object, goView.json, `${label}: our JSON of the bytes = client-go's (values and key order)`)
      differences++
    }
  }
  t.equal(differences, 0, `${count} generated objects: bytes and JSON views identical to client-go's`)
})
