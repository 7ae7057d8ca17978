// resourceVersions are opaque strings to clients, but the edge must order what it caches: every
// kube-apiserver backed by etcd hands out etcd revisions (decimal int64), so those are compared as
// numbers. Anything else cannot be ordered, and the caller is told so.

const DECIMAL = /^(0|[1-9][0-9]{0,18})$/

function asNumber (rv: string): bigint | undefined {
  return DECIMAL.test(rv) ? BigInt(rv) : undefined
}

/** a > b; false when either cannot be ordered. */
export function isNewerRv (a: string, b: string): boolean {
  const x = asNumber(a)
  const y = asNumber(b)
  return x !== undefined && y !== undefined && x > y
}

/** a >= b; for unorderable versions only equality counts. */
export function rvAtLeast (a: string, b: string): boolean {
  return a === b || isNewerRv(a, b)
}

/** The later of two versions; `b` (the more recent report) when they cannot be ordered. */
export function maxRv (a: string, b: string): string {
  return isNewerRv(a, b) ? a : b
}

/** Whether the edge can order this version at all ("" and "0" mean "any", not a point in time). */
export function isOrderableRv (rv: string): boolean {
  return asNumber(rv) !== undefined && rv !== '0'
}
