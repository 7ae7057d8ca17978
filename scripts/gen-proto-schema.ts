// Generates src/kube/protobuf/k8s-api.schema.ts: the protobuf schema of the built-in Kubernetes
// API, from the published generated.proto files of k8s.io/api and k8s.io/apimachinery (plus the
// apiextensions.k8s.io and apiregistration.k8s.io groups), fetched
// through the Go module proxy (`go mod download`) and parsed by protobufjs. The .proto files say
// field numbers and wire types; they cannot say how the same Go struct is written as JSON, so
// scripts/proto-schema/go-fields.go reads the Go types beside them (JSON names, omitempty/omitzero,
// pointer presence, inline embedding, declaration order, named slice types, API group names).
//
// Deterministic: same versions in, byte-identical file out (sorted keys, no timestamps).
// usage: npx tsx scripts/gen-proto-schema.ts [k8s.io/api version, default v0.37.2]
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import protobuf from 'protobufjs'

const VERSION = process.argv[2] ?? 'v0.37.2'
const here = dirname(fileURLToPath(import.meta.url))
const repo = join(here, '..')
const OUT = join(repo, 'src', 'kube', 'protobuf', 'k8s-api.schema.ts')
// apimachinery packages whose messages the API objects use or that the wire format needs.
const MACHINERY = ['pkg/apis/meta/v1', 'pkg/apis/meta/v1beta1', 'pkg/runtime', 'pkg/runtime/schema', 'pkg/api/resource', 'pkg/util/intstr']

// Field flags, mirrored in src/kube/protobuf/schema.ts.
const REPEATED = 1; const MAP = 2; const POINTER = 4; const OMITEMPTY = 8; const OMITZERO = 16; const INLINE = 32

function moduleDir (mod: string): string {
  const work = mkdtempSync(join(tmpdir(), 'gen-proto-schema-'))
  try {
    const out = execFileSync('go', ['mod', 'download', '-json', `${mod}@${VERSION}`], { cwd: work, encoding: 'utf8' })
    return JSON.parse(out).Dir
  } finally { rmSync(work, { recursive: true, force: true }) }
}

function protoDirs (root: string): string[] {
  const found: string[] = []
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = join(dir, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (name === 'generated.proto') found.push(dir)
    }
  }
  walk(root)
  return found
}

const apiDir = moduleDir('k8s.io/api')
const machineryDir = moduleDir('k8s.io/apimachinery')
// The two built-in API groups served from outside k8s.io/api: CustomResourceDefinition (which
// the apiextensions clientset reads in protobuf) and APIService.
const EXTRA = [['k8s.io/apiextensions-apiserver', ['pkg/apis/apiextensions/v1', 'pkg/apis/apiextensions/v1beta1']],
  ['k8s.io/kube-aggregator', ['pkg/apis/apiregistration/v1', 'pkg/apis/apiregistration/v1beta1']]] as const
// import path (as written in `import "..."` of the .proto files, minus the file name) → directory
const packages = new Map<string, string>()
for (const dir of protoDirs(apiDir)) packages.set(`k8s.io/api/${relative(apiDir, dir)}`, dir)
for (const sub of MACHINERY) packages.set(`k8s.io/apimachinery/${sub}`, join(machineryDir, sub))
const versions: Record<string, string> = { 'k8s.io/api': VERSION, 'k8s.io/apimachinery': VERSION }
for (const [mod, subs] of EXTRA) {
  const dir = moduleDir(mod)
  versions[mod] = VERSION
  for (const sub of subs) packages.set(`${mod}/${sub}`, join(dir, sub))
}

// 1. the .proto files, through protobufjs
const root = new protobuf.Root()
root.resolvePath = (_origin, target) => {
  const importPath = dirname(target)
  const dir = packages.get(importPath)
  if (dir === undefined) throw new Error(`unknown proto import ${target}`)
  return join(dir, 'generated.proto')
}
root.loadSync([...packages.keys()].map((p) => `${p}/generated.proto`), { keepCase: true })
root.resolveAll()

// 2. the Go types beside them
interface GoField { go: string, proto: string, json: string, omitempty?: boolean, omitzero?: boolean, inline?: boolean, pointer?: boolean, slice?: boolean, map?: boolean, bytes?: boolean, goType: string }
interface GoType { kind: string, fields?: GoField[] }
interface GoPackage { group: string, types: Record<string, GoType> }
const goArgs = [...packages].map(([importPath, dir]) => `${importPath}=${dir}`)
const goInfo: Record<string, GoPackage> = JSON.parse(execFileSync('go', ['run', join(here, 'proto-schema', 'go-fields.go'), ...goArgs], {
  cwd: join(here, 'proto-schema'), encoding: 'utf8', maxBuffer: 256 << 20, env: { ...process.env, GO111MODULE: 'off' },
}))

// 3. join them: one entry per message, fields in Go declaration order (= JSON key order)
const protoPackageOf = (importPath: string): string => importPath.replaceAll('/', '.').replaceAll('-', '_')
const messages: Record<string, { f: Array<[string, number, string, number]>, slice?: 1 }> = {}
const warnings: string[] = []
function scalarOrMessage (field: protobuf.Field): string {
  if (field.resolvedType instanceof protobuf.Type) return field.resolvedType.fullName.slice(1)
  if (field.resolvedType !== null) throw new Error(`enum ${field.fullName}: not expected in Kubernetes protos`)
  return field.type
}

for (const [importPath] of [...packages].sort(([a], [b]) => a < b ? -1 : 1)) {
  const ns = root.lookup(protoPackageOf(importPath))
  if (!(ns instanceof protobuf.Namespace)) throw new Error(`no proto package for ${importPath}`)
  const go = goInfo[importPath]
  for (const type of ns.nestedArray) {
    if (!(type instanceof protobuf.Type)) continue
    const name = type.fullName.slice(1)
    const goType = go?.types[type.name]
    const byProto = new Map(type.fieldsArray.map((f) => [f.name, f]))
    const fields: Array<[string, number, string, number]> = []
    const entry = (f: protobuf.Field, g: GoField | undefined): void => {
      let flags = 0
      let t: string
      if (f instanceof protobuf.MapField) {
        if (f.keyType !== 'string') throw new Error(`${f.fullName}: map key ${f.keyType}`)
        flags |= MAP
        t = scalarOrMessage(f)
      } else {
        t = scalarOrMessage(f)
        if (f.repeated) flags |= REPEATED
      }
      if (g?.pointer === true) flags |= POINTER
      if (g?.omitempty === true) flags |= OMITEMPTY
      if (g?.omitzero === true) flags |= OMITZERO
      if (g?.inline === true) flags |= INLINE
      fields.push([g?.inline === true ? '' : (g?.json ?? f.name), f.id, t, flags])
    }
    if (goType?.kind === 'struct') {
      for (const g of goType.fields ?? []) {
        const f = byProto.get(g.proto)
        if (f === undefined) { warnings.push(`${name}: Go field ${g.go} (proto ${g.proto}) not in the .proto`); continue }
        byProto.delete(g.proto)
        entry(f, g)
      }
      for (const f of byProto.values()) { warnings.push(`${name}.${f.name}: no Go field`); entry(f, undefined) }
    } else {
      // A named slice (`type Verbs []string`): JSON is the array itself, the message wraps it in `items`.
      if (goType === undefined) warnings.push(`${name}: no Go type; proto field names used as JSON names`)
      for (const f of type.fieldsArray) entry(f, undefined)
    }
    messages[name] = goType?.kind === 'slice' ? { f: fields, slice: 1 } : { f: fields }
  }
}

// API group/version → proto package, from the Go packages' GroupName (core is "").
const groups: Record<string, string> = {}
for (const [importPath, info] of Object.entries(goInfo).sort(([a], [b]) => a < b ? -1 : 1)) {
  const version = importPath.split('/').at(-1)!
  if (!/^v\d+((alpha|beta)\d+)?$/.test(version)) continue
  const gv = info.group === '' ? version : `${info.group}/${version}`
  if (groups[gv] !== undefined) throw new Error(`two packages for ${gv}`)
  groups[gv] = protoPackageOf(importPath)
}

const body = JSON.stringify({ versions, groups }, null, 1).slice(0, -2) +
  ',\n "messages": {\n' +
  Object.keys(messages).sort().map((k) => `  ${JSON.stringify(k)}: ${JSON.stringify(messages[k])}`).join(',\n') +
  '\n }\n}'
if (body.includes('`') || body.includes('${') || body.includes('\\')) throw new Error('schema text needs escaping for a template literal')
const text = `// GENERATED by scripts/gen-proto-schema.ts from the generated.proto files of k8s.io/api@${VERSION},
// k8s.io/apimachinery@${VERSION}, the apiextensions and apiregistration groups of
// k8s.io/apiextensions-apiserver@${VERSION} and k8s.io/kube-aggregator@${VERSION} (parsed by protobufjs) joined with their Go types
// (scripts/proto-schema/go-fields.go). Do not edit; re-run the script.
//
// Each field is [JSON name ('' = inline), proto field number, type, flags]; flags: 1 repeated,
// 2 map<string, type>, 4 Go pointer, 8 omitempty, 16 omitzero, 32 inline. A message with slice:1
// is a named Go slice whose JSON is its \`items\` array.
import type { SchemaFile } from './schema-types.js'

export const k8sApiSchema: SchemaFile = JSON.parse(String.raw\`${body}\`)
`
writeFileSync(OUT, text)
for (const w of warnings) console.error(`warning: ${w}`)
console.error(`wrote ${relative(repo, OUT)}: ${Object.keys(messages).length} messages, ${Object.keys(groups).length} group versions, ${text.length} bytes`)
