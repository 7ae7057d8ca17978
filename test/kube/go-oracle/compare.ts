// Differential run of request-info/selectors against the Go oracle (build.sh): generated request
// targets (encodings, absolute-form, odd segments, valid and invalid query parameters, field and
// label selectors) parsed both ways; prints every mismatch. Not a tap test (it needs Go):
//   ORACLE=$(bash test/kube/go-oracle/build.sh) SEED=1 N=5000 npx tsx test/kube/go-oracle/compare.ts
import { execFileSync } from 'node:child_process'
import { requestInfo } from '../../../src/kube/request-info.js'
import { parseFieldSelector, parseLabelSelector, requiresExactMatch } from '../../../src/kube/selectors.js'

const ORACLE = process.env.ORACLE ?? `${process.env.HOME}/.cache/edge-metaserver/request-oracle`

let seed = Number(process.env.SEED ?? 1)
const rnd = (): number => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648 }
const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!
const N = Number(process.env.N ?? 3000)

const segs = ['api', 'apis', 'v1', 'apps', 'namespaces', 'default', 'd%65fault', 'configmaps', 'configmaps%2Fcm1', 'cm1', 'watch', 'proxy', 'status', 'finalize', 'pods', 'log', '', '.', '..', '%2e', '%', '%zz', '%ff', '%C3%A9', 'a+b', 'x;y', '#f', 'é', ':', '%00', '%2F']
const fsel = ['metadata.name=n1', 'metadata.name==n1', 'metadata.name!=n1', 'metadata.name= n1', ' metadata.name=n1', 'metadata.name=n1,metadata.name=a', 'metadata.name=b,metadata.name=a', 'metadata.name=a\\,b', 'metadata.name=a\\x', 'metadata.name=a=b', 'metadata.name=n%1', 'metadata.name=.', 'metadata.name=..', 'metadata.name=a/b', 'metadata.name=', 'spec.x=1,metadata.name=n1', 'metadata.name', '', ',', 'metadata.name=n1,', 'metadata.name=\\\\', 'metadata.name=é']
const lsel = ['a=b', 'a==b', 'a!=b', 'a in (x,y)', 'a in (,,)', 'a in (a,,)', '!a', 'a', '===', 'a=b c', 'a>1', 'a>-1', 'a<99999999999999999999', 'x/y/z', 'a=b\u0000!!', ' a = b ', 'a=b,', 'in=b', 'a notin ()', 'a in ()', 'A/b=c', 'a=-b', '']
const qvals: Array<() => string> = [
  () => 'fieldSelector=' + encodeURIComponent(pick(fsel)),
  () => 'fieldSelector=' + pick(fsel).replace(/=/g, '%3D').replace(/ /g, '+'),
  () => 'labelSelector=' + encodeURIComponent(pick(lsel)),
  () => 'limit=' + pick(['abc', '', '5', '-1', '99999999999999999999', '+3', '%201']),
  () => 'timeoutSeconds=' + pick(['abc', '', '5']),
  () => 'watch=' + pick(['true', '1', 'F', 'false', 'FALSE', '0', '', 'no']),
  () => 'watch',
  () => pick(['a=%zz', '%zz=1', 'x;y=1', 'fieldSelector=metadata.name%3Dn1;', '&&', '=', 'resourceVersion=1']),
]
function target (): string {
  const n = 2 + Math.floor(rnd() * 6)
  let p = ''
  for (let i = 0; i < n; i++) p += '/' + pick(segs)
  if (rnd() < 0.1) p = pick(['https://h:6443', 'http://h', 'foo://u@h:1', 'http://[::1]:8', 'http://a:b:c', 'http://h%41', 'http://[fe80::1%25en0]:1',
    'http://[::1', 'http://h:x', 'http://u:p@h', 'http://u@@h', 'http://h%C3%A9', 'http://h%20', 'HTTP://H', 'http://[::ffff:1.2.3.4]',
    'http://[1.2.3.4]', 'x-y+z.w://h', '1http://h', 'http://h:', 'http://:80', 'http://h^', "http://h'", 'http://u%zz@h', 'http://é@h',
    'http://[fe80::1%25%41]', 'http://[fe80::1%25%20]', 'http://[fe80::1%25%2F]', 'http://a[b]', 'http://[::1]x', 'http://h#', 'http:', 'http://[::1.02.3.4]', 'http://[::1.2.3.4]', 'http://[0001::1]', 'http://[1::2::3]', 'http://[fe80::1%25]', 'http://[::1%25x%25y]', 'http://[1.2.3.4%25x]', 'http://[::ffff:1.2.3.4]:0']) + p
  if (rnd() < 0.1) p = pick(['//', '', '/api/v1/']) + p
  if (rnd() < 0.7) {
    const k = 1 + Math.floor(rnd() * 3)
    const qs: string[] = []
    for (let i = 0; i < k; i++) qs.push(pick(qvals)())
    p += '?' + qs.join('&')
  }
  return p
}
const cases: Array<[string, string]> = []
for (let i = 0; i < N; i++) cases.push([pick(['GET', 'GET', 'DELETE', 'POST', 'HEAD']), target()])
const input = cases.map(([m, u]) => `req\t${m}\t${encodeURIComponent(u)}`).join('\n') + '\n' +
  [...fsel, ...lsel].map((s) => `field\t${s}`).join('\n') + '\n' + lsel.map((s) => `label\t${s}`).join('\n') + '\n'
const out = execFileSync(ORACLE, { input, stdio: ['pipe', 'pipe', 'ignore'], maxBuffer: 1 << 28 }).toString().trim().split('\n')
let bad = 0
cases.forEach(([m, u], i) => {
  const go = JSON.parse(out[i]!)
  const ts = requestInfo(m, Buffer.from(u, 'utf8').toString('latin1'))
  const goErr = go.err !== undefined ? 400 : go.infoErr !== undefined ? 500 : 0
  const tsErr = ts.ok ? 0 : ts.code
  let diff = ''
  if (goErr !== tsErr) diff = `err go=${goErr} ${go.err ?? go.infoErr ?? ''} ts=${tsErr} ${ts.ok ? '' : ts.message}`
  else if (ts.ok && goErr === 0) {
    const g = go.info
    const want = { path: g.Path, verb: g.Verb, ns: g.Namespace, res: g.Resource, sub: g.Subresource, name: g.Name, group: g.APIGroup, isRes: g.IsResourceRequest, fs: g.FieldSelector, ls: g.LabelSelector }
    const i2 = ts.info
    const got = { path: i2.path, verb: i2.verb, ns: i2.namespace, res: i2.resource, sub: i2.subresource, name: i2.name, group: i2.apiGroup, isRes: i2.isResourceRequest, fs: i2.fieldSelector ?? '', ls: i2.labelSelector ?? '' }
    if (JSON.stringify(want) !== JSON.stringify(got).replace(/\\udc[89a-f][0-9a-f]/g, '\ufffd')) diff = `go=${JSON.stringify(want)}\n   ts=${JSON.stringify(got)}`
    const gq = JSON.stringify(Object.fromEntries(Object.entries(go.query ?? {}).sort()))
    const tq = JSON.stringify(Object.fromEntries([...(i2.query ?? new Map()).entries()].sort()))
    if (diff === '' && gq !== tq.replace(/\\udc[89a-f][0-9a-f]/g, '\ufffd')) diff = `query go=${gq} ts=${tq}`
  }
  if (diff !== '' && bad++ < 15) console.log(`${m} ${u}\n   ${diff}`)
})
let k = cases.length
for (const s of [...fsel, ...lsel]) {
  const go = JSON.parse(out[k++]!)
  const ts = parseFieldSelector(s)
  const tsName = ts.ok ? requiresExactMatch(ts.value, 'metadata.name') : undefined
  const gook = go.err === undefined
  if (gook !== ts.ok || (gook && (go.found ? go.name : undefined) !== tsName) || (gook && JSON.stringify((go.reqs ?? []).map((r: any) => [r.Field, r.Operator === '==' ? '=' : r.Operator, r.Value])) !== JSON.stringify(ts.ok ? ts.value.map((r) => [r.field, r.operator, r.value]) : []))) { bad++; console.log('field', JSON.stringify(s), JSON.stringify(go), JSON.stringify(ts)) }
}
for (const s of lsel) {
  const go = JSON.parse(out[k++]!)
  const ts = parseLabelSelector(s)
  const gook = go.err === undefined
  const opmap: Record<string, string> = { exists: 'exists', '!': '!', '=': '=', '==': '==', '!=': '!=', in: 'in', notin: 'notin', gt: 'gt', lt: 'lt' }
  const goReqs = JSON.stringify((go.reqs ?? []).map((r: any) => [r.Key, r.Op === '==' ? '=' : r.Op, r.Values ?? []]))
  const tsReqs = JSON.stringify(ts.ok ? ts.value.map((r) => [r.key, opmap[r.operator], r.values]) : [])
  if (gook !== ts.ok || (gook && goReqs !== tsReqs)) { bad++; console.log('label', JSON.stringify(s), JSON.stringify(go), JSON.stringify(ts)) }
}
console.log(`seed ${process.env.SEED ?? 1}: ${bad} mismatches of ${k}`)
process.exitCode = bad === 0 ? 0 : 1
