// The cache's completeness rule, in one place. A list row claims: "the cache holds every object
// of this scope as of `rv`, and nothing in the scope changed after `changedRv`". Only two things
// may make or move that claim:
//  - a complete list as of a version (every chunk of a LIST, or a watch's initial events up to
//    its initial-events-end BOOKMARK) sets it, and
//  - watch events move it forward, but only while the cache provably saw every event since: the
//    watch started at or before what the row knew, and not one of its events was lost since (the
//    tee stops following a stream it cannot read exactly; a failed write batch forgets every row).
// Everything that answers offline reads the claim through the functions below, never the row's
// fields directly: a watch resumes only from what the cache can replay, a list is answered only
// when the cache is at least as new as the client asked.
import { isNewerRv, isOrderableRv, maxRv, rvAtLeast } from '../../kube/resource-version.js'

/** What the cache knows of a scope: complete as of `rv`; nothing in it changed after `changedRv`. */
export interface Known {
  rv: string
  changedRv: string
}

/** A list can claim completeness only at a version the edge can order ("" and "0" are not points in time). */
export function canBeCompleteAt (listRv: string): boolean {
  return isOrderableRv(listRv)
}

/** A complete list as of `listRv` was stored: the claim is at least that new. */
export function afterCompleteList (old: Known | undefined, listRv: string): Known {
  if (old === undefined) return { rv: listRv, changedRv: listRv }
  return { rv: maxRv(old.rv, listRv), changedRv: maxRv(old.changedRv, listRv) }
}

/** A watch event at `rv` continuing what the cache knew; `changed`: it changed an object (not a BOOKMARK). */
export function afterEvent (old: Known, rv: string, changed: boolean): Known {
  return { rv: maxRv(old.rv, rv), changedRv: changed ? maxRv(old.changedRv, rv) : old.changedRv }
}

/**
 * Whether the events of a watch that started at `startRv` continue what the cache knows, so
 * they may move the claim forward: the cache knew the scope as of the watch's start or later.
 * Decided against the row as it is when the first event is applied (earlier writes are in).
 */
export function watchContinues (known: Known | undefined, startRv: string): boolean {
  return known !== undefined && isOrderableRv(startRv) && rvAtLeast(known.rv, startRv)
}

/**
 * The version a watch from the client's `clientRv` can be answered from, or undefined when the
 * cache cannot replay what happened between that version and its own (kube-apiserver's 410).
 * Nothing in the scope changed after the client's version, as far as the cache knows.
 */
export function watchResumesAt (known: Known, clientRv: string): string | undefined {
  if (!isOrderableRv(clientRv) || !rvAtLeast(clientRv, known.changedRv)) return undefined
  return maxRv(clientRv, known.rv)
}

/**
 * How one followed watch may touch its scope's claim. A watch from a version continues the claim
 * when it started inside it (decided on its first event, against the row as it is then, and kept
 * until the stream ends). A watch-list (sendInitialEvents) first delivers a complete state, which
 * becomes the claim at its initial-events-end BOOKMARK; its later events continue that. The tee
 * stops following at the first event it cannot read, so "continues" also means none was lost.
 */
export class WatchClaim {
  private continues: boolean | undefined

  constructor (private readonly startRv: string, readonly sendsInitialEvents: boolean) {
    this.continues = sendsInitialEvents ? false : undefined
  }

  /** Before applying an event: decides, on the first one, whether this watch continues `known()`. */
  decide (known: () => Known | undefined): void {
    if (this.continues === undefined) this.continues = watchContinues(known(), this.startRv)
  }

  /** Its events move the claim forward (afterEvent). */
  get advances (): boolean { return this.continues === true }

  /** Its events are the initial state, to be committed as a complete list at initial-events-end. */
  get collectingInitialState (): boolean { return this.sendsInitialEvents && this.continues === false }

  /** The initial state was committed as a complete list: the events after it continue that claim. */
  initialStateCommitted (): void { this.continues = true }
}

export type ListVerdict = { ok: true } | { ok: false, reason: 'older' | 'not-exact' }

/** Whether the cache's list answers a LIST asking for `resourceVersion` (with resourceVersionMatch `match`). */
export function listAnswerable (known: Known, resourceVersion: string, match: string): ListVerdict {
  if (isOrderableRv(resourceVersion) && isNewerRv(resourceVersion, known.rv)) return { ok: false, reason: 'older' }
  if (match === 'Exact' && resourceVersion !== known.rv) return { ok: false, reason: 'not-exact' }
  return { ok: true }
}

interface ScopedRow { namespace: string, labelSelector: string, fieldSelector: string }

/**
 * The complete list that can answer `scope`, most specific first: same namespace with the same
 * selectors, then without selectors; then all namespaces, same selectors, then without. A list
 * without selectors answers any selector (evaluated over its objects), a cluster-wide list any
 * namespace; a list under one selector answers only that selector.
 */
export function coveringList<R extends ScopedRow> (scope: ScopedRow, rows: readonly R[]): R | undefined {
  const unfiltered = (r: R): boolean => r.labelSelector === '' && r.fieldSelector === ''
  const sameSelectors = (r: R): boolean => r.labelSelector === scope.labelSelector && r.fieldSelector === scope.fieldSelector
  return rows.find((r) => r.namespace === scope.namespace && sameSelectors(r)) ??
    rows.find((r) => r.namespace === scope.namespace && unfiltered(r)) ??
    rows.find((r) => r.namespace === '' && sameSelectors(r)) ??
    rows.find((r) => r.namespace === '' && unfiltered(r))
}
