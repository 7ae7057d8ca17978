// The edge end of the control stream: opened on every tunnel connection, it receives the JWKS and
// this node's policy bundle as NDJSON lines and hands them to ReceivedPolicy. Reopened while the
// tunnel stays up; lines are bounded.
import http2, { type ClientHttp2Stream } from 'node:http2'
import type { Logger } from '../obs/logger.js'
import type { TunnelClient } from '../tunnel/client.js'
import { decodeControl } from '../tunnel/control.js'
import { CONTROL_PATH, HEADER_CONTROL, MAX_CONTROL_LINE_BYTES } from '../tunnel/protocol.js'
import { LineSplitter } from '../util/lines.js'
import type { ReceivedPolicy } from './received-policy.js'

const REOPEN_MS = 1000

export function startControlChannel (tunnel: TunnelClient, state: ReceivedPolicy, logger: Logger): () => void {
  let stopped = false
  let timer: NodeJS.Timeout | undefined
  let current: ClientHttp2Stream | undefined
  const open = (): void => {
    if (stopped || !tunnel.state.connected) return
    let stream
    try {
      stream = tunnel.open({ ':method': 'GET', ':path': CONTROL_PATH, [HEADER_CONTROL]: '1' }, { endStream: true })
    } catch {
      return // the next 'connected' event reopens it
    }
    current = stream
    const lines = new LineSplitter(MAX_CONTROL_LINE_BYTES)
    stream.on('response', (headers) => {
      if (headers[':status'] !== 200) logger.warn({ status: headers[':status'] }, 'cloud refused the control stream (requireAuthorization off there?)')
    })
    stream.on('data', (chunk: Buffer) => {
      let complete: string[]
      try { complete = lines.push(chunk) } catch { logger.error('control message too large; reconnecting'); stream.destroy(); return }
      for (const line of complete) {
        const message = decodeControl(line)
        if (message === undefined) { logger.debug('unknown control message ignored'); continue }
        try { state.update(message) } catch (err) { logger.error({ err }, 'cannot persist policy state') }
      }
    })
    stream.on('error', () => {})
    stream.on('close', () => {
      if (current !== stream) return // replaced on purpose (see moveToNewConnection)
      clearTimeout(timer)
      timer = setTimeout(open, REOPEN_MS)
    })
  }
  // A certificate change moved the tunnel to a new connection: the control stream follows, so the
  // old connection has nothing left holding it open.
  const moveToNewConnection = (): void => {
    const old = current
    open()
    if (current !== old) old?.close(http2.constants.NGHTTP2_CANCEL)
  }
  tunnel.on('connected', open)
  tunnel.on('replaced', moveToNewConnection)
  open()
  return () => {
    stopped = true
    clearTimeout(timer)
    tunnel.off('connected', open)
    tunnel.off('replaced', moveToNewConnection)
    // A long-lived stream would otherwise hold the tunnel's GOAWAY drain for its whole grace period.
    current?.close(http2.constants.NGHTTP2_CANCEL)
  }
}
