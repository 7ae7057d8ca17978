// Closing a pod connection the edge will not read again, without losing its answer and without
// leaving the socket behind.
import type { Duplex } from 'node:stream'

/** How long a connection answered with "close" is still read (and dropped) before it is destroyed. */
const LINGER_MS = 1000

/**
 * After a final answer on a connection the edge will not read again: keep reading and dropping
 * what the pod still sends, and destroy the socket when it ends its side or after LINGER_MS (as
 * Go's server does after an unread body). `end()` alone left the socket unread: a pod that sent
 * a body (CONNECT with 4 MiB, say) and went away was never seen to go, and its socket stayed open
 * forever, holding a file descriptor and server.close() (test/e2e/edge-fuzz.test.ts, phase b).
 * Destroying at once instead would reset the connection and could discard the answer unread.
 */
export function lingerThenDestroy (socket: Duplex): void {
  const timer = setTimeout(() => socket.destroy(), LINGER_MS)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
  socket.once('end', () => socket.destroy())
  socket.on('error', () => socket.destroy())
  socket.resume()
}

/** How long a connection the pod has ended (FIN) may take to deliver what the edge still owes it. */
export const HALF_CLOSED_LINGER_MS = 10_000

/**
 * Bounds a pod connection once the pod has ended its side. Node then finishes the answer under way
 * and closes (the listener does not allow half-open connections), so such a connection normally
 * closes at once; but Node's TLS socket does not report a reset that arrives behind pipelined
 * requests: the requests still buffered are parsed and answered on a socket whose writes never
 * complete and that never closes — each held an in-flight slot and a file descriptor for good
 * (edge-fuzz, phase b; reproduced on Node 24 with pipelined requests then RST). An upgraded
 * connection is left alone (`upgraded`): its bytes are the exec or port-forward session's.
 */
export function boundHalfClosed (socket: Duplex, upgraded: (socket: Duplex) => boolean): void {
  socket.once('end', () => {
    if (upgraded(socket) || socket.destroyed) return
    const timer = setTimeout(() => socket.destroy(), HALF_CLOSED_LINGER_MS)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  })
}
