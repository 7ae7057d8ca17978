// Seeded generator of what a pod may send kube-apiserver, for the differential runs against the Go
// oracle (request-parsing-oracle.test.ts, compare.ts): request targets with encodings, odd and
// dot segments, raw non-ASCII bytes, absolute-form authorities, valid and invalid query
// parameters; field and label selectors with spaces, duplicates, escapes and bad syntax. The same
// seed yields the same cases, so a printed seed replays a run.

import { prng as random } from '../../helpers/prng.js'

export { random }

export interface RequestCase {
  method: string
  /** The request target's bytes as they arrive on the wire (any byte but controls and space). */
  target: Buffer
}

export interface Generated {
  requests: RequestCase[]
  fieldSelectors: string[]
  labelSelectors: string[]
}

type Rnd = () => number
const pick = <T>(rnd: Rnd, a: readonly T[]): T => a[Math.floor(rnd() * a.length)]!
const upTo = (rnd: Rnd, n: number): number => Math.floor(rnd() * (n + 1))

// Methods Node's HTTP parser hands to a request handler (it refuses unknown tokens; CONNECT is an
// upgrade, never a request).
const METHODS = ['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'DELETE', 'OPTIONS']

export const SEGMENTS = ['api', 'apis', 'v1', 'apps', 'namespaces', 'default', 'd%65fault', 'configmaps', 'configmaps%2Fcm1',
  'cm1', 'watch', 'proxy', 'status', 'finalize', 'pods', 'log', 'exec', 'secrets', 'serviceaccounts', 'token', '', '.', '..',
  '%2e', '%2E%2e', '%', '%zz', '%ff', '%C3%A9', 'a+b', 'x;y', '#f', 'é', ':', '%00', '%2F', '%2f', '%25', '%3F', '?', '%23',
  'watch%2F', 'na%6despaces', '%61pi', 'v%31']

export const AUTHORITIES = ['https://h:6443', 'http://h', 'foo://u@h:1', 'http://[::1]:8', 'http://a:b:c', 'http://h%41',
  'http://[fe80::1%25en0]:1', 'http://[::1', 'http://h:x', 'http://u:p@h', 'http://u@@h', 'http://h%C3%A9', 'http://h%20',
  'HTTP://H', 'http://[::ffff:1.2.3.4]', 'http://[1.2.3.4]', 'x-y+z.w://h', '1http://h', 'http://h:', 'http://:80', 'http://h^',
  "http://h'", 'http://u%zz@h', 'http://é@h', 'http://[fe80::1%25%41]', 'http://[fe80::1%25%20]', 'http://[fe80::1%25%2F]',
  'http://a[b]', 'http://[::1]x', 'http://h#', 'http:', 'http://[::1.02.3.4]', 'http://[::1.2.3.4]', 'http://[0001::1]',
  'http://[1::2::3]', 'http://[fe80::1%25]', 'http://[::1%25x%25y]', 'http://[1.2.3.4%25x]', 'http://[::ffff:1.2.3.4]:0',
  'https://kubernetes.default.svc', 'http://127.0.0.1:6443', 'mailto:x', 'http:/h', 'http:///x']

export const FIELD_SELECTORS = ['metadata.name=n1', 'metadata.name==n1', 'metadata.name!=n1', 'metadata.name= n1', ' metadata.name=n1',
  'metadata.name=n1,metadata.name=a', 'metadata.name=b,metadata.name=a', 'metadata.name=a\\,b', 'metadata.name=a\\x',
  'metadata.name=a=b', 'metadata.name=n%1', 'metadata.name=.', 'metadata.name=..', 'metadata.name=a/b', 'metadata.name=',
  'spec.x=1,metadata.name=n1', 'metadata.name', '', ',', 'metadata.name=n1,', 'metadata.name=\\\\', 'metadata.name=é']

export const LABEL_SELECTORS = ['a=b', 'a==b', 'a!=b', 'a in (x,y)', 'a in (,,)', 'a in (a,,)', '!a', 'a', '===', 'a=b c', 'a>1',
  'a>-1', 'a<99999999999999999999', 'x/y/z', 'a=b\u0000!!', ' a = b ', 'a=b,', 'in=b', 'a notin ()', 'a in ()', 'A/b=c', 'a=-b', '']

const FIELD_NAMES = ['metadata.name', 'metadata.name', 'metadata.namespace', 'spec.nodeName', 'status.phase', '', 'metadata.name ',
  ' metadata.name', 'a.b', 'x\\=y', 'metadata.name\\,', 'é']
const FIELD_OPS = ['=', '=', '==', '!=', '', '!', '=!', '===', '!==', '= ']
const FIELD_VALUES = ['n1', 'n1', 'a', 'b', '', ' n1', 'n1 ', 'a\\,b', 'a\\=b', 'a\\\\', 'a\\x', '\\', '.', '..', 'a/b', 'a%2Fb',
  'a%b', 'é', 'a=b', 'a!=b', 'n-1.x', 'A', '-']

const LABEL_KEYS = ['a', 'a', 'b', 'A/b', 'example.com/k', 'x/y/z', '-a', 'a-', 'a_b', 'a.b', 'k'.repeat(63), 'k'.repeat(64), 'in',
  'notin', '', 'app.kubernetes.io/name', '/a', 'a/', 'é', 'a b']
const LABEL_VALUES = ['b', 'b', 'c', '', 'x y', '-b', 'b-', '1', '-1', '0', '+1', '99999999999999999999', 'v'.repeat(63), 'v'.repeat(64),
  'a,b', '(', ')', 'é', 'a.b_c-d', '!']
const SPACES = ['', '', '', ' ', '  ', '\t']

function fieldTerm (rnd: Rnd): string {
  return pick(rnd, FIELD_NAMES) + pick(rnd, FIELD_OPS) + pick(rnd, FIELD_VALUES)
}

/** A field selector from 0–3 terms, mostly well-formed. */
export function fieldSelector (rnd: Rnd): string {
  if (rnd() < 0.1) return pick(rnd, FIELD_SELECTORS)
  const terms: string[] = []
  for (let i = upTo(rnd, 3); i > 0; i--) terms.push(fieldTerm(rnd))
  if (terms.length === 0) terms.push(fieldTerm(rnd))
  return terms.join(pick(rnd, [',', ',', ', ', ' ,', ',,']))
}

function labelValues (rnd: Rnd): string {
  const vs: string[] = []
  for (let i = upTo(rnd, 3); i > 0; i--) vs.push(pick(rnd, LABEL_VALUES))
  return vs.join(pick(rnd, [',', ',', ', ', ' , ']))
}

function labelTerm (rnd: Rnd): string {
  const key = pick(rnd, LABEL_KEYS)
  const s = (): string => pick(rnd, SPACES)
  switch (Math.floor(rnd() * 8)) {
    case 0: return key
    case 1: return '!' + s() + key
    case 2: return key + s() + pick(rnd, ['in', 'notin', 'In', 'in(']) + s() + pick(rnd, ['(', '(', '']) + labelValues(rnd) + pick(rnd, [')', ')', ''])
    case 3: return key + s() + pick(rnd, ['>', '<', '>=', '<']) + s() + pick(rnd, ['1', '-1', '0', '1.5', 'x', '99999999999999999999', ''])
    default: return key + s() + pick(rnd, ['=', '=', '==', '!=', '!', '=!']) + s() + pick(rnd, LABEL_VALUES)
  }
}

/** A label selector from 0–3 terms, mostly well-formed. */
export function labelSelector (rnd: Rnd): string {
  if (rnd() < 0.1) return pick(rnd, LABEL_SELECTORS)
  const terms: string[] = []
  for (let i = upTo(rnd, 3); i > 0; i--) terms.push(labelTerm(rnd))
  if (terms.length === 0) terms.push(labelTerm(rnd))
  return terms.join(pick(rnd, [',', ',', ', ', ' ,']))
}

/** Percent-encodes one random character of s, with upper- or lower-case hex. */
function encodeOne (rnd: Rnd, s: string): string {
  if (s.length === 0) return s
  const i = Math.floor(rnd() * s.length)
  const hex = Buffer.from(s[i]!, 'utf8').toString('hex')
  const enc = hex.replace(/../g, (h) => '%' + (rnd() < 0.5 ? h.toUpperCase() : h))
  return s.slice(0, i) + enc + s.slice(i + 1)
}

/** Puts a query value on the wire one of the ways clients do: fully encoded, partly, or raw. */
function queryValue (rnd: Rnd, v: string): string {
  switch (Math.floor(rnd() * 4)) {
    case 0: return encodeURIComponent(v)
    case 1: return v.replace(/=/g, '%3D').replace(/ /g, '+')
    case 2: return v.replace(/ /g, '%20')
    default: return encodeURIComponent(v).replace(/%20/g, '+').replace(/%2C/g, ',')
  }
}

function queryParam (rnd: Rnd): string {
  switch (Math.floor(rnd() * 12)) {
    case 0: case 1: return pick(rnd, ['fieldSelector', 'fieldSelector', 'f%69eldSelector', 'fieldselector']) + '=' + queryValue(rnd, fieldSelector(rnd))
    case 2: case 3: return pick(rnd, ['labelSelector', 'labelSelector', 'labelSelector%20']) + '=' + queryValue(rnd, labelSelector(rnd))
    case 4: return 'limit=' + pick(rnd, ['abc', '', '5', '-1', '0', '99999999999999999999', '+3', '%201', '0x10', '5%00'])
    case 5: return 'timeoutSeconds=' + pick(rnd, ['abc', '', '5', '-5', '1e3'])
    case 6: return 'watch=' + pick(rnd, ['true', '1', 'F', 'false', 'FALSE', '0', '', 'no', 'fal%73e', 't'])
    case 7: return pick(rnd, ['watch', 'watch&watch=false', 'watch=false&watch=true'])
    case 8: return pick(rnd, ['allowWatchBookmarks', 'sendInitialEvents', 'resourceVersionMatch', 'resourceVersion', 'continue']) + '=' +
      pick(rnd, ['', 'true', 'x', '0', 'NotOlderThan', 'Exact', '%zz'])
    default: return pick(rnd, ['a=%zz', '%zz=1', 'x;y=1', 'fieldSelector=metadata.name%3Dn1;', '&&', '=', 'resourceVersion=1',
      'a=b;c', 'pretty=true', 'timeout=1s', 'dryRun=All', 'fieldSelector', 'labelSelector', 'fieldSelector=', '%', 'a=%', '+=+'])
  }
}

function segment (rnd: Rnd): string {
  const r = rnd()
  if (r < 0.75) return pick(rnd, SEGMENTS)
  if (r < 0.9) return encodeOne(rnd, pick(rnd, SEGMENTS))
  // Random short strings over the characters a path may carry raw ('%' comes from SEGMENTS: a bare
  // one here would make most targets invalid escapes).
  const chars = "abc-._~:@!$&'()*+,;=/[]\\^`{}|\"<>"
  let s = ''
  for (let i = 1 + upTo(rnd, 4); i > 0; i--) s += pick(rnd, [...chars])
  return s
}

const RAW_BYTES = [Buffer.from([0xff]), Buffer.from([0x80]), Buffer.from([0xc3]), Buffer.from([0xc3, 0xa9]), Buffer.from([0xe2, 0x82])]

function target (rnd: Rnd): Buffer {
  if (rnd() < 0.005) return Buffer.from('*')
  let p = ''
  for (let n = 2 + upTo(rnd, 5); n > 0; n--) p += '/' + segment(rnd)
  if (rnd() < 0.3) {
    // The paths the edge authorizes, with a name or a trailing slash now and then.
    p = pick(rnd, ['/api/v1/namespaces/default/configmaps', '/api/v1/configmaps', '/api/v1/namespaces/default/pods/p1/log',
      '/apis/apps/v1/namespaces/default/deployments', '/api/v1/watch/namespaces/default/configmaps', '/api/v1/namespaces/default',
      '/api/v1/namespaces/default/secrets/s1', '/apis/apps/v1/watch/deployments', '/api/v1/namespaces']) +
      pick(rnd, ['', '', '/', '/cm1', '//', '/cm1/status', '/%2e%2e'])
    if (rnd() < 0.3) p = encodeOne(rnd, p)
  }
  if (rnd() < 0.1) p = pick(rnd, AUTHORITIES) + p
  else if (rnd() < 0.05) p = pick(rnd, ['//', '', '/api/v1/', '/./', '/../']) + p
  if (rnd() < 0.7) {
    const qs: string[] = []
    for (let k = 1 + upTo(rnd, 3); k > 0; k--) qs.push(queryParam(rnd))
    p += '?' + qs.join(pick(rnd, ['&', '&', '&', ';', '&&']))
    if (rnd() < 0.03) p += '#frag'
  }
  // What may not travel raw in a request line (controls, space) travels encoded.
  // eslint-disable-next-line no-control-regex -- exactly the control bytes that must be encoded
  const bytes = Buffer.from(p.replace(/[\u0000-\u0020\u007f]/g, (c) => '%' + c.charCodeAt(0).toString(16).padStart(2, '0')), 'utf8')
  if (rnd() < 0.03) {
    const at = Math.floor(rnd() * (bytes.length + 1))
    return Buffer.concat([bytes.subarray(0, at), pick(rnd, RAW_BYTES), bytes.subarray(at)])
  }
  return bytes
}

/** `n` requests and `selectors` of each selector kind (plus the fixed lists above), from `seed`. */
export function generate (seed: number, n: number, selectors = Math.ceil(n / 10)): Generated {
  const rnd = random(seed)
  const requests: RequestCase[] = []
  for (let i = 0; i < n; i++) requests.push({ method: pick(rnd, METHODS), target: target(rnd) })
  const fieldSelectors = [...FIELD_SELECTORS]
  const labelSelectors = [...LABEL_SELECTORS]
  for (let i = 0; i < selectors; i++) {
    fieldSelectors.push(fieldSelector(rnd))
    labelSelectors.push(labelSelector(rnd))
  }
  return { requests, fieldSelectors, labelSelectors }
}
