// The Go toolchain as test/cluster/build-binaries.sh finds it: on PATH, or where installers put it
// (/usr/local/go is often put on PATH only by an interactive shell's profile, not in CI).
import { existsSync } from 'node:fs'
import { homedir } from 'node:os'
import { join } from 'node:path'

export function goBinary (): string {
  const dirs = [...(process.env.PATH ?? '').split(':').filter((d) => d !== ''), '/usr/local/go/bin', '/usr/lib/go/bin', join(homedir(), 'go', 'bin')]
  return dirs.map((d) => join(d, 'go')).find((p) => existsSync(p)) ?? 'go'
}
