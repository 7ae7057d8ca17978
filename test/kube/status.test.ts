import t from 'tap'
import { forbidden, serviceUnavailable, status, STATUS_REASONS, statusBody, unauthorized, type StatusReason } from '../../src/kube/status.js'

t.test('every reason maps to the HTTP code kube-apiserver uses', async (t) => {
  // The table is the single source; this enumerates it so a change is deliberate.
  t.same(STATUS_REASONS, {
    Unauthorized: 401, Forbidden: 403, NotFound: 404, MethodNotAllowed: 405, NotAcceptable: 406, RequestEntityTooLarge: 413,
    RequestHeaderFieldsTooLarge: 431, BadGateway: 502, UnsupportedMediaType: 415, BadRequest: 400, TooManyRequests: 429, InternalError: 500, ServiceUnavailable: 503,
    Timeout: 504, Gone: 410, Expired: 410,
  })
  for (const reason of Object.keys(STATUS_REASONS) as StatusReason[]) {
    const s = status(reason, 'm')
    t.equal(s.code, STATUS_REASONS[reason])
    t.match(s, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason, message: 'm' })
  }
})

t.test('401 is byte-identical to kube-apiserver\'s', async (t) => {
  t.equal(statusBody(unauthorized()).body,
    '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}\n')
})

t.test('statusBody sets JSON headers and Retry-After when the Status carries it', async (t) => {
  const b = statusBody(serviceUnavailable('down', 3))
  t.equal(b.code, 503)
  t.equal(b.headers['content-type'], 'application/json')
  t.equal(b.headers['retry-after'], '3')
  t.equal(Number(b.headers['content-length']), Buffer.byteLength(b.body))
  t.same(JSON.parse(b.body).details, { retryAfterSeconds: 3 })
  t.equal(statusBody(forbidden('no')).headers['retry-after'], undefined)
})

t.test('a Forbidden Status carries X-Content-Type-Options: nosniff, as kube-apiserver\'s authorization denial does', async (t) => {
  t.equal(statusBody(forbidden('no')).headers['x-content-type-options'], 'nosniff')
  t.equal(statusBody(unauthorized()).headers['x-content-type-options'], undefined)
  t.equal(statusBody(serviceUnavailable('down', 3)).headers['x-content-type-options'], undefined)
})
