// `checkFiles` mode (used by check-config): verify that the certificate/key
// files the config names exist and are readable, reported with key and line,
// so a bad path is found before the daemon is (re)started.
import { constants } from 'node:fs'
import { access, stat } from 'node:fs/promises'
import type { ConfigError } from './errors.js'
import type { FileToCheck } from './parse.js'

export async function checkFiles (files: readonly FileToCheck[]): Promise<ConfigError[]> {
  const results = await Promise.all(files.map(checkOne))
  return results.filter((e): e is ConfigError => e !== undefined)
}

async function checkOne (f: FileToCheck): Promise<ConfigError | undefined> {
  const error = (message: string): ConfigError => ({
    file: f.file,
    line: f.line,
    column: f.column,
    path: f.keyPath,
    message,
  })
  try {
    const s = await stat(f.path)
    if (!s.isFile()) return error(`not a regular file: ${f.path}`)
    await access(f.path, constants.R_OK)
    return undefined
  } catch (err) {
    return error(`${fsReason(err)}: ${f.path}`)
  }
}

/** A short human reason for a failed fs call, without Node's syscall noise. */
export function fsReason (err: unknown): string {
  const code = (err as NodeJS.ErrnoException | null)?.code
  switch (code) {
    case 'ENOENT':
      return 'file not found'
    case 'EACCES':
    case 'EPERM':
      return 'permission denied'
    case 'EISDIR':
      return 'is a directory'
    case 'ENOTDIR':
      return 'a parent of the path is not a directory'
    default:
      return err instanceof Error ? err.message : String(err)
  }
}
