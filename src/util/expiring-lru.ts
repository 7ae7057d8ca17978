// A size-bounded map with per-entry expiry: Map keeps insertion order, so re-inserting on read
// makes the first key the least recently used one. Token reviews, pod bindings, verified JWTs.

export class ExpiringLru<K, V> {
  private readonly entries = new Map<K, { value: V, expiresAt: number }>()

  constructor (private readonly maxEntries: number, private readonly now: () => number = Date.now) {}

  get (key: K): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    this.entries.delete(key)
    if (entry.expiresAt <= this.now()) return undefined
    this.entries.set(key, entry)
    return entry.value
  }

  set (key: K, value: V, ttlMs: number): void {
    if (ttlMs <= 0) return
    this.entries.delete(key)
    this.entries.set(key, { value, expiresAt: this.now() + ttlMs })
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as K
      this.entries.delete(oldest)
    }
  }

  get size (): number { return this.entries.size }
}
