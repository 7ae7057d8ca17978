// A deliberately plain REST client for tests: the admin's direct line to kube-apiserver (to set up
// state and to verify results without going through the daemon), and a raw client for
// byte-level comparisons. JSON in, {status, headers, body} out; nothing is hidden.
import { Agent, request } from 'undici'

export interface RestResponse<T = any> {
  status: number
  headers: Record<string, string | string[] | undefined>
  body: T
  raw: Buffer
}

export interface RestOptions {
  headers?: Record<string, string>
  body?: unknown
  contentType?: string
  query?: Record<string, string | number | boolean | undefined>
}

export class RestClient {
  private readonly dispatcher: Agent

  constructor (readonly baseUrl: string, caPem: string, private readonly token?: string,
    clientCert?: { cert: string, key: string }) {
    this.dispatcher = new Agent({ connect: { ca: caPem, ...clientCert }, connections: 64 })
  }

  withToken (token: string | undefined): RestClient {
    const copy = Object.create(this) as RestClient
    ;(copy as any).token = token
    return copy
  }

  async call<T = any> (method: string, path: string, opts: RestOptions = {}): Promise<RestResponse<T>> {
    const url = new URL(path, this.baseUrl)
    for (const [k, v] of Object.entries(opts.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const headers: Record<string, string> = { accept: 'application/json', ...opts.headers }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let body: string | Buffer | undefined
    if (opts.body !== undefined) {
      body = Buffer.isBuffer(opts.body) || typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body)
      headers['content-type'] = opts.contentType ?? 'application/json'
    }
    const res = await request(url, { method: method as any, headers, body, dispatcher: this.dispatcher })
    const raw = Buffer.from(await res.body.arrayBuffer())
    const type = String(res.headers['content-type'] ?? '')
    let parsed: any = raw
    if (type.includes('json')) {
      try { parsed = JSON.parse(raw.toString('utf8')) } catch { parsed = raw.toString('utf8') }
    } else if (type.startsWith('text/')) {
      parsed = raw.toString('utf8')
    }
    return { status: res.statusCode, headers: res.headers, body: parsed, raw }
  }

  get<T = any> (path: string, opts?: RestOptions): Promise<RestResponse<T>> { return this.call('GET', path, opts) }
  post<T = any> (path: string, body: unknown, opts?: RestOptions): Promise<RestResponse<T>> { return this.call('POST', path, { ...opts, body }) }
  put<T = any> (path: string, body: unknown, opts?: RestOptions): Promise<RestResponse<T>> { return this.call('PUT', path, { ...opts, body }) }
  delete<T = any> (path: string, opts?: RestOptions): Promise<RestResponse<T>> { return this.call('DELETE', path, opts) }
  patch<T = any> (path: string, body: unknown, contentType = 'application/merge-patch+json'): Promise<RestResponse<T>> {
    return this.call('PATCH', path, { body, contentType })
  }

  /** Like call() but throws unless the status is 2xx: for setup steps that must not fail silently. */
  async must<T = any> (method: string, path: string, opts?: RestOptions): Promise<T> {
    const res = await this.call<T>(method, path, opts)
    if (res.status < 200 || res.status > 299) {
      throw new Error(`${method} ${path} -> ${res.status}: ${JSON.stringify(res.body).slice(0, 500)}`)
    }
    return res.body
  }

  /** A watch (or any NDJSON stream): each line parsed and handed to onEvent as it arrives. */
  stream (path: string, onEvent: (event: any) => void): EventStream {
    const controller = new AbortController()
    const headers: Record<string, string> = { accept: 'application/json' }
    if (this.token !== undefined) headers.authorization = `Bearer ${this.token}`
    let responseHeaders: RestResponse['headers'] | undefined
    let ended = false
    request(new URL(path, this.baseUrl), { method: 'GET', headers, dispatcher: this.dispatcher, signal: controller.signal })
      .then(async (res) => {
        responseHeaders = res.headers
        let partial = ''
        for await (const chunk of res.body) {
          partial += chunk.toString()
          const lines = partial.split('\n')
          partial = lines.pop()!
          for (const line of lines) if (line.trim() !== '') onEvent(JSON.parse(line))
        }
      })
      .catch(() => {})
      .finally(() => { ended = true })
    return { headers: () => responseHeaders, ended: () => ended, close: () => controller.abort() }
  }

  close (): Promise<void> { return this.dispatcher.close() }
}

export interface EventStream {
  headers: () => RestResponse['headers'] | undefined
  ended: () => boolean
  close: () => void
}
