// Ending a tunnel stream we no longer want. `close(CANCEL)` alone is not enough: a stream whose
// readable side still holds unread data never emits 'close', so it — and whatever refers to it —
// stays alive. Draining the readable side and then destroying it frees it in every state.
import http2, { type ClientHttp2Stream } from 'node:http2'

export function cancelStream (stream: ClientHttp2Stream): void {
  if (stream.destroyed) return
  stream.resume()
  if (!stream.closed) stream.close(http2.constants.NGHTTP2_CANCEL)
}
