// What the edge needs to authenticate and authorize on its own: the cluster's service-account
// signing keys and this node's policy bundle (pods bound here + the RBAC that reaches their
// service accounts). Received over the control stream, persisted in the state directory so a
// restart without the cloud still authorizes, compiled once per update (never per request).
import { readFile, rename, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import type { Logger } from '../obs/logger.js'
import { VerifiedTokens } from './verified-tokens.js'
import { compilePolicy, type CompiledPolicy, type RbacPolicy } from '../kube/rbac.js'
import { decodeControl, type BoundPod, type ControlMessage, type JsonWebKeySet, type PolicyBundle } from '../tunnel/control.js'

const JWKS_FILE = 'jwks.json'
const POLICY_FILE = 'policy.json'

export class PolicyState {
  keys: JWTVerifyGetKey | undefined
  policy: CompiledPolicy | undefined
  /** Pods bound to this node, by uid. */
  pods = new Map<string, BoundPod>()
  /** The bundle as received (for diagnostics and tests; decisions use the compiled form). */
  bundle: PolicyBundle | undefined
  /** Tokens whose signature was checked against the current keys; emptied when the keys change. */
  readonly verifiedTokens = new VerifiedTokens()
  updatedAt: number | undefined

  constructor (private readonly stateDir: string, private readonly nodeName: string, private readonly logger: Logger) {}

  /** Restores the last persisted state (the daemon must authorize even when it starts offline). */
  async load (): Promise<void> {
    for (const file of [JWKS_FILE, POLICY_FILE]) {
      const text = await readFile(join(this.stateDir, file), 'utf8').catch(() => undefined)
      if (text === undefined) continue
      const message = decodeControl(text.trim())
      if (message === undefined) { this.logger.warn({ file }, 'ignoring an unreadable persisted policy file'); continue }
      this.apply(message)
    }
  }

  async update (message: ControlMessage): Promise<void> {
    if (!this.apply(message)) return
    const file = message.type === 'jwks' ? JWKS_FILE : POLICY_FILE
    const path = join(this.stateDir, file)
    // Write-then-rename: a crash leaves the old file or the new one, never half of one.
    await writeFile(`${path}.tmp`, JSON.stringify(message), { mode: 0o600 })
    await rename(`${path}.tmp`, path)
  }

  private apply (message: ControlMessage): boolean {
    if (message.type === 'jwks') {
      this.keys = createLocalJWKSet(message.jwks as JsonWebKeySet as Parameters<typeof createLocalJWKSet>[0])
      this.verifiedTokens.clear()
    } else {
      if (message.bundle.node !== this.nodeName) {
        this.logger.error({ bundleNode: message.bundle.node }, 'policy bundle for another node ignored')
        return false
      }
      this.setBundle(message.bundle)
    }
    this.updatedAt = Date.now()
    return true
  }

  private setBundle (bundle: PolicyBundle): void {
    this.policy = compilePolicy(bundle.rbac as unknown as RbacPolicy)
    this.bundle = bundle
    this.pods = new Map(bundle.pods.map((p) => [p.uid, p]))
    this.logger.info({ pods: bundle.pods.length, bindings: this.policy.size }, 'policy bundle applied')
  }
}
