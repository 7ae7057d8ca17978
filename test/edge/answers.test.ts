// The texts users and scripts read when the edge answers itself: a change here is deliberate.
import t from 'tap'
import { cloudUnreachable, edgeAnswers, offlineWarning } from '../../src/edge/answers.js'

const SINCE = Date.parse('2026-12-02T05:00:00.123Z')

t.test('every answer the edge composes on the request path, pinned', async (t) => {
  t.match(edgeAnswers.tooManyRequests(), { code: 429, reason: 'TooManyRequests', message: 'Too many requests, please try again later.', details: { retryAfterSeconds: 1 } })
  t.match(edgeAnswers.unreachable(edgeAnswers.tunnelDown('tunnel to the cloud is down since x')), {
    code: 503, reason: 'ServiceUnavailable', message: 'edge-metaserver: the cloud is unreachable (tunnel to the cloud is down since x)', details: { retryAfterSeconds: 1 },
  })
  t.equal(edgeAnswers.unreachable(edgeAnswers.shimCannotReachApiserver).message, 'edge-metaserver: the cloud shim cannot reach kube-apiserver')
  t.equal(edgeAnswers.unreachable(edgeAnswers.refusedByShim).message, 'edge-metaserver: the cloud shim did not accept the request (its connection is closing)')
  t.equal(edgeAnswers.unreachable(edgeAnswers.tunnelLostDuringRead).message, 'edge-metaserver: the tunnel to the cloud was lost during the request')
  t.match(edgeAnswers.tunnelLostDuringWrite(), { code: 503, message: 'edge-metaserver: the tunnel to the cloud was lost during the request; it may or may not have been carried out' })
  t.match(edgeAnswers.streamReset(11), { code: 502, reason: 'BadGateway', message: 'edge-metaserver: the cloud shim reset the request (HTTP/2 error code 11)' })
  t.match(edgeAnswers.timeout(60_000), { code: 504, reason: 'Timeout', message: 'edge-metaserver: the request did not complete within 60s' })
  t.match(edgeAnswers.headersTooLargeForTunnel(), { code: 431, message: 'edge-metaserver: the request headers are too large for the tunnel to the cloud: at most 65472 bytes per field and 143360 bytes in all' })
  t.match(edgeAnswers.noPolicyYet(), { code: 503, message: 'edge-metaserver: the node policy has not been received from the cloud yet', details: { retryAfterSeconds: 1 } })
})

t.test('offline answers: the Warning kubectl prints and the 503 text, times in whole seconds', async (t) => {
  t.equal(offlineWarning(SINCE), '299 - "edge-metaserver: cloud unreachable since 2026-12-02T05:00:00Z; served from edge cache"')
  const offline = cloudUnreachable(SINCE, 'and writes are not accepted offline: nothing was changed or queued')
  t.match(offline, {
    code: 503, message: 'edge-metaserver: the cloud is unreachable (since 2026-12-02T05:00:00Z) and writes are not accepted offline: nothing was changed or queued',
  })
  t.equal(offline.details?.retryAfterSeconds, undefined, 'no Retry-After: clients fail fast and back off on their own')
})
