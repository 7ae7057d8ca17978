// Releasing a tunnel stream the edge no longer wants. `stream.close(NGHTTP2_CANCEL)` alone is not
// enough: it sends RST_STREAM, but Node destroys the stream (and emits 'close', and forgets it in
// the session) only once its readable side has ended — which never happens if nobody reads the
// body that already arrived (e.g. the shim's small 503 `upstream-unreachable` Status). Such a
// stream stays in the session for good, and whoever waits for its 'close' waits forever.
import http2, { type ClientHttp2Stream } from 'node:http2'

/** Cancels `stream` upstream (RST_STREAM CANCEL) and frees it at once: 'close' always follows. */
export function cancelStream (stream: ClientHttp2Stream): void {
  if (stream.destroyed) return
  if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
  // Buffered body bytes are dropped with the stream; close() above already chose the RST code.
  stream.destroy()
}
