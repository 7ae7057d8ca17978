// Certificates re-read from disk: of the configured pair and the daemon's renewed pair, the valid one
// that expires last is used; a renewed pair that is half-written, unparsable, for another key or for
// another node is passed over (the one in use stays) and picked up once whole.
import t from 'tap'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodePki } from '../helpers/node-files.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-certificate-files-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const pki = await NodePki.create(dir)

t.test('a renewed pair half-written, then whole: passed over, then used', async (t) => {
  const { files, used, renewed } = await pki.files()
  const next = pki.pair('n1', 20)
  await writeFile(renewed('tunnelKey'), next.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a key without its certificate: the configured pair stays')
  await writeFile(renewed('tunnelCert'), next.cert.slice(0, next.cert.length / 2))
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a half-written certificate: the configured pair stays')
  await writeFile(renewed('tunnelCert'), 'garbage\n')
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'an unparsable certificate: the configured pair stays')
  t.same(used, [], 'nothing handed to the tunnel')
  await writeFile(renewed('tunnelCert'), next.cert)
  t.same(await files.reload(), { tunnel: 'reloaded', serving: 'none' }, 'once whole, the renewal is used')
  t.same(used, [next.cert])
  t.equal(files.current.tunnelCert, next.cert, 'the renewal schedules itself from the new certificate')
})

t.test('a renewed pair passed over: another key, another node, an earlier expiry', async (t) => {
  const { files, used, renewed } = await pki.files()
  const a = pki.pair('n1', 20)
  const b = pki.pair('n1', 20)
  await writeFile(renewed('tunnelCert'), a.cert)
  await writeFile(renewed('tunnelKey'), b.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a key that is not the certificate\'s')
  const other = pki.pair('n2', 20)
  await writeFile(renewed('tunnelCert'), other.cert)
  await writeFile(renewed('tunnelKey'), other.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a certificate for another node')
  const older = pki.pair('n1', 5)
  await writeFile(renewed('tunnelCert'), older.cert)
  await writeFile(renewed('tunnelKey'), older.key)
  t.same(await files.reload(), { tunnel: 'unchanged', serving: 'none' }, 'a valid pair that expires before the configured one')
  t.same(used, [])
})

t.test('the only pair broken on disk: refused with the reason at warn, the one in use stays', async (t) => {
  const { files, used, logs, paths } = await pki.files()
  await writeFile(paths.tunnelCert, '-----BEGIN CERTIFICATE-----\nMIIB')
  const result = await files.reload()
  t.match(result.tunnel, { refused: new RegExp(`^${paths.tunnelCert}: unreadable`) })
  t.match(logs.find((l) => l.level === 40), { msg: /tunnel certificate files changed but cannot be used; keeping the current one/, reason: /unreadable/ })
  t.same(used, [])
})
