// config.example.yaml documents every key at its default. These tests keep it
// honest: it must validate, and its values must equal what the code defaults to.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMap, parseAllDocuments, type YAMLMap } from 'yaml'
import t from 'tap'
import { formatConfigErrors, loadConfigFile, parseConfigText, type AnyConfig } from '../../src/config/index.js'
import { cloudSchema } from '../../src/config/cloud.js'
import { edgeSchema } from '../../src/config/edge.js'
import type { Field } from '../../src/config/schema.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const example = path.join(root, 'config.example.yaml')

async function load (kind?: AnyConfig['kind']): Promise<AnyConfig[]> {
  const r = await loadConfigFile(example, kind ? { kind } : {})
  if (!r.ok) throw new Error(formatConfigErrors(r.errors))
  return [...r.configs]
}

t.test('config.example.yaml validates, both documents', async (t) => {
  const all = await load()
  t.same(all.map((c) => c.kind), ['EdgeMetaServer', 'CloudShim'])
  t.equal((await load('EdgeMetaServer'))[0]!.kind, 'EdgeMetaServer')
  t.equal((await load('CloudShim'))[0]!.kind, 'CloudShim')
})

t.test('example values equal the built-in defaults', async (t) => {
  const [edge, cloud] = await load()
  // The only key without a default is the edge's tunnel server; take it from
  // the example, everything else must come out identical from an empty config.
  const server = edge!.kind === 'EdgeMetaServer' ? edge!.modules.edgeHub.server[0] : undefined
  t.ok(server, 'example sets modules.edgeHub.server')
  const minimalEdge = `apiVersion: edge-metaserver.io/v1alpha1
kind: EdgeMetaServer
modules:
  edgeHub:
    server: ${server!.host}:${server!.port}
`
  const minimalCloud = 'apiVersion: edge-metaserver.io/v1alpha1\nkind: CloudShim\n'
  const e = parseConfigText(minimalEdge, 'min.yaml', root)
  const c = parseConfigText(minimalCloud, 'min.yaml', root)
  t.ok(e.ok && c.ok)
  if (e.ok) t.strictSame(edge, e.config)
  if (c.ok) t.strictSame(cloud, c.config)
})

// Walks the schema and the example side by side: every key the schema knows
// must be written out in the example (validation already rejects the reverse).
function missingKeys (field: Field<unknown>, node: unknown, prefix: string): string[] {
  const out: string[] = []
  for (const [name, child] of Object.entries(field.children ?? {})) {
    const full = prefix ? `${prefix}.${name}` : name
    const value = isMap(node) ? (node as YAMLMap).get(name, true) : undefined
    if (value === undefined) out.push(full)
    else if (child.children) out.push(...missingKeys(child, value, full))
  }
  return out
}

t.test('example spells out every key of both roles, each with a comment', async (t) => {
  const docs = parseAllDocuments(await readFile(example, 'utf8'))
  t.ok(Array.isArray(docs) && docs.length === 2)
  if (!Array.isArray(docs)) return
  t.same(missingKeys(edgeSchema, docs[0]!.contents, ''), [], 'EdgeMetaServer keys')
  t.same(missingKeys(cloudSchema, docs[1]!.contents, ''), [], 'CloudShim keys')

  // Every key line carries a comment, either above it or at its end.
  const lines = (await readFile(example, 'utf8')).split('\n')
  const uncommented = lines
    .map((l, i) => ({ l, i }))
    .filter(({ l }) => /^\s*[A-Za-z][\w]*:/.test(l))
    .filter(({ l, i }) => !l.includes('#') && !/^\s*#/.test(lines[i - 1] ?? ''))
    .map(({ l, i }) => `${i + 1}: ${l.trim()}`)
  t.same(uncommented, [], 'keys without a comment')
})
