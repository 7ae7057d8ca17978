import t from 'tap'
import type { CommandRunner } from '../../src/edge/commands.js'
import { ensureDummyAddress } from '../../src/edge/dummy-address.js'

// The real `ip` paths (dummy unsupported → lo, in a private network namespace) are exercised by
// test/e2e/dummy-address.test.ts; here a scripted runner pins the command sequence of each path.
function scripted (responses: Record<string, string | Error>): { run: CommandRunner, calls: string[] } {
  const calls: string[] = []
  const run: CommandRunner = async (cmd, args) => {
    const line = [cmd, ...args].join(' ')
    calls.push(line)
    const r = responses[line] ?? ''
    if (r instanceof Error) throw Object.assign(r, { stderr: r.message })
    return { stdout: r }
  }
  return { run, calls }
}

t.test('a kernel with dummy support: link, address, up', async (t) => {
  const { run, calls } = scripted({})
  t.same(await ensureDummyAddress('169.254.30.10', 'edge-dummy0', run), { ok: true, device: 'edge-dummy0', created: true })
  t.same(calls, ['ip -o -4 addr show', 'ip link add edge-dummy0 type dummy', 'ip addr add 169.254.30.10/32 dev edge-dummy0', 'ip link set edge-dummy0 up'])
})

t.test('no dummy type (KubeEdge #5586): falls back to lo', async (t) => {
  const { run, calls } = scripted({ 'ip link add edge-dummy0 type dummy': new Error('Error: Unknown device type.') })
  t.same(await ensureDummyAddress('169.254.30.10', 'edge-dummy0', run), { ok: true, device: 'lo', created: true })
  t.equal(calls.at(-1), 'ip addr add 169.254.30.10/32 dev lo')
})

t.test('an address that is already there is reused as is', async (t) => {
  const { run, calls } = scripted({ 'ip -o -4 addr show': '1: lo    inet 127.0.0.1/8 scope host lo\n1: lo    inet 169.254.30.10/32 scope global lo\n' })
  t.same(await ensureDummyAddress('169.254.30.10', 'edge-dummy0', run), { ok: true, device: 'lo', created: false })
  t.equal(calls.length, 1)
})

t.test('existing link and address count as success', async (t) => {
  const { run } = scripted({
    'ip link add edge-dummy0 type dummy': new Error('RTNETLINK answers: File exists'),
    'ip addr add 169.254.30.10/32 dev edge-dummy0': new Error('RTNETLINK answers: File exists'),
  })
  t.match(await ensureDummyAddress('169.254.30.10', 'edge-dummy0', run), { ok: true, device: 'edge-dummy0' })
})

t.test('no permission at all: a clear error naming both attempts', async (t) => {
  const { run } = scripted({
    'ip link add edge-dummy0 type dummy': new Error('RTNETLINK answers: Operation not permitted'),
    'ip addr add 169.254.30.10/32 dev lo': new Error('RTNETLINK answers: Operation not permitted'),
  })
  const r = await ensureDummyAddress('169.254.30.10', 'edge-dummy0', run)
  t.equal(r.ok, false)
  if (!r.ok) t.match(r.error, /dummy interface edge-dummy0: RTNETLINK answers: Operation not permitted; lo fallback: RTNETLINK/)
})
