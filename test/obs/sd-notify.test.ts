// sd_notify's failure paths: systemd-notify missing, or the socket it is told to use unwritable.
// The daemon keeps serving and says once why systemd will not see its state (the success path,
// READY/WATCHDOG/STOPPING datagrams arriving, is test/e2e/startup.test.ts).
import t from 'tap'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { createLogger } from '../../src/obs/logger.js'
import { systemdNotifier } from '../../src/obs/sd-notify.js'
import { waitForValue } from '../helpers/wait.js'

function capture (): { lines: () => Array<Record<string, any>>, logger: ReturnType<typeof createLogger> } {
  let text = ''
  const destination = new Writable({ write (chunk, _enc, cb) { text += String(chunk); cb() } })
  const logger = createLogger({ level: 'info', role: 'edge', destination: destination as any })
  return { lines: () => text.trim().split('\n').filter((l) => l !== '').map((l) => JSON.parse(l)), logger }
}

const dir = mkdtempSync(join(tmpdir(), 'sd-notify-'))
t.teardown(() => rmSync(dir, { recursive: true, force: true }))
const warnings = (lines: Array<Record<string, any>>): Array<Record<string, any>> => lines.filter((l) => /^sd_notify:/.test(l.msg))

t.test('systemd-notify not installed: one warn line naming the message and ENOENT; nothing thrown', async (t) => {
  const out = capture()
  const notifier = systemdNotifier(out.logger, { PATH: join(dir, 'empty'), NOTIFY_SOCKET: join(dir, 'notify.sock') })
  notifier.ready()
  const line = await waitForValue(() => warnings(out.lines())[0], { what: 'the sd_notify warn line' })
  t.match(line, { level: 'warn', message: 'READY=1 STATUS=serving', reason: /ENOENT/ })
  notifier.close()
})

t.test('systemd-notify failing at every watchdog ping: its stderr in one warn line, not one per ping', async (t) => {
  // A stand-in that records each call and fails as systemd-notify does when the socket is unwritable.
  const bin = join(dir, 'bin')
  const calls = join(dir, 'calls')
  mkdirSync(bin)
  writeFileSync(join(bin, 'systemd-notify'), `#!/bin/sh\necho "$*" >> ${calls}\necho 'Failed to notify init system: Permission denied' >&2\nexit 1\n`)
  chmodSync(join(bin, 'systemd-notify'), 0o755)
  const out = capture()
  const notifier = systemdNotifier(out.logger, { PATH: `${bin}:/usr/bin:/bin`, NOTIFY_SOCKET: join(dir, 'notify.sock'), WATCHDOG_USEC: '1000000' })
  t.teardown(() => notifier.close())
  notifier.ready()
  // READY and at least two pings have failed (each call is recorded before it fails).
  await waitForValue(() => existsSync(calls) && readFileSync(calls, 'utf8').split('\n').filter((l) => l === 'WATCHDOG=1').length >= 2 ? true : undefined,
    { what: 'two failed watchdog pings', timeoutMs: 20_000 })
  notifier.close()
  const recorded = readFileSync(calls, 'utf8').trim().split('\n')
  t.equal(recorded[0], 'READY=1 STATUS=serving', 'READY=1 was attempted first')
  await waitForValue(() => warnings(out.lines())[0], { what: 'the sd_notify warn line' })
  const lines = warnings(out.lines())
  t.equal(lines.length, 1, `one warn line for ${recorded.length} failed calls`)
  t.match(lines[0], { level: 'warn', reason: 'Failed to notify init system: Permission denied' })
})

// .ci/run installs systemd, so systemd-notify is there.
t.test('the real systemd-notify with NOTIFY_SOCKET pointing nowhere: its own reason is logged', async (t) => {
  const out = capture()
  const notifier = systemdNotifier(out.logger, { PATH: '/usr/bin:/bin', NOTIFY_SOCKET: join(dir, 'missing', 'notify.sock') })
  notifier.ready()
  const line = await waitForValue(() => warnings(out.lines())[0], { what: 'the sd_notify warn line' })
  t.match(line, { level: 'warn', message: 'READY=1 STATUS=serving', reason: /No such file or directory/ })
})
