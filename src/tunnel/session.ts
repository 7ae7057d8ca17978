// What both ends of the tunnel agree on for an HTTP/2 session: windows, settings and limits, and
// how a session is closed gracefully. One place, so the edge and the shim can never disagree.
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
