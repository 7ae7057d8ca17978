// npm run bench:profile — where the edge's and the shim's CPU goes under the bench's GET load:
// both run (dist/) with `node --cpu-prof`, take EMS_PROFILE_REQUESTS (default 20 000) GETs of a
// ConfigMap at concurrency 32 through the edge, are stopped with SIGTERM (a clean exit writes the
// profile), and each .cpuprofile is folded into self time per module and per function
// (bench/fold-profile.ts). The profiles are kept (a directory under the system's temp directory,
// printed) for a flame-graph viewer (Chrome DevTools, speedscope).
import { mkdtemp, readdir, readFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fold, foldedReport } from './fold-profile.js'
import { measure, request } from './load.js'
import { startSmallStack, withNodeOptions } from './stack.js'

const REQUESTS = Number(process.env.EMS_PROFILE_REQUESTS ?? 20_000)

async function main (): Promise<void> {
  const kept = await mkdtemp(join(tmpdir(), 'ems-profile-'))
  const dirs = { edge: join(kept, 'edge'), shim: join(kept, 'shim') }
  const stack = await startSmallStack(withNodeOptions(`--cpu-prof --cpu-prof-dir=${dirs.shim}`))
  try {
    const { edge, target } = await stack.startEdge('profiled', withNodeOptions(`--cpu-prof --cpu-prof-dir=${dirs.edge}`))
    const sample = await measure(target, 32, REQUESTS, request(stack.paths.get))
    // The edge first (its tunnel closes cleanly), then the shim: both exit and write their profiles.
    await edge.stop(20_000)
    await stack.cloud.stop(20_000)
    const out = [`${REQUESTS} GETs at concurrency 32 through the edge: p50 ${sample.p50.toFixed(2)} ms, ${sample.rps.toFixed(0)} req/s (slowed by the profiler)`, '']
    for (const [role, dir] of Object.entries(dirs)) {
      const file = (await readdir(dir)).find((f) => f.endsWith('.cpuprofile'))
      if (file === undefined) { out.push(`${role}: no profile written in ${dir}`, ''); continue }
      const folded = fold(JSON.parse(await readFile(join(dir, file), 'utf8')))
      out.push(...foldedReport(`${role} (${join(dir, file)})`, folded, 25),
        `${role}: ${(folded.busyUs / 1000 / REQUESTS).toFixed(3)} ms of CPU per request over the whole profile (start-up included)`, '')
    }
    process.stdout.write(out.join('\n'))
  } finally {
    await stack.stop()
  }
}

main().catch((err: Error) => {
  process.stderr.write(`profile failed: ${err.stack ?? err.message}\n`)
  process.exitCode = 1
})
