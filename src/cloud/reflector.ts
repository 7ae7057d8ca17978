// A minimal client-go-style reflector: LIST (paged), then WATCH from the list's resourceVersion with
// bookmarks, re-watch from the last seen version when a watch ends, re-list on 410 Gone or
// errors (capped backoff). Keeps a trimmed copy of each object, keyed namespace/name.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are narrowed (trim functions, explicit checks) */
import type { Logger } from '../obs/logger.js'
import { fullJitterBackoff } from '../tunnel/backoff.js'
import { LineSplitter } from '../util/lines.js'
import type { Upstream } from './upstream.js'

/** What changed in a reflector's items: everything (a fresh list replaced them), or one object. */
export type ReflectorChange<T> = { type: 'reset' } | { type: 'event', key: string, after: T | undefined }

export interface KubeObject {
  metadata: { name: string, namespace?: string, resourceVersion?: string, uid?: string, labels?: Record<string, string> }
}

const PAGE = 500
const WATCH_SECONDS = 300
const MAX_EVENT_LINE = 8 << 20

export class Reflector<T extends KubeObject> {
  readonly items = new Map<string, T>()
  synced = false
  private stopped = false
  private abort: AbortController | undefined
  /** Ends the backoff sleep early: a shim stopping while kube-apiserver fails must not wait it out (up to 30 s). */
  private wake: (() => void) | undefined
  private readonly backoff = fullJitterBackoff(500, 30_000)

  constructor (
    private readonly upstream: Upstream,
    /** Collection path, e.g. /api/v1/pods; optional query for list and watch alike (e.g. fieldSelector). */
    private readonly path: string,
    private readonly trim: (obj: any) => T,
    private readonly onChange: (change: ReflectorChange<T>) => void,
    private readonly logger: Logger
  ) {}

  start (): void { void this.loop() }

  stop (): void {
    this.stopped = true
    this.abort?.abort()
    this.wake?.()
  }

  private async loop (): Promise<void> {
    while (!this.stopped) {
      try {
        let rv = await this.list()
        this.backoff.reset()
        // Watch until the apiserver says the version is gone; then list again.
        for (;;) {
          const next = await this.watch(rv)
          if (next === undefined || this.stopped) break
          rv = next
        }
      } catch (err) {
        if (this.stopped) return
        const delay = this.backoff.next()
        this.logger.warn({ path: this.path, err, retryInMs: delay }, 'reflector failed; retrying')
        await this.sleep(delay)
      }
    }
  }

  private async sleep (ms: number): Promise<void> {
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms)
      function done (): void { clearTimeout(timer); resolve() }
      this.wake = done
    })
    this.wake = undefined
  }

  private async list (): Promise<string> {
    const fresh = new Map<string, T>()
    let cont = ''
    let rv = ''
    do {
      const res = await this.upstream.json<any>('GET', this.url({ limit: String(PAGE), ...(cont === '' ? {} : { continue: cont }) }))
      if (res.status !== 200) throw new Error(`list ${this.path}: HTTP ${res.status} ${res.body?.message ?? ''}`)
      for (const item of res.body.items ?? []) {
        const obj = this.trim(item)
        fresh.set(key(obj), obj)
      }
      cont = res.body.metadata?.continue ?? ''
      rv ||= res.body.metadata?.resourceVersion ?? ''
    } while (cont !== '')
    this.items.clear()
    for (const [k, v] of fresh) this.items.set(k, v)
    this.synced = true
    this.onChange({ type: 'reset' })
    return rv
  }

  /** One watch call; returns the version to resume from, or undefined when a re-list is needed. */
  private async watch (rv: string): Promise<string | undefined> {
    this.abort = new AbortController()
    const res = await this.upstream.ownStream('GET', this.url({
      watch: '1', resourceVersion: rv, allowWatchBookmarks: 'true', timeoutSeconds: String(WATCH_SECONDS),
    }), this.abort.signal)
    if (res.statusCode === 410) { await res.body.dump(); return undefined }
    if (res.statusCode !== 200) throw new Error(`watch ${this.path}: HTTP ${res.statusCode}`)
    let last = rv
    const lines = new LineSplitter(MAX_EVENT_LINE)
    for await (const chunk of res.body) {
      let complete: string[]
      try { complete = lines.push(chunk) } catch { throw new Error(`watch ${this.path}: event larger than ${MAX_EVENT_LINE} bytes`) }
      for (const line of complete) {
        if (line.trim() === '') continue
        const event = JSON.parse(line) as { type: string, object: any }
        if (event.type === 'ERROR') return event.object?.code === 410 ? undefined : last
        last = event.object?.metadata?.resourceVersion ?? last
        if (event.type === 'BOOKMARK') continue
        const obj = this.trim(event.object)
        const k = key(obj)
        if (event.type === 'DELETED') this.items.delete(k)
        else this.items.set(k, obj)
        this.onChange({ type: 'event', key: k, after: event.type === 'DELETED' ? undefined : obj })
      }
    }
    return last
  }

  private url (query: Record<string, string>): string {
    const [base, existing = ''] = this.path.split('?', 2)
    const params = new URLSearchParams(existing)
    for (const [k, v] of Object.entries(query)) params.set(k, v)
    return `${base}?${params.toString()}`
  }
}

function key (obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`
}
