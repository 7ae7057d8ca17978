// In-flight requests: the short-request limit (kube-apiserver's --max-requests-inflight) and the
// shutdown drain (short requests get the grace period to finish, watches are ended cleanly at once
// and clients re-watch from their last resourceVersion).
//
// A slot is tied to the request's whole life, not to one event that may never come: Node emits no
// 'close' for a pipelined response still queued when the client drops the connection, so a slot
// is also returned when the request's socket closes, whichever happens first.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Socket } from 'node:net'
import type { Gauge } from 'prom-client'

/** A request in flight: an HTTP response, or — for an upgrade — only its connection. */
interface Flight { res: ServerResponse | undefined, socket: Socket }

/**
 * A backstop on a short request's slot. The relay ends every short request within the request
 * timeout, so a slot held past it plus a margin belongs to a request nothing will ever end — a bug:
 * it is returned at the deadline and reported with where the request was stuck, instead of counting
 * against the limit until the edge restarts. (The two such bugs edge-fuzz found this way are fixed:
 * linger.ts, boundHalfClosed; relay.ts, the timeout covering the whole answer.)
 */
export interface ShortDeadline { ms: number, onExpired: (info: ExpiredRequest) => void }

/** What is known of a request whose slot expired: enough to tell where it was stuck. */
export interface ExpiredRequest {
  method: string | undefined
  url: string | undefined
  /** How far the answer got: none, headers, ended (written, not flushed), finished, destroyed. */
  answer: 'none' | 'headers' | 'ended' | 'finished' | 'destroyed' | 'no response'
  /** Whether the whole request body was read. */
  bodyRead: boolean
  socket: { peer: string, destroyed: boolean, readyState: string, pendingWrites: number }
}

function expiredRequest (req: IncomingMessage, res: ServerResponse | undefined): ExpiredRequest {
  const answer = res === undefined
    ? 'no response'
    : res.destroyed ? 'destroyed' : res.writableFinished ? 'finished' : res.writableEnded ? 'ended' : res.headersSent ? 'headers' : 'none'
  const s = req.socket
  return { method: req.method, url: req.url, answer, bodyRead: req.complete, socket: { peer: `${s.remoteAddress ?? ''}:${s.remotePort ?? ''}`, destroyed: s.destroyed, readyState: s.readyState, pendingWrites: s.writableLength } }
}

export class InflightTracker {
  private readonly short = new Set<Flight>()
  private readonly long = new Set<Flight>()
  /**
   * The flights of each connection, released together when it closes. One 'close' listener per
   * connection, not one per request: a kept-alive or pipelining client would otherwise pile up
   * listeners on its socket (Node warns past 10) for as long as its requests are queued.
   */
  private readonly bySocket = new WeakMap<Socket, Set<() => void>>()
  private idle: (() => void) | undefined

  constructor (private readonly gauge: Gauge<'kind'>, private readonly shortDeadline?: ShortDeadline) {}

  /** Registers a request; its slot returns when the response closes or its connection does. */
  begin (req: IncomingMessage, res: ServerResponse | undefined, longRunning: boolean): void {
    const set = longRunning ? this.long : this.short
    const kind = longRunning ? 'long-running' : 'short'
    const socket = req.socket
    const flight = { res, socket }
    set.add(flight)
    this.gauge.inc({ kind })
    const onSocket = this.socketFlights(socket)
    const deadline = longRunning || this.shortDeadline === undefined
      ? undefined
      : setTimeout((d: ShortDeadline) => { d.onExpired(expiredRequest(req, res)); done() }, this.shortDeadline.ms, this.shortDeadline).unref()
    const done = (): void => {
      clearTimeout(deadline)
      res?.off('close', done)
      onSocket.delete(done)
      if (!set.delete(flight)) return
      this.gauge.dec({ kind })
      if (this.short.size === 0) this.idle?.()
    }
    res?.once('close', done)
    onSocket.add(done)
    // Node still parses pipelined requests buffered before their connection closed: such a
    // request starts on a socket whose 'close' has already happened.
    if (socket.destroyed) setImmediate(done)
  }

  private socketFlights (socket: Socket): Set<() => void> {
    let flights = this.bySocket.get(socket)
    if (flights === undefined) {
      const all = flights = new Set()
      this.bySocket.set(socket, all)
      socket.once('close', () => { for (const done of [...all]) done() })
    }
    return flights
  }

  get shortCount (): number { return this.short.size }

  get longCount (): number { return this.long.size }

  /** Ends every watch now, then waits up to graceMs for short requests; returns how many were cut off. */
  async drain (graceMs: number): Promise<number> {
    for (const { res, socket } of this.long) (res ?? socket).end()
    if (this.short.size > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs)
        this.idle = () => { clearTimeout(timer); resolve() }
      })
    }
    const cut = this.short.size
    for (const { res, socket } of [...this.short, ...this.long]) (res ?? socket).destroy()
    return cut
  }
}
