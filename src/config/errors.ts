// The error shape every part of the config layer reports, and how it prints.
// Errors carry file:line:column so an operator can jump straight to the key.

export interface ConfigError {
  /** The file name as the caller gave it (not resolved), so messages match what was typed. */
  readonly file: string
  /** 1-based; 0 when the error is about the file as a whole (e.g. unreadable). */
  readonly line: number
  /** 1-based; 0 together with line 0. */
  readonly column: number
  /** Dotted key path, e.g. "modules.metaServer.server" or "…apiAudiences[1]"; "" for syntax errors. */
  readonly path: string
  readonly message: string
}

/** One error per line: `file:line:col: key.path: message`. */
export function formatConfigError (e: ConfigError): string {
  const where = e.line > 0 ? `${e.file}:${e.line}:${e.column}` : e.file
  return e.path ? `${where}: ${e.path}: ${e.message}` : `${where}: ${e.message}`
}

export function formatConfigErrors (errors: readonly ConfigError[]): string {
  return errors.map(formatConfigError).join('\n')
}

/** Thrown by the load*Config helpers; `errors` keeps the structured form. */
export class ConfigLoadError extends Error {
  readonly errors: readonly ConfigError[]

  constructor (errors: readonly ConfigError[]) {
    const n = errors.length
    super(`invalid configuration (${n} error${n === 1 ? '' : 's'}):\n${formatConfigErrors(errors)}`)
    this.name = 'ConfigLoadError'
    this.errors = errors
  }
}

/** Orders errors as they appear in the file; schema walk order is arbitrary to a reader. */
export function sortConfigErrors (errors: readonly ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => a.line - b.line || a.column - b.column)
}
