// The protobuf codec's pure parts: golden answers captured from kube-apiserver
// (scripts/capture-protobuf-fixtures.ts) decode to their JSON twin and re-encode byte for byte;
// the envelope and watch framing; malformed and JSON-only input; and values the test bed's
// objects rarely carry (negative ints, unknown fields, packed repeated, odd keys).
import t from 'tap'
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  decodeObject, decodeWatchEvent, encodeObject, encodeWatchEvent, isProtobufEncodable, protobufMessageName,
  type JsonObject,
} from '../../../src/kube/protobuf/codec.js'
import { FrameSplitter } from '../../../src/util/frames.js'

const fixtures = join(dirname(fileURLToPath(import.meta.url)), 'fixtures')
const names = readdirSync(fixtures).filter((f) => f.endsWith('.pb') && f !== 'watch.pb').map((f) => f.slice(0, -3))

t.test('golden kube-apiserver answers: decode = JSON answer, encode(JSON answer) = protobuf answer', async (t) => {
  t.ok(names.length >= 10, `${names.length} fixtures`)
  for (const name of names) {
    const pb = readFileSync(join(fixtures, `${name}.pb`))
    const jsonText = readFileSync(join(fixtures, `${name}.json`), 'utf8')
    const json = JSON.parse(jsonText)
    const decoded = decodeObject(pb)
    t.ok(decoded.ok, `${name}: decodes`)
    if (!decoded.ok) continue
    t.strictSame(decoded.object, json, `${name}: decoded = JSON answer`)
    t.equal(JSON.stringify(decoded.object) + '\n', jsonText, `${name}: JSON.stringify(decoded) is the apiserver's JSON text`)
    const encoded = encodeObject(json)
    t.ok(encoded.ok && encoded.bytes.equals(pb), `${name}: encoded = protobuf answer byte for byte`)
  }
})

t.test('a protobuf watch stream: frames split at any chunk boundary, each = its JSON event', async (t) => {
  const stream = readFileSync(join(fixtures, 'watch.pb'))
  const jsonEvents = readFileSync(join(fixtures, 'watch.json'), 'utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l))
  const splitter = new FrameSplitter(1 << 20)
  const whole = { frames: splitter.push(stream) }
  t.equal(splitter.pendingBytes, 0)
  t.equal(whole.frames.length, jsonEvents.length)
  whole.frames.forEach((frame, i) => {
    const decoded = decodeWatchEvent(frame)
    t.ok(decoded.ok)
    if (!decoded.ok) return
    t.strictSame(decoded.event, jsonEvents[i], `event ${i} (${decoded.event.type})`)
    const encoded = encodeWatchEvent(jsonEvents[i])
    t.ok(encoded.ok && encoded.bytes.equals(stream.subarray(stream.indexOf(frame) - 4, stream.indexOf(frame) + frame.length)), `event ${i} re-encodes byte for byte`)
  })
  // every split point: the frames that come out are the same
  for (let cut = 0; cut <= stream.length; cut++) {
    const s = new FrameSplitter(1 << 20)
    const frames = [...s.push(stream.subarray(0, cut)), ...s.push(stream.subarray(cut))]
    if (frames.length !== whole.frames.length || !frames.every((f, i) => f.equals(whole.frames[i]!))) { t.fail(`split at ${cut}`); return }
  }
  t.pass('every split point yields the same frames')
  t.throws(() => new FrameSplitter(1 << 20).push(Buffer.from([0x7f, 0, 0, 0])), /longer than/, 'an oversized frame length is refused, not buffered')
})

t.test('kinds: built-in groups and meta kinds have a message; custom resources and Table do not', async (t) => {
  t.equal(protobufMessageName('v1', 'Pod'), 'k8s.io.api.core.v1.Pod')
  t.equal(protobufMessageName('apps/v1', 'DeploymentList'), 'k8s.io.api.apps.v1.DeploymentList')
  t.equal(protobufMessageName('rbac.authorization.k8s.io/v1', 'RoleBinding'), 'k8s.io.api.rbac.v1.RoleBinding')
  t.equal(protobufMessageName('v1', 'Status'), 'k8s.io.apimachinery.pkg.apis.meta.v1.Status')
  t.equal(protobufMessageName('meta.k8s.io/v1', 'PartialObjectMetadataList'), 'k8s.io.apimachinery.pkg.apis.meta.v1.PartialObjectMetadataList')
  t.notOk(isProtobufEncodable('meta.k8s.io/v1', 'Table'))
  t.notOk(isProtobufEncodable('example.com/v1', 'Widget'))
  t.notOk(isProtobufEncodable('v1', 'NoSuchKind'))
  t.match(encodeObject({ apiVersion: 'example.com/v1', kind: 'Widget', metadata: { name: 'w' } }), { ok: false, reason: 'not-protobuf-encodable' })
  t.match(encodeObject({ metadata: { name: 'w' } }), { ok: false, reason: 'malformed' })
})

t.test('malformed protobuf is a result, never an exception', async (t) => {
  const good = readFileSync(join(fixtures, 'configmap.pb'))
  t.match(decodeObject(Buffer.from('{"kind":"ConfigMap"}')), { ok: false, reason: 'malformed', message: /k8s\\0/ })
  t.match(decodeObject(Buffer.alloc(0)), { ok: false, reason: 'malformed' })
  for (let cut = 5; cut < good.length; cut += 7) {
    const r = decodeObject(good.subarray(0, cut))
    if (r.ok) continue // a cut at a field boundary of the outer envelope can still parse
    t.equal(r.reason, 'malformed', `truncated at ${cut}`)
  }
  const flipped = Buffer.from(good)
  flipped[good.length - 20] = 0xff
  const r = decodeObject(flipped)
  t.ok(r.ok || r.reason === 'malformed', 'a flipped byte gives a result')
  t.match(decodeWatchEvent(Buffer.from([0x0a, 0x05, 0x41])), { ok: false, reason: 'malformed' })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 5 } } as unknown as JsonObject), { ok: false, reason: 'malformed' })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'Event', metadata: {}, firstTimestamp: 'yesterday' }), { ok: false, reason: 'malformed', message: /RFC 3339/ })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'Event', metadata: {}, count: 1.5 }), { ok: false, reason: 'malformed', message: /not an integer/ })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'Event', metadata: {}, count: '3' }), { ok: false, reason: 'malformed', message: /want a number/ })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'Service', metadata: {}, spec: { ports: [{ port: 1, targetPort: 0.5 }] } }), { ok: false, reason: 'malformed' })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: {}, immutable: 'yes' }), { ok: false, reason: 'malformed', message: /boolean/ })
  t.match(encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { labels: ['a'] } }), { ok: false, reason: 'malformed', message: /object/ })
})

function roundTrip (object: JsonObject): JsonObject {
  const e = encodeObject(object)
  if (!e.ok) throw new Error(e.message)
  const d = decodeObject(e.bytes)
  if (!d.ok) throw new Error(d.message)
  return d.object
}

t.test('values the golden objects do not carry', async (t) => {
  const pod = roundTrip({ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', generation: 2 ** 40 }, spec: { priority: -5, containers: [], securityContext: { runAsUser: -1, supplementalGroups: [0, -3, 2 ** 31] } } })
  t.equal((pod.spec as any).priority, -5, 'negative int32 (10-byte varint)')
  t.equal((pod.spec as any).securityContext.runAsUser, -1, 'negative int64')
  t.same((pod.spec as any).securityContext.supplementalGroups, [0, -3, 2 ** 31])
  t.equal((pod.metadata as any).generation, 2 ** 40)
  t.same(pod.status, {}, 'a struct absent from the JSON is written as {} (Go value field)')

  const cm = roundTrip({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { 10: 'a', 9: 'b', é: 'c', Z: 'd' } }, data: { '': 'empty key' } })
  t.same((cm.metadata as any).labels, { 10: 'a', 9: 'b', é: 'c', Z: 'd' })
  t.same(cm.data, { '': 'empty key' })
  const bytes = (encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c', labels: { 9: 'b', 10: 'a', é: 'c', Z: 'd' } } }) as any).bytes as Buffer
  const order = ['10', '9', 'Z', 'é'].map((k) => bytes.indexOf(Buffer.from(`\n${String.fromCharCode(Buffer.byteLength(k))}${k}`)))
  t.ok(order.every((p, i) => p > 0 && (i === 0 || p > order[i - 1]!)), 'map entries in Go byte order: "10" < "9" < "Z" < "é"')

  const svc = roundTrip({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec: { ports: [{ port: 1, targetPort: 0 }, { port: 2, targetPort: 'http' }, { port: 3 }] } })
  t.same((svc.spec as any).ports.map((p: any) => p.targetPort), [0, 'http', 0], 'IntOrString: int, string, and the zero value of a value field')

  const lease = roundTrip({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', creationTimestamp: '2026-01-02T03:04:05+01:00' }, spec: { renewTime: '2026-01-02T03:04:05.1234567Z', acquireTime: '0001-01-01T00:00:00Z' } })
  t.equal((lease.metadata as any).creationTimestamp, '2026-01-02T02:04:05Z', 'Time: offsets normalised to UTC, whole seconds')
  t.equal((lease.spec as any).renewTime, '2026-01-02T03:04:05.123456Z', 'MicroTime: truncated to microseconds')
  t.equal((lease.spec as any).acquireTime, null, 'Go\'s zero time (0001-01-01) is written as nothing, and reads back as null')
  const early = roundTrip({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l' }, spec: { renewTime: '0001-01-01T00:00:01.000000Z' } })
  t.equal((early.spec as any).renewTime, '0001-01-01T00:00:01.000000Z', 'year 1 survives (Date.UTC alone would map it to 1901)')

  const secret = roundTrip({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 's' }, data: { a: '', b: Buffer.from([0, 255]).toString('base64') } })
  t.same(secret.data, { a: '', b: 'AP8=' }, 'bytes map values, empty included')

  const cr = roundTrip({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, revision: 1, data: { x: [1, 'a', null, { y: true }] } })
  t.same(cr.data, { x: [1, 'a', null, { y: true }] }, 'RawExtension carries JSON')
  const noData = roundTrip({ apiVersion: 'apps/v1', kind: 'ControllerRevision', metadata: { name: 'r' }, revision: 1 })
  t.equal(noData.data, null, 'an empty RawExtension is null, as Go writes it')
})

t.test('unknown fields from a newer server are skipped; packed repeated ints are read', async (t) => {
  const e = encodeObject({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: { k: 'v' } })
  if (!e.ok) throw new Error(e.message)
  // Append to the Unknown's raw: field 99 (varint 7) and field 98 (bytes "zz") inside ConfigMap.
  const decoded = decodeObject(e.bytes)
  t.ok(decoded.ok)
  const withExtra = injectIntoRaw(e.bytes, Buffer.from([0x98, 0x06, 0x07, 0x92, 0x06, 0x02, 0x7a, 0x7a]))
  const d2 = decodeObject(withExtra)
  t.ok(d2.ok && JSON.stringify(d2.object) === JSON.stringify((decoded as any).object), 'same JSON with unknown fields present')

  // A Pod whose spec.securityContext.supplementalGroups (PodSpec 14 → PodSecurityContext 4) is packed.
  const typeMeta = Buffer.from([0x0a, 0x02, ...Buffer.from('v1'), 0x12, 0x03, ...Buffer.from('Pod')])
  const raw = Buffer.from([0x12, 0x07, 0x72, 0x05, 0x22, 0x03, 0x01, 0x02, 0x03])
  const envelope = Buffer.concat([Buffer.from('k8s\0', 'latin1'), Buffer.from([0x0a, typeMeta.length]), typeMeta, Buffer.from([0x12, raw.length]), raw])
  const pod = decodeObject(envelope)
  t.ok(pod.ok)
  t.same((pod as any).object.spec.securityContext.supplementalGroups, [1, 2, 3], 'packed repeated int64')
})

/** Re-frames `k8s\0`+Unknown bytes with `extra` appended to the typed message in raw (field 2). */
function injectIntoRaw (envelope: Buffer, extra: Buffer): Buffer {
  // The Unknown written by encodeObject: typeMeta (field 1), raw (field 2), then two empty strings.
  let pos = 4
  const readVarint = (): number => { let v = 0; let s = 1; for (;;) { const b = envelope[pos++]!; v += (b & 0x7f) * s; if (b < 0x80) return v; s *= 128 } }
  const parts: Buffer[] = [envelope.subarray(0, 4)]
  while (pos < envelope.length) {
    const start = pos
    const tag = readVarint()
    const len = readVarint()
    const body = envelope.subarray(pos, pos + len)
    pos += len
    if (tag !== 0x12) { parts.push(envelope.subarray(start, pos)); continue }
    const raw = Buffer.concat([body, extra])
    const lenBytes: number[] = []
    for (let n = raw.length; ; n = Math.floor(n / 128)) { if (n < 128) { lenBytes.push(n); break } lenBytes.push((n % 128) | 0x80) }
    parts.push(Buffer.from([0x12, ...lenBytes]), raw)
  }
  return Buffer.concat(parts)
}

t.test('apiextensions JSON-schema unions read and write as marshal.go does', async (t) => {
  const schema = {
    type: 'object',
    default: { a: [1, 'x', null] },
    enum: [{ k: 1 }, 'two', 3, null],
    properties: {
      open: { type: 'object', additionalProperties: true },
      shut: { type: 'object', additionalProperties: false },
      typed: { type: 'object', additionalProperties: { type: 'string' } },
      list: { type: 'array', items: { type: 'integer' } },
      tuple: { type: 'array', items: [{ type: 'integer' }, { type: 'string' }] },
    },
    dependencies: { a: ['b', 'c'], d: { required: ['e'] } },
  }
  const crd = {
    apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinition', metadata: { name: 'xs.example.com' },
    spec: { group: 'example.com', names: { plural: 'xs', kind: 'X' }, scope: 'Namespaced', versions: [{ name: 'v1', served: true, storage: true, schema: { openAPIV3Schema: schema } }] },
  }
  const back = roundTrip(crd) as any
  const s = back.spec.versions[0].schema.openAPIV3Schema
  t.same(s.default, schema.default, 'JSON default: raw JSON')
  t.same(s.enum, schema.enum, 'JSON enum values, null included')
  t.equal(s.properties.open.additionalProperties, true, 'OrBool: true')
  t.equal(s.properties.shut.additionalProperties, false, 'OrBool: false')
  t.same(s.properties.typed.additionalProperties, { type: 'string' }, 'OrBool: a schema')
  t.same(s.properties.list.items, { type: 'integer' }, 'OrArray: one schema')
  t.same(s.properties.tuple.items, [{ type: 'integer' }, { type: 'string' }], 'OrArray: a list of schemas')
  t.same(s.dependencies, schema.dependencies, 'OrStringArray: strings and a schema')
  t.equal(s.properties.list.additionalProperties, undefined, 'an absent pointer union stays absent')
})

t.test('an ERROR watch event carries a Status (410 Gone) both ways', async (t) => {
  const event = {
    type: 'ERROR',
    object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'too old resource version: 1 (200)', reason: 'Expired', code: 410 },
  }
  const frame = encodeWatchEvent(event)
  t.ok(frame.ok)
  if (!frame.ok) return
  const frames = new FrameSplitter(1 << 20).push(frame.bytes)
  t.equal(frames.length, 1)
  const back = decodeWatchEvent(frames[0]!)
  t.strictSame(back, { ok: true, event }, 'decodes to the same event (Status fields in Go order)')
})
