// The renewal's failure paths: whatever the shim answers instead of two certificates (a refusal
// such as a revoked node, no JSON, too much, a stream cut), the renewal fails at warn with the
// reason, writes nothing and leaves the certificates in use untouched.
import t from 'tap'
import { EventEmitter } from 'node:events'
import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Duplex } from 'node:stream'
import { pino } from 'pino'
import { CertificateRenewal } from '../../src/edge/certificate-renewal.js'
import type { TunnelClient } from '../../src/tunnel/client.js'
import { NodePki } from '../helpers/node-files.js'
import { waitForValue } from '../helpers/wait.js'

const dir = await mkdtemp(join(tmpdir(), 'ems-certificate-renewal-'))
t.teardown(() => rm(dir, { recursive: true, force: true }))
const pki = await NodePki.create(dir)

/** A connected tunnel whose every stream gets `answer` (status and body chunks; no status: cut before an answer). */
function tunnelAnswering (answer: { status?: number, chunks: Array<string | Buffer> }): { tunnel: TunnelClient, opened: string[] } {
  const opened: string[] = []
  const tunnel = Object.assign(new EventEmitter(), {
    state: { connected: true },
    open: (headers: Record<string, string>) => {
      opened.push(`${headers[':method']} ${headers[':path']}`)
      const stream = new Duplex({ read () {}, write (_c, _e, cb) { cb() } })
      setImmediate(() => {
        if (answer.status === undefined) { stream.destroy(); return }
        stream.emit('response', { ':status': answer.status })
        for (const c of answer.chunks) stream.push(c)
        stream.push(null)
      })
      return stream
    },
  })
  return { tunnel: tunnel as unknown as TunnelClient, opened }
}

const cases: Array<{ name: string, answer: { status?: number, chunks: Array<string | Buffer> }, reason: RegExp }> = [
  { name: 'refused by the shim (a revoked node)', answer: { status: 403, chunks: [JSON.stringify({ reason: 'NodeRevoked', message: 'node n1 is revoked' })] }, reason: /^the shim refused \(HTTP 403, NodeRevoked\): node n1 is revoked$/ },
  { name: 'an answer that is not JSON', answer: { status: 502, chunks: ['<html>bad gateway'] }, reason: /^the shim answered HTTP 502 without JSON$/ },
  { name: 'an answer over the limit', answer: { status: 200, chunks: Array.from({ length: 5 }, () => Buffer.alloc(64 * 1024, 0x20)) }, reason: /^the renewal answer is too large$/ },
  { name: 'the stream cut before an answer', answer: { chunks: [] }, reason: /^the tunnel stream closed before an answer$/ },
]
for (const c of cases) {
  t.test(`${c.name}: the renewal fails at warn with the reason, nothing is written, the certificates in use stay`, async (t) => {
    // 90 % into its life: due now.
    const node = await pki.files(pki.pair('n1', 0.1, -0.9))
    const before = node.files.current.tunnelCert
    const logs: Array<Record<string, any>> = []
    const { tunnel, opened } = tunnelAnswering(c.answer)
    const renewal = new CertificateRenewal(tunnel, node.files, 'n1', node.paths.renewedDir, pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s)) } }))
    t.teardown(() => renewal.stop())
    renewal.start()
    const failed = await waitForValue(() => logs.find((l) => l.msg === 'certificate renewal failed; the current certificates stay in use'), { what: 'the failed renewal', timeoutMs: 10_000 })
    t.match(failed, { level: 40, reason: c.reason })
    t.same(opened, ['GET /.edge-metaserver/v1/certificates'], 'one call, the first, made and failed')
    t.same(await readdir(node.paths.renewedDir), [], 'nothing written')
    t.equal(node.files.current.tunnelCert, before, 'the certificate in use is the same')
    t.same(node.used, [], 'nothing handed to the tunnel')
  })
}
