// What a SIGHUP may change in a running daemon: the keys that differ between the config it runs
// and the file as it is now, split into those the role applies at once and those that need a
// restart (a listener address, a file path, a feature gate: changing them live would drop
// connections or half-apply). Certificates re-read from the same paths are not config changes.

/** Dotted paths of every leaf that differs between `a` and `b` (arrays compare as a whole). */
export function changedKeys (a: unknown, b: unknown, prefix = ''): string[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = new Set([...Object.keys(a), ...Object.keys(b)])
    return [...keys].sort().flatMap((k) => changedKeys(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`))
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix]
}

function isPlainObject (v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

export interface ReloadPlan {
  /** Changed keys the role applies without a restart. */
  apply: string[]
  /** Changed keys that take effect only after a restart (left as they run). */
  restart: string[]
}

export function planReload (running: unknown, next: unknown, reloadable: ReadonlySet<string>): ReloadPlan {
  const changed = changedKeys(running, next)
  return { apply: changed.filter((k) => reloadable.has(k)), restart: changed.filter((k) => !reloadable.has(k)) }
}

/** The value at a dotted path (undefined if a step is missing). */
export function valueAt (config: unknown, key: string): unknown {
  return key.split('.').reduce<unknown>((o, p) => isPlainObject(o) ? o[p] : undefined, config)
}

/** A copy of `running` with the values of `keys` taken from `next`: the config in force after a reload. */
export function withApplied<C> (running: C, next: C, keys: readonly string[]): C {
  const merged = structuredClone(running)
  for (const key of keys) {
    const path = key.split('.')
    const parent = valueAt(merged, path.slice(0, -1).join('.'))
    if (path.length === 1) throw new Error(`reload: top-level key ${key} cannot be applied`)
    if (isPlainObject(parent)) parent[path.at(-1)!] = valueAt(next, key)
  }
  return merged
}
