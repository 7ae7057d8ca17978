// Running the host's network tools (`ip`, `nft`, `iptables`) for the dummy address and the
// redirection. A runner is injected so unit tests can script the tools' answers.
import { execFile } from 'node:child_process'
import { accessSync, constants } from 'node:fs'
import { delimiter, join } from 'node:path'
import { promisify } from 'node:util'

export type CommandRunner = (command: string, args: string[], opts?: { stdin?: string }) => Promise<{ stdout: string }>

const execFileAsync = promisify(execFile)

// Debian installs ip, nft and iptables in /usr/sbin: a daemon started from a shell whose PATH
// lacks the sbin directories (a plain `env -i` one, `su` without `-`) must still find them.
const SBIN = ['/usr/local/sbin', '/usr/sbin', '/sbin']

/** The path of `command` on PATH, then in the sbin directories; the bare name when none has it (execFile then says ENOENT). */
export function toolPath (command: string, path = process.env.PATH ?? ''): string {
  if (command.includes('/')) return command
  for (const dir of [...path.split(delimiter).filter((d) => d !== ''), ...SBIN]) {
    const candidate = join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch { /* not here */ }
  }
  return command
}

export const runCommand: CommandRunner = (name, args, opts = {}) => {
  const command = toolPath(name)
  if (opts.stdin === undefined) return execFileAsync(command, args, { timeout: 10_000 })
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { timeout: 10_000 }, (err, stdout, stderr) => {
      if (err !== null) reject(Object.assign(err, { stderr }))
      else resolve({ stdout })
    })
    child.stdin?.on('error', () => { /* the command may exit without reading it; its exit status says why */ })
    child.stdin?.end(opts.stdin)
  })
}

/** Awaits `p`; a failure whose message matches `ok` (e.g. "File exists") counts as success. */
export async function tolerate (p: Promise<unknown>, ok: RegExp): Promise<void> {
  try {
    await p
  } catch (err) {
    if (!ok.test(commandError(err))) throw err
  }
}

/** What a failed command said (its stderr), else the error's message. */
export function commandError (err: unknown): string {
  const e = err as { stderr?: string, message?: string }
  return (e.stderr !== undefined && e.stderr.trim() !== '' ? e.stderr : e.message ?? String(err)).trim()
}
