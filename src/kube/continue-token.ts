// LIST continue tokens exactly as kube-apiserver mints and checks them (k8s.io/apiserver
// pkg/storage/continue.go EncodeContinue/DecodeContinue), so a list the edge pages offline hands
// out tokens a client cannot tell from the apiserver's, and a token the apiserver minted still
// works when the edge answers the next page. Pure.

const VERSION = 'meta.k8s.io/v1'
const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

export type DecodedContinue = { ok: true, rv: string, start: string } | { ok: false, message: string }

/**
 * The key of an object relative to its list's storage prefix (/registry/<resource>/ for a
 * cluster-wide list, /registry/<resource>/<ns>/ for a namespaced one), which is what a token's
 * `start` holds and the order pages are cut in.
 */
export function listKey (namespaceOfList: string, objNamespace: string, name: string): string {
  return namespaceOfList === '' && objNamespace !== '' ? `${objNamespace}/${name}` : name
}

/**
 * The token for the page after the object whose listKey is `nextKey`, read at `rv`. Like the
 * apiserver (storage.PrepareContinueToken) we append "\x00": the next page starts at the first
 * key strictly after `nextKey`.
 */
export function encodeContinue (rv: string, nextKey: string): string {
  if (!/^-?\d+$/.test(rv) || BigInt(rv) < INT64_MIN || BigInt(rv) > INT64_MAX) throw new TypeError(`resourceVersion is not an int64: ${JSON.stringify(rv)}`)
  // Field order and escaping of Go's json.Marshal of the token struct, so tokens are byte-identical.
  const json = `{"v":"${VERSION}","rv":${BigInt(rv)},"start":${goJSONString(nextKey + '\u0000')}}`
  return Buffer.from(json).toString('base64url')
}

/**
 * Checks a token as DecodeContinue does. On success `rv` is the encoded resourceVersion (negative
 * means "the latest", which the apiserver issues for inconsistent continuations) and `start` is
 * what the apiserver appends to the list prefix: the encoded start with one leading "/" removed
 * and its trailing "\x00" kept, so the page holds the keys >= start. On failure `message` is the
 * whole message of the apiserver's 400 ("invalid continue token: ...").
 */
export function decodeContinue (token: string): DecodedContinue {
  const bad = (why: string): DecodedContinue => ({ ok: false, message: `invalid continue token: continue key is not valid${why}` })
  const bytes = rawURLBase64(token)
  if (typeof bytes === 'number') return bad(`: illegal base64 data at input byte ${bytes}`)
  const fields = unmarshalToken(bytes.toString('utf8'))
  if (typeof fields === 'string') return bad(`: ${fields}`)
  const { v, rv, start } = fields
  if (v !== VERSION) return bad(`: server does not recognize this encoded version ${v}`)
  if (rv === '0') return bad(': incorrect encoded start resourceVersion (version meta.k8s.io/v1)')
  if (start === '') return bad(': encoded start key empty (version meta.k8s.io/v1)')
  // The apiserver refuses any start that path.Clean would change, so a client cannot walk the
  // range above its list prefix ("../", "//", a trailing "/").
  const key = start.startsWith('/') ? start : '/' + start
  if (!isCleanPath(key)) return bad(`: ${start}`)
  return { ok: true, rv, start: key.slice(1) }
}

/** Go's base64.RawURLEncoding.DecodeString: no padding, "\r" and "\n" skipped, the error names the first bad byte. */
function rawURLBase64 (token: string): Buffer | number {
  const src = Buffer.from(token, 'utf8')
  let digits = ''
  for (let i = 0; i < src.length; i++) {
    const c = String.fromCharCode(src[i]!)
    if (/[A-Za-z0-9_-]/.test(c)) digits += c
    else if (c !== '\n' && c !== '\r') return i
  }
  // A lone character in the last quantum carries no whole byte; Go reports it at the input's last byte.
  if (digits.length % 4 === 1) return src.length - 1
  return Buffer.from(digits, 'base64url')
}

interface TokenFields { v: string, rv: string, start: string }

/** json.Unmarshal into the token struct: fields matched case-insensitively, the last duplicate wins, null leaves a field unset, the first type error is reported. */
function unmarshalToken (text: string): TokenFields | string {
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    return text.trim() === '' ? 'unexpected end of JSON input' : 'invalid JSON'
  }
  const fields: TokenFields = { v: '', rv: '0', start: '' }
  if (parsed === null) return fields
  if (typeof parsed !== 'object' || Array.isArray(parsed)) return `json: cannot unmarshal ${goKind(text.trim())} into Go value of type storage.continueToken`
  let firstError: string | undefined
  const typeError = (what: string, field: string, type: string): void => {
    firstError ??= `json: cannot unmarshal ${what} into Go struct field continueToken.${field} of type ${type}`
  }
  // The raw text of rv is needed: an int64 does not survive a trip through a JS number.
  for (const [name, raw] of topLevelMembers(text)) {
    const field = (['v', 'rv', 'start'] as const).find((f) => f.toUpperCase() === name.toUpperCase())
    if (field === undefined || raw === 'null') continue
    if (field !== 'rv') {
      if (raw.startsWith('"')) fields[field] = JSON.parse(raw) as string
      else typeError(goKind(raw), field, 'string')
    } else if (/^-?(0|[1-9]\d*)$/.test(raw) && BigInt(raw) >= INT64_MIN && BigInt(raw) <= INT64_MAX) {
      fields.rv = BigInt(raw).toString()
    } else {
      typeError(goKind(raw) === 'number' ? `number ${raw}` : goKind(raw), 'rv', 'int64')
    }
  }
  return firstError ?? fields
}

function goKind (raw: string): string {
  switch (raw[0]) {
    case '"': return 'string'
    case '{': return 'object'
    case '[': return 'array'
    case 't': case 'f': return 'bool'
    default: return 'number'
  }
}

const STRING = /"(?:[^"\\]|\\.)*"/y
const LITERAL = /[^\s,\]}]*/y
const SPACE = /[ \t\n\r]*/y

function endOf (re: RegExp, text: string, i: number): number {
  re.lastIndex = i
  re.exec(text)
  return re.lastIndex
}

/** [name, raw value text] of each member of a JSON object that JSON.parse has already accepted. */
function topLevelMembers (text: string): Array<[string, string]> {
  const members: Array<[string, string]> = []
  let i = endOf(SPACE, text, 0) + 1
  for (;;) {
    i = endOf(SPACE, text, i)
    if (text[i] === '}') return members
    if (text[i] === ',') i = endOf(SPACE, text, i + 1)
    const nameEnd = endOf(STRING, text, i)
    const name = JSON.parse(text.slice(i, nameEnd)) as string
    i = endOf(SPACE, text, endOf(SPACE, text, nameEnd) + 1)
    const valueEnd = skipValue(text, i)
    members.push([name, text.slice(i, valueEnd)])
    i = valueEnd
  }
}

function skipValue (text: string, i: number): number {
  if (text[i] === '"') return endOf(STRING, text, i)
  if (text[i] !== '{' && text[i] !== '[') return endOf(LITERAL, text, i)
  let depth = 0
  while (i < text.length) {
    const c = text[i]
    if (c === '"') { i = endOf(STRING, text, i); continue }
    if (c === '{' || c === '[') depth++
    else if ((c === '}' || c === ']') && --depth === 0) return i + 1
    i++
  }
  return i
}

/** True when Go's path.Clean leaves the rooted path unchanged. */
function isCleanPath (p: string): boolean {
  return p === '/' || p.slice(1).split('/').every((e) => e !== '' && e !== '.' && e !== '..')
}

/** A JSON string as Go's encoding/json writes it: it also escapes <, >, &, U+2028 and U+2029. */
function goJSONString (s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
