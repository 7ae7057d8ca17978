// Label and field selectors parsed and matched exactly as kube-apiserver does (apimachinery
// pkg/labels/selector.go Parse, pkg/fields/selector.go ParseSelector), for two callers that must
// agree with it byte for byte: request-info (which metadata.name a list/watch is pinned to, for
// RBAC) and the edge cache (an offline answer selects what the apiserver would, and a selector the
// apiserver refuses is refused). Ports, not look-alikes: spaces are significant in field selectors,
// field terms are sorted before use, the label lexer's quirks (NUL ends a token) are kept. Pure.

import { goBytes, goCompare } from './request-target.js'

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'
export interface LabelRequirement { key: string, operator: LabelOperator, values: string[] }
export interface FieldRequirement { field: string, operator: '=' | '!=', value: string }

export type Parsed<T> = { ok: true, value: T } | { ok: false, message: string }

// ---------------------------------------------------------------------------------------------
// Field selectors (fields.ParseSelector).

/**
 * fields.ParseSelector: terms split on unescaped commas, SORTED (byte-wise), empty terms skipped;
 * each term split at the first `!=`, `==` or `=`; the value unescaped (`\\`, `\,`, `\=`). No
 * trimming: ` metadata.name=a` names the field " metadata.name". The result is in Go's term order.
 */
export function parseFieldSelector (selector: string): Parsed<FieldRequirement[]> {
  const parts = splitFieldTerms(selector).sort(goCompare)
  const requirements: FieldRequirement[] = []
  for (const part of parts) {
    if (part === '') continue
    const split = splitFieldTerm(part)
    if (split === undefined) return { ok: false, message: `invalid selector: '${selector}'; can't understand '${part}'` }
    const value = unescapeFieldValue(split.rhs)
    if (!value.ok) return value
    // Go turns a term with neither field nor value (`=`, `==`, `!=`) into Everything(), which the
    // and-term then drops.
    if (split.lhs === '' && value.value === '') continue
    requirements.push({ field: split.lhs, operator: split.op === '!=' ? '!=' : '=', value: value.value })
  }
  return { ok: true, value: requirements }
}

/** Selector.RequiresExactMatch: the value of the first (in sorted order) `field=value` term. */
export function requiresExactMatch (requirements: readonly FieldRequirement[], field: string): string | undefined {
  return requirements.find((r) => r.operator === '=' && r.field === field)?.value
}

/** fields.Selector.Matches: a field the object does not have reads as "". */
export function fieldsMatch (requirements: readonly FieldRequirement[], fields: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => ((Object.hasOwn(fields, r.field) ? fields[r.field]! : '') === r.value) === (r.operator === '='))
}

/** splitTerms: commas after a backslash are data (the backslash stays, unescapeFieldValue removes it). */
function splitFieldTerms (selector: string): string[] {
  if (selector === '') return []
  const terms: string[] = []
  let start = 0
  let inSlash = false
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]
    if (inSlash) inSlash = false
    else if (c === '\\') inSlash = true
    else if (c === ',') { terms.push(selector.slice(start, i)); start = i + 1 }
  }
  terms.push(selector.slice(start))
  return terms
}

/** splitTerm: the first position where `!=`, `==` or `=` starts (checked in that order). */
function splitFieldTerm (term: string): { lhs: string, op: string, rhs: string } | undefined {
  for (let i = 0; i < term.length; i++) {
    for (const op of ['!=', '==', '=']) {
      if (term.startsWith(op, i)) return { lhs: term.slice(0, i), op, rhs: term.slice(i + op.length) }
    }
  }
  return undefined
}

/** fields.UnescapeValue. Its slow path rewrites runes, so there an invalid UTF-8 byte becomes U+FFFD. */
function unescapeFieldValue (s: string): Parsed<string> {
  if (!/[\\,=]/.test(s)) return { ok: true, value: s }
  let out = ''
  let inSlash = false
  for (const ch of s) {
    // A lone U+DC80..U+DCFF is an invalid byte (request-target's goString); range yields U+FFFD.
    const c = /^[\udc80-\udcff]$/.test(ch) ? '\ufffd' : ch
    if (inSlash) {
      if (c !== '\\' && c !== ',' && c !== '=') return { ok: false, message: `invalid field selector: invalid escape sequence: \\${c}` }
      out += c
      inSlash = false
      continue
    }
    if (c === '\\') inSlash = true
    else if (c === ',' || c === '=') return { ok: false, message: `invalid field selector: unescaped character in value: ${c.codePointAt(0)}` }
    else out += c
  }
  if (inSlash) return { ok: false, message: 'invalid field selector: invalid escape sequence: \\' }
  return { ok: true, value: out }
}

// ---------------------------------------------------------------------------------------------
// Label selectors (labels.Parse: Lexer, Parser, NewRequirement).

const enum Tok { Error, EOS, ClosedPar, Comma, DoesNotExist, DoubleEquals, Equals, GreaterThan, Identifier, In, LessThan, NotEquals, NotIn, OpenPar }

const STRING_TO_TOKEN: ReadonlyMap<string, Tok> = new Map([
  [')', Tok.ClosedPar], [',', Tok.Comma], ['!', Tok.DoesNotExist], ['==', Tok.DoubleEquals], ['=', Tok.Equals],
  ['>', Tok.GreaterThan], ['in', Tok.In], ['<', Tok.LessThan], ['!=', Tok.NotEquals], ['notin', Tok.NotIn], ['(', Tok.OpenPar],
])

const isWhitespace = (c: string): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n'
const isSpecial = (c: string): boolean => '=!(),><'.includes(c) && c !== ''
// Lexer.read returns byte 0 at the end AND for a NUL byte in the input: both end a token.
const NUL = '\0'

interface Item { tok: Tok, lit: string }

/** The Lexer, code unit for code unit: every byte it tests for is ASCII, so token boundaries are Go's. */
function lex (s: string): Item[] {
  let pos = 0
  const read = (): string => (pos < s.length ? s[pos++]! : NUL)
  const unread = (): void => { pos-- }
  const items: Item[] = []
  for (;;) {
    let ch = read()
    while (isWhitespace(ch)) ch = read()
    let item: Item
    if (ch === NUL) {
      item = { tok: Tok.EOS, lit: '' }
    } else if (isSpecial(ch)) {
      unread()
      let buffer = ''
      let last: Item | undefined
      for (;;) {
        const c = read()
        if (c === NUL) break
        if (!isSpecial(c)) { unread(); break }
        buffer += c
        const t = STRING_TO_TOKEN.get(buffer)
        if (t !== undefined) last = { tok: t, lit: buffer }
        else if (last !== undefined) { unread(); break }
      }
      item = last ?? { tok: Tok.Error, lit: `error expected: keyword found '${buffer}'` }
    } else {
      unread()
      let buffer = ''
      for (;;) {
        const c = read()
        if (c === NUL) break
        if (isSpecial(c) || isWhitespace(c)) { unread(); break }
        buffer += c
      }
      item = { tok: STRING_TO_TOKEN.get(buffer) ?? Tok.Identifier, lit: buffer }
    }
    items.push(item)
    if (item.tok === Tok.EOS) return items
  }
}

class LabelParser {
  private position = 0
  constructor (private readonly items: Item[]) {}

  // In the Values context `in` and `notin` are identifiers.
  lookahead (values: boolean): Item {
    const it = this.items[this.position]!
    return values && (it.tok === Tok.In || it.tok === Tok.NotIn) ? { tok: Tok.Identifier, lit: it.lit } : it
  }

  consume (values: boolean): Item {
    const it = this.lookahead(values)
    this.position++
    return it
  }

  parse (): LabelRequirement[] {
    const requirements: LabelRequirement[] = []
    for (;;) {
      const { tok, lit } = this.lookahead(true)
      if (tok === Tok.Identifier || tok === Tok.DoesNotExist) {
        try {
          requirements.push(this.parseRequirement())
        } catch (err) {
          throw new Error(`unable to parse requirement: ${(err as Error).message}`)
        }
        const t = this.consume(true)
        if (t.tok === Tok.EOS) return requirements
        if (t.tok !== Tok.Comma) throw new Error(`found '${t.lit}', expected: ',' or 'end of string'`)
        const t2 = this.lookahead(true)
        if (t2.tok !== Tok.Identifier && t2.tok !== Tok.DoesNotExist) throw new Error(`found '${t2.lit}', expected: identifier after ','`)
      } else if (tok === Tok.EOS) {
        return requirements
      } else {
        throw new Error(`found '${lit}', expected: !, identifier, or 'end of string'`)
      }
    }
  }

  private parseRequirement (): LabelRequirement {
    let operator: LabelOperator | undefined
    let key = this.consume(true)
    if (key.tok === Tok.DoesNotExist) { operator = '!'; key = this.consume(true) }
    if (key.tok !== Tok.Identifier) throw new Error(`found '${key.lit}', expected: identifier`)
    validateLabelKey(key.lit)
    const next = this.lookahead(true).tok
    if (next === Tok.EOS || next === Tok.Comma) operator ??= 'exists'
    if (operator === 'exists' || operator === '!') return newRequirement(key.lit, operator, [])
    const op = this.consume(false)
    const OPS = new Map<Tok, LabelOperator>([[Tok.In, 'in'], [Tok.Equals, '='], [Tok.DoubleEquals, '='], [Tok.GreaterThan, 'gt'], [Tok.LessThan, 'lt'], [Tok.NotIn, 'notin'], [Tok.NotEquals, '!=']])
    const operatorOf = OPS.get(op.tok)
    if (operatorOf === undefined) throw new Error(`found '${op.lit}', expected: in, notin, =, ==, !=, gt, lt`)
    const values = operatorOf === 'in' || operatorOf === 'notin' ? this.parseValues() : this.parseExactValue()
    // sets.String.List(): de-duplicated and sorted.
    return newRequirement(key.lit, operatorOf, [...values].sort(goCompare))
  }

  private parseValues (): Set<string> {
    const open = this.consume(true)
    if (open.tok !== Tok.OpenPar) throw new Error(`found '${open.lit}' expected: '('`)
    const { tok, lit } = this.lookahead(true)
    if (tok === Tok.Identifier || tok === Tok.Comma) {
      const s = this.parseIdentifiersList()
      if (this.consume(true).tok !== Tok.ClosedPar) throw new Error(`found '${lit}', expected: ')'`)
      return s
    }
    if (tok === Tok.ClosedPar) { this.consume(true); return new Set(['']) }
    throw new Error(`found '${lit}', expected: ',', ')' or identifier`)
  }

  private parseIdentifiersList (): Set<string> {
    const s = new Set<string>()
    for (;;) {
      const { tok, lit } = this.consume(true)
      if (tok === Tok.Identifier) {
        s.add(lit)
        const t2 = this.lookahead(true)
        if (t2.tok === Tok.Comma) continue
        if (t2.tok === Tok.ClosedPar) return s
        throw new Error(`found '${t2.lit}', expected: ',' or ')'`)
      } else if (tok === Tok.Comma) {
        if (s.size === 0) s.add('')
        const t2 = this.lookahead(true).tok
        if (t2 === Tok.ClosedPar) { s.add(''); return s }
        if (t2 === Tok.Comma) {
          // apimachinery up to v0.36 consumes the second comma here (so `(,,)` is an error);
          // v0.37 does not. The stricter reading is kept: never accept what an apiserver refuses.
          this.consume(true)
          s.add('')
        }
      } else {
        throw new Error(`found '${lit}', expected: ',', or identifier`)
      }
    }
  }

  private parseExactValue (): Set<string> {
    const { tok } = this.lookahead(true)
    if (tok === Tok.EOS || tok === Tok.Comma) return new Set([''])
    const v = this.consume(true)
    if (v.tok === Tok.Identifier) return new Set([v.lit])
    throw new Error(`found '${v.lit}', expected: identifier`)
  }
}

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/
const DNS1123_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/
// Go's len() counts bytes.
const byteLength = (s: string): number => goBytes(s).length

// Messages of k8s.io/apimachinery/pkg/util/validation (v0.34, the test bed's): RegexError, MaxLenError.
const regexError = (msg: string, re: string, ...examples: string[]): string =>
  `${msg} (e.g. ${examples.map((e) => `'${e}'`).join(',  or ')}, regex used for validation is '${re}')`
const QUALIFIED_NAME_ERR = 'must consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'
const QUALIFIED_NAME_FMT = '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]'
const DNS1123_SUBDOMAIN_ERR = 'a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character'
const DNS1123_SUBDOMAIN_FMT = '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*'
const LABEL_VALUE_ERR = 'a valid label must be an empty string or consist of alphanumeric characters, \'-\', \'_\' or \'.\', and must start and end with an alphanumeric character'
const LABEL_VALUE_FMT = '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?'

/** field.Invalid(path, value, detail).Error(). */
const invalid = (path: string, value: string, detail: string): string => `${path}: Invalid value: ${JSON.stringify(value)}: ${detail}`

/** validation.IsQualifiedName (content.IsLabelKey): the messages, none when valid. */
function labelKeyErrors (k: string): string[] {
  const parts = k.split('/')
  if (parts.length > 2) return [`a qualified name ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`]
  const errs: string[] = []
  const name = parts[parts.length - 1]!
  if (parts.length === 2) {
    const prefix = parts[0]!
    if (prefix === '') errs.push('prefix part must be non-empty')
    else {
      if (byteLength(prefix) > 253) errs.push('prefix part must be no more than 253 characters')
      if (!DNS1123_SUBDOMAIN.test(prefix)) errs.push(`prefix part ${regexError(DNS1123_SUBDOMAIN_ERR, DNS1123_SUBDOMAIN_FMT, 'example.com')}`)
    }
  }
  if (name === '') errs.push('name part must be non-empty')
  else if (byteLength(name) > 63) errs.push('name part must be no more than 63 characters')
  if (!LABEL_NAME.test(name)) errs.push(`name part ${regexError(QUALIFIED_NAME_ERR, QUALIFIED_NAME_FMT, 'MyName', 'my.name', '123-abc')}`)
  return errs
}

/** The parser's validateLabelKey: its path is nil, printed "<nil>". */
function validateLabelKey (k: string): void {
  const errs = labelKeyErrors(k)
  if (errs.length > 0) throw new Error(invalid('<nil>', k, errs.join('; ')))
}

/** validation.IsValidLabelValue: the messages, none when valid. */
function labelValueErrors (v: string): string[] {
  const errs: string[] = []
  if (byteLength(v) > 63) errs.push('must be no more than 63 characters')
  if (v !== '' && !LABEL_NAME.test(v)) errs.push(regexError(LABEL_VALUE_ERR, LABEL_VALUE_FMT, 'MyValue', 'my_value', '12345'))
  return errs
}

const INT64_MIN = -(2n ** 63n)
const INT64_MAX = 2n ** 63n - 1n

/** strconv.ParseInt(s, 10, 64). */
export function parseInt64 (s: string): bigint | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined
  const v = BigInt(s)
  return v < INT64_MIN || v > INT64_MAX ? undefined : v
}

/** labels.NewRequirement's validation; several errors come out as utilerrors' aggregate "[a, b]". */
function newRequirement (key: string, operator: LabelOperator, values: string[]): LabelRequirement {
  const errs: string[] = []
  const keyErrs = labelKeyErrors(key)
  if (keyErrs.length > 0) errs.push(invalid('key', key, keyErrs.join('; ')))
  const list = `[${values.join(' ')}]` // %v of a []string
  if ((operator === 'in' || operator === 'notin') && values.length === 0) errs.push(`values: Invalid value: ${JSON.stringify(list)}: for 'in', 'notin' operators, values set can't be empty`)
  if ((operator === '=' || operator === '!=') && values.length !== 1) errs.push(`values: Invalid value: ${JSON.stringify(list)}: exact-match compatibility requires one single value`)
  if (operator === 'gt' || operator === 'lt') {
    if (values.length !== 1) errs.push(`values: Invalid value: ${JSON.stringify(list)}: for 'Gt', 'Lt' operators, exactly one value is required`)
    values.forEach((v, i) => { if (parseInt64(v) === undefined) errs.push(invalid(`values[${i}]`, v, 'for \'Gt\', \'Lt\' operators, the value must be an integer')) })
  }
  values.forEach((v, i) => {
    const e = labelValueErrors(v)
    if (e.length > 0) errs.push(invalid(`values[${i}][${key}]`, v, e.join('; ')))
  })
  if (errs.length === 1) throw new Error(errs[0])
  if (errs.length > 1) throw new Error(`[${[...new Set(errs)].join(', ')}]`)
  return { key, operator, values }
}

/** labels.Parse. Requirements come out sorted by key, as Parse sorts them. */
export function parseLabelSelector (selector: string): Parsed<LabelRequirement[]> {
  try {
    const requirements = new LabelParser(lex(selector)).parse()
    return { ok: true, value: requirements.sort((a, b) => goCompare(a.key, b.key)) }
  } catch (err) {
    return { ok: false, message: (err as Error).message }
  }
}

/** labels.Requirement.Matches, all of them. */
export function labelsMatch (requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  return requirements.every((r) => {
    const has = labels !== undefined && labels !== null && Object.hasOwn(labels, r.key)
    const value = has ? labels[r.key]! : undefined
    switch (r.operator) {
      case 'exists': return has
      case '!': return !has
      case '=': case 'in': return has && r.values.includes(value!)
      case '!=': case 'notin': return !has || !r.values.includes(value!)
      case 'gt': case 'lt': {
        if (!has || r.values.length !== 1) return false
        const want = parseInt64(r.values[0]!)
        const got = parseInt64(value!)
        if (want === undefined || got === undefined) return false
        return r.operator === 'gt' ? got > want : got < want
      }
    }
    return false
  })
}
