// Log lines never carry a token: redacted fields, and errors cut to the fields that describe them.
import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger, setLogLevel } from '../../src/obs/logger.js'

function capture (): { lines: () => Array<Record<string, any>>, destination: Writable } {
  let text = ''
  const destination = new Writable({ write (chunk, _enc, cb) { text += String(chunk); cb() } })
  return { lines: () => text.trim().split('\n').map((l) => JSON.parse(l)), destination }
}

t.test('errors are logged with type, message, stack and code, never with the request they carry', async (t) => {
  const out = capture()
  const logger = createLogger({ level: 'info', role: 'edge', destination: out.destination as any })
  const err = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:6443', { cause: new Error('socket closed') }), {
    code: 'ECONNREFUSED', headers: { authorization: 'Bearer secret-token' }, options: { token: 'secret-token' },
  })
  logger.warn({ err }, 'upstream request failed')
  logger.warn({ err: 'not an error' }, 'odd')
  const [line, odd] = out.lines()
  t.equal(line!.err.type, 'Error')
  t.match(line!.err.message, /^connect ECONNREFUSED 127\.0\.0\.1:6443: socket closed$/, 'the cause is in the message')
  t.match(line!.err.stack, /ECONNREFUSED/)
  t.equal(line!.err.code, 'ECONNREFUSED')
  t.notOk(JSON.stringify(line).includes('secret-token'), 'no token in the line')
  t.same(odd!.err, { type: 'string', message: 'not an error' })
})

t.test('authorization headers and tokens are redacted', async (t) => {
  const out = capture()
  const logger = createLogger({ level: 'info', role: 'cloud', destination: out.destination as any })
  logger.info({ headers: { authorization: 'Bearer secret-token' }, token: 'secret-token' }, 'm')
  t.notOk(JSON.stringify(out.lines()).includes('secret-token'))
})

t.test('setLogLevel reaches loggers derived before the change (pino children keep their own level)', async (t) => {
  const out = capture()
  const root = createLogger({ level: 'info', role: 'edge', destination: out.destination as any })
  const child = root.child({ node: 'n' })
  const grandchild = child.child({ stream: 1 })
  child.debug('hidden')
  setLogLevel(root, 'debug')
  child.debug('shown')
  grandchild.debug('shown too')
  root.debug('root shown')
  setLogLevel(root, 'warn')
  child.info('hidden again')
  t.same(out.lines().map((l) => l.msg), ['shown', 'shown too', 'root shown'])
})
