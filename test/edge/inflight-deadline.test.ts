// A short request's in-flight slot is returned at its deadline when nothing ends the request
// (inflight.ts ShortDeadline); long-running requests have none, and a request that ends normally
// never reports an expiry.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { setTimeout as sleep } from 'node:timers/promises'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { Gauge, Registry } from 'prom-client'
import { InflightTracker, type ExpiredRequest } from '../../src/edge/inflight.js'

function request (url: string): { req: IncomingMessage, res: ServerResponse, socket: EventEmitter & { destroyed: boolean } } {
  const socket = Object.assign(new EventEmitter(), { destroyed: false, readyState: 'open', writableLength: 0, remoteAddress: '10.0.0.7', remotePort: 41000 })
  const req = { method: 'GET', url, socket, complete: true } as unknown as IncomingMessage
  const res = Object.assign(new EventEmitter(), { destroyed: false, writableFinished: false, writableEnded: false, headersSent: true })
  return { req, res: res as unknown as ServerResponse, socket }
}

t.test('a short slot nothing ends is returned at its deadline and reported; others are not', async (t) => {
  const expired: ExpiredRequest[] = []
  const gauge = new Gauge({ name: 'inflight_test', help: 'test', labelNames: ['kind'], registers: [new Registry()] })
  const tracker = new InflightTracker(gauge, { ms: 50, onExpired: (r) => expired.push(r) })
  const stuck = request('/api/v1/namespaces/a/configmaps/stuck')
  const ended = request('/api/v1/namespaces/a/configmaps/ended')
  const watch = request('/api/v1/namespaces/a/configmaps?watch=1')
  tracker.begin(stuck.req, stuck.res, false)
  tracker.begin(ended.req, ended.res, false)
  tracker.begin(watch.req, watch.res, true)
  t.equal(tracker.shortCount, 2)
  ended.res.emit('close')
  t.equal(tracker.shortCount, 1, 'a request that ends returns its slot at once')
  await sleep(200)
  t.equal(tracker.shortCount, 0, 'the stuck short request\'s slot came back at its deadline')
  t.same(expired, [{
    method: 'GET',
    url: '/api/v1/namespaces/a/configmaps/stuck',
    answer: 'headers',
    bodyRead: true,
    socket: { peer: '10.0.0.7:41000', destroyed: false, readyState: 'open', pendingWrites: 0 },
  }], 'only the stuck one is reported, with how far its answer got')
  t.equal(tracker.longCount, 1, 'a watch has no deadline')
  const { values } = await gauge.get()
  t.same(values.map((v) => [v.labels.kind, v.value]).sort(), [['long-running', 1], ['short', 0]], 'the gauge follows')
  stuck.res.emit('close')
  watch.socket.emit('close')
  t.equal(tracker.longCount, 0)
  t.equal(expired.length, 1, 'a late close of the expired request changes nothing')
})
