// The cluster's service-account signing keys (/openid/v1/jwks), polled so a key rotation reaches
// every edge within one interval. Edges persist the last set they received.
import { EventEmitter } from 'node:events'
import type { Logger } from '../obs/logger.js'
import type { JsonWebKeySet } from '../tunnel/control.js'
import type { Upstream } from './upstream.js'

export class JwksSource extends EventEmitter {
  current: JsonWebKeySet | undefined
  private timer: NodeJS.Timeout | undefined
  private serialized = ''

  constructor (private readonly upstream: Upstream, private readonly intervalMs: number, private readonly logger: Logger) {
    super()
  }

  async start (): Promise<void> {
    await this.refresh()
    this.timer = setInterval(() => { void this.refresh() }, this.intervalMs)
  }

  stop (): void { clearInterval(this.timer) }

  private async refresh (): Promise<void> {
    try {
      const res = await this.upstream.json<JsonWebKeySet>('GET', '/openid/v1/jwks', undefined, 'application/jwk-set+json')
      if (res.status !== 200 || !Array.isArray(res.body?.keys)) throw new Error(`HTTP ${res.status}`)
      const serialized = JSON.stringify(res.body)
      if (serialized !== this.serialized) {
        this.serialized = serialized
        this.current = res.body
        this.logger.info({ keys: res.body.keys.map((k) => k.kid) }, 'service-account signing keys updated')
        this.emit('change')
      }
    } catch (err) {
      this.logger.warn({ err }, 'cannot fetch /openid/v1/jwks; edges keep the keys they have')
    }
  }
}
