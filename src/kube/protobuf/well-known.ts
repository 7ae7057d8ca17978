// The apimachinery types whose JSON form is not their protobuf message's fields: each written
// by a custom MarshalJSON in Go (metav1.Time, MicroTime, Duration, resource.Quantity,
// intstr.IntOrString, runtime.RawExtension, metav1.FieldsV1). The converters mirror those Go
// methods; the wire layout of each is read from and written to its .proto message.
import { ProtobufError } from './wire.js'

export const META = 'k8s.io.apimachinery.pkg.apis.meta.v1'
export const TIME = `${META}.Time`
export const MICRO_TIME = `${META}.MicroTime`
export const DURATION = `${META}.Duration`
export const FIELDS_V1 = `${META}.FieldsV1`
export const QUANTITY = 'k8s.io.apimachinery.pkg.api.resource.Quantity'
export const INT_OR_STRING = 'k8s.io.apimachinery.pkg.util.intstr.IntOrString'
export const RAW_EXTENSION = 'k8s.io.apimachinery.pkg.runtime.RawExtension'

/**
 * apiextensions' JSON-schema unions (types_jsonschema.go + marshal.go): each JSON value is one of
 * its message's fields, chosen by the JSON's shape (object, array, boolean).
 */
export const enum SchemaUnion { Json, OrArray, OrBool, OrStringArray }
export const SCHEMA_UNIONS = new Map<string, SchemaUnion>()
for (const v of ['v1', 'v1beta1']) {
  const pkg = `k8s.io.apiextensions_apiserver.pkg.apis.apiextensions.${v}`
  SCHEMA_UNIONS.set(`${pkg}.JSON`, SchemaUnion.Json)
  SCHEMA_UNIONS.set(`${pkg}.JSONSchemaPropsOrArray`, SchemaUnion.OrArray)
  SCHEMA_UNIONS.set(`${pkg}.JSONSchemaPropsOrBool`, SchemaUnion.OrBool)
  SCHEMA_UNIONS.set(`${pkg}.JSONSchemaPropsOrStringArray`, SchemaUnion.OrStringArray)
}

const RFC3339 = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?(?:[Zz]|([+-])(\d\d):(\d\d))$/

/** Seconds and nanoseconds since the epoch of an RFC 3339 timestamp, as Go's time.Parse reads it. */
export function parseRfc3339 (s: string): { seconds: number, nanos: number } {
  const m = RFC3339.exec(s)
  if (m === null) throw new ProtobufError(`not an RFC 3339 time: ${JSON.stringify(s).slice(0, 80)}`)
  let seconds = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!) / 1000
  if (+m[1]! < 100) seconds = new Date(Date.UTC(2000, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!)).setUTCFullYear(+m[1]!) / 1000
  if (m[8] !== undefined) seconds -= (m[8] === '-' ? -1 : 1) * (+m[9]! * 3600 + +m[10]! * 60)
  const nanos = m[7] === undefined ? 0 : +m[7].padEnd(9, '0')
  return { seconds, nanos }
}

function isoSeconds (seconds: number): string {
  const d = new Date(seconds * 1000)
  const year = d.getUTCFullYear()
  if (year < 0 || year > 9999) throw new ProtobufError(`time outside years 0-9999: ${seconds}`)
  return d.toISOString().slice(0, 19)
}

/** metav1.Time as JSON: RFC 3339 in UTC, whole seconds. */
export function formatTime (seconds: number): string { return `${isoSeconds(seconds)}Z` }

/** metav1.MicroTime as JSON: RFC 3339 in UTC with exactly six fractional digits. */
export function formatMicroTime (seconds: number, nanos: number): string {
  return `${isoSeconds(seconds)}.${String(Math.floor(nanos / 1000)).padStart(6, '0')}Z`
}

const UNITS: Array<[string, number]> = [['h', 3600e9], ['m', 60e9], ['s', 1e9], ['ms', 1e6], ['us', 1e3], ['µs', 1e3], ['μs', 1e3], ['ns', 1]]

/** time.Duration.String() for a count of nanoseconds (exact below 2^53 ns, about 104 days). */
export function formatDuration (ns: number): string {
  if (ns === 0) return '0s'
  const neg = ns < 0
  let u = Math.abs(ns)
  let out: string
  if (u < 1e9) {
    // sub-second: the largest unit that keeps the integer part non-zero
    const [unit, scale] = u < 1e3 ? ['ns', 1] : u < 1e6 ? ['µs', 1e3] : ['ms', 1e6]
    out = fraction(u, scale) + unit
  } else {
    const h = Math.floor(u / 3600e9); u -= h * 3600e9
    const m = Math.floor(u / 60e9); u -= m * 60e9
    out = `${fraction(u, 1e9)}s`
    if (h > 0) out = `${h}h${m}m${out}`
    else if (m > 0) out = `${m}m${out}`
  }
  return neg ? `-${out}` : out
}

function fraction (v: number, scale: number): string {
  const whole = Math.floor(v / scale)
  const rest = v - whole * scale
  if (rest === 0) return String(whole)
  const digits = String(scale).length - 1
  return `${whole}.${String(rest).padStart(digits, '0').replace(/0+$/, '')}`
}

/** time.ParseDuration, to nanoseconds. */
export function parseDuration (s: string): number {
  let rest = s
  let sign = 1
  if (rest.startsWith('-') || rest.startsWith('+')) { sign = rest[0] === '-' ? -1 : 1; rest = rest.slice(1) }
  if (rest === '0') return 0
  if (rest === '') throw new ProtobufError(`invalid duration ${JSON.stringify(s)}`)
  let total = 0
  while (rest !== '') {
    const m = /^(\d*)(?:\.(\d*))?(ns|us|µs|μs|ms|s|m|h)/.exec(rest)
    if (m === null || (m[1] === '' && (m[2] ?? '') === '')) throw new ProtobufError(`invalid duration ${JSON.stringify(s)}`)
    const scale = UNITS.find(([u]) => u === m[3])![1]
    total += Number(m[1] === '' ? 0 : m[1]) * scale
    if (m[2] !== undefined && m[2] !== '') total += Math.round(Number(`0.${m[2]}`) * scale)
    rest = rest.slice(m[0].length)
  }
  return sign * total
}
