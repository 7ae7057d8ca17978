// Text → validated config. Pure: no I/O, so tests can feed strings directly.
// Handles YAML syntax errors, multi-document files and dispatch on `kind`.
import { LineCounter, isMap, isScalar, parseAllDocuments } from 'yaml'
import type { Document } from 'yaml'
import { CLOUD_KIND, cloudSchema, type CloudConfig } from './cloud.js'
import { EDGE_KIND, edgeSchema, type EdgeConfig } from './edge.js'
import { sortConfigErrors, type ConfigError } from './errors.js'
import { DecodeContext, INVALID, type Field } from './schema.js'
import { describeValue } from './values.js'

export type AnyConfig = EdgeConfig | CloudConfig
export type ConfigKind = AnyConfig['kind']

const SCHEMAS: Readonly<Record<ConfigKind, Field<AnyConfig>>> = {
  [EDGE_KIND]: edgeSchema,
  [CLOUD_KIND]: cloudSchema,
}
const KINDS = Object.keys(SCHEMAS) as ConfigKind[]

// KubeEdge users will sometimes point us at their edgecore.yaml/cloudcore.yaml.
const KUBEEDGE_KINDS: Readonly<Record<string, ConfigKind>> = { EdgeCore: EDGE_KIND, CloudCore: CLOUD_KIND }

export interface ParseOptions {
  /**
   * Which role's document to use. With several documents in the file, the one
   * of this kind is selected; without it every document is validated (what
   * `check-config` wants).
   */
  readonly kind?: ConfigKind
}

/**
 * On success `configs` holds every validated document in file order, and
 * `config` the selected one (with `kind`) or the first one (without).
 */
export type ConfigResult =
  | { readonly ok: true; readonly config: AnyConfig; readonly configs: readonly AnyConfig[]; readonly warnings?: readonly ConfigError[] }
  | { readonly ok: false; readonly errors: readonly ConfigError[] }

/** A file path from a valid-or-not config, with where it was set. */
export interface FileToCheck {
  readonly file: string
  readonly line: number
  readonly column: number
  readonly keyPath: string
  readonly path: string
}

export interface Decoded {
  readonly errors: readonly ConfigError[]
  readonly configs: readonly AnyConfig[]
  readonly files: readonly FileToCheck[]
}

export function parseConfigText (text: string, fileName: string, baseDir: string, opts: ParseOptions = {}): ConfigResult {
  return toResult(decodeConfigText(text, fileName, baseDir, opts))
}

export function toResult (d: Decoded): ConfigResult {
  if (d.errors.length > 0 || d.configs.length === 0) return { ok: false, errors: sortConfigErrors(d.errors) }
  return { ok: true, config: d.configs[0]!, configs: d.configs }
}

/** Everything parseConfigText does, plus the file references for checkFiles. */
export function decodeConfigText (text: string, fileName: string, baseDir: string, opts: ParseOptions): Decoded {
  const lineCounter = new LineCounter()
  const errors: ConfigError[] = []
  const configs: AnyConfig[] = []
  const files: FileToCheck[] = []
  const report = (offset: number, path: string, message: string): void => {
    const { line, col } = lineCounter.linePos(offset)
    errors.push({ file: fileName, line, column: col, path, message })
  }
  const done = (): Decoded => ({ errors, configs, files })

  const docs = parseAllDocuments(text, { lineCounter, prettyErrors: false })
  // Unresolved tags etc. arrive as warnings; in a config file they are mistakes.
  const problems = 'empty' in docs ? docs.errors : docs.flatMap((d) => [...d.errors, ...d.warnings])
  for (const e of problems) report(e.pos[0], '', `invalid YAML: ${e.message}`)
  // After a syntax error the tree is a guess; validating it would only add noise.
  if (errors.length > 0) return done()

  const nonEmpty = ('empty' in docs ? [] : docs).filter(
    (d) => d.contents !== null && !(isScalar(d.contents) && d.contents.value === null)
  )
  if (nonEmpty.length === 0) {
    report(0, '', `config file is empty (expected a document with apiVersion: and kind: ${KINDS.join(' or ')})`)
    return done()
  }

  let chosen = nonEmpty
  if (opts.kind !== undefined) {
    const matching = nonEmpty.filter((d) => kindOf(d) === opts.kind)
    if (matching.length === 0) {
      if (nonEmpty.length === 1) {
        const doc = nonEmpty[0]!
        const node = kindNode(doc)
        report(offsetOf(node ?? doc.contents), 'kind', `expected ${JSON.stringify(opts.kind)}, got ${describeValue(isScalar(node) ? node.value : null)}`)
      } else {
        const found = nonEmpty.map((d) => `${describeValue(kindOf(d) ?? null)} at line ${lineCounter.linePos(offsetOf(d.contents)).line}`)
        report(0, '', `no document has kind: ${opts.kind} (found ${found.join(', ')})`)
      }
      return done()
    }
    if (matching.length > 1) {
      const first = lineCounter.linePos(offsetOf(matching[0]!.contents)).line
      report(offsetOf(kindNode(matching[1]!)), 'kind', `more than one document has kind: ${opts.kind} (the first starts at line ${first})`)
      return done()
    }
    chosen = matching
  }

  for (const doc of chosen) {
    const start = offsetOf(doc.contents)
    const kind = kindOf(doc)
    const schema = kind !== undefined && Object.hasOwn(SCHEMAS, kind) ? SCHEMAS[kind as ConfigKind] : undefined
    if (schema === undefined) {
      reportBadKind(doc, report)
      continue
    }
    const ctx = new DecodeContext(fileName, baseDir, lineCounter, doc, schema)
    const value = schema.read(doc.contents, '', start, ctx)
    errors.push(...ctx.errors)
    for (const f of ctx.files) {
      files.push({ file: fileName, ...ctx.position(f.offset), keyPath: f.keyPath, path: f.path })
    }
    if (value !== INVALID) configs.push(value)
  }
  return done()
}

function reportBadKind (doc: Document, report: (offset: number, path: string, message: string) => void): void {
  const start = offsetOf(doc.contents)
  if (!isMap(doc.contents)) {
    report(start, '', `expected a mapping with apiVersion: and kind:, got ${isScalar(doc.contents) ? describeValue(doc.contents.value) : 'a list'}`)
    return
  }
  const node = kindNode(doc)
  const allowed = KINDS.map((k) => JSON.stringify(k)).join(' or ')
  if (node === undefined) {
    report(start, 'kind', `missing required key (${allowed})`)
    return
  }
  const value = isScalar(node) ? node.value : null
  const kubeEdge = typeof value === 'string' ? KUBEEDGE_KINDS[value] : undefined
  const hint = kubeEdge ? ` (this is edge-metaserver's config, not KubeEdge's: use kind: ${kubeEdge})` : ''
  report(offsetOf(node), 'kind', `expected ${allowed}, got ${isScalar(node) ? describeValue(value) : 'a non-scalar'}${hint}`)
}

function kindNode (doc: Document): unknown {
  return isMap(doc.contents) ? doc.contents.get('kind', true) : undefined
}

function kindOf (doc: Document): string | undefined {
  const node = kindNode(doc)
  return isScalar(node) && typeof node.value === 'string' ? node.value : undefined
}

function offsetOf (node: unknown): number {
  return (isScalar(node) || isMap(node) ? node.range?.[0] : undefined) ?? 0
}
