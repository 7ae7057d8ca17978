// Kubernetes protobuf ⇄ JSON for built-in kinds: the public entry points.
//
// Wire format (k8s.io/apimachinery/pkg/runtime/serializer/protobuf):
//   object      = "k8s\0" + runtime.Unknown{typeMeta{apiVersion, kind}, raw = the typed message,
//                 contentEncoding "", contentType ""}
//   watch frame = uint32 big-endian length + metav1.WatchEvent{type, object: RawExtension{raw =
//                 an `object` as above}} (no magic, no Unknown around the event itself)
// Custom resources, Table and anything else without a generated.proto message are not
// protobuf-encodable: kube-apiserver answers those in JSON only, and so must the caller.
//
// The JSON is kube-apiserver's own: decodeObject(its protobuf) deep-equals its JSON answer, with
// the same key order, and encodeObject(its JSON answer) is its protobuf byte for byte (proven in
// test/e2e/protobuf-codec.test.ts and against client-go in test/kube/protobuf-go/). Known limits:
//   - int64 beyond 2^53 loses precision (JSON numbers in JS);
//   - a Quantity string is copied as is (client-go would canonicalise "1.5" to "1500m"; the
//     apiserver always writes canonical ones);
//   - RawExtension/FieldsV1/apiextensions JSON bytes are re-serialised compactly (the apiserver
//     stores what the writer sent; it writes compact JSON itself);
//   - against an apiserver older than the schema, our bytes add the newer value fields as zeros
//     (client-go skips unknown fields; the decoded object is the same).
import { k8sApiSchema } from './k8s-api.schema.js'
import { decodeFields, encodeFields, hasMessage, message, type Json, type JsonObject } from './message-codec.js'
import { META } from './well-known.js'
import { frame } from '../../util/frames.js'
import { ProtobufError, Reader, WIRE_BYTES, Writer } from './wire.js'

export type { Json, JsonObject }
export { ProtobufError }

/** The 4 bytes before every Kubernetes protobuf object. */
export const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00])
export const PROTOBUF_MEDIA_TYPE = 'application/vnd.kubernetes.protobuf'

export type DecodeResult =
  | { ok: true, apiVersion: string, kind: string, object: JsonObject }
  | { ok: false, reason: 'malformed' | 'not-protobuf-encodable', message: string }

export type EncodeResult =
  | { ok: true, bytes: Buffer }
  | { ok: false, reason: 'malformed' | 'not-protobuf-encodable', message: string }

// Kinds every group version serves from meta/v1 (errors, watch events, options, discovery).
const META_KINDS = new Set(['Status', 'WatchEvent', 'DeleteOptions', 'ListOptions', 'GetOptions', 'CreateOptions',
  'UpdateOptions', 'PatchOptions', 'APIVersions', 'APIGroupList', 'APIGroup', 'APIResourceList'])

const PARTIAL_LISTS = new Set([`${META}.PartialObjectMetadataList`, 'k8s.io.apimachinery.pkg.apis.meta.v1beta1.PartialObjectMetadataList'])

/** The proto message of apiVersion+kind, or undefined when that kind has no protobuf form. */
export function protobufMessageName (apiVersion: string, kind: string): string | undefined {
  const pkg = k8sApiSchema.groups[apiVersion]
  if (pkg !== undefined && hasMessage(`${pkg}.${kind}`)) return `${pkg}.${kind}`
  if (META_KINDS.has(kind) && hasMessage(`${META}.${kind}`)) return `${META}.${kind}`
  return undefined
}

export function isProtobufEncodable (apiVersion: string, kind: string): boolean {
  return protobufMessageName(apiVersion, kind) !== undefined
}

/** Whether a group version's objects have protobuf forms (built-in APIs; never custom resources). */
export function hasProtobufSchema (apiVersion: string): boolean {
  return k8sApiSchema.groups[apiVersion] !== undefined
}

function asBuffer (bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

function failure (e: unknown): { ok: false, reason: 'malformed', message: string } {
  if (e instanceof ProtobufError || e instanceof RangeError || e instanceof SyntaxError) return { ok: false, reason: 'malformed', message: e.message }
  throw e
}

/** Decodes `k8s\0`+Unknown bytes (a GET/LIST body, or a watch event's object) into the apiserver's JSON. */
export function decodeObject (bytes: Uint8Array): DecodeResult {
  const buf = asBuffer(bytes)
  try {
    if (buf.length < 4 || buf.compare(PROTOBUF_MAGIC, 0, 4, 0, 4) !== 0) throw new ProtobufError('missing the k8s\\0 protobuf prefix')
    let apiVersion = ''; let kind = ''; let raw: [number, number] = [0, 0]
    const r = new Reader(buf, 4)
    while (!r.done()) {
      const tag = r.uvarint()
      if (tag === 0x0a) {
        const [s, e] = r.delimited()
        const tm = new Reader(buf, s, e)
        while (!tm.done()) {
          const t = tm.uvarint()
          if (t === 0x0a) apiVersion = tm.string()
          else if (t === 0x12) kind = tm.string()
          else tm.skip(t & 7)
        }
      } else if (tag === 0x12) raw = r.delimited()
      else if (tag === 0x1a || tag === 0x22) {
        const value = r.string()
        if (value !== '') throw new ProtobufError(`unsupported ${tag === 0x1a ? 'contentEncoding' : 'contentType'} ${JSON.stringify(value)}`)
      } else r.skip(tag & 7)
    }
    const name = protobufMessageName(apiVersion, kind)
    if (name === undefined) return { ok: false, reason: 'not-protobuf-encodable', message: `${apiVersion}, Kind=${kind} has no protobuf schema` }
    const object: JsonObject = { kind, apiVersion }
    decodeFields(message(name), buf, raw[0], raw[1], object)
    // A list's items are never nil in kube-apiserver's answers: an empty list is `"items": []`.
    if (object.items === null && kind.endsWith('List')) object.items = []
    if (PARTIAL_LISTS.has(name)) typeListItems(object, apiVersion, 'PartialObjectMetadata')
    return { ok: true, apiVersion, kind, object }
  } catch (e) { return failure(e) }
}

/**
 * kube-apiserver sets kind/apiVersion on each PartialObjectMetadataList item (the protobuf items
 * carry no TypeMeta), so the JSON has them and so must the decoded object.
 */
function typeListItems (list: JsonObject, apiVersion: string, kind: string): void {
  const items = list.items
  if (!Array.isArray(items)) return
  list.items = items.map((item) => isPlainObject(item) ? { kind, apiVersion, ...item } : item)
}

function isPlainObject (v: unknown): v is JsonObject { return typeof v === 'object' && v !== null && !Array.isArray(v) }

/** Encodes an apiserver JSON object (with kind and apiVersion) as `k8s\0`+Unknown bytes. */
export function encodeObject (object: JsonObject): EncodeResult {
  const apiVersion = object.apiVersion
  const kind = object.kind
  if (typeof apiVersion !== 'string' || typeof kind !== 'string') return { ok: false, reason: 'malformed', message: 'the object has no kind/apiVersion' }
  const name = protobufMessageName(apiVersion, kind)
  if (name === undefined) return { ok: false, reason: 'not-protobuf-encodable', message: `${apiVersion}, Kind=${kind} has no protobuf schema` }
  try {
    const w = new Writer(4096)
    w.uvarint(0x6b); w.uvarint(0x38); w.uvarint(0x73); w.uvarint(0x00) // k8s\0
    w.tag(1, WIRE_BYTES)
    const typeMeta = w.begin()
    w.tag(1, WIRE_BYTES); w.string(apiVersion)
    w.tag(2, WIRE_BYTES); w.string(kind)
    w.end(typeMeta)
    w.tag(2, WIRE_BYTES)
    const raw = w.begin()
    encodeFields(message(name), object, w)
    w.end(raw)
    w.tag(3, WIRE_BYTES); w.string('')
    w.tag(4, WIRE_BYTES); w.string('')
    return { ok: true, bytes: w.finish() }
  } catch (e) { return failure(e) }
}

// ---------------------------------------------------------------------------------------------
// watch streams

export type WatchEventResult =
  | { ok: true, event: { type: string, object: JsonObject } }
  | { ok: false, reason: 'malformed' | 'not-protobuf-encodable', message: string }

/** Decodes one watch frame (WatchEvent bytes, no length prefix) into the JSON watch event. */
export function decodeWatchEvent (frame: Uint8Array): WatchEventResult {
  const buf = asBuffer(frame)
  try {
    let type = ''; let raw: [number, number] | undefined
    const r = new Reader(buf)
    while (!r.done()) {
      const tag = r.uvarint()
      if (tag === 0x0a) type = r.string()
      else if (tag === 0x12) {
        const [s, e] = r.delimited()
        const ext = new Reader(buf, s, e)
        while (!ext.done()) { const t = ext.uvarint(); if (t === 0x0a) raw = ext.delimited(); else ext.skip(t & 7) }
      } else r.skip(tag & 7)
    }
    if (raw === undefined) throw new ProtobufError('watch event without an object')
    const inner = decodeObject(buf.subarray(raw[0], raw[1]))
    if (!inner.ok) return inner
    return { ok: true, event: { type, object: inner.object } }
  } catch (e) { return failure(e) }
}

/** Encodes a JSON watch event as one length-prefixed protobuf watch frame. */
export function encodeWatchEvent (event: { type: string, object: JsonObject }): EncodeResult {
  const inner = encodeObject(event.object)
  if (!inner.ok) return inner
  const w = new Writer(inner.bytes.length + 64)
  w.tag(1, WIRE_BYTES); w.string(event.type)
  w.tag(2, WIRE_BYTES)
  const ext = w.begin()
  w.tag(1, WIRE_BYTES); w.bytes(inner.bytes)
  w.end(ext)
  return { ok: true, bytes: frame(w.finish()) }
}
