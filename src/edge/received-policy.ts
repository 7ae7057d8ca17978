// What the edge needs to authenticate and authorize on its own: the cluster's service-account
// signing keys and this node's policy bundle (pods bound here + the RBAC that reaches their
// service accounts). Received over the control stream, persisted in the edge's SQLite file so a
// restart without the cloud still authorizes, compiled once per update (never per request).
import { EventEmitter } from 'node:events'
import { createLocalJWKSet, type JWTVerifyGetKey } from 'jose'
import type { Logger } from '../obs/logger.js'
import { VerifiedTokens } from './verified-tokens.js'
import type { BoundPod } from '../kube/bound-pod.js'
import { compilePolicy, type RbacAuthorizer } from '../kube/rbac.js'
import { decodeControl, type ControlMessage, type JsonWebKeySet, type PolicyBundle } from '../tunnel/control.js'

/** Where the received messages are kept (the cache store's state table). */
export interface DurableState {
  getState: (key: string) => string | undefined
  setState: (key: string, value: string) => void
}

const STATE_KEYS = { jwks: 'control/jwks', policy: 'control/policy' } as const

/** The keys and policy this edge received from the cloud (or restored), ready for the gate. Emits 'bundle' (PolicyBundle) on each one applied. */
export class ReceivedPolicy extends EventEmitter<{ bundle: [PolicyBundle] }> {
  keys: JWTVerifyGetKey | undefined
  /** The bundle's RBAC, compiled: what the gate asks. */
  authorizer: RbacAuthorizer | undefined
  /** Pods bound to this node, by uid. */
  pods = new Map<string, BoundPod>()
  /** The bundle as received (for diagnostics and tests; decisions use the compiled form). */
  bundle: PolicyBundle | undefined
  /** Tokens whose signature was checked against the current keys; emptied when the keys change. */
  readonly verifiedTokens = new VerifiedTokens()
  updatedAt: number | undefined
  /** When each was last received from the cloud (persisted with it, so it survives a restart); for the age metric. */
  readonly receivedAt: { jwks?: number, policy?: number } = {}

  constructor (private readonly durable: DurableState, private readonly nodeName: string, private readonly logger: Logger) {
    super()
  }

  /** Restores the last persisted state (the daemon must authorize even when it starts offline). */
  load (): void {
    for (const key of Object.values(STATE_KEYS)) {
      const text = this.durable.getState(key)
      if (text === undefined) continue
      const message = decodeControl(text)
      if (message === undefined) { this.logger.warn({ key }, 'ignoring unreadable persisted policy state'); continue }
      if (this.apply(message)) {
        // Written by update() below; state from before it was kept has none (the age is then unknown).
        const at = (JSON.parse(text) as { receivedAt?: unknown }).receivedAt
        if (typeof at === 'number') this.receivedAt[message.type] = at
      }
    }
  }

  update (message: ControlMessage): void {
    if (!this.apply(message)) return
    const receivedAt = this.receivedAt[message.type] = Date.now()
    // One SQLite transaction: a crash leaves the old message or the new one, never half of one.
    this.durable.setState(STATE_KEYS[message.type], JSON.stringify({ ...message, receivedAt }))
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
    this.authorizer = compilePolicy(bundle.rbac)
    this.bundle = bundle
    this.pods = new Map(bundle.pods.map((p) => [p.uid, p]))
    this.logger.info({ pods: bundle.pods.length, bindings: this.authorizer.size }, 'policy bundle applied')
    this.emit('bundle', bundle)
  }
}
