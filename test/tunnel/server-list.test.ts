import t from 'tap'
import { resolveCandidates, ServerRotation, systemResolver, type Resolve } from '../../src/tunnel/server-list.js'

/** A resolver over a table that counts its calls; unknown names fail like getaddrinfo. */
function table (answers: Record<string, string[]>): Resolve & { calls: string[] } {
  const calls: string[] = []
  const resolve = async (host: string): Promise<string[]> => {
    calls.push(host)
    const a = answers[host]
    if (a === undefined) throw new Error(`getaddrinfo ENOTFOUND ${host}`)
    return a
  }
  return Object.assign(resolve, { calls })
}

// random() = 0.999…: Fisher-Yates swaps every element with itself, so the order is the resolver's.
const KEEP_ORDER = (): number => 0.999999

t.test('resolveCandidates: IPs as they are, names expanded, configured order kept, duplicates once', async (t) => {
  const resolve = table({ 'shims.example': ['10.0.0.2', '10.0.0.3'], 'alias.example': ['10.0.0.1'] })
  const { candidates, unresolved } = await resolveCandidates([
    { host: '10.0.0.1', port: 10560 },
    { host: 'shims.example', port: 10560 },
    { host: 'alias.example', port: 10560 }, // the same server as the first entry
    { host: 'fd00::9', port: 443 },
  ], resolve, KEEP_ORDER)
  t.same(resolve.calls, ['shims.example', 'alias.example'], 'IP literals are not looked up')
  t.same(candidates.map((c) => c.label), [
    '10.0.0.1:10560',
    'shims.example:10560 (10.0.0.2)',
    'shims.example:10560 (10.0.0.3)',
    '[fd00::9]:443',
  ])
  t.same(candidates[1], { name: 'shims.example', port: 10560, address: '10.0.0.2', label: 'shims.example:10560 (10.0.0.2)' },
    'a resolved server keeps its configured name (the TLS name) next to the address dialled')
  t.same(unresolved, [])
})

t.test('resolveCandidates: the addresses of one name are shuffled, so a fleet spreads over replicas', async (t) => {
  const resolve = table({ 'shims.example': ['10.0.0.1', '10.0.0.2', '10.0.0.3'] })
  const firsts = new Set<string>()
  // A pinned sequence per round: each picks a different first address.
  for (const r of [0, 0.4, 0.8]) {
    const { candidates } = await resolveCandidates([{ host: 'shims.example', port: 1 }], resolve, () => r)
    t.same(candidates.map((c) => c.address).sort(), ['10.0.0.1', '10.0.0.2', '10.0.0.3'], 'every address, once')
    firsts.add(candidates[0]!.address)
  }
  t.equal(firsts.size, 3, `first address varies with the random source: ${[...firsts].join(', ')}`)
})

t.test('resolveCandidates: a name that does not resolve is reported; the others still count', async (t) => {
  const { candidates, unresolved } = await resolveCandidates(
    [{ host: 'gone.example', port: 1 }, { host: 'empty.example', port: 2 }, { host: '127.0.0.1', port: 3 }],
    table({ 'empty.example': [] }), KEEP_ORDER)
  t.same(candidates.map((c) => c.label), ['127.0.0.1:3'])
  t.same(unresolved, [
    { entry: 'gone.example:1', error: 'getaddrinfo ENOTFOUND gone.example' },
    { entry: 'empty.example:2', error: 'the name resolved to no address' },
  ])
})

t.test('ServerRotation: round robin in configured order; names resolved again at every new round', async (t) => {
  const answers: Record<string, string[]> = { 'b.example': ['10.0.0.2'] }
  const resolve = table(answers)
  const rotation = new ServerRotation([{ host: '10.0.0.1', port: 1 }, { host: 'b.example', port: 1 }, { host: '10.0.0.3', port: 1 }], resolve, KEEP_ORDER)
  const picks = async (n: number): Promise<string[]> => {
    const out: string[] = []
    for (let i = 0; i < n; i++) {
      const p = await rotation.next()
      out.push(p.ok ? p.candidate.address : p.error)
    }
    return out
  }
  t.same(await picks(3), ['10.0.0.1', '10.0.0.2', '10.0.0.3'])
  t.same(rotation.servers, ['10.0.0.1:1', 'b.example:1 (10.0.0.2)', '10.0.0.3:1'])
  t.same(resolve.calls, ['b.example'], 'one lookup for the round')

  // The name's replica moved: the next round (after the last server, the first again) dials the new address.
  answers['b.example'] = ['10.0.0.22']
  t.same(await picks(4), ['10.0.0.1', '10.0.0.22', '10.0.0.3', '10.0.0.1'])
  t.same(resolve.calls, ['b.example', 'b.example', 'b.example'], 'looked up again at every new round, not once at start-up')
})

t.test('ServerRotation: a new round does not start with the server that failed last', async (t) => {
  // One name, two replicas; the shuffle of the second round would put the one that just failed first.
  const randoms = [0.999999, 0]
  let i = 0
  const rotation = new ServerRotation([{ host: 'shims.example', port: 1 }], table({ 'shims.example': ['10.0.0.1', '10.0.0.2'] }), () => randoms[i++ % 2]!)
  const picks: string[] = []
  for (let n = 0; n < 4; n++) {
    const p = await rotation.next()
    if (p.ok) picks.push(p.candidate.address)
  }
  t.same(picks, ['10.0.0.1', '10.0.0.2', '10.0.0.1', '10.0.0.2'], 'never the same server twice in a row')

  const single = new ServerRotation([{ host: '10.0.0.9', port: 1 }], table({}))
  const again = [await single.next(), await single.next()]
  t.same(again.map((p) => p.ok && p.candidate.address), ['10.0.0.9', '10.0.0.9'], 'a single server is simply dialled again')
})

t.test('ServerRotation: nothing resolves, nothing configured: an error to back off on, not a throw', async (t) => {
  const rotation = new ServerRotation([{ host: 'gone.example', port: 1 }], table({}))
  t.same(await rotation.next(), { ok: false, error: 'no tunnel server address: gone.example:1: getaddrinfo ENOTFOUND gone.example' })
  t.same(await new ServerRotation([], table({})).next(), { ok: false, error: 'no tunnel server configured (modules.edgeHub.server)' })
})

t.test('systemResolver: getaddrinfo, as tls.connect would use it', async (t) => {
  t.ok((await systemResolver(5000)('localhost')).includes('127.0.0.1'), 'localhost resolves to 127.0.0.1')
  await t.rejects(systemResolver(5000)('name.invalid'), /ENOTFOUND|EAI_AGAIN/, '.invalid never resolves (RFC 6761)')
})
