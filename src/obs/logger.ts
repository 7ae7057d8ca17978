// One pino logger per process. Redaction paths are fixed here, at start-up (pino compiles them
// once): no Authorization header, bearer token or private key ever reaches a log line. Errors are
// logged as `{ err }` and serialized by pino's own serializer, cut to the fields that describe the
// failure: an error object may carry the headers or options of the request it came from.
import { destination, pino, stdSerializers, stdTimeFunctions, type DestinationStream, type LevelWithSilent, type Logger } from 'pino'

export type { Logger }

export const REDACT_PATHS = [
  'authorization', 'token', 'bearer', 'key', 'privateKey',
  '*.authorization', '*.Authorization', '*.token', '*.bearer', '*.privateKey',
  'headers.authorization', 'req.headers.authorization', 'request.headers.authorization',
  'spec.token', 'status.token',
]

const ERROR_FIELDS = ['type', 'message', 'stack', 'code', 'errno', 'syscall', 'address', 'port', 'statusCode'] as const

/** pino's err serializer (type, message and stack with their causes), keeping only ERROR_FIELDS. */
export function serializeError (err: unknown): unknown {
  if (!(err instanceof Error)) return { type: typeof err, message: String(err) }
  const full = stdSerializers.err(err) as unknown as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const field of ERROR_FIELDS) if (full[field] !== undefined) out[field] = full[field]
  return out
}

// pino children copy their parent's level when created and keep it: a level change (SIGHUP) must
// reach each of them. They are few (the edge's per-node logger, one per tunnel connection on the
// shim) and held weakly, so a closed connection's logger is not kept alive.
const families = new WeakMap<Logger, Set<WeakRef<Logger>>>()
const PRUNE_AT = 256

/** Sets the level of `root` and of every logger derived from it. */
export function setLogLevel (root: Logger, level: LevelWithSilent): void {
  root.level = level
  for (const ref of families.get(root) ?? []) {
    const child = ref.deref()
    if (child !== undefined) child.level = level
  }
}

export function createLogger (opts: { level: LevelWithSilent, role: 'edge' | 'cloud', destination?: DestinationStream }): Logger {
  const family = new Set<WeakRef<Logger>>()
  const root = pino({
    level: opts.level,
    // Inherited by children, so grandchildren are tracked too.
    onChild: (child) => {
      if (family.size >= PRUNE_AT) for (const ref of family) if (ref.deref() === undefined) family.delete(ref)
      family.add(new WeakRef(child))
    },
    base: { role: opts.role },
    redact: { paths: REDACT_PATHS, censor: '[Redacted]' },
    serializers: { err: serializeError },
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
  }, opts.destination ?? destination({ fd: 1, sync: false }))
  families.set(root, family)
  return root
}
