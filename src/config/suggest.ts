// "Did you mean" for unknown keys: a typo in a config key must be an error,
// and the error is far more useful when it names the key that was meant.

/** Optimal-string-alignment distance: Levenshtein plus adjacent transpositions ("enabel"). */
export function editDistance (a: string, b: string): number {
  const rows = a.length + 1
  const cols = b.length + 1
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0))
  )
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      let v = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        v = Math.min(v, d[i - 2]![j - 2]! + 1)
      }
      d[i]![j] = v
    }
  }
  return d[a.length]![b.length]!
}

/**
 * The candidate closest to `name`, if it is close enough to be a plausible
 * typo. Comparison ignores case because "tlsCAFile" vs "tlsCaFile" and
 * "kubeApiConfig" vs "kubeAPIConfig" are the typical slips.
 */
export function closestKey (name: string, candidates: Iterable<string>): string | undefined {
  const lower = name.toLowerCase()
  // Allow roughly one edit per three characters, at least 1, at most 3, so
  // short keys don't match everything and long keys tolerate a few slips.
  const limit = Math.max(1, Math.min(3, Math.floor(name.length / 3)))
  let best: string | undefined
  let bestDistance = Infinity
  for (const c of candidates) {
    const dist = editDistance(lower, c.toLowerCase())
    if (dist <= limit && dist < bestDistance) {
      best = c
      bestDistance = dist
    }
  }
  return best
}
