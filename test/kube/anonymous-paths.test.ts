import t from 'tap'
import { isAnonymousPath } from '../../src/kube/anonymous-paths.js'

t.test('discovery, version, openapi roots and health are anonymous', async (t) => {
  for (const p of ['/api', '/api/', '/api/v1', '/apis', '/apis/apps', '/apis/apps/v1', '/apis/apps/v1/', '/version',
    '/openapi/v2', '/openapi/v3', '/healthz', '/livez', '/readyz']) {
    t.equal(isAnonymousPath(p), true, p)
  }
})

t.test('resources and everything else need a token', async (t) => {
  for (const p of ['/', '/api/v1/pods', '/api/v1/namespaces/a/configmaps', '/apis/apps/v1/deployments', '/apis//v1',
    '/metrics', '/openapi/v3/api/v1', '/logs', '/apis/apps/v1/namespaces/a/deployments', '/versions', '/healthz/etcd']) {
    t.equal(isAnonymousPath(p), false, p)
  }
})
