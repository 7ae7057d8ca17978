// A tiny schema DSL that validates the YAML *AST* (not the plain JS value), so
// every error can name the exact line and column of the offending key/value.
// Each Field reads one node and returns the typed, converted value, or INVALID
// after recording why. Errors are collected, never thrown, so one run of
// `check-config` shows everything that is wrong.
import path from 'node:path'
import { isAlias, isMap, isNode, isScalar, isSeq } from 'yaml'
import type { Document, LineCounter, Node, YAMLSeq } from 'yaml'
import type { ConfigError } from './errors.js'
import { closestKey } from './suggest.js'
import {
  describeValue,
  parseAddress,
  parseDuration,
  parseSize,
  type Address,
  type AddressOptions,
  type Parsed,
} from './values.js'

export const INVALID: unique symbol = Symbol('invalid config value')
export type Invalid = typeof INVALID

/** undefined: key absent; null: key present with no value (`key:`). */
export type Input = Node | null | undefined

/** A file the config points at, remembered so `checkFiles` can verify it. */
export interface FileRef {
  readonly keyPath: string
  /** Absolute (resolved against the config file's directory). */
  readonly path: string
  /** Where to blame a missing file: the key, or its nearest present ancestor. */
  readonly offset: number
}

export interface Field<T> {
  /**
   * @param at offset to blame when `input` has no position of its own (an
   *   absent key is blamed on its nearest present ancestor).
   */
  read(input: Input, path: string, at: number, ctx: DecodeContext): T | Invalid
  /** Mapping fields expose children so a misplaced key can be pointed home. */
  readonly children?: Readonly<Record<string, Field<unknown>>>
}

/** Per-document decoding state: where errors and file references accumulate. */
export class DecodeContext {
  readonly errors: ConfigError[] = []
  readonly files: FileRef[] = []
  private readonly keyIndex = new Map<string, string[]>()

  constructor (
    readonly file: string,
    readonly baseDir: string,
    private readonly lineCounter: LineCounter,
    private readonly doc: Document,
    root: Field<unknown>
  ) {
    this.indexKeys(root, '')
  }

  position (offset: number): { line: number; column: number } {
    const { line, col } = this.lineCounter.linePos(offset)
    return { line, column: col }
  }

  report (offset: number, keyPath: string, message: string): void {
    this.errors.push({ file: this.file, ...this.position(offset), path: keyPath, message })
  }

  /** Follows `*alias` references; an undefined anchor is an error at the use site. */
  deref (input: Input, keyPath: string, at: number): Input | Invalid {
    if (!isAlias(input)) return input
    const target = input.resolve(this.doc)
    if (target === undefined) {
      this.report(at, keyPath, `unknown alias *${input.source}`)
      return INVALID
    }
    return target
  }

  /** Full paths of schema keys named `name` (case-insensitively), anywhere. */
  pathsOfKey (name: string): readonly string[] {
    return this.keyIndex.get(name.toLowerCase()) ?? []
  }

  private indexKeys (field: Field<unknown>, prefix: string): void {
    for (const [name, child] of Object.entries(field.children ?? {})) {
      const full = joinPath(prefix, name)
      const list = this.keyIndex.get(name.toLowerCase()) ?? []
      list.push(full)
      this.keyIndex.set(name.toLowerCase(), list)
      this.indexKeys(child, full)
    }
  }
}

export function joinPath (prefix: string, key: string): string {
  return prefix === '' ? key : `${prefix}.${key}`
}

function offsetOf (n: unknown): number | undefined {
  return isNode(n) ? n.range?.[0] : undefined
}

function describeNode (n: Node | null): string {
  if (n === null) return describeValue(null)
  if (isMap(n)) return 'a mapping'
  if (isSeq(n)) return 'a list'
  if (isScalar(n)) return describeValue(n.value)
  return 'an unsupported value'
}

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value })
const fail = (message: string): Parsed<never> => ({ ok: false, message })

// --- scalars ---------------------------------------------------------------

/** What a scalar parser may need beyond the value: context for paths/files. */
export interface ScalarUse {
  readonly ctx: DecodeContext
  readonly path: string
  readonly at: number
}

const REQUIRED: unique symbol = Symbol('required')

/**
 * Builds a field from a parser of plain scalar values. Defaults are given in
 * the same textual form a user would write ("60s", "3Mi") and go through the
 * same parser, so a default can never be something the file couldn't say.
 */
export function scalar<T> (
  expected: string,
  parse: (value: unknown, use: ScalarUse) => Parsed<T>,
  rawDefault: unknown
): Field<T> {
  return {
    read (input, keyPath, at, ctx) {
      if (input === undefined) {
        if (rawDefault === REQUIRED) {
          ctx.report(at, keyPath, 'missing required key')
          return INVALID
        }
        const r = parse(rawDefault, { ctx, path: keyPath, at })
        // A default that fails its own parser is a bug in this code, not in the file.
        if (!r.ok) throw new Error(`invalid built-in default for ${keyPath}: ${r.message}`)
        return r.value
      }
      const blame = offsetOf(input) ?? at
      const node = ctx.deref(input, keyPath, blame)
      if (node === INVALID) return INVALID
      if (node !== null && node !== undefined && !isScalar(node)) {
        ctx.report(blame, keyPath, `expected ${expected}, got ${describeNode(node)}`)
        return INVALID
      }
      const r = parse(node ? node.value : null, { ctx, path: keyPath, at: blame })
      if (!r.ok) {
        ctx.report(blame, keyPath, r.message)
        return INVALID
      }
      return r.value
    },
  }
}

/** Accepts `""` and an empty value as "unset" (null), the KubeEdge convention. */
function orNull<T> (parse: (v: unknown, use: ScalarUse) => Parsed<T>) {
  return (v: unknown, use: ScalarUse): Parsed<T | null> =>
    v === null || v === '' ? ok(null) : parse(v, use)
}

export function literal<const V extends string> (value: V): Field<V> {
  return scalar(
    JSON.stringify(value),
    (v) =>
      v === value
        ? ok(value)
        : fail(`expected ${JSON.stringify(value)}, got ${describeValue(v)}`),
    REQUIRED
  )
}

export interface StrOptions {
  readonly pattern?: RegExp
  /** Human description of `pattern`, for the error message. */
  readonly patternHint?: string
  readonly maxLength?: number
}

function parseStr (o: StrOptions, v: unknown): Parsed<string> {
  if (typeof v !== 'string') {
    const hint = typeof v === 'number' || typeof v === 'boolean' ? ' (quote the value to make it a string)' : ''
    return fail(`expected a string, got ${describeValue(v)}${hint}`)
  }
  if (v === '') return fail('must not be empty')
  if (o.maxLength !== undefined && v.length > o.maxLength) {
    return fail(`must be at most ${o.maxLength} characters, got ${describeValue(v)} (${v.length})`)
  }
  if (o.pattern && !o.pattern.test(v)) {
    return fail(`${o.patternHint ?? `must match ${o.pattern}`}, got ${describeValue(v)}`)
  }
  return ok(v)
}

export function str (o: StrOptions & { readonly default: string }): Field<string> {
  return scalar('a string', (v) => parseStr(o, v), o.default)
}

/** Optional string: absent, empty or `""` gives null. */
export function optionalStr (o: StrOptions = {}): Field<string | null> {
  return scalar('a string', orNull((v) => parseStr(o, v)), null)
}

export function bool (defaultValue: boolean): Field<boolean> {
  return scalar(
    'true or false',
    // YAML 1.2: "yes"/"on" are strings, so be explicit about what is accepted.
    (v) => (typeof v === 'boolean' ? ok(v) : fail(`expected true or false, got ${describeValue(v)}`)),
    defaultValue
  )
}

export function int (o: { readonly default: number; readonly min: number; readonly max: number }): Field<number> {
  const expected = `an integer between ${o.min} and ${o.max}`
  return scalar(
    expected,
    (v) =>
      typeof v === 'number' && Number.isInteger(v) && v >= o.min && v <= o.max
        ? ok(v)
        : fail(`expected ${expected}, got ${describeValue(v)}`),
    o.default
  )
}

/** Duration in milliseconds. `positive`: 0 is rejected (e.g. a timer period). */
export function duration (o: { readonly default: string; readonly positive?: boolean }): Field<number> {
  return scalar(
    'a duration like "30s"',
    (v) => {
      const r = parseDuration(v)
      if (r.ok && o.positive && r.value === 0) return fail('must be greater than 0')
      return r
    },
    o.default
  )
}

/** Size in bytes. `positive`: 0 is rejected. */
export function size (o: { readonly default: string; readonly positive?: boolean }): Field<number> {
  return scalar(
    'a size like "64Mi"',
    (v) => {
      const r = parseSize(v)
      if (r.ok && o.positive && r.value === 0) return fail('must be greater than 0')
      return r
    },
    o.default
  )
}

export function address (o: AddressOptions & { readonly default: string }): Field<Address> {
  return scalar('"host:port"', (v) => parseAddress(v, o), o.default)
}

/** Address that may be switched off with `""`; null when off. */
export function optionalAddress (o: AddressOptions & { readonly default: string | null }): Field<Address | null> {
  return scalar('"host:port" or ""', orNull((v) => parseAddress(v, o)), o.default)
}

export function oneOf<const V extends string> (values: readonly V[], defaultValue: V): Field<V> {
  const list = values.map((v) => JSON.stringify(v)).join(', ')
  return scalar(
    `one of ${list}`,
    (v) => {
      if (typeof v === 'string' && (values as readonly string[]).includes(v)) return ok(v as V)
      const near = typeof v === 'string' ? closestKey(v, values) : undefined
      const hint = near ? ` (did you mean ${JSON.stringify(near)}?)` : ''
      return fail(`expected one of ${list}, got ${describeValue(v)}${hint}`)
    },
    defaultValue
  )
}

export interface PathOptions {
  /** Whether `checkFiles` mode should verify the file exists and is readable. */
  readonly mustExist: boolean
}

function parsePath (o: PathOptions, v: unknown, use: ScalarUse): Parsed<string> {
  const s = parseStr({}, v)
  if (!s.ok) return s
  // Relative paths are relative to the config file, not the daemon's cwd,
  // which for a systemd unit is "/" and would silently change the meaning.
  const resolved = path.resolve(use.ctx.baseDir, s.value)
  if (o.mustExist) use.ctx.files.push({ keyPath: use.path, path: resolved, offset: use.at })
  return ok(resolved)
}

export function filePath (o: PathOptions & { readonly default: string }): Field<string> {
  return scalar('a file path', (v, use) => parsePath(o, v, use), o.default)
}

/** Path that may be left empty (null), e.g. kubeConfig "" meaning in-cluster. */
export function optionalFilePath (o: PathOptions & { readonly default: string | null }): Field<string | null> {
  return scalar('a file path or ""', orNull((v, use) => parsePath(o, v, use)), o.default)
}

// --- lists -----------------------------------------------------------------

export function stringList (o: { readonly default: readonly string[]; readonly minItems?: number }): Field<readonly string[]> {
  const minItems = o.minItems ?? 0
  return {
    read (input, keyPath, at, ctx) {
      if (input === undefined) return Object.freeze([...o.default])
      const blame = offsetOf(input) ?? at
      const node = ctx.deref(input, keyPath, blame)
      if (node === INVALID) return INVALID
      const out: string[] = []
      let valid = true
      // An empty value (`key:`) is an empty list, as in Go/KubeEdge.
      if (node !== null && node !== undefined && !(isScalar(node) && node.value === null)) {
        if (!isSeq(node)) {
          ctx.report(blame, keyPath, `expected a list of strings, got ${describeNode(node)}`)
          return INVALID
        }
        const items = readScalarItems(node, keyPath, blame, ctx, 'a string', (v) => parseStr({}, v))
        if (items === undefined) valid = false
        else out.push(...items)
      }
      if (out.length < minItems && valid) {
        ctx.report(blame, keyPath, `must contain at least ${minItems} item${minItems === 1 ? '' : 's'}`)
        return INVALID
      }
      return valid ? Object.freeze(out) : INVALID
    },
  }
}

/**
 * One `"host:port"` or a list of them (e.g. several replicas of a server); `""`, an empty value
 * and an empty list give an empty list. A single string stays valid so a one-address config keeps
 * working when a key grows into a list. Duplicates are rejected: they are always a typo.
 */
export function addressList (o: AddressOptions): Field<readonly Address[]> {
  return {
    read (input, keyPath, at, ctx) {
      if (input === undefined) return Object.freeze([])
      const blame = offsetOf(input) ?? at
      const node = ctx.deref(input, keyPath, blame)
      if (node === INVALID) return INVALID
      if (node === null || node === undefined || (isScalar(node) && (node.value === null || node.value === ''))) return Object.freeze([])
      if (isScalar(node)) {
        const r = parseAddress(node.value, o)
        if (!r.ok) {
          ctx.report(blame, keyPath, r.message)
          return INVALID
        }
        return Object.freeze([r.value])
      }
      if (!isSeq(node)) {
        ctx.report(blame, keyPath, `expected "host:port" or a list of them, got ${describeNode(node)}`)
        return INVALID
      }
      const firstAt = new Map<string, number>()
      const out = readScalarItems(node, keyPath, blame, ctx, '"host:port"', (v, i) => {
        const r = parseAddress(v, o)
        if (!r.ok) return r
        // A duplicate is always a typo.
        const key = `${r.value.host.toLowerCase()}:${r.value.port}`
        const earlier = firstAt.get(key)
        if (earlier !== undefined) return fail(`duplicate of ${keyPath}[${earlier}]`)
        firstAt.set(key, i)
        return r
      })
      return out === undefined ? INVALID : Object.freeze(out)
    },
  }
}

/**
 * Reads each item of a YAML sequence as a scalar with `parse`; every bad item is reported at its
 * own line and path (`key[i]`). Undefined when any item was bad.
 */
function readScalarItems<T> (node: YAMLSeq, keyPath: string, blame: number, ctx: DecodeContext, expected: string,
  parse: (value: unknown, index: number) => Parsed<T>): T[] | undefined {
  const out: T[] = []
  let valid = true
  node.items.forEach((item, i) => {
    const itemPath = `${keyPath}[${i}]`
    const itemAt = offsetOf(item) ?? blame
    const n = ctx.deref(isNode(item) ? item : null, itemPath, itemAt)
    if (n === INVALID) {
      valid = false
      return
    }
    const r = isScalar(n) ? parse(n.value, i) : fail(`expected ${expected}, got ${describeNode(n ?? null)}`)
    if (r.ok) out.push(r.value)
    else {
      ctx.report(itemAt, itemPath, r.message)
      valid = false
    }
  })
  return valid ? out : undefined
}

// --- mappings --------------------------------------------------------------

export type Fields<T> = { readonly [K in keyof T]-?: Field<T[K]> }

/** Reports a problem with one key of a decoded mapping (for cross-field rules). */
export type Issue<T> = (key: keyof T & string, message: string) => void

/**
 * @param refine runs only when every child decoded cleanly; it checks
 *   cross-field rules and may return a replacement value (e.g. to resolve a
 *   default that depends on another key).
 */
export function obj<T> (fields: Fields<T>, refine?: (value: T, issue: Issue<T>) => T | void): Field<T> {
  const names = Object.keys(fields) as (keyof T & string)[]
  return {
    children: fields as Readonly<Record<string, Field<unknown>>>,
    read (input, keyPath, at, ctx) {
      const blame = offsetOf(input) ?? at
      const node = ctx.deref(input, keyPath, blame)
      if (node === INVALID) return INVALID
      const present = new Map<string, { value: Input; at: number }>()
      // Unknown keys make the result invalid but don't affect the known
      // values, so cross-field rules still run and report their findings too.
      let keysValid = true
      // An absent or empty mapping (`cache:`) means "all defaults".
      if (node !== null && node !== undefined && !(isScalar(node) && node.value === null)) {
        if (!isMap(node)) {
          ctx.report(blame, keyPath, `expected a mapping, got ${describeNode(node)}`)
          return INVALID
        }
        for (const pair of node.items) {
          const keyAt = offsetOf(pair.key) ?? blame
          const key = isScalar(pair.key) ? pair.key.value : undefined
          if (typeof key !== 'string') {
            ctx.report(keyAt, keyPath, `keys must be strings, got ${describeNode(isNode(pair.key) ? pair.key : null)}`)
            keysValid = false
            continue
          }
          if (!Object.hasOwn(fields, key)) {
            ctx.report(keyAt, joinPath(keyPath, key), unknownKeyMessage(key, names, keyPath, ctx))
            keysValid = false
            continue
          }
          present.set(key, { value: isNode(pair.value) ? pair.value : null, at: keyAt })
        }
      }

      const filesBefore = ctx.files.length
      const out: Record<string, unknown> = {}
      const blameOf = new Map<string, number>()
      let valuesValid = true
      for (const name of names) {
        const p = present.get(name)
        // An absent key is blamed on this mapping's own key (`at`), the line
        // where the user would add it, not on whatever sibling comes first.
        blameOf.set(name, offsetOf(p?.value) ?? p?.at ?? at)
        const v = fields[name].read(p ? p.value : undefined, joinPath(keyPath, name), p?.at ?? at, ctx)
        if (v === INVALID) valuesValid = false
        out[name] = v
      }
      // Files of a disabled module will never be opened, so don't demand them.
      if (out['enable'] === false) ctx.files.length = filesBefore
      if (!valuesValid) return INVALID

      let value = out as T
      if (refine) {
        let issues = 0
        const replaced = refine(value, (key, message) => {
          issues++
          ctx.report(blameOf.get(key) ?? at, joinPath(keyPath, key), message)
        })
        if (issues > 0) return INVALID
        if (replaced !== undefined) value = replaced
      }
      return keysValid ? Object.freeze(value) : INVALID
    },
  }
}

function unknownKeyMessage (key: string, known: readonly string[], keyPath: string, ctx: DecodeContext): string {
  // YAML 1.2 has no merge keys; say so rather than list the known keys.
  if (key === '<<') return 'YAML merge keys ("<<") are not supported; write the keys out'
  const near = closestKey(key, known)
  if (near) return `unknown key ${JSON.stringify(key)} (did you mean ${JSON.stringify(near)}?)`
  // A correctly spelled key at the wrong level is the other common mistake.
  const elsewhere = ctx.pathsOfKey(key).filter((p) => p !== joinPath(keyPath, key))
  if (elsewhere.length > 0) return `unknown key ${JSON.stringify(key)} here (did you mean ${elsewhere.join(' or ')}?)`
  return `unknown key ${JSON.stringify(key)} (known keys: ${known.join(', ')})`
}
