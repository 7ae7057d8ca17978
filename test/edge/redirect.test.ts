import t from 'tap'
import type { CommandRunner } from '../../src/edge/commands.js'
import { installRedirect, nftRuleset } from '../../src/edge/redirect.js'

// The real nft/iptables paths (rules that win over a kube-proxy-like DNAT, in network namespaces)
// are exercised by test/e2e/redirect.test.ts; here a scripted runner pins the command sequences.
function scripted (responses: Record<string, string | Error | Array<string | Error>>): { run: CommandRunner, calls: string[], stdin: string[] } {
  const calls: string[] = []
  const stdin: string[] = []
  const run: CommandRunner = async (cmd, args, opts) => {
    const line = [cmd, ...args].join(' ')
    calls.push(line)
    if (opts?.stdin !== undefined) stdin.push(opts.stdin)
    const queued = responses[line]
    const r = Array.isArray(queued) ? queued.shift() : queued
    if (r instanceof Error) throw Object.assign(r, { stderr: r.message })
    return { stdout: r ?? '' }
  }
  return { run, calls, stdin }
}

const spec = { clusterIP: '10.96.0.1', servicePort: 443, target: { host: '169.254.30.10', port: 10550 } }

t.test('nftables: one atomic ruleset in its own table, before kube-proxy\'s dstnat; removal deletes the table', async (t) => {
  const { run, calls, stdin } = scripted({})
  const r = await installRedirect(spec, 'auto', run)
  t.ok(r.ok)
  if (!r.ok) return
  t.equal(r.redirection.backend, 'nftables')
  t.same(calls, ['nft -f -'])
  t.same(stdin, [nftRuleset(spec)])
  t.match(stdin[0], /^table ip edge-metaserver\ndelete table ip edge-metaserver\ntable ip edge-metaserver \{\n/)
  t.match(stdin[0], 'type nat hook prerouting priority -110; policy accept;')
  t.match(stdin[0], 'ip daddr 10.96.0.1 tcp dport 443 dnat to 169.254.30.10:10550')
  await r.redirection.remove()
  t.equal(calls.at(-1), 'nft delete table ip edge-metaserver')
})

t.test('auto falls back to iptables when nft fails; the jump goes first in nat PREROUTING', async (t) => {
  const { run, calls } = scripted({
    'nft -f -': new Error('Error: Could not process rule: Operation not supported'),
    'iptables -w 5 -t nat -N EDGE-METASERVER': new Error('iptables: Chain already exists.'),
    // A jump left by a crashed run is removed before the new one is inserted.
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER': ['', new Error('iptables: Bad rule (does a matching rule exist in that chain?).')],
  })
  const r = await installRedirect(spec, 'auto', run)
  t.ok(r.ok && r.redirection.backend === 'iptables')
  t.same(calls, [
    'nft -f -',
    'iptables -w 5 -t nat -N EDGE-METASERVER',
    'iptables -w 5 -t nat -F EDGE-METASERVER',
    'iptables -w 5 -t nat -A EDGE-METASERVER -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 169.254.30.10:10550',
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -I PREROUTING 1 -j EDGE-METASERVER',
  ])
})

t.test('iptables removal: jumps, then the chain; what is already gone is not an error', async (t) => {
  const { run, calls } = scripted({
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER': [new Error('iptables: Bad rule (does a matching rule exist in that chain?).'),
      '', new Error('iptables v1.8.9 (nf_tables): Chain \'EDGE-METASERVER\' does not exist')],
    'iptables -w 5 -t nat -X EDGE-METASERVER': new Error('iptables: No chain/target/match by that name.'),
  })
  const r = await installRedirect(spec, 'iptables', run)
  t.ok(r.ok)
  if (!r.ok) return
  calls.length = 0
  await r.redirection.remove()
  t.same(calls, [
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -F EDGE-METASERVER',
    'iptables -w 5 -t nat -X EDGE-METASERVER',
  ])
})

t.test('recheck: iptables puts its jump first again when another rule went above it; nftables has nothing to do', async (t) => {
  const kubeFirst = '-P PREROUTING ACCEPT\n-A PREROUTING -j KUBE-SERVICES\n-A PREROUTING -j EDGE-METASERVER\n'
  const oursFirst = '-P PREROUTING ACCEPT\n-A PREROUTING -j EDGE-METASERVER\n-A PREROUTING -j KUBE-SERVICES\n'
  const { run, calls } = scripted({
    'iptables -w 5 -t nat -S PREROUTING': [oursFirst, kubeFirst],
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER': [new Error('iptables: Bad rule (does a matching rule exist in that chain?).'), '', new Error('iptables: Bad rule (does a matching rule exist in that chain?).')],
  })
  const r = await installRedirect(spec, 'iptables', run)
  t.ok(r.ok)
  if (!r.ok) return
  calls.length = 0
  t.equal(await r.redirection.recheck(), false, 'first already: nothing changed')
  t.same(calls, ['iptables -w 5 -t nat -S PREROUTING'])
  calls.length = 0
  t.equal(await r.redirection.recheck(), true, 'kube-proxy\'s jump above: moved')
  t.same(calls, ['iptables -w 5 -t nat -S PREROUTING', 'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER', 'iptables -w 5 -t nat -I PREROUTING 1 -j EDGE-METASERVER'])
  const nft = await installRedirect(spec, 'nftables', scripted({}).run)
  t.equal(nft.ok && await nft.redirection.recheck(), false)
})

t.test('both backends failing: one error naming each', async (t) => {
  const { run } = scripted({
    'nft -f -': new Error('spawn nft ENOENT'),
    'iptables -w 5 -t nat -N EDGE-METASERVER': new Error('iptables: Permission denied (you must be root).'),
  })
  t.same(await installRedirect(spec, 'auto', run), { ok: false, error: 'nftables: spawn nft ENOENT; iptables: iptables: Permission denied (you must be root).' })
  const only = await installRedirect(spec, 'nftables', scripted({ 'nft -f -': new Error('Operation not permitted') }).run)
  t.same(only, { ok: false, error: 'nftables: Operation not permitted' })
})

t.test('iptables failing half way takes out what it had added (and a killed run\'s jump) before reporting', async (t) => {
  const { run, calls } = scripted({
    // A jump left by a killed run is in place; inserting the new one then fails (xtables lock held).
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER': ['', new Error('iptables: Bad rule (does a matching rule exist in that chain?).'),
      new Error('iptables: Bad rule (does a matching rule exist in that chain?).')],
    'iptables -w 5 -t nat -I PREROUTING 1 -j EDGE-METASERVER': new Error('Another app is currently holding the xtables lock. Stopped waiting after 5s.'),
  })
  const r = await installRedirect(spec, 'iptables', run)
  t.same(r, { ok: false, error: 'iptables: Another app is currently holding the xtables lock. Stopped waiting after 5s.' }, 'the install error is the one reported')
  t.same(calls.slice(calls.indexOf('iptables -w 5 -t nat -I PREROUTING 1 -j EDGE-METASERVER') + 1), [
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -F EDGE-METASERVER',
    'iptables -w 5 -t nat -X EDGE-METASERVER',
  ], 'then jumps, the chain\'s rule and the chain are removed')

  // The DNAT rule itself refused: the chain just created is flushed and deleted.
  const second = scripted({
    'iptables -w 5 -t nat -A EDGE-METASERVER -d 10.96.0.1/32 -p tcp --dport 443 -j DNAT --to-destination 169.254.30.10:10550': new Error('iptables: No chain/target/match by that name.'),
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER': new Error('iptables: Bad rule (does a matching rule exist in that chain?).'),
  })
  const r2 = await installRedirect(spec, 'iptables', second.run)
  t.notOk(r2.ok)
  t.same(second.calls.slice(3), [
    'iptables -w 5 -t nat -D PREROUTING -j EDGE-METASERVER',
    'iptables -w 5 -t nat -F EDGE-METASERVER',
    'iptables -w 5 -t nat -X EDGE-METASERVER',
  ])
})
