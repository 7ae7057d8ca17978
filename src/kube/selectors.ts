// Label and field selectors parsed and matched as kube-apiserver does (apimachinery
// pkg/labels/selector.go, pkg/fields/selector.go), for serving LISTs and WATCHes from the edge
// cache (issue #5): an offline answer must select exactly what the apiserver would. Pure.

export type LabelOperator = 'exists' | '!' | '=' | '!=' | 'in' | 'notin' | 'gt' | 'lt'
export interface LabelRequirement { key: string, operator: LabelOperator, values: string[] }
export interface FieldRequirement { field: string, operator: '=' | '!=', value: string }

export type Parsed<T> = { ok: true, value: T } | { ok: false, message: string }

const NAME = /^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)$/
const PREFIX = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/

function validKey (key: string): boolean {
  const slash = key.indexOf('/')
  if (slash === -1) return NAME.test(key)
  const prefix = key.slice(0, slash)
  return prefix.length <= 253 && PREFIX.test(prefix) && NAME.test(key.slice(slash + 1))
}

function validValue (value: string): boolean {
  return value === '' || NAME.test(value)
}

/** Splits on commas that are not inside parentheses (set-based requirements). */
function splitTerms (selector: string): string[] {
  const terms: string[] = []
  let depth = 0
  let start = 0
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]
    if (c === '(') depth++
    else if (c === ')') depth--
    else if (c === ',' && depth === 0) { terms.push(selector.slice(start, i)); start = i + 1 }
  }
  terms.push(selector.slice(start))
  return terms.map((s) => s.trim())
}

export function parseLabelSelector (selector: string): Parsed<LabelRequirement[]> {
  if (selector.trim() === '') return { ok: true, value: [] }
  const requirements: LabelRequirement[] = []
  for (const term of splitTerms(selector)) {
    const r = parseLabelTerm(term)
    if (!r.ok) return r
    requirements.push(r.value)
  }
  return { ok: true, value: requirements }
}

function parseLabelTerm (term: string): Parsed<LabelRequirement> {
  const bad = (why: string): Parsed<LabelRequirement> => ({ ok: false, message: `unable to parse requirement: ${why}: "${term}"` })
  let m = /^!\s*(\S+)$/.exec(term)
  if (m !== null) return validKey(m[1]!) ? { ok: true, value: { key: m[1]!, operator: '!', values: [] } } : bad('invalid label key')
  m = /^(\S+?)\s+(in|notin)\s*\((.*)\)$/.exec(term)
  if (m !== null) {
    const values = m[3]!.split(',').map((v) => v.trim())
    if (!validKey(m[1]!)) return bad('invalid label key')
    if (!values.every(validValue)) return bad('invalid label value')
    return { ok: true, value: { key: m[1]!, operator: m[2] as 'in' | 'notin', values: [...new Set(values)].sort() } }
  }
  m = /^([^=!<>\s]+)\s*(==|=|!=|>|<)\s*(\S*)$/.exec(term)
  if (m !== null) {
    const [, key, op, value] = m as unknown as [string, string, string, string]
    if (!validKey(key)) return bad('invalid label key')
    if (op === '>' || op === '<') {
      if (!/^-?\d+$/.test(value)) return bad('for \'gt\', \'lt\' operators, the value must be an integer')
      return { ok: true, value: { key, operator: op === '>' ? 'gt' : 'lt', values: [value] } }
    }
    if (!validValue(value)) return bad('invalid label value')
    return { ok: true, value: { key, operator: op === '!=' ? '!=' : '=', values: [value] } }
  }
  if (/^\S+$/.test(term) && validKey(term)) return { ok: true, value: { key: term, operator: 'exists', values: [] } }
  return bad('found an unexpected token')
}

export function labelsMatch (requirements: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  return requirements.every((r) => {
    const has = labels !== undefined && Object.hasOwn(labels, r.key)
    const value = has ? labels![r.key]! : undefined
    switch (r.operator) {
      case 'exists': return has
      case '!': return !has
      case '=': case 'in': return has && r.values.includes(value!)
      case '!=': case 'notin': return !has || !r.values.includes(value!)
      case 'gt': case 'lt': {
        if (!has || !/^-?\d+$/.test(value!)) return false
        return r.operator === 'gt' ? BigInt(value!) > BigInt(r.values[0]!) : BigInt(value!) < BigInt(r.values[0]!)
      }
    }
    return false
  })
}

/** Field selectors: `a=b`, `a==b`, `a!=b`, comma-separated; `\` escapes `,`, `=` and `\` in values (fields.EscapeValue). */
export function parseFieldSelector (selector: string): Parsed<FieldRequirement[]> {
  if (selector.trim() === '') return { ok: true, value: [] }
  const requirements: FieldRequirement[] = []
  for (const term of splitEscaped(selector, ',')) {
    const m = /^([^=!]+?)(!=|==|=)(.*)$/s.exec(term)
    if (m === null) return { ok: false, message: `invalid selector: '${selector}'; can't understand '${term}'` }
    const value = unescapeField(m[3]!)
    if (value === undefined) return { ok: false, message: `invalid field selector value: '${m[3]}'` }
    requirements.push({ field: m[1]!.trim(), operator: m[2] === '!=' ? '!=' : '=', value })
  }
  return { ok: true, value: requirements }
}

export function fieldsMatch (requirements: readonly FieldRequirement[], fields: Readonly<Record<string, string>>): boolean {
  return requirements.every((r) => ((fields[r.field] ?? '') === r.value) === (r.operator === '='))
}

function splitEscaped (s: string, sep: string): string[] {
  const parts: string[] = []
  let current = ''
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) { current += s[i]! + s[i + 1]!; i++; continue }
    if (s[i] === sep) { parts.push(current); current = ''; continue }
    current += s[i]
  }
  parts.push(current)
  return parts
}

function unescapeField (v: string): string | undefined {
  let out = ''
  for (let i = 0; i < v.length; i++) {
    if (v[i] !== '\\') {
      if (v[i] === '=' || v[i] === ',') return undefined
      out += v[i]
      continue
    }
    const next = v[++i]
    if (next === undefined || !'\\,='.includes(next)) return undefined
    out += next
  }
  return out
}
