// Stages 1–4 of the pipeline (pipeline.ts), shared by the HTTP route and the upgrade path
// (upgrade.ts), in the order kube-apiserver applies them:
//   1. request info   what the request means (src/kube/request-info.ts); what Go cannot parse is refused
//   2. in-flight      short requests and long-running ones (watches, exec, logs) have separate limits
//   3. bounds         a declared body over the limit, or more header fields than the tunnel carries
//   4. admit          requireAuthorization: who is calling, and may they (gate.ts)
// What passes is relayed over the tunnel (relay.ts, upgrade.ts); when the cloud is unreachable the
// cache answers — only requests the edge authorized itself (stage 4), see `mayUseCache`.
import type { IncomingMessage, ServerResponse } from 'node:http'
import { isLongRunning, requestInfo, requestInfoRefusal, type RequestInfo } from '../kube/request-info.js'
import { tooLarge, type Status } from '../kube/status.js'
import type { Logger } from '../obs/logger.js'
import type { TunnelClient } from '../tunnel/client.js'
import { endToEndHeaders, HEADER_CLIENT_ADDRESS, impersonationHeaders } from '../tunnel/protocol.js'
import { edgeAnswers } from './answers.js'
import type { Gate } from './gate.js'
import type { InflightTracker } from './inflight.js'

export interface Limits {
  maxRequestBodyBytes: number
  /** Short requests in flight at once (kube-apiserver's --max-requests-inflight); watches don't count. */
  maxInflight: number
  /** Watches and other long-running requests open at once (each holds a tunnel stream). */
  maxLongRunning: number
}

export interface AdmissionDeps {
  limits: Limits
  inflight: InflightTracker
  /** Long-running requests also need a free stream on the tunnel (HTTP/2 would queue one silently). */
  tunnel: Pick<TunnelClient, 'hasStreamCapacity'>
  /** requireAuthorization: authenticate and authorize (gate.ts); undefined when the gate is off. */
  gate: Gate | undefined
  logger: Logger
}

export interface AdmittedRequest {
  info: RequestInfo
  /** The origin-form target (absolute-form targets are relayed and cached as what kube-apiserver serves). */
  url: string
  longRunning: boolean
  hasBody: boolean
  /** The headers the tunnel stream carries (end-to-end headers, :method, :path, the pod's address). */
  forwarded: Record<string, string | string[]>
  /** Only a request the edge authorized itself may ever be answered from the cache. */
  mayUseCache: boolean
}

/** A refusal carries the verb (for metrics; empty when the request could not be parsed). */
export interface AdmissionRefusal { ok: false, status: Status, why: string, verb: string }
export type Admission = { ok: true, request: AdmittedRequest } | AdmissionRefusal

/**
 * Runs stages 1–4. `res` is the HTTP response (undefined for an upgrade, whose slot follows its
 * connection); an admitted request holds an in-flight slot from stage 2 on.
 */
export async function admitRequest (deps: AdmissionDeps, req: IncomingMessage, res: ServerResponse | undefined): Promise<Admission> {
  const method = req.method ?? 'GET'
  const parsed = requestInfo(method, req.url ?? '/')
  if (!parsed.ok) return { ok: false, status: requestInfoRefusal(parsed), why: 'request info', verb: '' }
  const info = parsed.info
  const refuse = (status: Status, why: string): Admission => ({ ok: false, status, why, verb: info.verb })
  const url = info.originForm ?? req.url ?? '/'

  const longRunning = isLongRunning(info) || res === undefined
  const { limits, inflight } = deps
  const full = longRunning
    ? inflight.longCount >= limits.maxLongRunning || !deps.tunnel.hasStreamCapacity()
    : inflight.shortCount >= limits.maxInflight
  if (full) return refuse(edgeAnswers.tooManyRequests(), 'in-flight limit')
  inflight.begin(req, res, longRunning)

  const declaredLength = Number(req.headers['content-length'] ?? 0)
  if (declaredLength > limits.maxRequestBodyBytes) return refuse(tooLarge(limits.maxRequestBodyBytes), 'body limit')
  const forwarded = {
    ...endToEndHeaders(req.headers),
    ...impersonationHeaders(req.rawHeaders),
    ':method': method,
    ':path': url,
    [HEADER_CLIENT_ADDRESS]: req.socket.remoteAddress ?? '',
  }

  let mayUseCache = false
  if (deps.gate !== undefined) {
    const verdict = await deps.gate(info, req.headers)
    if (!verdict.ok) {
      // An audit line at info: who (when the token said so), what, why; the token itself never.
      deps.logger.info({ user: verdict.user ?? '(unauthenticated)', verb: info.verb, path: info.path, why: verdict.why, code: verdict.status.code }, 'refused at the edge')
      return refuse(verdict.status, verdict.why)
    }
    mayUseCache = verdict.authorizedHere
  }
  const hasBody = declaredLength > 0 || req.headers['transfer-encoding'] !== undefined
  return { ok: true, request: { info, url, longRunning, hasBody, forwarded, mayUseCache } }
}
