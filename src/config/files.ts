// `checkFiles` mode (used by check-config): verify that the certificate/key
// files the config names exist and are readable, reported with key and line,
// so a bad path is found before the daemon is (re)started.
import { constants } from 'node:fs'
import { access, readFile, stat } from 'node:fs/promises'
import { createSecureContext } from 'node:tls'
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

/** A start-up check that failed; its message is the one line the CLI prints (key, reason, path). */
export class StartupError extends Error {
  override readonly name = 'StartupError'
}

/**
 * Reads the files a config names, keyed by the config key that names them
 * (e.g. `modules.edgeHub.tlsPrivateKeyFile`); throws StartupError naming the key, the reason and the path.
 */
export async function readConfiguredFiles<K extends string> (files: Record<K, string>): Promise<Record<K, string>> {
  const entries = await Promise.all(Object.entries<string>(files).map(async ([key, path]) => {
    try {
      return [key, await readFile(path, 'utf8')] as const
    } catch (err) {
      throw new StartupError(`${key}: ${fsReason(err)}: ${path}`)
    }
  }))
  return Object.fromEntries(entries) as Record<K, string>
}

/**
 * Builds a TLS context from PEM texts, so a certificate that does not parse, or a key that does
 * not match it, stops the start instead of failing every handshake later. `what` names the keys.
 */
export function checkTlsMaterial (what: string, pem: { ca?: string, cert: string, key: string }): void {
  try {
    createSecureContext(pem)
  } catch (err) {
    throw new StartupError(`${what}: not usable for TLS: ${(err as Error).message}`)
  }
}

/** The StartupError for a listener that could not bind: its config key, address and a plain reason. */
export function listenFailure (key: string, address: { host: string, port: number }, err: unknown): StartupError {
  let reason: string
  switch ((err as NodeJS.ErrnoException).code) {
    case 'EADDRINUSE': reason = 'address already in use'; break
    case 'EADDRNOTAVAIL': reason = 'no such address on this host'; break
    case 'EACCES': reason = 'permission denied (a port below 1024 needs CAP_NET_BIND_SERVICE)'; break
    default: reason = (err as Error).message
  }
  return new StartupError(`${key} (${address.host}:${address.port}): cannot listen: ${reason}`)
}
