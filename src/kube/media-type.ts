// Content negotiation for answers the edge composes itself while the cloud is unreachable: from
// the Accept header, the same clause kube-apiserver would pick among those the edge can write —
// JSON, and protobuf for built-in kinds and PartialObjectMetadata (k8s.io/apiserver
// pkg/endpoints/handlers/negotiation: munnerz/goautoneg parsing and ordering,
// acceptMediaTypeOptions, RequestScope.AllowsMediaTypeTransform) — or report that none is
// acceptable (406). Pure.

/** What the answer is: the objects, a Table, or PartialObjectMetadata(List). */
export type Representation = 'json' | 'table' | 'partial-metadata'
/** How it is written. */
export type Encoding = 'json' | 'protobuf'
export interface Negotiated { as: Representation, encoding: Encoding }

/** Whether the objects themselves have a protobuf form (built-in kinds; never custom resources). */
export interface ProtobufObjects { protobuf: boolean }
const JSON_ONLY: ProtobufObjects = { protobuf: false }

interface MediaRange { type: string, subtype: string, q: number, params: Map<string, string> }

/**
 * What to answer a LIST (or WATCH) with: JSON, a Table, or a PartialObjectMetadataList, in JSON or
 * protobuf. undefined: nothing the edge can produce is acceptable (406).
 */
export function negotiateList (accept: string | undefined, objects: ProtobufObjects = JSON_ONLY): Negotiated | undefined {
  return negotiate(accept, false, objects.protobuf)
}

/**
 * What to answer a WATCH with: each event carries one object, so kube-apiserver transforms it as
 * it would a GET (metadata informers ask for as=PartialObjectMetadata on their watches).
 */
export function negotiateWatch (accept: string | undefined, objects: ProtobufObjects = JSON_ONLY): Negotiated | undefined {
  return negotiate(accept, true, objects.protobuf)
}

/**
 * What to answer a GET of one object with: JSON, a Table, or ('partial-metadata') a
 * PartialObjectMetadata. undefined: nothing the edge can produce is acceptable (406).
 */
export function negotiateGet (accept: string | undefined, objects: ProtobufObjects = JSON_ONLY): Negotiated | undefined {
  return negotiate(accept, true, objects.protobuf)
}

const PROTOBUF_SUBTYPE = 'vnd.kubernetes.protobuf'

/**
 * Ranges are tried in goautoneg's order; for each, the serializers in kube-apiserver's order
 * (JSON, YAML, protobuf): the first whose parameters the endpoint accepts decides. A q=0 range
 * rejects a type when it is the most specific range naming it (RFC 9110; upstream negotiation
 * since after 1.34 — 1.34 itself merely sorts q=0 last). YAML, which the edge does not write, is
 * passed over.
 */
function negotiate (accept: string | undefined, object: boolean, protobufObjects: boolean): Negotiated | undefined {
  if (accept === undefined || accept === '') return { as: 'json', encoding: 'json' }
  const ranges = parseAccept(accept)
  const jsonRejected = rejected(ranges, (r) => specificity(r, 'application', 'json'))
  const protobufRejected = rejected(ranges, (r) => specificity(r, 'application', PROTOBUF_SUBTYPE))
  for (const r of ranges) {
    if (r.q <= 0) continue
    if (!jsonRejected && specificity(r, 'application', 'json') >= 0) {
      const answer = answerFor(r.params, object)
      if (answer === 'refused') return undefined
      if (answer !== undefined) return { as: answer, encoding: 'json' }
    }
    // Only a range naming protobuf reaches it: a wildcard is taken by JSON, first in the list.
    if (!protobufRejected && r.type === 'application' && r.subtype === PROTOBUF_SUBTYPE) {
      const answer = answerFor(r.params, object)
      if (answer === 'refused') return undefined
      // Tables have no protobuf form; custom resources are served in JSON only, their metadata in either.
      if (answer === 'partial-metadata' || (answer === 'json' && protobufObjects)) return { as: answer, encoding: 'protobuf' }
    }
  }
  return undefined
}

/** acceptMediaTypeOptions + AllowsMediaTypeTransform for a range; undefined: skip the range. */
function answerFor (params: Map<string, string>, object: boolean): Representation | 'refused' | undefined {
  const stream = params.get('stream') ?? ''
  const sv = params.get('sv') ?? ''
  if ((stream !== '' && stream !== 'watch') || (sv !== '' && sv !== 'v1')) return undefined
  if (!params.has('as') && !params.has('g') && !params.has('v')) return 'json'
  if (params.get('g') !== 'meta.k8s.io' || (params.get('v') !== 'v1' && params.get('v') !== 'v1beta1')) return undefined
  switch (params.get('as')) {
    case 'Table': return 'table'
    // Negotiation accepts either for any endpoint; the transform then fails with 406 when the
    // answer is a list and one object was asked for, or the reverse.
    case 'PartialObjectMetadataList': return object ? 'refused' : 'partial-metadata'
    case 'PartialObjectMetadata': return object ? 'partial-metadata' : 'refused'
    default: return undefined
  }
}

/**
 * Of the content types cached for one path (in order of preference), the one this Accept header
 * selects, or undefined. A range matches a stored type when type/subtype match (or are
 * wildcards), every range parameter but q equals the stored one's, and the stored type has no
 * as/g/v parameter the range leaves unnamed (so a plain application/json never gets the
 * aggregated-discovery body). Names compare case-insensitively, values exactly. An absent or
 * empty Accept header asks for application/json, as the apiserver's default serializer.
 */
export function pickStored (accept: string | undefined, stored: readonly string[]): string | undefined {
  const ranges = parseAccept(accept === undefined || accept === '' ? 'application/json' : accept)
  const candidates = stored.map((s) => ({ s, m: parseRange(s) }))
    .filter((c): c is { s: string, m: MediaRange } => c.m !== undefined)
    .filter((c) => !rejected(ranges, (r) => rangeMatches(r, c.m)))
  for (const r of ranges) {
    if (r.q <= 0) continue
    const hit = candidates.find((c) => rangeMatches(r, c.m) >= 0)
    if (hit !== undefined) return hit.s
  }
  return undefined
}

/** Specificity of the range for a stored type (2 exact, 1 type/*, 0 *\/*), -1 when it does not match. */
function rangeMatches (r: MediaRange, stored: MediaRange): number {
  const spec = specificity({ ...r, type: r.type.toLowerCase(), subtype: r.subtype.toLowerCase() }, stored.type.toLowerCase(), stored.subtype.toLowerCase())
  if (spec < 0) return -1
  const own = lowerKeys(stored.params)
  const asked = lowerKeys(r.params)
  for (const [k, v] of asked) if (own.get(k) !== v) return -1
  for (const k of ['as', 'g', 'v']) if (own.has(k) && !asked.has(k)) return -1
  return spec
}

/** Go compares media types case-sensitively; pickStored folds case before asking. */
function specificity (r: MediaRange, type: string, subtype: string): number {
  if (r.type === type && r.subtype === subtype) return 2
  if (r.type === type && r.subtype === '*') return 1
  if (r.type === '*' && r.subtype === '*') return 0
  return -1
}

/** True when the most specific range that matches (the first of equals, in sorted order) has q<=0. */
function rejected (ranges: readonly MediaRange[], match: (r: MediaRange) => number): boolean {
  let best = -1
  let no = false
  for (const r of ranges) {
    const spec = match(r)
    if (spec > best) { best = spec; no = r.q <= 0 }
  }
  return no
}

function lowerKeys (params: Map<string, string>): Map<string, string> {
  return new Map([...params].map(([k, v]) => [k.toLowerCase(), v]))
}

/** goautoneg.ParseAccept, including its ordering (sort.Sort with its Less, an insertion sort for the short lists headers are). */
function parseAccept (header: string): MediaRange[] {
  const ranges = header.split(',').map(parseRange).filter((r): r is MediaRange => r !== undefined)
  const less = (a: MediaRange, b: MediaRange): boolean =>
    a.q > b.q || (a.type !== '*' && b.type === '*') || (a.subtype !== '*' && b.subtype === '*')
  for (let i = 1; i < ranges.length; i++) {
    for (let j = i; j > 0 && less(ranges[j]!, ranges[j - 1]!); j--) [ranges[j - 1], ranges[j]] = [ranges[j]!, ranges[j - 1]!]
  }
  return ranges
}

function parseRange (part: string): MediaRange | undefined {
  const [mediaRange = '', ...rest] = trimSpaces(part).split(';')
  const sp = mediaRange.split('/')
  const type = trimSpaces(sp[0]!)
  let subtype: string
  if (sp.length === 1 && type === '*') subtype = '*'
  else if (sp.length === 2) subtype = trimSpaces(sp[1]!)
  else return undefined
  const r: MediaRange = { type, subtype, q: 1, params: new Map() }
  for (const param of rest) {
    const eq = param.indexOf('=')
    if (eq === -1) continue
    const token = trimSpaces(param.slice(0, eq))
    if (token === 'q') r.q = goParseFloat32(param.slice(eq + 1))
    else r.params.set(token, trimSpaces(param.slice(eq + 1)))
  }
  return r
}

/** strings.Trim(s, " "): spaces only, not tabs. */
function trimSpaces (s: string): string {
  return s.replace(/^ +| +$/g, '')
}

/** strconv.ParseFloat(s, 32) with the error dropped, as goautoneg does: anything unparsable (even " 0.5") is 0. */
function goParseFloat32 (s: string): number {
  if (/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(s)) return Math.fround(Number(s))
  if (/^[+-]?(inf|infinity)$/i.test(s)) return s.startsWith('-') ? -Infinity : Infinity
  if (/^nan$/i.test(s)) return NaN
  return 0
}
