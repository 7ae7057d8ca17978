// The request pipeline of the edge, in one place. Every pod request passes these stages in this
// order, whether it arrives on the HTTP route or as an Upgrade (exec, attach, port-forward):
//
//   1. request info     what the request means, as kube-apiserver parses it     admission.ts
//   2. in-flight limit  short and long-running slots (inflight.ts)              admission.ts
//   3. body bound       a declared body over maxRequestBodyBytes → 413          admission.ts
//   4. admit            authn + authz: bound token, pod binding, RBAC           gate.ts
//   5. relay            one tunnel stream (relay.ts; upgrade.ts: a byte pipe after the 101)
//        | offline answer  the cloud unreachable and stage 4 authorized it here: the cache
//                          answers (cache/offline.ts); never for an upgrade
//   6. tee              the cloud's answer, as it streams back, kept by the cache (cache/tee.ts)
//
// A refusal at any stage is a Status from answers.ts (or src/kube/status.ts) and ends the request.
// run.ts hands over the parts; how they connect is decided here.
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'
import type { Logger } from '../obs/logger.js'
import type { EdgeRequestMetrics } from '../obs/metrics.js'
import type { TunnelClient } from '../tunnel/client.js'
import { admitRequest, type Limits } from './admission.js'
import type { Gate } from './gate.js'
import type { InflightTracker } from './inflight.js'
import type { CloudReachability } from './reachability.js'
import { refuseRequest, relayRequest, type RelayDeps } from './relay.js'
import { relayUpgrade } from './upgrade.js'

export interface PipelineParts {
  limits: Limits
  requestTimeoutMs: number
  inflight: InflightTracker
  /** Stage 4: undefined when requireAuthorization is off (then nothing is authorized here, nothing cached). */
  gate: Gate | undefined
  tunnel: TunnelClient
  reachability: CloudReachability
  /** Stage 5's offline answer and stage 6; undefined when the cache is off. */
  cache: RelayDeps['cache']
  /** Codings accepted for answers on the tunnel (modules.edgeHub.compression). */
  codings?: RelayDeps['codings']
  metrics: EdgeRequestMetrics
  logger: Logger
}

export interface RequestPipeline {
  /** A pod request on the HTTP route (everything the listener does not answer itself). */
  route: (req: IncomingMessage, res: ServerResponse) => Promise<void>
  /** An HTTP/1.1 Upgrade: the same stages 1–4 (upgrade.ts holds the bytes sent early meanwhile), then a byte pipe. */
  upgrade: (req: IncomingMessage, socket: Duplex, head: Buffer) => Promise<void>
  logger: Logger
}

export function requestPipeline (parts: PipelineParts): RequestPipeline {
  const deps: RelayDeps = { ...parts }
  return {
    route: async (req, res) => {
      const admission = await admitRequest(deps, req, res) // stages 1–4
      if (!admission.ok) { refuseRequest(deps, req, res, admission); return }
      await relayRequest(deps, admission.request, req, res) // stages 5–6
    },
    upgrade: (req, socket, head) => relayUpgrade(deps, req, socket, head),
    logger: parts.logger,
  }
}
