// Throughput of the protobuf codec on a 100-item PodList (the golden Pod fixture with 100 names):
// decode (protobuf → JSON objects) and encode (JSON objects → protobuf), in objects per second.
// usage: npx tsx scripts/bench-protobuf-codec.ts [rounds, default 50]
import { readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { decodeObject, encodeObject, type JsonObject } from '../src/kube/protobuf/codec.js'

const rounds = Number(process.argv[2] ?? 50)
const fixtures = join(dirname(fileURLToPath(import.meta.url)), '..', 'test', 'kube', 'protobuf', 'fixtures')
const pod = JSON.parse(readFileSync(join(fixtures, 'pod.json'), 'utf8'))
const items = Array.from({ length: 100 }, (_, i) => {
  const { kind, apiVersion, ...rest } = structuredClone(pod)
  rest.metadata.name = `pod-${i}`
  rest.metadata.resourceVersion = String(1000 + i)
  return rest
})
const list: JsonObject = { kind: 'PodList', apiVersion: 'v1', metadata: { resourceVersion: '2000' }, items }
const encoded = encodeObject(list)
if (!encoded.ok) throw new Error(encoded.message)
const bytes = encoded.bytes
const jsonText = JSON.stringify(list)
console.log(`PodList: 100 items, ${bytes.length} bytes protobuf, ${jsonText.length} bytes JSON`)

function time (what: string, fn: () => void): void {
  for (let i = 0; i < 5; i++) fn() // warm-up
  const start = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) fn()
  const ms = Number(process.hrtime.bigint() - start) / 1e6
  console.log(`${what.padEnd(34)} ${(ms / rounds).toFixed(2).padStart(7)} ms/list  ${Math.round(100 * rounds / (ms / 1000)).toString().padStart(7)} objects/s`)
}
time('decode protobuf → JSON objects', () => { if (!decodeObject(bytes).ok) throw new Error('decode') })
time('encode JSON objects → protobuf', () => { if (!encodeObject(list).ok) throw new Error('encode') })
time('decode + encode', () => { const d = decodeObject(bytes); if (!d.ok || !encodeObject(d.object).ok) throw new Error('round trip') })
time('(reference) JSON.parse + stringify', () => { JSON.stringify(JSON.parse(jsonText)) })
