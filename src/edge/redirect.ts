// Transparent redirection: pods keep the KUBERNETES_SERVICE_HOST/PORT a vanilla kubelet gives them
// (the `kubernetes` Service ClusterIP:443), and the node DNATs their new connections to that
// address to the dummy listener (169.254.30.10:10550), which is a local address, so the packets are
// delivered to this daemon. Only nat PREROUTING is touched: it sees packets arriving from other
// interfaces (pod veths, bridges), never the node's own connections, which go through OUTPUT — so
// host processes (the kubelet, hostNetwork pods) still reach kube-apiserver through kube-proxy.
//
// Winning against kube-proxy: every kube-proxy mode DNATs the ClusterIP in nat PREROUTING at
// priority dstnat (-100) — iptables-legacy, iptables-nft and nftables alike (IPVS matches later, in
// LOCAL_IN, on the ClusterIP the DNAT has already rewritten). For a new connection the kernel runs
// the nat chains of a hook in priority order and stops at the first that sets a binding, so the
// nftables chain here (-110) always wins. The iptables backend has no priority of its own: its jump
// is inserted first in the shared nat PREROUTING chain, and `recheck` puts it back first when a
// kube-proxy that (re)created its own jump later prepended it above (the nftables backend has no such race).
//
// Needs CAP_NET_ADMIN (like the dummy address). Removed on a clean stop; a crash leaves the rules,
// and the next start replaces them (pods keep pointing at the edge while it restarts, as with the
// dummy address).
import { commandError, runCommand, tolerate, type CommandRunner } from './commands.js'

export type RedirectBackend = 'nftables' | 'iptables'

export interface RedirectSpec {
  /** The `kubernetes` Service ClusterIP (IPv4) and port the pods dial. */
  clusterIP: string
  servicePort: number
  /** Where their connections go: the dummy listener. */
  target: { host: string, port: number }
}

export interface Redirection {
  backend: RedirectBackend
  /** Restores the rules' precedence if something took it; resolves true when it had to. */
  recheck: () => Promise<boolean>
  remove: () => Promise<void>
}

export type RedirectResult = { ok: true, redirection: Redirection } | { ok: false, error: string }

export const NFT_TABLE = 'edge-metaserver'
export const IPTABLES_CHAIN = 'EDGE-METASERVER'
/** Below dstnat (-100), where kube-proxy's nat PREROUTING runs in every mode. */
export const NFT_PRIORITY = -110
// iptables waits this long for the xtables lock kube-proxy also takes.
const XTABLES_WAIT = ['-w', '5']

export async function installRedirect (spec: RedirectSpec, backend: 'auto' | RedirectBackend, run: CommandRunner = runCommand): Promise<RedirectResult> {
  const order: RedirectBackend[] = backend === 'auto' ? ['nftables', 'iptables'] : [backend]
  const failures: string[] = []
  for (const b of order) {
    try {
      return { ok: true, redirection: b === 'nftables' ? await installNftables(spec, run) : await installIptables(spec, run) }
    } catch (err) {
      failures.push(`${b}: ${commandError(err)}`)
    }
  }
  return { ok: false, error: failures.join('; ') }
}

/** The whole table, replaced atomically: the `table` line makes the `delete` valid when none exists yet. */
export function nftRuleset (spec: RedirectSpec): string {
  return [
    `table ip ${NFT_TABLE}`,
    `delete table ip ${NFT_TABLE}`,
    `table ip ${NFT_TABLE} {`,
    '  chain prerouting {',
    `    type nat hook prerouting priority ${NFT_PRIORITY}; policy accept;`,
    `    ip daddr ${spec.clusterIP} tcp dport ${spec.servicePort} dnat to ${spec.target.host}:${spec.target.port}`,
    '  }',
    '}',
    '',
  ].join('\n')
}

async function installNftables (spec: RedirectSpec, run: CommandRunner): Promise<Redirection> {
  await run('nft', ['-f', '-'], { stdin: nftRuleset(spec) })
  return {
    backend: 'nftables',
    // A priority cannot be taken over; only a deleted table could be missing, and that is an operator's act.
    recheck: async () => false,
    remove: () => tolerate(run('nft', ['delete', 'table', 'ip', NFT_TABLE]), /No such file or directory/),
  }
}

function iptablesNat (run: CommandRunner, args: string[]): Promise<unknown> {
  return run('iptables', [...XTABLES_WAIT, '-t', 'nat', ...args])
}

const NO_SUCH = /No chain\/target\/match by that name|does a matching rule exist|Bad rule|does not exist/

async function removeJumps (run: CommandRunner): Promise<void> {
  // One jump is expected; a few more could be left by hand. Bounded, never a loop on a stuck table.
  for (let i = 0; i < 16; i++) {
    try {
      await iptablesNat(run, ['-D', 'PREROUTING', '-j', IPTABLES_CHAIN])
    } catch (err) {
      if (NO_SUCH.test(commandError(err))) return
      throw err
    }
  }
}

async function removeIptables (run: CommandRunner): Promise<void> {
  await removeJumps(run)
  await tolerate(iptablesNat(run, ['-F', IPTABLES_CHAIN]), NO_SUCH)
  await tolerate(iptablesNat(run, ['-X', IPTABLES_CHAIN]), NO_SUCH)
}

async function installIptables (spec: RedirectSpec, run: CommandRunner): Promise<Redirection> {
  const jumpFirst = async (): Promise<void> => {
    await removeJumps(run)
    await iptablesNat(run, ['-I', 'PREROUTING', '1', '-j', IPTABLES_CHAIN])
  }
  // Unlike `nft -f`, these are separate commands: one failing half way (the xtables lock held past
  // the wait, a missing DNAT target module) would leave a chain, and perhaps a stale jump from a
  // killed run, behind the "not redirecting" the daemon logs. Take it all out before reporting.
  try {
    await tolerate(iptablesNat(run, ['-N', IPTABLES_CHAIN]), /Chain already exists/)
    await iptablesNat(run, ['-F', IPTABLES_CHAIN])
    await iptablesNat(run, ['-A', IPTABLES_CHAIN, '-d', `${spec.clusterIP}/32`, '-p', 'tcp', '--dport', String(spec.servicePort),
      '-j', 'DNAT', '--to-destination', `${spec.target.host}:${spec.target.port}`])
    await jumpFirst()
  } catch (err) {
    await removeIptables(run).catch(() => { /* the install error below is the one to report */ })
    throw err
  }
  return {
    backend: 'iptables',
    recheck: async () => {
      const { stdout } = await run('iptables', [...XTABLES_WAIT, '-t', 'nat', '-S', 'PREROUTING'])
      const first = stdout.split('\n').find((l) => l.startsWith('-A PREROUTING'))
      if (first === `-A PREROUTING -j ${IPTABLES_CHAIN}`) return false
      await jumpFirst()
      return true
    },
    remove: () => removeIptables(run),
  }
}
