// The texts users and scripts read when the edge answers itself: a change here is deliberate.
import t from 'tap'
import { cloudUnreachable, edgeAnswers, offlineAnswers, offlineWarning } from '../../src/edge/answers.js'

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
  t.match(edgeAnswers.connectNotAllowed(), { code: 405, reason: 'MethodNotAllowed', message: 'the server does not allow this method on the requested resource (CONNECT)' })
  t.match(edgeAnswers.malformedRequest('HPE_INVALID_METHOD'), { code: 400, reason: 'BadRequest', message: 'malformed HTTP request: HPE_INVALID_METHOD' })
  t.equal(edgeAnswers.malformedRequest(undefined).message, 'malformed HTTP request: parse error')
  t.match(edgeAnswers.metricsFailed(), { code: 500, reason: 'InternalError', message: 'metrics could not be collected' })
  t.match(edgeAnswers.relayFailed(), { code: 500, reason: 'InternalError', message: 'edge-metaserver failed to relay the request' })
})

t.test('offline answers: the Warning kubectl prints and the 503 text, times in whole seconds', async (t) => {
  t.equal(offlineWarning(SINCE), '299 - "edge-metaserver: cloud unreachable since 2026-12-02T05:00:00Z; served from edge cache"')
  const offline = cloudUnreachable(SINCE, 'and writes are not accepted offline: nothing was changed or queued')
  t.match(offline, {
    code: 503, message: 'edge-metaserver: the cloud is unreachable (since 2026-12-02T05:00:00Z) and writes are not accepted offline: nothing was changed or queued',
  })
  t.equal(offline.details?.retryAfterSeconds, undefined, 'no Retry-After: clients fail fast and back off on their own')
})

t.test('what the edge cache says offline, pinned', async (t) => {
  const why = offlineAnswers.why
  const lines = [
    why.writes, why.subresource('log'), why.unusual('HEAD requests'), why.noDocument('/version'), why.noObject('/api/v1/x'),
    why.olderObject('/api/v1/x', '5', '9'), why.olderList('5', '9'), why.notExactList('5', '9'), why.noList('/api/v1/x'),
    why.tableWatch, why.notProtobuf('no schema'), why.fieldNotEvaluable('spec.color', 'widgets'), why.metadataOnly('spec.nodeName', 'pods'),
  ]
  t.same(lines, [
    'and writes are not accepted offline: nothing was changed or queued',
    'and the edge cache does not keep the log subresource',
    'and the edge cache does not answer HEAD requests',
    'and the edge cache holds no copy of /version in an acceptable content type',
    'and the edge cache holds no copy of /api/v1/x',
    'and the edge cache holds /api/v1/x at resourceVersion 5, older than the requested 9',
    'and the edge cache (resourceVersion 5) is older than the requested 9',
    'and the edge cache holds resourceVersion 5, not exactly 9',
    'the edge cache holds no complete list for /api/v1/x',
    'and the edge cache does not serve watches as Tables',
    'and the cached copy cannot be written in protobuf: no schema',
    'the edge cannot evaluate the field selector "spec.color" for widgets',
    'the edge cache holds only the metadata of pods to evaluate the field selector "spec.nodeName" on',
  ])
  t.match(offlineAnswers.tooOld('3', '7'), { code: 410, reason: 'Expired', message: 'too old resource version: 3 (7)' })
  t.match(offlineAnswers.continueExpired(), { code: 410, reason: 'Expired' })
  t.match(offlineAnswers.resumeFailed(410), { code: 410, reason: 'Expired', message: 'resuming the watch failed with HTTP 410' })
  t.match(offlineAnswers.resumeFailed(401), { code: 500, reason: 'InternalError' })
  t.match(offlineAnswers.notAcceptable(), { code: 406, reason: 'NotAcceptable' })
  t.match(offlineAnswers.watchNotAcceptable(), { code: 406, reason: 'NotAcceptable' })
})
