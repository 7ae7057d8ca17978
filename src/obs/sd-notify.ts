// systemd's readiness protocol (sd_notify(3)) for Type=notify units. Node.js has no unix datagram
// sockets, so each message is sent by systemd's own client, `systemd-notify VAR=VALUE…`, run as a
// child. systemd accepts a message from a child only with NotifyAccess=all (the unit sets it), and
// must still see the sender alive to find its unit: systemd-notify (v246+) waits for the manager
// to process the message (BARRIER=1) before it exits, so there is no race.
// Without NOTIFY_SOCKET (not started by systemd, or Type=simple) nothing is sent.
import { spawn, type ChildProcess } from 'node:child_process'
import type { Logger } from './logger.js'

export interface Notifier {
  /** READY=1: the listeners serve. */
  ready: () => void
  /** STOPPING=1: the drain has begun. */
  stopping: () => void
  /** Stops the watchdog pings. */
  close: () => void
}

/**
 * Sends READY/STOPPING and, when systemd asks for a watchdog (WATCHDOG_USEC, for this pid), pings
 * WATCHDOG=1 at half that period from an event-loop timer: a blocked or wedged loop stops the
 * pings and systemd restarts the daemon.
 */
export function systemdNotifier (logger: Logger, env: NodeJS.ProcessEnv = process.env): Notifier {
  const socket = env.NOTIFY_SOCKET
  if (socket === undefined || socket === '') return { ready: () => {}, stopping: () => {}, close: () => {} }
  let warned = false
  const send = (...assignments: string[]): ChildProcess => {
    const child = spawn('systemd-notify', assignments, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...env, NOTIFY_SOCKET: socket } })
    let stderr = ''
    child.stderr.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1024) stderr += d })
    const failed = (reason: string): void => {
      // Once: a missing systemd-notify would otherwise log on every watchdog period.
      if (!warned) logger.warn({ message: assignments.join(' '), reason }, 'sd_notify: systemd-notify failed; systemd will not see this state')
      warned = true
    }
    // A child that cannot be spawned emits 'error' and then 'close' with a negative code.
    child.once('error', (err) => { failed(err.message) })
    child.once('close', (code) => { if (code !== null && code > 0) failed(stderr.trim() || `exit ${code}`) })
    return child
  }

  let timer: NodeJS.Timeout | undefined
  const usec = Number(env.WATCHDOG_USEC)
  const forUs = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === process.pid
  if (Number.isFinite(usec) && usec > 0 && forUs) {
    const periodMs = Math.max(500, Math.floor(usec / 2000))
    // A ping still in flight is not doubled: a slow host must not pile up children.
    let pinging = false
    timer = setInterval(() => {
      if (pinging) return
      pinging = true
      send('WATCHDOG=1').once('close', () => { pinging = false })
    }, periodMs)
    timer.unref()
    logger.debug({ periodMs }, 'sd_notify: watchdog pings on')
  }
  return {
    ready: () => { send('READY=1', 'STATUS=serving') },
    stopping: () => { clearInterval(timer); send('STOPPING=1', 'STATUS=draining') },
    close: () => { clearInterval(timer) },
  }
}
