// The pod-facing listeners: fastify over HTTPS on `server` (127.0.0.1:10550) and `dummyServer`
// (169.254.30.10:10550), the same routes on both. Health is answered locally and without
// authentication; everything else goes to the relay with its body left unread (bodies are
// streamed, never buffered). /metrics is only on the loopback listener.
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import type { Registry } from 'prom-client'
import type { HealthCheck } from '../obs/health.js'
import { renderHealth } from '../obs/health.js'
import type { TunnelClient } from '../tunnel/client.js'
import { badRequest, internalError, status, statusBody, type Status } from '../kube/status.js'
import { relayRequest, sendStatus, type RelayDeps } from './relay.js'
import { relayUpgrade } from './upgrade.js'

export interface ListenerOptions {
  host: string
  port: number
  /** PEM serving certificate and key; plain HTTP when undefined (requireAuthorization off, loopback only). */
  tls: { cert: string, key: string } | undefined
  withMetrics: boolean
}

export interface ListenerDeps {
  relay: RelayDeps
  tunnel: TunnelClient
  health: { livez: HealthCheck[], readyz: HealthCheck[] }
  registry: Registry
}

const ALL_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const

export async function startListener (opts: ListenerOptions, deps: ListenerDeps): Promise<FastifyInstance> {
  const app = Fastify({
    ...(opts.tls === undefined ? {} : { https: { cert: opts.tls.cert, key: opts.tls.key, minVersion: 'TLSv1.2' as const } }),
    logger: false,
    // Long watches must not be cut by the HTTP server; short requests have their own timeout in the relay.
    requestTimeout: 0,
    connectionTimeout: 0,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    // A URL fastify cannot even route (bad percent-encoding) still gets a Kubernetes Status.
    frameworkErrors: (error, _request, reply) => { sendStatusReply(reply, badRequest(error.message)) },
  })
  app.setNotFoundHandler((request, reply) => {
    sendStatusReply(reply, status('MethodNotAllowed', `the server does not allow this method on the requested resource (${request.method})`))
  })
  app.setErrorHandler((error, request, reply) => {
    deps.relay.logger.error({ err: (error as Error).message, path: request.url }, 'listener error')
    sendStatusReply(reply, internalError('edge-metaserver failed to handle the request'))
  })
  // Leave every body unread: the relay streams it to the cloud with its own byte limit.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_req, _payload, done) => done(null))

  for (const [path, checks] of [['/livez', deps.health.livez], ['/readyz', deps.health.readyz],
    ['/healthz', [...deps.health.livez, ...deps.health.readyz]]] as const) {
    app.get(path, async (request, reply) => {
      const query = new URLSearchParams(request.url.split('?')[1] ?? '')
      const { code, body } = renderHealth(path.slice(1), [...checks], query)
      return reply.code(code).header('content-type', 'text/plain; charset=utf-8')
        .header('x-content-type-options', 'nosniff').header('cache-control', 'no-cache, private').send(body)
    })
  }
  if (opts.withMetrics) {
    app.get('/metrics', async (_request, reply) =>
      reply.header('content-type', deps.registry.contentType).send(await deps.registry.metrics()))
  }
  app.route({
    method: [...ALL_METHODS],
    url: '/*',
    handler: (request, reply) => {
      reply.hijack()
      relayRequest(deps.relay, request.raw, reply.raw).catch((err: Error) => {
        deps.relay.logger.error({ err: err.message, path: request.url }, 'relay failed')
        sendStatus(reply.raw, internalError('edge-metaserver failed to relay the request'))
      })
    },
  })
  app.server.on('upgrade', (req, socket, head) => {
    relayUpgrade(deps.tunnel, deps.relay.gate, req, socket, head).catch((err: Error) => {
      deps.relay.logger.error({ err: err.message, path: req.url }, 'upgrade relay failed')
      socket.destroy()
    })
  })
  await app.listen({ host: opts.host, port: opts.port })
  return app
}

function sendStatusReply (reply: FastifyReply, s: Status): void {
  const { code, headers, body } = statusBody(s)
  void reply.code(code).headers(headers).send(body)
}
