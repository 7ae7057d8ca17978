// Folds a V8 .cpuprofile (node --cpu-prof) into self-time totals per module and per function, the
// flat view that says where a daemon's CPU goes: `node --import tsx bench/fold-profile.ts FILE [TOP]`.
// A module is a package under node_modules, a Node.js internal (node:internal/http2/…), a file of
// ours (src/edge/relay.js), or V8's own buckets ((garbage collector), (program)); (idle) is shown
// but left out of the percentages.
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

interface CallFrame { functionName: string, url: string, lineNumber: number }
interface ProfileNode { id: number, callFrame: CallFrame }
interface CpuProfile { nodes: ProfileNode[], samples: number[], timeDeltas: number[] }

export interface Folded {
  /** Microseconds of self time, idle excluded. */
  busyUs: number
  idleUs: number
  modules: Array<[string, number]>
  functions: Array<[string, number]>
}

/** The module a call frame belongs to (see the file comment). */
export function moduleOf (frame: CallFrame): string {
  const { url, functionName } = frame
  if (url === '') return functionName.startsWith('(') ? functionName : '(native)'
  if (url.startsWith('node:')) {
    const parts = url.split('/')
    return parts.slice(0, url.startsWith('node:internal/') && parts.length > 2 ? 2 : 1).join('/')
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url
  const inModules = path.lastIndexOf('/node_modules/')
  if (inModules !== -1) {
    const rest = path.slice(inModules + '/node_modules/'.length).split('/')
    return rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!
  }
  const ours = /\/((?:src|bench|test)\/.*)$/.exec(path)
  return ours?.[1] ?? path
}

export function fold (profile: CpuProfile): Folded {
  const byId = new Map(profile.nodes.map((n) => [n.id, n.callFrame]))
  const modules = new Map<string, number>()
  const functions = new Map<string, number>()
  let busyUs = 0
  let idleUs = 0
  // timeDeltas[i] is the time since the previous sample: it is charged to sample i.
  profile.samples.forEach((id, i) => {
    const frame = byId.get(id)
    const us = profile.timeDeltas[i] ?? 0
    if (frame === undefined) return
    if (frame.functionName === '(idle)') { idleUs += us; return }
    busyUs += us
    const mod = moduleOf(frame)
    modules.set(mod, (modules.get(mod) ?? 0) + us)
    const fn = `${frame.functionName === '' ? '(anonymous)' : frame.functionName} ${mod}${frame.url === '' ? '' : `:${frame.lineNumber + 1}`}`
    functions.set(fn, (functions.get(fn) ?? 0) + us)
  })
  const sorted = (m: Map<string, number>): Array<[string, number]> => [...m].sort((a, b) => b[1] - a[1])
  return { busyUs, idleUs, modules: sorted(modules), functions: sorted(functions) }
}

/** The top `top` modules and functions as markdown tables. */
export function foldedReport (title: string, folded: Folded, top: number): string[] {
  const pct = (us: number): string => `${(100 * us / folded.busyUs).toFixed(1)} %`
  const ms = (us: number): string => (us / 1000).toFixed(0)
  return [
    `${title}: ${ms(folded.busyUs)} ms busy, ${ms(folded.idleUs)} ms idle`, '',
    '| module | self ms | share |', '|---|---|---|',
    ...folded.modules.slice(0, top).map(([name, us]) => `| ${name} | ${ms(us)} | ${pct(us)} |`), '',
    '| function | self ms | share |', '|---|---|---|',
    ...folded.functions.slice(0, top).map(([name, us]) => `| ${name} | ${ms(us)} | ${pct(us)} |`), '',
  ]
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, top] = process.argv.slice(2)
  if (file === undefined) {
    process.stderr.write('usage: fold-profile.ts FILE.cpuprofile [TOP]\n')
    process.exitCode = 2
  } else {
    process.stdout.write(foldedReport(file, fold(JSON.parse(readFileSync(file, 'utf8')) as CpuProfile), Number(top ?? 25)).join('\n') + '\n')
  }
}
