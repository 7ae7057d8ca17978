// Plain-HTTP /livez, /readyz, /healthz and /metrics for the kubelet's probes and Prometheus. It
// carries no API traffic and no secrets, so it needs no TLS; bind it to the pod IP.
import http from 'node:http'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import type { Registry } from 'prom-client'
import { renderHealth, type HealthCheck } from '../obs/health.js'

export async function startHealthServer (host: string, port: number, checks: { livez: HealthCheck[], readyz: HealthCheck[] },
  registry: Registry): Promise<{ address: AddressInfo, close: () => Promise<void> }> {
  const server = http.createServer((req, res) => {
    const [path = '/', query = ''] = (req.url ?? '/').split('?', 2)
    const params = new URLSearchParams(query)
    if (path === '/metrics') {
      registry.metrics().then((text) => {
        res.writeHead(200, { 'content-type': registry.contentType }).end(text)
      }, () => res.writeHead(500).end())
      return
    }
    const endpoints: Record<string, HealthCheck[]> = {
      '/livez': checks.livez, '/readyz': checks.readyz, '/healthz': [...checks.livez, ...checks.readyz],
    }
    const selected = endpoints[path]
    if (selected === undefined) { res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n'); return }
    const { code, body } = renderHealth(path.slice(1), selected, params)
    res.writeHead(code, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-cache, private' }).end(body)
  })
  server.listen(port, host)
  await once(server, 'listening')
  return {
    address: server.address() as AddressInfo,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }),
  }
}
