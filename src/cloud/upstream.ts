// The shim's one connection pool to kube-apiserver (undici). Pod requests are streamed through it
// with the pod's own token; the shim's own calls (TokenReview, pod lookups) use its credentials.
import { Agent, errors as undiciErrors, type Dispatcher } from 'undici'
import type { Readable } from 'node:stream'
import type { KubeCredentials } from './kube-credentials.js'

export interface UpstreamOptions {
  credentials: KubeCredentials
  timeoutMs: number
  maxConnections: number
}

export interface UpstreamResponse {
  statusCode: number
  headers: Record<string, string | string[] | undefined>
  body: Readable & { dump: () => Promise<void> }
}

export class Upstream {
  readonly origin: string
  private readonly agent: Agent

  constructor (private readonly opts: UpstreamOptions) {
    this.origin = opts.credentials.server.origin
    this.agent = new Agent({
      connections: opts.maxConnections,
      // Watches are long-lived: their bodies must not time out; short requests get `signal`-based timeouts.
      bodyTimeout: 0,
      headersTimeout: opts.timeoutMs,
      keepAliveTimeout: 30_000,
      connect: { ca: opts.credentials.ca, cert: opts.credentials.cert, key: opts.credentials.key },
    })
  }

  /** Streams one request through as-is. `signal` aborts it (client went away, or timeout). */
  forward (req: { method: string, path: string, headers: Record<string, string | string[]>, body: Readable | null, signal: AbortSignal }): Promise<UpstreamResponse> {
    return this.agent.request({
      origin: this.origin,
      method: req.method as Dispatcher.HttpMethod,
      path: req.path,
      headers: req.headers,
      body: req.body,
      signal: req.signal,
    }) as Promise<UpstreamResponse>
  }

  /** The shim's own Authorization header (for anonymous discovery requests and its own calls). */
  ownAuthorization (): string | undefined {
    const token = this.opts.credentials.token()
    return token === undefined ? undefined : `Bearer ${token}`
  }

  private ownHeaders (accept: string): Record<string, string> {
    const headers: Record<string, string> = { accept, 'user-agent': 'edge-metaserver-cloud' }
    const authorization = this.ownAuthorization()
    if (authorization !== undefined) headers.authorization = authorization
    return headers
  }

  /** A streamed call with the shim's own identity (its watches). */
  ownStream (method: Dispatcher.HttpMethod, path: string, signal: AbortSignal): Promise<UpstreamResponse> {
    return this.agent.request({ origin: this.origin, method, path, headers: this.ownHeaders('application/json'), signal }) as Promise<UpstreamResponse>
  }

  /** A JSON call with the shim's own identity. */
  async json<T> (method: Dispatcher.HttpMethod, path: string, body?: unknown, accept = 'application/json'): Promise<{ status: number, body: T }> {
    const headers = this.ownHeaders(accept)
    if (body !== undefined) headers['content-type'] = 'application/json'
    const res = await this.agent.request({
      origin: this.origin, method, path, headers,
      body: body === undefined ? null : JSON.stringify(body),
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    })
    const text = await res.body.text()
    // Health endpoints answer plain "ok"; only JSON bodies are parsed.
    const isJson = String(res.headers['content-type'] ?? '').includes('json')
    return { status: res.statusCode, body: (isJson && text !== '' ? JSON.parse(text) : undefined) as T }
  }

  /** TLS settings for the few calls that cannot go through undici (HTTP/1.1 upgrades). */
  tlsOptions (): { ca?: string, cert?: string, key?: string } {
    const { ca, cert, key } = this.opts.credentials
    return { ...(ca === undefined ? {} : { ca }), ...(cert === undefined ? {} : { cert }), ...(key === undefined ? {} : { key }) }
  }

  /** Called once the tunnel is closed: whatever still runs upstream answers nobody, so it is cut, not awaited. */
  close (): Promise<void> { return this.agent.destroy() }
}

/**
 * True when the error means kube-apiserver could not be reached at all (refused, reset, DNS,
 * TLS, timeout before headers): a connectivity failure, which the edge may answer from its cache.
 */
export function isConnectivityError (err: unknown): boolean {
  if (err instanceof undiciErrors.ConnectTimeoutError || err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.SocketError) return true
  const code = (err as { code?: string, cause?: { code?: string } })?.code ?? (err as { cause?: { code?: string } })?.cause?.code
  return code !== undefined && /^(ECONNREFUSED|ECONNRESET|EHOSTUNREACH|ENETUNREACH|ENOTFOUND|EAI_AGAIN|ETIMEDOUT|EPIPE|UND_ERR_CONNECT_TIMEOUT|UND_ERR_SOCKET|UND_ERR_HEADERS_TIMEOUT|ERR_TLS_CERT_ALTNAME_INVALID|UNABLE_TO_VERIFY_LEAF_SIGNATURE|DEPTH_ZERO_SELF_SIGNED_CERT)$/.test(code)
}
