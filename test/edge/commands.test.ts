// toolPath: the host's network tools are found in the sbin directories even when PATH lacks them.
import t from 'tap'
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { toolPath } from '../../src/edge/commands.js'

t.test('a tool on PATH is taken from PATH, first directory first', async (t) => {
  const a = mkdtempSync(join(tmpdir(), 'ems-tool-a-'))
  const b = mkdtempSync(join(tmpdir(), 'ems-tool-b-'))
  t.teardown(() => { rmSync(a, { recursive: true }); rmSync(b, { recursive: true }) })
  for (const dir of [a, b]) { writeFileSync(join(dir, 'ems-test-tool'), '#!/bin/sh\n'); chmodSync(join(dir, 'ems-test-tool'), 0o755) }
  t.equal(toolPath('ems-test-tool', `${a}:${b}`), join(a, 'ems-test-tool'))
  writeFileSync(join(join(a, 'not-executable')), '')
  t.equal(toolPath('not-executable', a), 'not-executable', 'a file that is not executable is not the tool')
})

t.test('a tool only in an sbin directory is found with a PATH that lacks them (env -i, su without -)', async (t) => {
  // sh is in /bin or /usr/bin on every Linux; with /usr/sbin/nologin as the sbin witness.
  t.equal(toolPath('nologin', '/nonexistent'), '/usr/sbin/nologin')
})

t.test('a path is used as given, and an unknown tool stays a bare name (execFile then reports ENOENT)', async (t) => {
  t.equal(toolPath('/bin/sh', ''), '/bin/sh')
  t.equal(toolPath('no-such-tool-anywhere', '/nonexistent'), 'no-such-tool-anywhere')
})
