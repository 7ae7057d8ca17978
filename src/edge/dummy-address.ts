// The link-local address pods reach us on (169.254.30.10 by default) lives on a dummy interface,
// as in KubeEdge. Some edge kernels lack CONFIG_DUMMY ("Unknown device type", KubeEdge #5586);
// then the /32 goes on `lo`, which gives the same local route. Needs CAP_NET_ADMIN; without it
// the caller logs and keeps serving on the loopback listener.
import { commandError as message, runCommand, tolerate, type CommandRunner } from './commands.js'

export type DummyAddressResult =
  | { ok: true, device: string, created: boolean }
  | { ok: false, error: string }

export async function ensureDummyAddress (ip: string, iface: string, run: CommandRunner = runCommand): Promise<DummyAddressResult> {
  const existing = await deviceHolding(ip, run)
  if (existing !== undefined) return { ok: true, device: existing, created: false }
  try {
    await tolerate(run('ip', ['link', 'add', iface, 'type', 'dummy']), /File exists/)
    await tolerate(run('ip', ['addr', 'add', `${ip}/32`, 'dev', iface]), /File exists/)
    // A down interface gets no local route, so the address would be unreachable.
    await run('ip', ['link', 'set', iface, 'up'])
    return { ok: true, device: iface, created: true }
  } catch (dummyErr) {
    try {
      await tolerate(run('ip', ['addr', 'add', `${ip}/32`, 'dev', 'lo']), /File exists/)
      return { ok: true, device: 'lo', created: true }
    } catch (loErr) {
      return { ok: false, error: `dummy interface ${iface}: ${message(dummyErr)}; lo fallback: ${message(loErr)}` }
    }
  }
}

async function deviceHolding (ip: string, run: CommandRunner): Promise<string | undefined> {
  try {
    const { stdout } = await run('ip', ['-o', '-4', 'addr', 'show'])
    for (const line of stdout.split('\n')) {
      const m = /^\d+:\s+(\S+)\s+inet\s+([\d.]+)\//.exec(line)
      if (m !== null && m[2] === ip) return m[1]
    }
  } catch { /* no `ip` or no permission: the add below reports it */ }
  return undefined
}
