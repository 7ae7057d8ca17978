// A small stack for the bench's side scripts (profile.ts, heap-flags.ts): the test bed, one cloud
// shim and edges started on demand (dist/, as processes, with the environment asked for), one
// pod identity on the node and one 1 KiB ConfigMap it may get, list and watch.
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { TestCluster } from '../test/cluster/cluster.js'
import { Fixtures } from '../test/cluster/fixtures.js'
import { freePort } from '../test/cluster/processes.js'
import { prepareStackFiles, writeCloudConfig, writeEdgeConfig } from '../test/e2e/configs.js'
import { repo } from '../test/e2e/process.js'
import { startCloudProcess, startEdgeProcess, type ProcessCloud, type ProcessEdge } from '../test/helpers/product.js'
import type { Target } from './load.js'

export interface SmallStack {
  cluster: TestCluster
  cloud: ProcessCloud
  /** The ConfigMap's path and its collection's. */
  paths: { get: string, collection: string }
  /** A new edge for the node (a fresh state directory each time); the caller stops it. */
  startEdge: (name: string, env?: NodeJS.ProcessEnv) => Promise<{ edge: ProcessEdge, target: Target }>
  stop: () => Promise<void>
}

const NODE = 'bench-side-node'

export async function startSmallStack (cloudEnv?: NodeJS.ProcessEnv): Promise<SmallStack> {
  const cluster = await TestCluster.start()
  let cloud: ProcessCloud | undefined
  try {
    const files = await prepareStackFiles(cluster)
    const [tunnelPort, healthPort] = [await freePort(), await freePort()]
    const cloudFile = await writeCloudConfig(cluster, files, { address: `127.0.0.1:${tunnelPort}`, healthzAddress: `127.0.0.1:${healthPort}`, logLevel: 'info' })
    const fx = new Fixtures(cluster.admin)
    const ns = await fx.namespace('bench-side')
    const me = await fx.podIdentity(ns, NODE, { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] })
    await fx.configMap(ns, 'cm-0', { payload: 'x'.repeat(1024) })
    cloud = await startCloudProcess({ configFile: cloudFile, logFile: join(cluster.dir, 'bench-cloud.log'), cli: 'dist', ...(cloudEnv === undefined ? {} : { env: cloudEnv }) })
    const started = cloud
    return {
      cluster,
      cloud,
      paths: { get: `/api/v1/namespaces/${ns}/configmaps/cm-0`, collection: `/api/v1/namespaces/${ns}/configmaps` },
      startEdge: async (name, env) => {
        const configFile = await writeEdgeConfig(cluster, files, NODE, { server: '127.0.0.1:0', tunnelPort, logLevel: 'info' })
        const edge = await startEdgeProcess({ configFile, logFile: join(cluster.dir, `bench-edge-${name}.log`), cli: 'dist', ...(env === undefined ? {} : { env }) })
        return { edge, target: { origin: `https://127.0.0.1:${edge.port}`, token: me.token, ca: cluster.pki.caPem } }
      },
      stop: async () => {
        await started.stop()
        await cluster.stop()
      },
    }
  } catch (err) {
    await cloud?.stop()
    await cluster.stop()
    throw err
  }
}

/** `env` with `flags` added to NODE_OPTIONS. */
export function withNodeOptions (flags: string, env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return { ...env, NODE_OPTIONS: `${env.NODE_OPTIONS ?? ''} ${flags}`.trim() }
}

/** NODE_OPTIONS of systemd/edge-metaserver.service (its V8 heap flags): the bench runs edges as the unit does. */
export function unitNodeOptions (): string {
  const unit = readFileSync(join(repo, 'systemd', 'edge-metaserver.service'), 'utf8')
  return /^Environment="NODE_OPTIONS=([^"]*)"$/m.exec(unit)?.[1] ?? ''
}
