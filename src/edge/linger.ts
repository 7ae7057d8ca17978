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
