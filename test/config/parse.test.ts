import t from 'tap'
import {
  formatConfigErrors,
  parseConfigText,
  type AnyConfig,
  type CloudConfig,
  type ConfigError,
  type EdgeConfig,
  type ParseOptions,
} from '../../src/config/index.js'

const HEAD_EDGE = 'apiVersion: edge-metaserver.io/v1alpha1\nkind: EdgeMetaServer\n'
const HEAD_CLOUD = 'apiVersion: edge-metaserver.io/v1alpha1\nkind: CloudShim\n'
const EDGE_HUB = 'modules:\n  edgeHub:\n    server: cloud.example.com:10560\n'

function ok (text: string, opts?: ParseOptions, baseDir = '/etc/edge-metaserver'): AnyConfig {
  const r = parseConfigText(text, 'config.yaml', baseDir, opts)
  if (!r.ok) throw new Error(`expected valid config, got:\n${formatConfigErrors(r.errors)}`)
  return r.config
}
const edge = (text: string, baseDir?: string) => ok(text, undefined, baseDir) as EdgeConfig
const cloud = (text: string) => ok(text) as CloudConfig

function errors (text: string, opts?: ParseOptions): readonly ConfigError[] {
  const r = parseConfigText(text, 'config.yaml', '/etc/edge-metaserver', opts)
  if (r.ok) throw new Error('expected errors, config was valid')
  return r.errors
}

t.test('edge defaults: fully defaulted, converted, frozen', async (t) => {
  const c = edge(HEAD_EDGE + EDGE_HUB)
  t.equal(c.kind, 'EdgeMetaServer')
  t.equal(c.nodeName, null)
  t.equal(c.stateDir, '/var/lib/edge-metaserver')
  t.equal(c.featureGates.requireAuthorization, true)
  const m = c.modules.metaServer
  t.equal(m.enable, true)
  t.same(m.server, { host: '127.0.0.1', port: 10550 })
  t.same(m.dummyServer, { host: '169.254.30.10', port: 10550 })
  t.equal(m.dummyInterface, 'edge-dummy0')
  t.equal(m.tlsCertFile, '/etc/edge-metaserver/pki/server.crt')
  t.equal(m.tlsPrivateKeyFile, '/etc/edge-metaserver/pki/server.key')
  t.same(m.serviceAccountIssuers, ['https://kubernetes.default.svc.cluster.local'])
  t.same(m.apiAudiences, ['https://kubernetes.default.svc.cluster.local'], 'empty audiences resolve to the issuers')
  t.equal(m.maxRequestBodyBytes, 3 * 1024 * 1024)
  t.equal(m.requestTimeout, 60_000)
  t.equal(m.maxInflightRequests, 400)
  t.equal(m.shutdownGracePeriod, 30_000)
  const h = c.modules.edgeHub
  t.equal(h.enable, true)
  t.same(h.server, [{ host: 'cloud.example.com', port: 10560 }], 'a single string is a list of one')
  t.equal(h.serverName, null, 'no serverName: each server is verified against its own host')
  t.equal(h.tlsCaFile, '/etc/edge-metaserver/pki/tunnel-ca.crt')
  t.equal(h.tlsCertFile, '/etc/edge-metaserver/pki/node.crt')
  t.equal(h.tlsPrivateKeyFile, '/etc/edge-metaserver/pki/node.key')
  t.equal(h.heartbeatPeriod, 15_000)
  t.equal(h.heartbeatTimeout, 10_000)
  t.equal(h.reconnectBackoffInitial, 500)
  t.equal(h.reconnectBackoffMax, 30_000)
  t.equal(h.connectTimeout, 10_000)
  t.equal(h.compression, 'none')
  t.same(c.modules.cache, { enable: true, maxSizeBytes: 256 * 1024 * 1024, watchBookmarkInterval: 60_000, offlineWatchTimeout: 1_800_000 })
  t.equal(c.logging.level, 'info')

  t.ok(Object.isFrozen(c) && Object.isFrozen(c.modules) && Object.isFrozen(m) && Object.isFrozen(m.server))
  t.ok(Object.isFrozen(m.serviceAccountIssuers))
  t.throws(() => {
    ;(c.modules.metaServer as { enable: boolean }).enable = false
  }, TypeError)
})

t.test('cloud defaults', async (t) => {
  const c = cloud(HEAD_CLOUD)
  t.equal(c.kind, 'CloudShim')
  t.same(c.kubeAPIConfig, { kubeConfig: null, timeout: 60_000, maxConnections: 128, maxInflightRequests: 1000, maxLongRunningRequests: 10_000, http2MaxStreamsPerConnection: 100 })
  t.equal(c.featureGates.requireAuthorization, true)
  t.same(c.modules.cloudHub, {
    address: { host: '0.0.0.0', port: 10560 },
    tlsCaFile: '/etc/edge-metaserver/pki/tunnel-ca.crt',
    tlsCertFile: '/etc/edge-metaserver/pki/cloud.crt',
    tlsPrivateKeyFile: '/etc/edge-metaserver/pki/cloud.key',
    heartbeatPeriod: 15_000,
    maxConcurrentStreamsPerNode: 4000,
    healthzAddress: { host: '0.0.0.0', port: 10561 },
    shutdownGracePeriod: 30_000,
    revokedNodes: [],
    revokedNodesConfigMap: null,
    requireNodeObject: false,
    compression: 'auto',
    join: {
      enable: false,
      address: { host: '0.0.0.0', port: 10562 },
      tlsCaKeyFile: null,
      nodeCertificateLifetime: 30 * 24 * 3600_000,
      servingCertificateLifetime: 30 * 24 * 3600_000,
      servingIPAddresses: ['127.0.0.1', '169.254.30.10'],
      servingDNSNames: [],
    },
  })
  t.same(c.modules.dynamicController, {
    enable: true,
    executionMode: 'passthrough',
    tokenReviewCacheSize: 10_000,
    tokenReviewCacheMaxTTL: 300_000,
    tokenReviewNegativeTTL: 10_000,
    apiAudiences: [],
  })
  t.equal(c.logging.level, 'info')
  t.ok(Object.isFrozen(c.modules.cloudHub))
})

t.test('explicit values override defaults; "" disables optional addresses', async (t) => {
  const c = edge(`${HEAD_EDGE}nodeName: edge-1
modules:
  metaServer:
    server: "[::1]:6443"
    dummyServer: ""
    apiAudiences: [aud-a, aud-b]
    maxRequestBodyBytes: 1048576
  edgeHub:
    server: 10.0.0.5:10560
    serverName: cloud-shim.internal
    reconnectBackoffMax: 1h30m
logging:
  level: debug
`)
  t.equal(c.nodeName, 'edge-1')
  t.same(c.modules.metaServer.server, { host: '::1', port: 6443 })
  t.equal(c.modules.metaServer.dummyServer, null)
  t.same(c.modules.metaServer.apiAudiences, ['aud-a', 'aud-b'])
  t.equal(c.modules.metaServer.maxRequestBodyBytes, 1_048_576)
  t.equal(c.modules.edgeHub.serverName, 'cloud-shim.internal')
  t.equal(c.modules.edgeHub.reconnectBackoffMax, 5_400_000)
  t.equal(c.logging.level, 'debug')
})

t.test('an empty mapping means all defaults; aliases are followed', async (t) => {
  const c = edge(`${HEAD_EDGE}featureGates:
logging:
  level: &lvl warn
modules:
  edgeHub:
    server: cloud.example.com:10560
  cache:
    enable: false
`)
  t.equal(c.featureGates.requireAuthorization, true)
  t.equal(c.logging.level, 'warn')
  t.equal(c.modules.cache.enable, false)
})

t.test('unknown key is an error with a "did you mean" suggestion', async (t) => {
  const errs = errors(`${HEAD_EDGE}${EDGE_HUB}  metaServer:
    enabel: false
`)
  t.equal(errs.length, 1)
  t.match(errs[0], {
    file: 'config.yaml',
    line: 7,
    column: 5,
    path: 'modules.metaServer.enabel',
    message: 'unknown key "enabel" (did you mean "enable"?)',
  })
})

t.test('modules.metaServer.enable: false is refused at its line (a daemon that serves nothing)', async (t) => {
  const errs = errors(`${HEAD_EDGE}${EDGE_HUB}  metaServer:
    enable: false
`)
  t.equal(errs.length, 1)
  t.match(errs[0], {
    line: 7,
    path: 'modules.metaServer.enable',
    message: /^must be true: serving the pods' API is what edge-metaserver is for/,
  })
})

t.test('misplaced key points to where it belongs; unrelated key lists known keys', async (t) => {
  const errs = errors(`${HEAD_CLOUD}modules:
  shutdownGracePeriod: 10s
  frobnicate: 1
`)
  t.equal(errs.length, 2)
  t.match(errs[0], {
    line: 4,
    column: 3,
    path: 'modules.shutdownGracePeriod',
    message: /did you mean modules\.cloudHub\.shutdownGracePeriod\?/,
  })
  t.match(errs[1], {
    line: 5,
    path: 'modules.frobnicate',
    message: 'unknown key "frobnicate" (known keys: cloudHub, dynamicController)',
  })
})

t.test('unresolvable aliases, non-string keys and merge keys are reported', async (t) => {
  const errs = errors(`${HEAD_EDGE}modules:
  edgeHub:
    server: *nope
    1: 2
    <<: {enable: true}
`)
  t.match(errs, [
    { line: 5, column: 13, path: 'modules.edgeHub.server', message: 'unknown alias *nope' },
    { line: 6, column: 5, path: 'modules.edgeHub', message: 'keys must be strings, got 1' },
    { line: 7, column: 5, path: 'modules.edgeHub.<<', message: /merge keys .* are not supported/ },
  ])
  t.equal(errs.length, 3)
})

t.test('a type error names the key path, line and column', async (t) => {
  const text = `${HEAD_EDGE}${EDGE_HUB}  metaServer:
    server: "10550"
`
  const errs = errors(text)
  t.same(errs, [
    {
      file: 'config.yaml',
      line: 7,
      column: 13,
      path: 'modules.metaServer.server',
      message: 'expected "host:port", got "10550"',
    },
  ])
  t.equal(formatConfigErrors(errs), 'config.yaml:7:13: modules.metaServer.server: expected "host:port", got "10550"')
})

t.test('all errors are collected, in file order', async (t) => {
  const errs = errors(`${HEAD_EDGE}nodeName: Edge_1
modules:
  metaServer:
    requestTimeout: 60
    maxInflightRequests: 0
    serviceAccountIssuers: []
    dummyInterface: this-name-is-too-long
    enable: "yes"
  edgeHub:
    server: cloud.example.com:10560
    heartbeatPeriod: 0s
    reconnectBackoffInitial: 1m
  cache: [1]
logging:
  level: INFO
`)
  const summary = errs.map((e) => `${e.line}:${e.column} ${e.path}`)
  t.same(summary, [
    '3:11 nodeName',
    '6:21 modules.metaServer.requestTimeout',
    '7:26 modules.metaServer.maxInflightRequests',
    '8:28 modules.metaServer.serviceAccountIssuers',
    '9:21 modules.metaServer.dummyInterface',
    '10:13 modules.metaServer.enable',
    '13:22 modules.edgeHub.heartbeatPeriod',
    '15:10 modules.cache',
    '17:10 logging.level',
  ])
  const msg = (p: string) => errs.find((e) => e.path === p)?.message
  t.match(msg('nodeName'), /lowercase RFC 1123 subdomain/)
  t.match(msg('modules.metaServer.requestTimeout'), /expected a duration .* got 60/)
  t.match(msg('modules.metaServer.maxInflightRequests'), /between 1 and 100000, got 0/)
  t.match(msg('modules.metaServer.serviceAccountIssuers'), /at least 1 item/)
  t.match(msg('modules.metaServer.dummyInterface'), /at most 15 characters/)
  t.match(msg('modules.metaServer.enable'), /expected true or false, got "yes"/)
  t.match(msg('modules.edgeHub.heartbeatPeriod'), /greater than 0/)
  t.match(msg('modules.cache'), /expected a mapping, got a list/)
  t.match(msg('logging.level'), /did you mean "info"/)
})

t.test('cross-field rules are reported at the offending key', async (t) => {
  const errs = errors(`${HEAD_EDGE}modules:
  edgeHub:
    server: cloud.example.com:10560
    reconnectBackoffInitial: 1m
    reconnectBackoffMax: 30s
`)
  t.match(errs, [{ line: 6, column: 30, path: 'modules.edgeHub.reconnectBackoffInitial', message: /reconnectBackoffMax/ }])
  t.equal(errs.length, 1)

  const cerrs = errors(`${HEAD_CLOUD}modules:
  cloudHub:
    healthzAddress: 127.0.0.1:10560
`)
  t.match(cerrs, [{ line: 5, path: 'modules.cloudHub.healthzAddress', message: /conflicts with modules\.cloudHub\.address \(0\.0\.0\.0:10560\)/ }])
})

t.test('list items are checked one by one', async (t) => {
  const errs = errors(`${HEAD_EDGE}${EDGE_HUB}  metaServer:
    serviceAccountIssuers:
      - https://ok.example
      - 42
      - {a: 1}
`)
  t.match(errs, [
    { line: 9, column: 9, path: 'modules.metaServer.serviceAccountIssuers[1]', message: /expected a string, got 42 \(quote/ },
    { line: 10, column: 9, path: 'modules.metaServer.serviceAccountIssuers[2]', message: /got a mapping/ },
  ])
})

t.test('YAML syntax errors are reported with their line', async (t) => {
  const errs = errors(`${HEAD_EDGE}modules:
  metaServer:
    server: [127.0.0.1
  edgeHub: {}
`)
  t.ok(errs.length >= 1)
  t.equal(errs[0]!.path, '')
  t.equal(errs[0]!.line, 6)
  t.match(errs[0]!.message, /^invalid YAML: /)

  const dup = errors(`${HEAD_EDGE}logging:\n  level: info\n  level: debug\n`)
  t.match(dup, [{ line: 5, column: 3, message: /invalid YAML: Map keys must be unique/ }])
})

t.test('wrong apiVersion and kind name the key', async (t) => {
  t.match(errors(`apiVersion: v1\nkind: EdgeMetaServer\n${EDGE_HUB}`), [
    { line: 1, column: 13, path: 'apiVersion', message: 'expected "edge-metaserver.io/v1alpha1", got "v1"' },
  ])
  t.match(errors('apiVersion: edge-metaserver.io/v1alpha1\nkind: Pod\n'), [
    { line: 2, column: 7, path: 'kind', message: 'expected "EdgeMetaServer" or "CloudShim", got "Pod"' },
  ])
  t.match(errors('apiVersion: edgecore.config.kubeedge.io/v1alpha2\nkind: EdgeCore\n'), [
    { path: 'kind', message: /not KubeEdge's: use kind: EdgeMetaServer/ },
  ])
  t.match(errors('apiVersion: edge-metaserver.io/v1alpha1\nmodules: {}\n'), [
    { line: 1, column: 1, path: 'kind', message: /missing required key/ },
  ])
  t.match(errors('kind: CloudShim\n'), [{ line: 1, column: 1, path: 'apiVersion', message: 'missing required key' }])
  t.match(errors('- a\n- b\n'), [{ line: 1, path: '', message: /expected a mapping with apiVersion/ }])
  t.match(errors('# nothing here\n'), [{ line: 1, message: /config file is empty/ }])
  t.match(errors(HEAD_CLOUD, { kind: 'EdgeMetaServer' }), [
    { line: 2, path: 'kind', message: 'expected "EdgeMetaServer", got "CloudShim"' },
  ])
})

t.test('edgeHub.server is required when edgeHub is enabled', async (t) => {
  const errs = errors(`${HEAD_EDGE}modules:
  edgeHub:
    heartbeatPeriod: 20s
`)
  t.match(errs, [{ line: 4, column: 3, path: 'modules.edgeHub.server', message: /missing required key/ }])
  t.equal(errs.length, 1)
  // Without any modules key the error points at the document start.
  t.match(errors(HEAD_EDGE), [{ line: 1, column: 1, path: 'modules.edgeHub.server' }])
  t.match(errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: ""\n`), [{ path: 'modules.edgeHub.server' }])
  t.match(errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: cloud:0\n`), [
    { path: 'modules.edgeHub.server', message: /port must be between 1 and 65535/ },
  ])

  const c = edge(`${HEAD_EDGE}modules:\n  edgeHub:\n    enable: false\n`)
  t.equal(c.modules.edgeHub.enable, false)
  t.same(c.modules.edgeHub.server, [])
  t.equal(c.modules.edgeHub.serverName, null)
})

t.test('edgeHub.server: a list of servers, in order; errors point at the item', async (t) => {
  const hub = (server: string) => edge(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: ${server}\n`).modules.edgeHub
  t.same(hub('[shim-a.example:10560, "10.0.0.2:10560", "[fd00::3]:443"]').server,
    [{ host: 'shim-a.example', port: 10560 }, { host: '10.0.0.2', port: 10560 }, { host: 'fd00::3', port: 443 }])
  const block = edge(`${HEAD_EDGE}modules:
  edgeHub:
    server:
      - b.example:1
      - a.example:2
`).modules.edgeHub
  t.same(block.server, [{ host: 'b.example', port: 1 }, { host: 'a.example', port: 2 }], 'configured order is kept')
  t.ok(Object.isFrozen(block.server))

  t.match(errors(`${HEAD_EDGE}modules:
  edgeHub:
    server:
      - a.example:1
      - a.example
`), [{ line: 7, column: 9, path: 'modules.edgeHub.server[1]', message: 'expected "host:port", got "a.example"' }])
  t.match(errors(`${HEAD_EDGE}modules:
  edgeHub:
    server:
      - a.example:1
      - A.example:1
`), [{ line: 7, column: 9, path: 'modules.edgeHub.server[1]', message: 'duplicate of modules.edgeHub.server[0]' }])
  t.match(errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: [a.example:0]\n`), [
    { path: 'modules.edgeHub.server[0]', message: /port must be between 1 and 65535/ },
  ])
  t.match(errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: [[a.example:1]]\n`), [
    { path: 'modules.edgeHub.server[0]', message: 'expected "host:port", got a list' },
  ])
  t.match(errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: {a: 1}\n`), [
    { path: 'modules.edgeHub.server', message: 'expected "host:port" or a list of them, got a mapping' },
  ])
  const empty = errors(`${HEAD_EDGE}modules:\n  edgeHub:\n    server: []\n`)
  t.match(empty, [{ path: 'modules.edgeHub.server', message: /missing required key/ }], 'an empty list is no server')
  t.equal(empty.length, 1)
})

t.test('relative paths resolve against the config file directory', async (t) => {
  const c = edge(
    `${HEAD_EDGE}stateDir: state
modules:
  metaServer:
    tlsCertFile: pki/server.crt
    tlsPrivateKeyFile: ../keys/server.key
  edgeHub:
    server: cloud.example.com:10560
    tlsCaFile: /abs/ca.crt
`,
    '/srv/conf'
  )
  t.equal(c.stateDir, '/srv/conf/state')
  t.equal(c.modules.metaServer.tlsCertFile, '/srv/conf/pki/server.crt')
  t.equal(c.modules.metaServer.tlsPrivateKeyFile, '/srv/keys/server.key')
  t.equal(c.modules.edgeHub.tlsCaFile, '/abs/ca.crt')
  t.equal(c.modules.edgeHub.tlsCertFile, '/etc/edge-metaserver/pki/node.crt', 'absolute defaults unchanged')

  const k = ok(`${HEAD_CLOUD}kubeAPIConfig:\n  kubeConfig: ./admin.kubeconfig\n`, undefined, '/srv/conf') as CloudConfig
  t.equal(k.kubeAPIConfig.kubeConfig, '/srv/conf/admin.kubeconfig')
})

t.test('multi-document files: select by kind, or validate all', async (t) => {
  const text = `${HEAD_EDGE}${EDGE_HUB}---\n${HEAD_CLOUD}logging:\n  level: debug\n`
  const e = ok(text, { kind: 'EdgeMetaServer' })
  t.equal(e.kind, 'EdgeMetaServer')
  const c = ok(text, { kind: 'CloudShim' })
  t.equal(c.kind, 'CloudShim')
  t.equal(c.logging.level, 'debug')

  const all = parseConfigText(text, 'config.yaml', '/x')
  t.ok(all.ok)
  if (all.ok) t.same(all.configs.map((x) => x.kind), ['EdgeMetaServer', 'CloudShim'])

  // Errors in the document that was not selected don't matter...
  const broken = `${HEAD_EDGE}${EDGE_HUB}---\n${HEAD_CLOUD}bogus: 1\n`
  t.equal(ok(broken, { kind: 'EdgeMetaServer' }).kind, 'EdgeMetaServer')
  // ...but check-config (no kind) reports them, with lines counted across the file.
  t.match(errors(broken), [{ line: 9, column: 1, path: 'bogus' }])

  t.match(errors(`${HEAD_EDGE}${EDGE_HUB}---\n${HEAD_EDGE}${EDGE_HUB}`, { kind: 'EdgeMetaServer' }), [
    { line: 8, path: 'kind', message: /more than one document has kind: EdgeMetaServer \(the first starts at line 1\)/ },
  ])
  t.match(errors(`${HEAD_CLOUD}---\n${HEAD_CLOUD}`, { kind: 'EdgeMetaServer' }), [
    { line: 1, message: /no document has kind: EdgeMetaServer \(found "CloudShim" at line 1, "CloudShim" at line 4\)/ },
  ])
  // Empty documents (a leading or trailing ---) are ignored.
  t.equal(ok(`---\n${HEAD_CLOUD}---\n`).kind, 'CloudShim')
})

t.test('dummyServer must be an IPv4 literal; ports out of range say so', async (t) => {
  const e = errors(HEAD_EDGE + 'modules:\n  metaServer:\n    dummyServer: 169.254.30.300:10550\n  edgeHub:\n    server: cloud:10560\n')
  t.match(e, [{ line: 5, path: 'modules.metaServer.dummyServer', message: /must be an IPv4 address .* got "169\.254\.30\.300"/ }])
  const p = errors(HEAD_EDGE + 'modules:\n  metaServer:\n    server: 127.0.0.1:105500\n  edgeHub:\n    server: cloud:10560\n')
  t.match(p, [{ path: 'modules.metaServer.server', message: /port must be between 1 and 65535|port must be between 0 and 65535/ }])
})

t.test('requireAuthorization off binds loopback only: any other address is refused with the reason', async (t) => {
  const gateOff = 'featureGates:\n  requireAuthorization: false\n'
  for (const server of ['0.0.0.0:10550', '10.1.2.3:10550', '169.254.30.10:10550', '[::]:10550']) {
    const errs = errors(HEAD_EDGE + gateOff + EDGE_HUB + `  metaServer:\n    server: "${server}"\n    dummyServer: ""\n`)
    t.equal(errs.length, 1, `${server}: one error`)
    t.match(errs, [{ path: 'featureGates', line: 4, message: /requireAuthorization: false serves plain HTTP without authentication, so modules\.metaServer\.server must be a loopback address/ }], server)
  }
  for (const server of ['127.0.0.1:10550', '127.0.0.2:10550', '[::1]:10550', 'localhost:10550']) {
    t.equal(edge(HEAD_EDGE + gateOff + EDGE_HUB + `  metaServer:\n    server: "${server}"\n`).featureGates.requireAuthorization, false, server)
  }
  t.equal(edge(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    server: "0.0.0.0:10550"\n    dummyServer: ""\n').modules.metaServer.server.host, '0.0.0.0', 'with the gate on any address is fine')
})

t.test('modules.cloudHub.join: the CA key is required when on; IPs must be IPs; the signer\'s 10-minute floor', async (t) => {
  const join = (lines: string[]): string => HEAD_CLOUD + 'modules:\n  cloudHub:\n    join:\n' + lines.map((l) => `      ${l}\n`).join('')
  t.same(errors(join(['enable: true'])).map((e) => [e.path, e.message]), [
    ['modules.cloudHub.join.tlsCaKeyFile', 'required when modules.cloudHub.join.enable is true (it signs the nodes\' tunnel certificates)'],
  ])
  t.same(errors(join(['servingIPAddresses: [127.0.0.1, kubernetes]'])).map((e) => [e.path, e.message]), [
    ['modules.cloudHub.join.servingIPAddresses', '"kubernetes" is not an IP address'],
  ])
  t.same(errors(join(['servingCertificateLifetime: 5m'])).map((e) => e.path), ['modules.cloudHub.join.servingCertificateLifetime'])
  t.equal(cloud(join(['enable: true', 'tlsCaKeyFile: pki/tunnel-ca.key'])).modules.cloudHub.join.tlsCaKeyFile, '/etc/edge-metaserver/pki/tunnel-ca.key')
})

t.test('metaServer.redirect: off by default; an IPv4 ClusterIP turns it on; bad values name key and line', async (t) => {
  const off = edge(HEAD_EDGE + EDGE_HUB).modules.metaServer.redirect
  t.same(off, { serviceClusterIP: null, servicePort: 443, backend: 'auto', recheckPeriod: 30_000 })
  const on = edge(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: 10.96.0.1\n      backend: iptables\n')
  t.same(on.modules.metaServer.redirect, { serviceClusterIP: '10.96.0.1', servicePort: 443, backend: 'iptables', recheckPeriod: 30_000 })

  t.match(errors(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: "fd00::1"\n'),
    [{ line: 8, path: 'modules.metaServer.redirect.serviceClusterIP', message: /must be an IPv4 address .* got "fd00::1"/ }])
  const auto = edge(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: auto\n')
  t.equal(auto.modules.metaServer.redirect.serviceClusterIP, 'auto', 'auto: the ClusterIP the cloud shim reads from the cluster')
  t.match(errors(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: automatic\n'),
    [{ line: 8, path: 'modules.metaServer.redirect.serviceClusterIP', message: /IPv4 address .* or auto, got "automatic"/ }])
  t.match(errors(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: 10.96.0.1\n      backend: nftable\n'),
    [{ line: 9, path: 'modules.metaServer.redirect.backend', message: /expected one of "auto", "nftables", "iptables", got "nftable" \(did you mean "nftables"\?\)/ }])
  t.match(errors(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: 10.96.0.1\n      servicePort: 0\n'),
    [{ line: 9, path: 'modules.metaServer.redirect.servicePort', message: /between 1 and 65535/ }])
  t.match(errors(HEAD_EDGE + EDGE_HUB + '  metaServer:\n    dummyServer: ""\n    redirect:\n      serviceClusterIP: 10.96.0.1\n'),
    [{ line: 9, path: 'modules.metaServer.redirect', message: /needs modules\.metaServer\.dummyServer/ }])
  t.match(errors(HEAD_EDGE + 'featureGates:\n  requireAuthorization: false\n' + EDGE_HUB + '  metaServer:\n    redirect:\n      serviceClusterIP: 10.96.0.1\n'),
    [{ line: 4, path: 'featureGates', message: /starts no dummy listener, so modules\.metaServer\.redirect\.serviceClusterIP cannot be used/ }])
})
