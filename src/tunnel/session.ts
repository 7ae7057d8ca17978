// What both ends of the tunnel agree on for an HTTP/2 session: windows, settings and limits, the
// PING keepalive, and how a session is closed gracefully. One place, so the edge and the shim can
// never disagree.
import type http2 from 'node:http2'
import { HTTP2_HEADER_OPTIONS, MAX_HEADER_LIST_BYTES } from './protocol.js'

// Bigger windows than HTTP/2's 64 KiB default: a LIST of a few MiB must not crawl over a
// high-latency link. Each stream still has its own window, so one slow watcher stalls only itself.
const STREAM_WINDOW = 1 << 20
const CONNECTION_WINDOW = 16 << 20
// The largest frame either end accepts. nghttp2 tears the whole session down (GOAWAY) when a header
// block arrives in more than a few CONTINUATION frames (a CVE-2024-27983 guard); at HTTP/2's
// default 16 KiB frames, one pod request with ~150 KiB of headers would cut every pod's tunnel.
// With frames this large every header block the edge lets through fits in one or two frames.
const MAX_FRAME_SIZE = (1 << 24) - 1

/** Session options for either end; the shim adds its per-node stream limit. */
export function sessionOptions (maxConcurrentStreams?: number): Pick<http2.SecureServerOptions, 'settings' | 'maxHeaderListPairs' | 'maxSendHeaderBlockLength' | 'maxSessionMemory'> {
  return {
    settings: {
      enablePush: false,
      initialWindowSize: STREAM_WINDOW,
      maxHeaderListSize: MAX_HEADER_LIST_BYTES,
      maxFrameSize: MAX_FRAME_SIZE,
      ...(maxConcurrentStreams === undefined ? {} : { maxConcurrentStreams }),
    },
    ...HTTP2_HEADER_OPTIONS,
  }
}

/** Once a session is up: the connection-level window (SETTINGS only sets the per-stream one). */
export function openConnectionWindow (session: http2.Http2Session): void {
  session.setLocalWindowSize(CONNECTION_WINDOW)
}

/** Sends GOAWAY and waits up to graceMs for in-flight streams, then tears the connection down. */
export async function closeGracefully (session: http2.Http2Session, graceMs: number): Promise<void> {
  if (session.destroyed) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(() => { session.destroy(); resolve() }, graceMs)
    session.once('close', () => { clearTimeout(timer); resolve() })
    session.close()
  })
}

export interface KeepaliveOptions {
  periodMs: number
  /** How long a PING may go unanswered before the peer is judged dead. */
  timeoutMs: number
  /** Called once, on the first answer: the peer is really there (the edge resets its backoff then). */
  onFirstAnswer?: () => void
  /** Called at most once, when a PING goes unanswered or fails; the caller ends the session its own way. */
  onDead: (err: Error) => void
}

/**
 * A PING right away, then one every period while none is outstanding. A frozen peer keeps its TCP
 * connection open and silent, and a peer behind NAT can vanish without a FIN; a session nghttp2 gave
 * up on (its own GOAWAY after bad frames) stops reading and Node emits nothing, not even for the
 * peer's FIN (the socket would sit in CLOSE-WAIT for good). None of them answers a PING, and nothing
 * else would ever end their streams (watches). Stops by itself once the session is closed: a closed
 * session (draining, after a GOAWAY from either side) cancels PINGs at once, which says nothing
 * about the peer, and its streams drain under their own bound (closeGracefully, the shim's grace
 * after an edge's GOAWAY).
 */
export function keepalive (session: http2.Http2Session, opts: KeepaliveOptions): void {
  let outstanding = false
  let answered = false
  let dead = false
  const die = (err: Error): void => {
    if (dead) return
    dead = true
    clearInterval(timer)
    opts.onDead(err)
  }
  const ping = (): void => {
    // 'close' comes a tick after destroy(): a PING on a destroyed session would throw.
    if (dead || session.destroyed || session.closed) { clearInterval(timer); return }
    if (outstanding) return // its own deadline judges it
    outstanding = true
    const deadline = setTimeout(() => {
      // Judged after the poll phase: if this process itself was stalled, the PING's ACK may be
      // sitting unread in the socket, and a healthy peer must not be cut for our own pause.
      setImmediate(() => {
        if (outstanding && !session.destroyed) die(new Error(`heartbeat timeout: no PING answer within ${opts.timeoutMs} ms`))
      })
    }, opts.timeoutMs)
    const settled = (err: Error | null): void => {
      outstanding = false
      clearTimeout(deadline)
      if (err !== null) {
        if (!session.destroyed && !session.closed) die(err)
        return
      }
      if (!answered) { answered = true; opts.onFirstAnswer?.() }
    }
    try {
      // A PING that could not be sent (false: nghttp2 no longer sends, or too many outstanding)
      // stays outstanding: a session that cannot PING is judged by the deadline like a silent one.
      session.ping((err) => settled(err))
    } catch (err) {
      settled(err as Error)
    }
  }
  const timer = setInterval(ping, opts.periodMs)
  session.once('close', () => clearInterval(timer))
  ping()
}
