// npm run bench:heap-flags — sizes the V8 heap flags of systemd/edge-metaserver.service by
// measurement: the same edge (dist/) under each NODE_OPTIONS variant, one after the other on one
// stack, reports RSS idle, after EMS_HEAP_REQUESTS (default 10 000) GETs at concurrency 32 (with its
// CPU per request) and with EMS_HEAP_WATCHES (default 1 000) watches open. A smaller young generation (semi-space) trades
// scavenges — CPU — for resident memory; the old-space cap bounds what a leak can take before the
// process dies and systemd restarts it.
import { readFile } from 'node:fs/promises'
import { setTimeout as sleep } from 'node:timers/promises'
import { measure, request } from './load.js'
import { startSmallStack, withNodeOptions } from './stack.js'
import { holdWatches } from './watches.js'

const REQUESTS = Number(process.env.EMS_HEAP_REQUESTS ?? 10_000)
const WATCHES = Number(process.env.EMS_HEAP_WATCHES ?? 1000)
/** EMS_HEAP_VARIANTS: NODE_OPTIONS values separated by ';' ('' is Node's defaults). */
const VARIANTS = process.env.EMS_HEAP_VARIANTS?.split(';') ?? ['', '--max-semi-space-size=8', '--max-semi-space-size=4', '--max-semi-space-size=2',
  '--max-semi-space-size=4 --max-old-space-size=256', '--max-semi-space-size=4 --max-old-space-size=128', '--max-semi-space-size=2 --max-old-space-size=128']

async function rssMiB (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Math.round(Number(/^VmRSS:\s+(\d+)/m.exec(status)?.[1] ?? 0) / 1024)
}

async function main (): Promise<void> {
  const stack = await startSmallStack()
  const rows: string[] = []
  try {
    for (const [i, flags] of VARIANTS.entries()) {
      const { edge, target } = await stack.startEdge(`heap-${i}`, withNodeOptions(flags))
      try {
        await sleep(5000)
        const idle = await rssMiB(edge.pid)
        const procs = [{ name: 'edge', pid: edge.pid }]
        const sample = await measure(target, 32, REQUESTS, request(stack.paths.get), undefined, procs)
        const cpuMs = sample.cpu?.edge ?? NaN
        const loaded = await rssMiB(edge.pid)
        const watches = holdWatches(target, `${stack.paths.collection}?watch=1&fieldSelector=metadata.name%3Dcm-0`, WATCHES)
        while (watches.open() < WATCHES) await sleep(500)
        await sleep(3000)
        const watching = await rssMiB(edge.pid)
        await watches.close()
        rows.push(`| ${flags === '' ? '(defaults)' : flags} | ${idle} | ${loaded} | ${watching} | ${cpuMs.toFixed(2)} | ${sample.rps.toFixed(0)} |`)
        process.stderr.write(`${rows.at(-1)!}\n`)
      } finally {
        await edge.stop()
      }
    }
    process.stdout.write([`Edge RSS (MiB) and CPU by NODE_OPTIONS, node ${process.version}, ${REQUESTS} GETs at concurrency 32, then ${WATCHES} watches:`, '',
      '| NODE_OPTIONS | RSS idle | RSS after the GETs | RSS with the watches | edge CPU ms per GET (warm-up excluded) | req/s |', '|---|---|---|---|---|---|', ...rows, ''].join('\n'))
  } finally {
    await stack.stop()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`heap-flags failed: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
