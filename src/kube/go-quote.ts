// Go's %q (strconv.Quote), the one copy: kube-apiserver quotes names, paths and query values this
// way in its messages, so names with quotes, backslashes, control characters or invalid UTF-8
// come out of the edge exactly as out of the apiserver. Pure.

// unicode.IsPrint: letters, marks, numbers, punctuation, symbols and the ASCII space.
const GO_PRINTABLE = /^[\p{L}\p{M}\p{N}\p{P}\p{S} ]$/u
const GO_SHORT_ESCAPES: Record<string, string> = {
  '\x07': '\\a', '\b': '\\b', '\f': '\\f', '\n': '\\n', '\r': '\\r', '\t': '\\t', '\v': '\\v',
}

/**
 * strconv.Quote(s). A lone surrogate U+DC80..U+DCFF is a raw byte that is not UTF-8 (how
 * request-target's goString carries Go's bytes) and comes out as Go writes that byte, `\x80`;
 * any other lone surrogate is what Go would decode as U+FFFD.
 */
export function goQuote (s: string): string {
  // Fast path: plain printable ASCII without quote or backslash.
  if (/^[\x20-\x21\x23-\x5b\x5d-\x7e]*$/.test(s)) return `"${s}"`
  let out = '"'
  for (const ch of s) {
    const cp = ch.codePointAt(0)!
    if (ch === '"' || ch === '\\') { out += `\\${ch}`; continue }
    if (cp >= 0xdc80 && cp <= 0xdcff) { out += `\\x${(cp - 0xdc00).toString(16)}`; continue }
    if (cp >= 0xd800 && cp <= 0xdfff) { out += '\ufffd'; continue }
    if (GO_PRINTABLE.test(ch)) { out += ch; continue }
    const short = GO_SHORT_ESCAPES[ch]
    if (short !== undefined) out += short
    else if (cp < 0x20 || cp === 0x7f) out += `\\x${cp.toString(16).padStart(2, '0')}`
    else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`
    else out += `\\U${cp.toString(16).padStart(8, '0')}`
  }
  return `${out}"`
}
