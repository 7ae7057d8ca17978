// One pino logger per process. Redaction paths are fixed here, at start-up (pino compiles them
// once): no Authorization header, bearer token or private key ever reaches a log line.
import { destination, pino, stdTimeFunctions, type DestinationStream, type LevelWithSilent, type Logger } from 'pino'

export type { Logger }

export const REDACT_PATHS = [
  'authorization', 'token', 'bearer', 'key', 'privateKey',
  '*.authorization', '*.Authorization', '*.token', '*.bearer', '*.privateKey',
  'headers.authorization', 'req.headers.authorization', 'request.headers.authorization',
  'spec.token', 'status.token',
]

export function createLogger (opts: { level: LevelWithSilent, role: 'edge' | 'cloud', destination?: DestinationStream }): Logger {
  return pino({
    level: opts.level,
    base: { role: opts.role },
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, opts.destination ?? destination({ fd: 1, sync: false }))
}
