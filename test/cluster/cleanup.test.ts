// The test bed never leaves anything behind: even when the test process is SIGKILLed (no exit
// hook can run), the kernel's parent-death signal ends etcd and kube-apiserver, and their ports
// are free again.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createInterface } from 'node:readline'

const here = dirname(fileURLToPath(import.meta.url))

const alive = (pid: number): boolean => {
  try { process.kill(pid, 0); return true } catch { return false }
}
const portFree = (port: number): Promise<boolean> => new Promise((resolve) => {
  const server = createServer()
  server.once('error', () => resolve(false))
  server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
})

t.test('SIGKILL of the test process: no orphaned process, no leftover port', async (t) => {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'start-and-wait.ts')], { stdio: ['ignore', 'pipe', 'inherit'] })
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once('line', resolve)
    child.once('exit', (code) => reject(new Error(`helper exited early (${code})`)))
  })
  const { pids, ports } = JSON.parse(line) as { pids: number[], ports: number[] }
  t.equal(pids.length, 2, 'etcd and kube-apiserver')
  t.ok(pids.every(alive), 'running before the kill')
  child.kill('SIGKILL')
  const deadline = Date.now() + 20_000
  while (Date.now() < deadline && pids.some(alive)) await new Promise((resolve) => setTimeout(resolve, 100))
  t.same(pids.filter(alive), [], 'every control-plane process is gone')
  for (const port of ports) t.ok(await portFree(port), `port ${port} is free`)
})
