import t from 'tap'
import { isLongRunning, queryBool, requestInfo, type RequestInfo } from '../../src/kube/request-info.js'

function info (method: string, url: string): RequestInfo {
  const r = requestInfo(method, url)
  if (!r.ok) throw new Error(r.message)
  return r.info
}

// Expectations mirror k8s.io/apiserver/pkg/endpoints/request/requestinfo_test.go.
const cases: Array<[string, string, Partial<RequestInfo>]> = [
  ['GET', '/api/v1/namespaces', { verb: 'list', apiPrefix: 'api', apiGroup: '', apiVersion: 'v1', namespace: '', resource: 'namespaces' }],
  ['GET', '/api/v1/namespaces/other', { verb: 'get', namespace: 'other', resource: 'namespaces', name: 'other' }],
  ['GET', '/api/v1/namespaces/other/pods', { verb: 'list', namespace: 'other', resource: 'pods', name: '' }],
  ['GET', '/api/v1/namespaces/other/pods/foo', { verb: 'get', namespace: 'other', resource: 'pods', name: 'foo' }],
  ['HEAD', '/api/v1/namespaces/other/pods/foo', { verb: 'get', resource: 'pods', name: 'foo' }],
  ['GET', '/api/v1/pods', { verb: 'list', namespace: '', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods/foo/status', { verb: 'get', resource: 'pods', name: 'foo', subresource: 'status' }],
  ['PUT', '/api/v1/namespaces/other/pods/foo/status', { verb: 'update', subresource: 'status' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=true', { verb: 'watch', resource: 'pods' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=1', { verb: 'watch' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=false', { verb: 'list' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=0', { verb: 'list' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=', { verb: 'watch' }],
  ['GET', '/api/v1/watch/namespaces/other/pods', { verb: 'watch', namespace: 'other', resource: 'pods' }],
  ['GET', '/api/v1/watch/namespaces/other/pods/foo', { verb: 'watch', name: 'foo' }],
  ['GET', '/api/v1/namespaces/other/pods?fieldSelector=metadata.name%3Dfoo', { verb: 'list', name: 'foo' }],
  ['GET', '/api/v1/namespaces/other/pods?watch=true&fieldSelector=metadata.name%3D%3Dbar', { verb: 'watch', name: 'bar' }],
  ['POST', '/api/v1/namespaces/other/pods', { verb: 'create', resource: 'pods' }],
  ['PATCH', '/api/v1/namespaces/other/pods/foo', { verb: 'patch', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods/foo', { verb: 'delete', name: 'foo' }],
  ['DELETE', '/api/v1/namespaces/other/pods', { verb: 'deletecollection', resource: 'pods' }],
  ['GET', '/apis/apps/v1/namespaces/other/deployments/web/scale', { apiGroup: 'apps', apiVersion: 'v1', resource: 'deployments', name: 'web', subresource: 'scale' }],
  ['GET', '/apis/extensions/v1beta1', { isResourceRequest: false, verb: 'get' }],
  ['GET', '/api/v1/namespaces/other/status', { resource: 'namespaces', name: 'other', subresource: 'status', namespace: 'other' }],
  ['PUT', '/api/v1/namespaces/other/finalize', { verb: 'update', resource: 'namespaces', subresource: 'finalize' }],
  ['GET', '/api/v1/proxy/namespaces/other/pods/foo/bar/baz', { verb: 'proxy', resource: 'pods', name: 'foo', subresource: '' }],
  ['POST', '/api/v1/namespaces/other/pods/foo/exec', { verb: 'create', subresource: 'exec' }],
  ['GET', '/api/v1/nodes/n1', { verb: 'get', resource: 'nodes', name: 'n1', namespace: '' }],
  ['GET', '/api', { isResourceRequest: false, verb: 'get', path: '/api' }],
  ['GET', '/api/v1', { isResourceRequest: false }],
  ['GET', '/version', { isResourceRequest: false, path: '/version' }],
  ['POST', '/openapi/v3', { isResourceRequest: false, verb: 'post' }],
  ['GET', '/healthz/ping', { isResourceRequest: false }],
]

for (const [method, url, expected] of cases) {
  t.test(`${method} ${url}`, async (t) => {
    t.match(info(method, url), expected)
  })
}

t.test('a bare special verb cannot name a resource', async (t) => {
  const r = requestInfo('GET', '/api/v1/watch')
  t.equal(r.ok, false)
})

t.test('query string is not part of the path', async (t) => {
  t.equal(info('GET', '/api/v1/pods?limit=5').path, '/api/v1/pods')
})

t.test('queryBool follows metav1 conversion', async (t) => {
  t.equal(queryBool([]), false)
  t.equal(queryBool(['false']), false)
  t.equal(queryBool(['F']), false)
  t.equal(queryBool(['0']), false)
  t.equal(queryBool(['true']), true)
  t.equal(queryBool(['yes']), true)
})

t.test('long-running requests: watches and streaming subresources only', async (t) => {
  t.equal(isLongRunning(info('GET', '/api/v1/pods?watch=1')), true)
  t.equal(isLongRunning(info('POST', '/api/v1/namespaces/a/pods/p/exec')), true)
  t.equal(isLongRunning(info('GET', '/api/v1/namespaces/a/pods/p/log')), true)
  t.equal(isLongRunning(info('GET', '/api/v1/pods')), false)
  t.equal(isLongRunning(info('GET', '/api')), false)
})
