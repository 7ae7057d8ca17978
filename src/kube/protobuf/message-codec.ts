// Schema-driven conversion between one Kubernetes protobuf message and the JSON kube-apiserver
// writes for the same Go struct. Both directions follow the Go code that really runs:
//   protobuf → JSON = gogo Unmarshal into the struct, then encoding/json: a value (non-pointer)
//     field exists even when absent on the wire, so it is written unless omitempty/omitzero
//     drops its zero value; a pointer field is written only when present; nil slices and maps
//     without omitempty are `null`; structs are always written; inline (embedded) structs have
//     their fields promoted.
//   JSON → protobuf = encoding/json into the struct, then gogo Marshal: fields in number order,
//     value fields always emitted (zero when absent), pointers and []byte only when non-nil,
//     repeated fields element by element (not packed), map entries sorted by key.
// The custom JSON types (Time, Quantity, IntOrString, …) are converted in well-known.ts.
import { k8sApiSchema } from './k8s-api.schema.js'
import type { SchemaField } from './schema-types.js'
import {
  DURATION, FIELDS_V1, formatDuration, formatMicroTime, formatTime, INT_OR_STRING, MICRO_TIME, parseDuration,
  parseRfc3339, QUANTITY, RAW_EXTENSION, SCHEMA_UNIONS, SchemaUnion, TIME,
} from './well-known.js'
import { ProtobufError, Reader, WIRE_BYTES, WIRE_FIXED32, WIRE_FIXED64, WIRE_VARINT, Writer } from './wire.js'

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
export type JsonObject = { [key: string]: Json }

const REPEATED = 1; const MAP = 2; const POINTER = 4; const OMITEMPTY = 8; const OMITZERO = 16; const INLINE = 32

const enum Kind { String, Int, Bool, Bytes, Double, Float, Message }

interface Field {
  json: string
  number: number
  type: string
  kind: Kind
  repeated: boolean
  map: boolean
  pointer: boolean
  omitEmpty: boolean
  omitZero: boolean
  inline: boolean
  /** a named-slice message (metav1.Verbs, ExtraValue): JSON array, nil-able like a slice */
  sliceType: boolean
  /** index into Message.fields, for the decoder's per-field slots */
  slot: number
}

interface Message {
  name: string
  /** Go declaration order (= JSON key order) */
  fields: Field[]
  /** field number order (= gogo's marshal order) */
  byNumber: Field[]
  lookup: Map<number, Field>
  slice: boolean
}

const SCALARS: Record<string, Kind> = {
  string: Kind.String, int32: Kind.Int, int64: Kind.Int, uint32: Kind.Int, uint64: Kind.Int, bool: Kind.Bool,
  bytes: Kind.Bytes, double: Kind.Double, float: Kind.Float,
}

const compiled = new Map<string, Message>()
const GO_ZERO_TIME_SECONDS = -62135596800

export function hasMessage (name: string): boolean { return k8sApiSchema.messages[name] !== undefined }

export function message (name: string): Message {
  let m = compiled.get(name)
  if (m !== undefined) return m
  const raw = k8sApiSchema.messages[name]
  if (raw === undefined) throw new ProtobufError(`no protobuf message ${name}`)
  const fields = raw.f.map((f: SchemaField, slot: number): Field => {
    const [json, number, type, flags] = f
    const target = k8sApiSchema.messages[type]
    return {
      json, number, type, kind: SCALARS[type] ?? Kind.Message, slot,
      repeated: (flags & REPEATED) !== 0, map: (flags & MAP) !== 0, pointer: (flags & POINTER) !== 0,
      omitEmpty: (flags & OMITEMPTY) !== 0, omitZero: (flags & OMITZERO) !== 0, inline: (flags & INLINE) !== 0,
      sliceType: target?.slice === 1,
    }
  })
  m = {
    name, fields, slice: raw.slice === 1,
    byNumber: [...fields].sort((a, b) => a.number - b.number),
    lookup: new Map(fields.map((f) => [f.number, f])),
  }
  compiled.set(name, m)
  return m
}

// ---------------------------------------------------------------------------------------------
// protobuf → JSON

/**
 * Embedded objects whose TypeMeta kube-apiserver's defaulting fills in after reading them from
 * storage (protobuf carries no TypeMeta), so its JSON has kind/apiVersion there and ours must too.
 */
const EMBEDDED_TYPE_META: Record<string, JsonObject> = Object.fromEntries(['v1', 'v1beta1', 'v1beta2'].map((v) =>
  [`k8s.io.api.apps.${v}.StatefulSetSpec.volumeClaimTemplates`, { kind: 'PersistentVolumeClaim', apiVersion: 'v1' }]))

/** What the wire held for one field: a scalar, a [start,end) payload, or several of either. */
type Slot = undefined | number | string | boolean | Buffer | [number, number] | Array<unknown>

function readScalar (r: Reader, kind: Kind, wireType: number): number | string | boolean | Buffer {
  switch (kind) {
    case Kind.String: return r.string()
    case Kind.Int: return r.int64()
    case Kind.Bool: return r.uvarint() !== 0
    case Kind.Bytes: { const [s, e] = r.delimited(); return r.buf.subarray(s, e) }
    case Kind.Double: return r.fixed64()
    case Kind.Float: return r.fixed32()
    default: throw new ProtobufError(`wire type ${wireType} for a message field`)
  }
}

function expectedWire (kind: Kind): number {
  switch (kind) {
    case Kind.Int: case Kind.Bool: return WIRE_VARINT
    case Kind.Double: return WIRE_FIXED64
    case Kind.Float: return WIRE_FIXED32
    default: return WIRE_BYTES
  }
}

/** Reads one message's fields into slots, indexed like Message.fields. */
function readSlots (m: Message, buf: Buffer, start: number, end: number): Slot[] {
  const slots: Slot[] = new Array(m.fields.length)
  const r = new Reader(buf, start, end)
  while (!r.done()) {
    const tag = r.uvarint()
    const number = Math.floor(tag / 8)
    const wireType = tag & 7
    const f = m.lookup.get(number)
    if (f === undefined) { r.skip(wireType); continue } // a newer server's field: Go drops it too
    if (f.map || f.kind === Kind.Message) {
      if (wireType !== WIRE_BYTES) throw new ProtobufError(`${m.name}.${f.json}: wire type ${wireType}, want 2`)
      const range = r.delimited()
      if (f.map || f.repeated) ((slots[f.slot] ??= []) as Array<unknown>).push(range)
      else slots[f.slot] = range
      continue
    }
    if (f.repeated) {
      const list = (slots[f.slot] ??= []) as Array<unknown>
      if (wireType === WIRE_BYTES && f.kind !== Kind.String && f.kind !== Kind.Bytes) {
        // packed encoding: accepted as any protobuf decoder must, though gogo never writes it
        const [s, e] = r.delimited()
        const inner = new Reader(buf, s, e)
        while (!inner.done()) list.push(readScalar(inner, f.kind, expectedWire(f.kind)))
      } else {
        list.push(readScalar(r, f.kind, wireType))
      }
      continue
    }
    if (wireType !== expectedWire(f.kind)) throw new ProtobufError(`${m.name}.${f.json}: wire type ${wireType}`)
    slots[f.slot] = readScalar(r, f.kind, wireType)
  }
  return slots
}

function zeroOf (kind: Kind): Json {
  switch (kind) {
    case Kind.String: return ''
    case Kind.Bool: return false
    default: return 0
  }
}

function scalarJson (kind: Kind, v: unknown): Json {
  return kind === Kind.Bytes ? (v as Buffer).toString('base64') : v as Json
}

/** A message value as JSON; `range` undefined means absent on the wire (the Go zero value). */
function messageJson (type: string, buf: Buffer, range: [number, number] | undefined): Json {
  switch (type) {
    case TIME: case MICRO_TIME: {
      if (range === undefined || range[0] === range[1]) return null
      const [seconds, nanos] = timestamp(buf, range)
      // time.Unix(seconds, 0) of 0001-01-01T00:00:00Z is Go's zero time: written as null
      if (seconds === GO_ZERO_TIME_SECONDS && (type === TIME || nanos < 1000)) return null
      return type === TIME ? formatTime(seconds) : formatMicroTime(seconds, nanos)
    }
    case QUANTITY: {
      const s = range === undefined ? undefined : firstField(buf, range, 1)
      return s === undefined ? '0' : buf.toString('utf8', s[0], s[1])
    }
    case INT_OR_STRING: {
      let kind = 0; let intVal = 0; let strVal = ''
      if (range !== undefined) {
        const r = new Reader(buf, range[0], range[1])
        while (!r.done()) {
          const tag = r.uvarint()
          if (tag === 0x08) kind = r.int64()
          else if (tag === 0x10) intVal = r.int64()
          else if (tag === 0x1a) strVal = r.string()
          else r.skip(tag & 7)
        }
      }
      return kind === 1 ? strVal : intVal
    }
    case RAW_EXTENSION: case FIELDS_V1: {
      const s = range === undefined ? undefined : firstField(buf, range, 1)
      if (s === undefined) return null
      const text = buf.toString('utf8', s[0], s[1])
      try { return JSON.parse(text) as Json } catch { throw new ProtobufError(`${type}: raw bytes are not JSON`) }
    }
    case DURATION: {
      let ns = 0
      if (range !== undefined) {
        const r = new Reader(buf, range[0], range[1])
        while (!r.done()) { const tag = r.uvarint(); if (tag === 0x08) ns = r.int64(); else r.skip(tag & 7) }
      }
      return formatDuration(ns)
    }
  }
  const union = SCHEMA_UNIONS.get(type)
  if (union !== undefined) return schemaUnionJson(union, type, buf, range)
  const m = message(type)
  if (m.slice) {
    const items = range === undefined ? [] : decodeFields(m, buf, range[0], range[1]).items
    return items ?? []
  }
  return range === undefined ? decodeFields(m, buf, 0, 0) : decodeFields(m, buf, range[0], range[1])
}

/** The JSON of an apiextensions JSON-schema union, as its MarshalJSON (marshal.go) writes it. */
function schemaUnionJson (union: SchemaUnion, type: string, buf: Buffer, range: [number, number] | undefined): Json {
  const props = type.replace(/\.[A-Za-z]+$/, '.JSONSchemaProps')
  let allows = false
  let schema: [number, number] | undefined
  const list: Array<[number, number]> = []
  if (range !== undefined) {
    const r = new Reader(buf, range[0], range[1])
    while (!r.done()) {
      const tag = r.uvarint()
      const field = Math.floor(tag / 8)
      if ((tag & 7) === WIRE_VARINT) { const v = r.uvarint(); if (field === 1) allows = v !== 0; continue }
      if ((tag & 7) !== WIRE_BYTES) { r.skip(tag & 7); continue }
      const payload = r.delimited()
      const schemaField = union === SchemaUnion.OrBool ? 2 : 1
      if (union === SchemaUnion.Json) { if (field === 1) schema = payload } else if (field === schemaField) schema = payload
      else if (field === 2) list.push(payload)
    }
  }
  switch (union) {
    case SchemaUnion.Json: {
      if (schema === undefined || schema[0] === schema[1]) return null
      try { return JSON.parse(buf.toString('utf8', schema[0], schema[1])) as Json } catch { throw new ProtobufError(`${type}: raw bytes are not JSON`) }
    }
    case SchemaUnion.OrBool:
      return schema !== undefined ? messageJson(props, buf, schema) : allows
    case SchemaUnion.OrStringArray:
      if (list.length > 0) return list.map(([s, e]) => buf.toString('utf8', s, e))
      return schema !== undefined ? messageJson(props, buf, schema) : null
    case SchemaUnion.OrArray:
      if (list.length > 0) return list.map((x) => messageJson(props, buf, x))
      return schema !== undefined ? messageJson(props, buf, schema) : null
  }
}

function timestamp (buf: Buffer, range: [number, number]): [number, number] {
  let seconds = 0; let nanos = 0
  const r = new Reader(buf, range[0], range[1])
  while (!r.done()) {
    const tag = r.uvarint()
    if (tag === 0x08) seconds = r.int64()
    else if (tag === 0x10) nanos = r.int64()
    else r.skip(tag & 7)
  }
  return [seconds, nanos]
}

function firstField (buf: Buffer, range: [number, number], number: number): [number, number] | undefined {
  const r = new Reader(buf, range[0], range[1])
  let found: [number, number] | undefined
  while (!r.done()) {
    const tag = r.uvarint()
    if (tag === number * 8 + WIRE_BYTES) found = r.delimited()
    else r.skip(tag & 7)
  }
  return found
}

/**
 * Whether a struct value is its Go zero value, for omitzero (only ObjectMeta.creationTimestamp
 * uses it): an empty payload. Exact for metav1.Time, whose zero value marshals to nothing.
 */
function isZeroMessage (range: [number, number] | undefined): boolean {
  return range === undefined || range[0] === range[1]
}

/** Decodes a message into a JSON object in Go field order. */
export function decodeFields (m: Message, buf: Buffer, start: number, end: number, into: JsonObject = {}): JsonObject {
  const slots = start === end ? new Array<Slot>(m.fields.length) : readSlots(m, buf, start, end)
  for (const f of m.fields) {
    const v = slots[f.slot]
    if (f.map) {
      const entries = v as Array<[number, number]> | undefined
      if (entries === undefined || entries.length === 0) { if (!f.omitEmpty) into[f.json] = null; continue }
      const obj: JsonObject = {}
      for (const range of entries) mapEntry(f, buf, range, obj)
      into[f.json] = obj
      continue
    }
    if (f.repeated) {
      const list = v as Array<unknown> | undefined
      if (list === undefined || list.length === 0) { if (!f.omitEmpty) into[f.json] = null; continue }
      into[f.json] = f.kind === Kind.Message
        ? list.map((range) => messageJson(f.type, buf, range as [number, number]))
        : list.map((x) => scalarJson(f.kind, x))
      const typeMeta = EMBEDDED_TYPE_META[`${m.name}.${f.json}`]
      if (typeMeta !== undefined) into[f.json] = (into[f.json] as JsonObject[]).map((item) => ({ ...typeMeta, ...item }))
      continue
    }
    if (f.kind === Kind.Message) {
      const range = v as [number, number] | undefined
      if (f.inline) {
        if (f.pointer && range === undefined) continue
        const inner = message(f.type)
        if (range === undefined) decodeFields(inner, buf, 0, 0, into)
        else decodeFields(inner, buf, range[0], range[1], into)
        continue
      }
      if (f.sliceType) {
        // a named slice: nil when absent, like any slice
        if (range === undefined) { if (!f.omitEmpty) into[f.json] = null; continue }
        const items = messageJson(f.type, buf, range) as Json[]
        if (items.length === 0 && f.omitEmpty) continue
        into[f.json] = items
        continue
      }
      if (f.pointer && range === undefined) { if (!f.omitEmpty) into[f.json] = null; continue }
      if (f.omitZero && !f.pointer && isZeroMessage(range)) continue
      into[f.json] = messageJson(f.type, buf, range)
      continue
    }
    if (f.kind === Kind.Bytes) {
      if (v === undefined) { if (!f.omitEmpty) into[f.json] = null; continue }
      if ((v as Buffer).length === 0 && f.omitEmpty && !f.pointer) continue
      into[f.json] = scalarJson(f.kind, v)
      continue
    }
    if (v === undefined) {
      if (f.pointer) { if (!f.omitEmpty) into[f.json] = null; continue }
      if (f.omitEmpty || f.omitZero) continue
      into[f.json] = zeroOf(f.kind)
      continue
    }
    if (!f.pointer && (f.omitEmpty || f.omitZero) && (v === '' || v === 0 || v === false)) continue
    into[f.json] = v as Json
  }
  return into
}

function mapEntry (f: Field, buf: Buffer, range: [number, number], obj: JsonObject): void {
  let key = ''
  let value: unknown
  let valueRange: [number, number] | undefined
  const r = new Reader(buf, range[0], range[1])
  while (!r.done()) {
    const tag = r.uvarint()
    if (tag === 0x0a) key = r.string()
    else if (tag >>> 3 === 2) {
      if (f.kind === Kind.Message) valueRange = r.delimited()
      else value = readScalar(r, f.kind, tag & 7)
    } else r.skip(tag & 7)
  }
  if (f.kind === Kind.Message) obj[key] = messageJson(f.type, buf, valueRange)
  else if (value === undefined) obj[key] = f.kind === Kind.Bytes ? null : zeroOf(f.kind)
  else obj[key] = scalarJson(f.kind, value)
}

// ---------------------------------------------------------------------------------------------
// JSON → protobuf

function isObject (v: unknown): v is JsonObject { return typeof v === 'object' && v !== null && !Array.isArray(v) }

function num (v: unknown, what: string): number {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (v === undefined || v === null) return 0
  throw new ProtobufError(`${what}: want a number, got ${typeof v}`)
}

function writeScalar (w: Writer, f: Field, v: unknown, number = f.number): void {
  const what = f.json
  switch (f.kind) {
    case Kind.String:
      if (typeof v !== 'string') throw new ProtobufError(`${what}: want a string, got ${typeof v}`)
      w.tag(number, WIRE_BYTES); w.string(v); return
    case Kind.Int: {
      // encoding/json refuses a fraction or an out-of-range value for an int field; so do we
      const n = num(v, what)
      if (!Number.isInteger(n) || Math.abs(n) > 2 ** 63) throw new ProtobufError(`${what}: ${n} is not an integer`)
      w.tag(number, WIRE_VARINT); w.int64(n); return
    }
    case Kind.Bool:
      if (typeof v !== 'boolean') throw new ProtobufError(`${what}: want a boolean, got ${typeof v}`)
      w.tag(number, WIRE_VARINT); w.uvarint(v ? 1 : 0); return
    case Kind.Bytes:
      if (typeof v !== 'string') throw new ProtobufError(`${what}: want base64 text, got ${typeof v}`)
      w.tag(number, WIRE_BYTES); w.bytes(Buffer.from(v, 'base64')); return
    case Kind.Double: w.tag(number, WIRE_FIXED64); w.double(num(v, what)); return
    case Kind.Float: w.tag(number, WIRE_FIXED32); w.float(num(v, what))
  }
}

/** Writes a message value as field `number` (tag, length, payload). */
function writeMessage (w: Writer, number: number, type: string, v: unknown): void {
  w.tag(number, WIRE_BYTES)
  const mark = w.begin()
  writePayload(w, type, v)
  w.end(mark)
}

/** Writes a message value's payload (without tag and length). */
function writePayload (w: Writer, type: string, v: unknown): void {
  switch (type) {
    case TIME: case MICRO_TIME:
      if (v === null || v === undefined) return
      if (typeof v !== 'string') throw new ProtobufError(`${type}: want a string`)
      {
        const { seconds, nanos } = parseRfc3339(v)
        // Go's zero time.Time (0001-01-01T00:00:00Z) marshals to an empty message.
        if (seconds === GO_ZERO_TIME_SECONDS && nanos < (type === TIME ? 1e9 : 1000)) return
        w.tag(1, WIRE_VARINT); w.int64(seconds)
        w.tag(2, WIRE_VARINT); w.int64(type === TIME ? 0 : Math.floor(nanos / 1000) * 1000)
      }
      return
    case QUANTITY:
      w.tag(1, WIRE_BYTES); w.string(typeof v === 'number' ? String(v) : typeof v === 'string' ? v : '0')
      return
    case INT_OR_STRING:
      if (typeof v === 'string') {
        w.tag(1, WIRE_VARINT); w.uvarint(1); w.tag(2, WIRE_VARINT); w.uvarint(0); w.tag(3, WIRE_BYTES); w.string(v)
      } else {
        const n = num(v, 'IntOrString')
        if (!Number.isInteger(n) || Math.abs(n) > 2 ** 31) throw new ProtobufError(`IntOrString: ${n} is not an int32`)
        w.tag(1, WIRE_VARINT); w.uvarint(0); w.tag(2, WIRE_VARINT); w.int64(n); w.tag(3, WIRE_BYTES); w.string('')
      }
      return
    case RAW_EXTENSION: case FIELDS_V1:
      if (v !== null && v !== undefined) { w.tag(1, WIRE_BYTES); w.string(JSON.stringify(v)) }
      return
    case DURATION:
      w.tag(1, WIRE_VARINT); w.int64(typeof v === 'string' ? parseDuration(v) : 0)
      return
  }
  const union = SCHEMA_UNIONS.get(type)
  if (union !== undefined) { writeSchemaUnion(w, union, type, v); return }
  const m = message(type)
  if (m.slice) {
    if (v !== null && v !== undefined && !Array.isArray(v)) throw new ProtobufError(`${type}: want an array`)
    encodeFields(m, { items: (v ?? []) as Json }, w)
    return
  }
  if (v !== null && v !== undefined && !isObject(v)) throw new ProtobufError(`${type}: want an object`)
  encodeFields(m, (v ?? {}) as JsonObject, w)
}

/** An apiextensions JSON-schema union from JSON, as its UnmarshalJSON (marshal.go) reads it. */
function writeSchemaUnion (w: Writer, union: SchemaUnion, type: string, v: unknown): void {
  const props = type.replace(/\.[A-Za-z]+$/, '.JSONSchemaProps')
  switch (union) {
    case SchemaUnion.Json:
      if (v !== null && v !== undefined) { w.tag(1, WIRE_BYTES); w.string(JSON.stringify(v)) }
      return
    case SchemaUnion.OrBool:
      // `{…}` → Allows=true and the schema; true/false → Allows alone
      w.tag(1, WIRE_VARINT); w.uvarint(isObject(v) || v === true ? 1 : 0)
      if (isObject(v)) writeMessage(w, 2, props, v)
      return
    case SchemaUnion.OrStringArray:
      if (isObject(v)) writeMessage(w, 1, props, v)
      else if (Array.isArray(v)) for (const s of v) { if (typeof s !== 'string') throw new ProtobufError(`${type}: want strings`); w.tag(2, WIRE_BYTES); w.string(s) }
      return
    case SchemaUnion.OrArray:
      if (isObject(v)) writeMessage(w, 1, props, v)
      else if (Array.isArray(v)) for (const s of v) writeMessage(w, 2, props, s)
  }
}

/** Byte-wise (UTF-8) key order, as Go's sort.Strings orders map keys. */
function goKeyOrder (a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'))
}
const ASCII = /^[\x00-\x7f]*$/ // eslint-disable-line no-control-regex

function sortedKeys (obj: JsonObject): string[] {
  const keys = Object.keys(obj)
  return keys.every((k) => ASCII.test(k)) ? keys.sort() : keys.sort(goKeyOrder)
}

/** Encodes a JSON object's fields as message `m` into `w`. */
export function encodeFields (m: Message, obj: JsonObject, w: Writer): void {
  for (const f of m.byNumber) {
    if (f.inline) {
      if (f.pointer && !message(f.type).fields.some((x) => obj[x.json] !== undefined)) continue
      writeMessage(w, f.number, f.type, obj)
      continue
    }
    const v = obj[f.json]
    if (f.map) {
      if (v === undefined || v === null) continue
      if (!isObject(v)) throw new ProtobufError(`${f.json}: want an object`)
      for (const key of sortedKeys(v)) {
        const value = v[key]
        w.tag(f.number, WIRE_BYTES)
        const mark = w.begin()
        w.tag(1, WIRE_BYTES); w.string(key)
        if (f.kind === Kind.Message) writeMessage(w, 2, f.type, value)
        else if (f.kind === Kind.Bytes) { if (value !== null) writeScalar(w, f, value, 2) } else writeScalar(w, f, value ?? zeroOf(f.kind), 2)
        w.end(mark)
      }
      continue
    }
    if (f.repeated) {
      if (v === undefined || v === null) continue
      if (!Array.isArray(v)) throw new ProtobufError(`${f.json}: want an array`)
      for (const item of v) {
        if (f.kind === Kind.Message) writeMessage(w, f.number, f.type, item)
        else writeScalar(w, f, item ?? zeroOf(f.kind))
      }
      continue
    }
    if (f.kind === Kind.Message) {
      if ((v === undefined || v === null) && (f.pointer || f.sliceType)) continue
      writeMessage(w, f.number, f.type, v)
      continue
    }
    if (v === undefined || v === null) {
      if (f.pointer || f.kind === Kind.Bytes) continue
      writeScalar(w, f, zeroOf(f.kind))
      continue
    }
    writeScalar(w, f, v)
  }
}
