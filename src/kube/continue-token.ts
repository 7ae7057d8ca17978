// LIST continue tokens as kube-apiserver mints and checks them (k8s.io/apiserver
// pkg/storage/continue.go EncodeContinue/DecodeContinue), so a list the edge pages offline hands
// out tokens a client cannot tell from the apiserver's, and a token the apiserver minted still
// works when the edge answers the next page. Pure.
/* eslint-disable @typescript-eslint/no-explicit-any -- a continue token is client-supplied JSON, checked field by field as Go's decoder does */
import { goJson } from './status.js'

const VERSION = 'meta.k8s.io/v1'
const DECIMAL = /^-?(0|[1-9]\d{0,18})$/
const isInt64 = (s: string): boolean => DECIMAL.test(s) && BigInt(s) >= -(2n ** 63n) && BigInt(s) < 2n ** 63n

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
 * key strictly after `nextKey`. Byte-identical to Go's json.Marshal + base64.RawURLEncoding.
 */
export function encodeContinue (rv: string, nextKey: string): string {
  if (!isInt64(rv)) throw new TypeError(`resourceVersion is not an int64: ${JSON.stringify(rv)}`)
  return Buffer.from(`{"v":"${VERSION}","rv":${rv},"start":${goJson(nextKey + '\u0000')}}`).toString('base64url')
}

/**
 * Checks a token as DecodeContinue does. On success `rv` is the encoded resourceVersion (negative
 * means "the latest", which the apiserver issues for inconsistent continuations) and `start` is
 * what the apiserver appends to the list prefix: the encoded start with one leading "/" removed
 * and its trailing "\x00" kept, so the page holds the keys >= start. On failure `message` is the
 * message of the apiserver's 400 ("invalid continue token: ...").
 */
export function decodeContinue (token: string): DecodedContinue {
  const bad = (why: string): DecodedContinue => ({ ok: false, message: `invalid continue token: continue key is not valid: ${why}` })
  if (!/^[A-Za-z0-9_-]*$/.test(token)) return bad('illegal base64 data')
  const text = Buffer.from(token, 'base64url').toString('utf8')
  let parsed: any
  try { parsed = JSON.parse(text) } catch { return bad('not a JSON object') }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return bad('not a JSON object')
  if (parsed.v !== VERSION) return bad(`server does not recognize this encoded version ${typeof parsed.v === 'string' ? parsed.v : ''}`)
  // The digits as written: an int64 does not survive a trip through a JS number.
  const rv = /"rv"\s*:\s*(-?\d+)\s*[,}]/.exec(text)?.[1]
  if (rv === undefined || !isInt64(rv) || rv === '0') return bad(`incorrect encoded start resourceVersion (version ${VERSION})`)
  const start = parsed.start
  if (typeof start !== 'string' || start === '') return bad(`encoded start key empty (version ${VERSION})`)
  // The apiserver refuses any start that path.Clean would change, so a client cannot walk the
  // range above its list prefix ("../", "//", a trailing "/").
  const key = start.startsWith('/') ? start : '/' + start
  if (!isCleanPath(key)) return bad(start)
  return { ok: true, rv, start: key.slice(1) }
}

/** True when Go's path.Clean leaves the rooted path unchanged. */
function isCleanPath (p: string): boolean {
  return p === '/' || p.slice(1).split('/').every((e) => e !== '' && e !== '.' && e !== '..')
}
