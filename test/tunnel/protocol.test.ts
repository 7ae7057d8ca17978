import t from 'tap'
import { endToEndHeaders, nodeNameFromSubject } from '../../src/tunnel/protocol.js'

t.test('hop-by-hop, pseudo and x-ems headers never cross a hop', async (t) => {
  const out = endToEndHeaders({
    ':method': 'GET', ':path': '/api', host: 'h', connection: 'keep-alive, x-custom-hop', 'keep-alive': 'timeout=5',
    'transfer-encoding': 'chunked', upgrade: 'SPDY/3.1', te: 'trailers', 'x-custom-hop': '1', 'x-ems-origin': 'shim',
    authorization: 'Bearer t', accept: 'application/json', 'impersonate-user': 'u', 'user-agent': 'kubectl', 'X-Mixed': 'v',
    'set-cookie': ['a', 'b'], skipped: undefined,
  })
  t.same(out, {
    authorization: 'Bearer t', accept: 'application/json', 'impersonate-user': 'u', 'user-agent': 'kubectl', 'x-mixed': 'v',
    'set-cookie': ['a', 'b'],
  })
})

t.test('node identity needs CN=system:node:<name> and O=system:nodes', async (t) => {
  t.equal(nodeNameFromSubject({ CN: 'system:node:edge-1', O: 'system:nodes' }), 'edge-1')
  t.equal(nodeNameFromSubject({ CN: 'system:node:edge-1', O: ['x', 'system:nodes'] }), 'edge-1')
  t.equal(nodeNameFromSubject({ CN: 'system:node:edge-1', O: 'other' }), undefined)
  t.equal(nodeNameFromSubject({ CN: 'edge-1', O: 'system:nodes' }), undefined)
  t.equal(nodeNameFromSubject({ CN: ['system:node:a', 'system:node:b'], O: 'system:nodes' }), undefined)
  t.equal(nodeNameFromSubject({ CN: 'system:node:Bad_Name', O: 'system:nodes' }), undefined)
  t.equal(nodeNameFromSubject(undefined), undefined)
})
