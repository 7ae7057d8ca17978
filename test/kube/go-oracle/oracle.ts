// Asks the Go oracle (main.go, built by test/cluster/build-binaries.sh as REQUEST_ORACLE) how
// kube-apiserver parses generated cases, and compares each answer with src/kube's: request info
// (after Go's http.ReadRequest), url.Values, ListOptions decoding, field selectors with
// RequiresExactMatch("metadata.name"), label selectors. One oracle process, every case on stdin.
import { spawn } from 'node:child_process'
import { requestInfo } from '../../../src/kube/request-info.js'
import { parseFieldSelector, parseLabelSelector, requiresExactMatch } from '../../../src/kube/selectors.js'
import type { Generated, RequestCase } from './generate.js'

export interface Mismatch {
  kind: 'request' | 'field' | 'label'
  /** Index of the case within its kind. */
  index: number
  /** The case, printable and copy-pasteable (JSON string). */
  input: string
  method?: string
  go: unknown
  ts: unknown
  diff: string
}

/** Runs the oracle once over every case; answers in input order. */
export async function askOracle (binary: string, cases: Generated, timeoutMs = 120_000): Promise<unknown[]> {
  const lines = [
    ...cases.requests.map((c) => `req\t${c.method}\t${c.target.toString('base64')}`),
    // Every selector through both parsers: a label selector is a fine odd field selector and back.
    ...[...cases.fieldSelectors, ...cases.labelSelectors].map((s) => `field\t${s}`),
    ...[...cases.fieldSelectors, ...cases.labelSelectors].map((s) => `label\t${s}`),
  ]
  for (const l of lines) if (/[\r\n]/.test(l)) throw new Error(`oracle case with a line break: ${JSON.stringify(l)}`)
  const child = spawn(binary, [], { stdio: ['pipe', 'pipe', 'pipe'] })
  const out: Buffer[] = []
  let err = ''
  child.stdout.on('data', (b: Buffer) => out.push(b))
  // NewRequestInfo logs every ListOptions failure with klog: keep only the tail for diagnostics.
  child.stderr.on('data', (b: Buffer) => { err = (err + b.toString()).slice(-4096) })
  const done = new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => { child.kill('SIGKILL'); reject(new Error(`oracle did not finish in ${timeoutMs} ms`)) }, timeoutMs)
    child.on('error', (e) => { clearTimeout(timer); reject(e) })
    child.on('close', (code) => { clearTimeout(timer); resolve(code) })
  })
  child.stdin.end(lines.join('\n') + '\n')
  const code = await done
  const answers = Buffer.concat(out).toString('utf8').split('\n').filter((l) => l !== '')
  if (code !== 0 || answers.length !== lines.length) {
    throw new Error(`oracle exited ${code} with ${answers.length} answers for ${lines.length} cases; stderr tail: ${err}`)
  }
  return answers.map((l) => JSON.parse(l))
}

// Go's JSON encoder writes each invalid UTF-8 byte as U+FFFD; src/kube keeps such bytes as lone
// surrogates U+DC80–U+DCFF (a lossless byte string). Compare them the Go way.
const goString = (s: string): string => s.replace(/[\udc80-\udcff]/g, '\ufffd')
const goJSON = (v: unknown): string => goString(JSON.stringify(v)).replace(/\\udc[89a-f][0-9a-f]/g, '\ufffd')

/** True when the path carries the verb (/api/v1/watch/…, /apis/g/v/proxy/…): NewRequestInfo then never decodes ListOptions. */
function verbInPath (path: string): boolean {
  const parts = path.replace(/^\/+|\/+$/g, '').split('/')
  const at = parts[0] === 'api' ? 2 : 3
  return parts[at] === 'watch' || parts[at] === 'proxy'
}

interface GoRequest {
  err?: string
  query?: Record<string, string[]>
  info?: { Path: string, Verb: string, Namespace: string, Resource: string, Subresource: string, Name: string, APIGroup: string, APIVersion: string, APIPrefix: string, IsResourceRequest: boolean, Parts: string[] | null, FieldSelector: string, LabelSelector: string }
  infoErr?: string
  listErr?: string
}

export function compareRequest (c: RequestCase, index: number, goAnswer: unknown): Mismatch | undefined {
  const go = goAnswer as GoRequest
  // What Node's HTTP parser hands the edge: the target's bytes as latin1 characters.
  const ts = requestInfo(c.method, c.target.toString('latin1'))
  const mismatch = (diff: string, goSide: unknown, tsSide: unknown): Mismatch =>
    ({ kind: 'request', index, input: JSON.stringify(c.target.toString('latin1')), method: c.method, go: goSide, ts: tsSide, diff })
  const goErr = go.err !== undefined ? 400 : go.infoErr !== undefined ? 500 : 0
  const tsErr = ts.ok ? 0 : ts.code
  if (goErr !== tsErr) {
    const goSide = go.err ?? go.infoErr ?? `accepted, URL.Path ${JSON.stringify(go.info?.Path ?? '')}`
    return mismatch('refusal', goSide, ts.ok ? 'accepted' : `${ts.code} ${ts.message}`)
  }
  if (!ts.ok || go.info === undefined) return undefined
  const g = go.info
  const want = {
    path: g.Path, isResource: g.IsResourceRequest, verb: g.Verb, prefix: g.APIPrefix, group: g.APIGroup, version: g.APIVersion,
    namespace: g.Namespace, resource: g.Resource, subresource: g.Subresource, name: g.Name, parts: g.Parts ?? [],
    fieldSelector: g.FieldSelector, labelSelector: g.LabelSelector,
  }
  const i = ts.info
  const got = {
    path: i.path, isResource: i.isResourceRequest, verb: i.verb, prefix: i.apiPrefix, group: i.apiGroup, version: i.apiVersion,
    namespace: i.namespace, resource: i.resource, subresource: i.subresource, name: i.name, parts: i.parts,
    fieldSelector: i.fieldSelector ?? '', labelSelector: i.labelSelector ?? '',
  }
  if (goJSON(want) !== goJSON(got)) return mismatch('request info', want, got)
  const goQuery = JSON.stringify(Object.fromEntries(Object.entries(go.query ?? {}).sort()))
  const tsQuery = goJSON(Object.fromEntries([...(i.query ?? new Map()).entries()].sort()))
  if (goQuery !== tsQuery) return mismatch('query', JSON.parse(goQuery), JSON.parse(tsQuery))
  // Where NewRequestInfo decodes ListOptions (a GET/HEAD of a collection), both must agree on failure.
  const decodes = i.isResourceRequest && (c.method === 'GET' || c.method === 'HEAD') && (i.verb === 'list' || i.verb === 'watch') && !verbInPath(i.path)
  if (decodes && (go.listErr !== undefined) !== (i.listOptionsError !== undefined)) {
    return mismatch('ListOptions decoding', go.listErr ?? 'decodes', i.listOptionsError ?? 'decodes')
  }
  return undefined
}

export function compareField (s: string, index: number, goAnswer: unknown): Mismatch | undefined {
  const go = goAnswer as { err?: string, reqs?: Array<{ Field: string, Operator: string, Value: string }> | null, name?: string, found?: boolean }
  const ts = parseFieldSelector(s)
  const goSide = go.err !== undefined
    ? { err: go.err }
    : {
        reqs: (go.reqs ?? []).map((r) => [r.Field, r.Operator === '==' ? '=' : r.Operator, r.Value]),
        exactName: go.found === true ? go.name : null,
      }
  const tsSide = !ts.ok
    ? { err: ts.message }
    : {
        reqs: ts.value.map((r) => [r.field, r.operator, r.value]),
        exactName: requiresExactMatch(ts.value, 'metadata.name') ?? null,
      }
  if ((go.err === undefined) !== ts.ok) return { kind: 'field', index, input: JSON.stringify(s), go: goSide, ts: tsSide, diff: 'accepted' }
  if (ts.ok && goJSON(goSide) !== goJSON(tsSide)) return { kind: 'field', index, input: JSON.stringify(s), go: goSide, ts: tsSide, diff: 'requirements' }
  return undefined
}

export function compareLabel (s: string, index: number, goAnswer: unknown): Mismatch | undefined {
  const go = goAnswer as { err?: string, reqs?: Array<{ Key: string, Op: string, Values: string[] | null }> | null }
  const ts = parseLabelSelector(s)
  const goSide = go.err !== undefined ? { err: go.err } : { reqs: (go.reqs ?? []).map((r) => [r.Key, r.Op === '==' ? '=' : r.Op, r.Values ?? []]) }
  const tsSide = !ts.ok ? { err: ts.message } : { reqs: ts.value.map((r) => [r.key, r.operator, r.values]) }
  if ((go.err === undefined) !== ts.ok) return { kind: 'label', index, input: JSON.stringify(s), go: goSide, ts: tsSide, diff: 'accepted' }
  if (ts.ok && goJSON(goSide) !== goJSON(tsSide)) return { kind: 'label', index, input: JSON.stringify(s), go: goSide, ts: tsSide, diff: 'requirements' }
  return undefined
}

/**
 * Deliberate, stricter-than-kube-apiserver differences: the edge refuses them before authorizing
 * anything, so it is never more permissive. An absolute-form target with no path — opaque
 * (`mailto:x/…`) or bare (`http://h`) — has URL.Path "" for Go: a non-resource request for the
 * empty path, which no RBAC rule short of `*` names and no kube-apiserver handler serves; the edge
 * answers 400 rather than relay a target it cannot put in origin form. Checked on Go's side too:
 * the oracle must have found an empty path.
 * A label selector with adjacent commas in a value list (`a in (,,)`, `a in (x,,)`): apimachinery up
 * to v0.36 refuses it (its parser consumed the second comma), v0.37 accepts it as the empty value;
 * src/kube/selectors.ts keeps the refusal so that an edge in front of either release never accepts
 * what its apiserver refuses. Only against a v0.37 oracle, only Go accepting and TS refusing.
 */
export function knownStricter (m: Mismatch): string | undefined {
  const adjacentCommas = 'adjacent commas in a label value list refused (v0.37 accepts them)'
  if (m.kind === 'label' && m.diff === 'accepted' && typeof m.ts === 'object' && m.ts !== null && 'err' in m.ts &&
    ADJACENT_COMMAS.test(JSON.parse(m.input) as string)) return adjacentCommas
  if (m.kind === 'request' && m.diff === 'ListOptions decoding' && m.go === 'decodes' && typeof m.ts === 'string' &&
    m.ts.startsWith('unable to parse requirement') && ADJACENT_COMMAS.test(labelSelectorOf(JSON.parse(m.input) as string))) return adjacentCommas
  if (m.kind !== 'request' || m.diff !== 'refusal' || m.go !== 'accepted, URL.Path ""' || typeof m.ts !== 'string') return undefined
  if (m.ts.startsWith('400 ') && m.ts.endsWith('edge-metaserver: an opaque request target has no origin form')) return 'opaque absolute-form target refused (400)'
  if (m.ts.startsWith('400 ') && m.ts.endsWith('edge-metaserver: an absolute-form request target needs a path')) return 'absolute-form target without a path refused (400)'
  return undefined
}

const ADJACENT_COMMAS = /\([^)]*,\s*,[^)]*\)/

/** The labelSelector parameter of a request target (as url.Values decodes it), or ''. */
function labelSelectorOf (target: string): string {
  try { return new URL(target, 'http://x').searchParams.get('labelSelector') ?? '' } catch { return '' }
}

/** Every mismatch between the oracle's answers and src/kube's over `cases`. */
export function compareAll (cases: Generated, answers: readonly unknown[]): { compared: number, mismatches: Mismatch[] } {
  const mismatches: Mismatch[] = []
  let k = 0
  cases.requests.forEach((c, i) => { const m = compareRequest(c, i, answers[k++]); if (m !== undefined) mismatches.push(m) })
  const selectors = [...cases.fieldSelectors, ...cases.labelSelectors]
  selectors.forEach((s, i) => { const m = compareField(s, i, answers[k++]); if (m !== undefined) mismatches.push(m) })
  selectors.forEach((s, i) => { const m = compareLabel(s, i, answers[k++]); if (m !== undefined) mismatches.push(m) })
  return { compared: k, mismatches }
}

/** A reproduction to paste into a unit test: the case, both answers, and how to replay the run. */
export function describe (m: Mismatch, seed: number): string {
  const head = m.kind === 'request' ? `requestInfo(${JSON.stringify(m.method)}, ${m.input})` : m.kind === 'field' ? `parseFieldSelector(${m.input})` : `parseLabelSelector(${m.input})`
  return `${head} — ${m.diff} differs (seed ${seed}, ${m.kind} #${m.index}; replay: REQUEST_ORACLE_SEED=${seed})\n` +
    `  go: ${JSON.stringify(m.go)}\n  ts: ${JSON.stringify(m.ts)}`
}
