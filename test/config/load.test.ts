import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import t from 'tap'
import {
  ConfigLoadError,
  loadCloudConfig,
  loadConfigFile,
  loadEdgeConfig,
} from '../../src/config/index.js'

const HEAD_EDGE = 'apiVersion: edge-metaserver.io/v1alpha1\nkind: EdgeMetaServer\n'
const HEAD_CLOUD = 'apiVersion: edge-metaserver.io/v1alpha1\nkind: CloudShim\n'

async function tempDir (t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), 'edge-metaserver-config-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('a missing file gives a clear error naming the path', async (t) => {
  const file = '/nonexistent/dir/config.yaml'
  const r = await loadConfigFile(file)
  t.same(r, {
    ok: false,
    errors: [{ file, line: 0, column: 0, path: '', message: 'cannot read config file: file not found' }],
  })
  const err = await loadEdgeConfig(file).catch((e: unknown) => e)
  t.ok(err instanceof ConfigLoadError)
  t.match((err as Error).message, /^\/nonexistent\/dir\/config\.yaml: cannot read config file: file not found$/m)
})

t.test('a directory instead of a file is reported', async (t) => {
  const dir = await tempDir(t)
  const r = await loadConfigFile(dir)
  t.match(r, { ok: false, errors: [{ file: dir, message: /cannot read config file: is a directory/ }] })
})

t.test('relative paths resolve against the file, not the cwd', async (t) => {
  const dir = await tempDir(t)
  const file = path.join(dir, 'edge.yaml')
  await writeFile(
    file,
    `${HEAD_EDGE}modules:\n  metaServer:\n    tlsCertFile: pki/server.crt\n  edgeHub:\n    server: cloud:10560\n`
  )
  const c = await loadEdgeConfig(file)
  t.equal(c.modules.metaServer.tlsCertFile, path.join(dir, 'pki/server.crt'))
  // A relative config path too: the base is still the file's directory.
  const rel = path.relative(process.cwd(), file)
  const c2 = await loadEdgeConfig(rel)
  t.equal(c2.modules.metaServer.tlsCertFile, path.join(dir, 'pki/server.crt'))
})

t.test('loadEdgeConfig / loadCloudConfig pick their document and throw all errors', async (t) => {
  const dir = await tempDir(t)
  const file = path.join(dir, 'both.yaml')
  await writeFile(file, `${HEAD_EDGE}modules:\n  edgeHub:\n    server: cloud:10560\n---\n${HEAD_CLOUD}`)
  t.equal((await loadEdgeConfig(file)).kind, 'EdgeMetaServer')
  t.equal((await loadCloudConfig(file)).kind, 'CloudShim')

  const bad = path.join(dir, 'bad.yaml')
  await writeFile(bad, `${HEAD_CLOUD}kubeAPIConfig:\n  timeout: soon\n  maxConnections: 0\n`)
  const err = await loadCloudConfig(bad).catch((e: unknown) => e)
  t.ok(err instanceof ConfigLoadError)
  const e = err as ConfigLoadError
  t.equal(e.errors.length, 2)
  const lines = e.message.split('\n')
  t.equal(lines[0], 'invalid configuration (2 errors):')
  t.equal(lines[1], `${bad}:4:12: kubeAPIConfig.timeout: expected a duration like "500ms", "30s", "5m" or "1h30m", got "soon"`)
  t.equal(lines[2], `${bad}:5:19: kubeAPIConfig.maxConnections: expected an integer between 1 and 10000, got 0`)

  // Asking for a role the file does not contain is an error, not a silent default.
  await t.rejects(loadEdgeConfig(bad), { name: 'ConfigLoadError', message: /kind: expected "EdgeMetaServer", got "CloudShim"/ })
})

t.test('checkFiles reports missing/unreadable referenced files with key and line', async (t) => {
  const dir = await tempDir(t)
  await writeFile(path.join(dir, 'ca.crt'), 'x')
  await writeFile(path.join(dir, 'node.crt'), 'x')
  await mkdir(path.join(dir, 'node.key'))
  const file = path.join(dir, 'edge.yaml')
  await writeFile(
    file,
    `${HEAD_EDGE}modules:
  metaServer:
    tlsCertFile: node.crt
    tlsPrivateKeyFile: node.key
  edgeHub:
    enable: false
`
  )
  // Without checkFiles, existence is not checked at all.
  t.ok((await loadConfigFile(file)).ok)

  const r = await loadConfigFile(file, { checkFiles: true })
  t.same(r, {
    ok: false,
    errors: [
      {
        file,
        line: 6,
        column: 24,
        path: 'modules.metaServer.tlsPrivateKeyFile',
        message: `not a regular file: ${path.join(dir, 'node.key')}`,
      },
    ],
  }, 'edgeHub is disabled, so its default cert paths are not demanded')

  // Defaulted paths are checked too, blamed on the nearest key present.
  const file2 = path.join(dir, 'edge2.yaml')
  await writeFile(file2, `${HEAD_EDGE}modules:\n  edgeHub:\n    server: cloud:10560\n  cache: {}\n`)
  const r2 = await loadConfigFile(file2, { checkFiles: true })
  t.notOk(r2.ok)
  if (!r2.ok) {
    t.same(
      r2.errors.map((e) => `${e.line}:${e.column} ${e.path}`),
      [
        '3:1 modules.metaServer.tlsCertFile',
        '3:1 modules.metaServer.tlsPrivateKeyFile',
        '4:3 modules.edgeHub.tlsCaFile',
        '4:3 modules.edgeHub.tlsCertFile',
        '4:3 modules.edgeHub.tlsPrivateKeyFile',
      ]
    )
    t.match(r2.errors[0]!.message, 'file not found: /etc/edge-metaserver/pki/server.crt')
  }

  // kubeConfig "" (in-cluster) is not a file to check; a named one is.
  const file3 = path.join(dir, 'cloud.yaml')
  await writeFile(path.join(dir, 'cloud.crt'), 'x')
  await writeFile(path.join(dir, 'cloud.key'), 'x')
  const hub = 'modules:\n  cloudHub:\n    tlsCaFile: ca.crt\n    tlsCertFile: cloud.crt\n    tlsPrivateKeyFile: cloud.key\n'
  await writeFile(file3, `${HEAD_CLOUD}${hub}`)
  t.ok((await loadConfigFile(file3, { checkFiles: true })).ok)
  await writeFile(file3, `${HEAD_CLOUD}kubeAPIConfig:\n  kubeConfig: missing.kubeconfig\n${hub}`)
  t.match(await loadConfigFile(file3, { checkFiles: true }), {
    ok: false,
    errors: [{ line: 4, column: 15, path: 'kubeAPIConfig.kubeConfig', message: /file not found: .*missing\.kubeconfig$/ }],
  })

  // Not a readable regular file: a directory where the key should be (works as root too, where
  // permission bits would not stop a read).
  await writeFile(file3, `${HEAD_CLOUD}${hub}`)
  await rm(path.join(dir, 'cloud.key'))
  await mkdir(path.join(dir, 'cloud.key'))
  t.match(await loadConfigFile(file3, { checkFiles: true }), {
    ok: false,
    errors: [{ path: 'modules.cloudHub.tlsPrivateKeyFile', message: /not a regular file: .*cloud\.key$/ }],
  })
})
