import t from 'tap'
import { isLongRunning, queryBool, requestInfo, requestInfoRefusal, type RequestInfo } from '../../src/kube/request-info.js'

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
  t.equal(queryBool(['FALSE']), false, 'strings.EqualFold(v, "false")')
  t.equal(queryBool(['F']), true, 'runtime.Convert_Slice_string_To_bool: only "0" and "false" are false')
  t.equal(queryBool(['']), true, 'a present empty value is true')
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

// Issue 9: each expectation below is what NewRequestInfo (k8s.io/apiserver v0.34.4
// pkg/endpoints/request/requestinfo.go) returned for the same request read by Go's
// http.ReadRequest, run as a Go program against the vendored module.
const CM = '/api/v1/namespaces/ns/configmaps'

t.test('the decoded path decides: encoded slashes, letters, absolute-form targets', async (t) => {
  t.match(info('GET', `${CM}%2Fcm1`), { verb: 'get', resource: 'configmaps', name: 'cm1', path: `${CM}/cm1` })
  t.match(info('GET', '/api/v1/namespaces/n%73/configmaps/x'), { namespace: 'ns', name: 'x' })
  t.match(info('GET', `https://host:6443${CM}/x`), { verb: 'get', namespace: 'ns', name: 'x', originForm: `${CM}/x` })
  t.match(info('GET', `${CM}%2Fa%2Fstatus`), { name: 'a', subresource: 'status' })
  t.match(info('GET', '/api/v1/namespaces/ns/configmaps/a%2Fb%2Fc/d'), { name: 'a', subresource: 'b' })
})

t.test('targets Go refuses are a 400, the bare special verb a 500, as kube-apiserver answers', async (t) => {
  const bad = requestInfo('GET', `${CM}/%zz`)
  t.same(bad.ok ? undefined : bad.code, 400)
  const watch = requestInfo('GET', '/api/v1/watch')
  t.same(watch.ok ? undefined : [watch.code, watch.message], [500, 'Internal Server Error: "/api/v1/watch": failed to create RequestInfo: unable to determine kind and namespace from url, /api/v1/watch'])
  t.match(watch.ok ? undefined : requestInfoRefusal(watch), { kind: 'Status', code: 500, reason: 'InternalError' })
  t.match(bad.ok ? undefined : requestInfoRefusal(bad), { kind: 'Status', code: 400, reason: 'BadRequest', message: /invalid URL escape "%zz"/ })
})

t.test('metadata.name pins a list/watch only when ListOptions decode and fields.ParseSelector says so', async (t) => {
  const name = (q: string): string => info('GET', `${CM}?${q}`).name
  t.equal(name('fieldSelector=metadata.name%3Dn1'), 'n1')
  t.equal(name('fieldSelector=metadata.name%3Dn1&limit=abc'), '', 'limit fails strconv.ParseInt: the name is dropped')
  t.equal(name('fieldSelector=metadata.name%3Dn1&limit='), '', 'an empty limit fails too')
  t.equal(name('fieldSelector=metadata.name%3Dn1&timeoutSeconds=x'), '', 'timeoutSeconds')
  t.equal(name('fieldSelector=metadata.name%3Dn1&labelSelector=%3D%3D%3D'), '', 'a label selector labels.Parse refuses')
  t.equal(name('fieldSelector=metadata.name%3Dn1&limit=5&timeoutSeconds=3&watch=F&labelSelector=a%3Db'), 'n1', 'valid options keep it')
  t.equal(name('fieldSelector=metadata.name%3D+n1'), ' n1', 'no trimming: the name has a leading space')
  t.equal(name('fieldSelector=+metadata.name%3Dn1'), '', 'the field " metadata.name" is another field')
  t.equal(name('fieldSelector=metadata.name%3Db,metadata.name%3Da'), 'a', 'terms are sorted first: "a" wins')
  t.equal(name('fieldSelector=metadata.name%3Dn1&fieldSelector=metadata.name%3Dn2'), 'n1', 'only the first fieldSelector value counts')
  t.equal(name('fieldSelector=metadata.name!%3Dn1'), '', '!= requires no exact match')
  t.equal(name('fieldSelector=metadata.name%3Da%2Fb'), '', 'not a valid path segment name (/)')
  t.equal(name('fieldSelector=metadata.name%3D..'), '', 'not a valid path segment name (..)')
  t.equal(name('fieldSelector=metadata.name%3Dn%25'), '', 'not a valid path segment name (%)')
  t.equal(name('fieldSelector=metadata.name%3Dn1;x'), '', 'a pair with ; is dropped by url.ParseQuery')
  t.equal(name('fieldSelector=metadata.name%3Dn1&a=%zz'), 'n1', 'another pair with a bad escape is dropped, not an error')
  t.equal(name('fieldSelector=metadata.name%3Da%5C,b'), 'a,b', 'an escaped comma')
  t.equal(name('fieldSelector=metadata.name%3Da%5Cx'), '', 'an invalid escape fails ParseSelector')
})

t.test('watch survives a ListOptions decode failure; list/watch/deletecollection carry the raw selectors', async (t) => {
  t.match(info('GET', `${CM}?watch=1&fieldSelector=metadata.name%3Dn1&limit=`), { verb: 'watch', name: '', listOptionsError: /ParseInt/ })
  t.match(info('GET', `${CM}?watch=FALSE&limit=x`), { verb: 'list' })
  t.match(info('DELETE', `${CM}?fieldSelector=a%3Db&labelSelector=x`), { verb: 'deletecollection', fieldSelector: 'a=b', labelSelector: 'x' })
  t.equal(info('GET', '/api/v1/watch/namespaces/ns/configmaps?fieldSelector=a%3Db').fieldSelector, undefined, 'not via the /watch/ path')
  t.equal(info('GET', `${CM}?limit=abc`).listOptionsError, 'strconv.ParseInt: parsing "abc": invalid syntax')
})

t.test('methods: case-sensitive, and any token is just a verb-less request', async (t) => {
  t.equal(info('get', `${CM}/x`).verb, '', 'switch req.Method is case-sensitive')
  t.equal(info('constructor', `${CM}/x`).verb, '', 'not an object property')
  t.equal(info('OPTIONS', '/healthz').verb, 'options', 'non-resource: the lower-cased method')
})
