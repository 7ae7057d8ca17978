// CPU time of the bench's processes, read from /proc/<pid>/stat (utime + stime, in clock ticks of
// 10 ms): sampled around each measured run, divided by its request count, it is each process's
// CPU per request — a figure that holds across machines where wall-clock ratios on two shared cores
// do not. And `taskset` pinning, so the apiserver side and the daemons stop competing for a core.
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { promisify } from 'node:util'

/** A process the bench measures, by role: etcd, kube-apiserver, edge, shim, load (the load generator, this process). */
export interface Measured { name: string, pid: number }

const TICK_MS = 10 // CLK_TCK is 100 on Linux (USER_HZ is fixed in the kernel ABI)

/** CPU milliseconds (user + system, all threads) each process has used so far; a process gone reads 0. */
export function cpuSnapshot (procs: Measured[]): Map<string, number> {
  const snap = new Map<string, number>()
  for (const { name, pid } of procs) {
    let ms = 0
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
      // Field 2 (comm) may hold spaces and parentheses: count fields after its closing ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      ms = (Number(fields[11]) + Number(fields[12])) * TICK_MS // fields 14 and 15: utime, stime
    } catch { /* the process has exited (the shim, killed for the offline runs) */ }
    snap.set(name, (snap.get(name) ?? 0) + ms)
  }
  return snap
}

/** CPU ms per request of each process between two snapshots. */
export function cpuPerRequest (before: Map<string, number>, after: Map<string, number>, requests: number): Record<string, number> {
  const per: Record<string, number> = {}
  for (const [name, ms] of after) per[name] = (ms - (before.get(name) ?? 0)) / requests
  return per
}

/** Pins every thread of each process to `cpus` (a taskset list such as "0" or "0-1"). */
export async function pin (pids: number[], cpus: string): Promise<void> {
  for (const pid of pids) await promisify(execFile)('taskset', ['-a', '-p', '-c', cpus, String(pid)])
}

/** Every CPU of the machine, as a taskset list (to undo `pin`). */
export const ALL_CPUS = `0-${availableParallelism() - 1}`
