// What the join and rotation tests share: a shim with modules.cloudHub.join on, tokens from the CLI,
// an edge config an operator would start from, and `join` run as root against a private /etc/group
// (a mount namespace) that holds the service group, so the test machine's own is never touched.
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { TestCluster } from '../cluster/cluster.js'
import { prepareStackFiles, writeCloudConfig, type StackFiles } from './configs.js'
import { runCli, type CliResult } from './process.js'
import { startCloudInProcess, type InProcessCloud } from '../helpers/product.js'
import { publicKeyPin } from '../../src/pki/x509.js'

export const SERVICE_GID = 4242

export interface JoinBed {
  files: StackFiles
  cloud: InProcessCloud
  /** HOST:PORT of the shim's join listener. */
  joinServer: string
  caHash: string
  tokenFor: (node: string) => Promise<string>
  /** `edge-metaserver join` as root, keys and config into `dir`. */
  join: (dir: string, o: { token: string, node: string, server?: string, hash?: string }, wrap?: boolean) => Promise<CliResult>
  /** A directory with the operator's own edge settings for this test bed (join adds the node's values). */
  nodeDir: (name: string) => Promise<{ dir: string, configFile: string }>
}

/** The shim's modules.cloudHub lines that turn join on, on a free port of 127.0.0.1. */
export function joinCloudHub (files: StackFiles, joinYaml: string[] = []): string[] {
  return ['join:', '  enable: true', '  address: 127.0.0.1:0', `  tlsCaKeyFile: ${files.tunnelPki.ca.keyFile}`, ...joinYaml.map((l) => `  ${l}`)]
}

/**
 * A command prefix running `join` as root against a private /etc/group (a mount namespace) that
 * holds the service group: the machine's own /etc/group is never touched.
 */
export async function privateGroupsWrap (cluster: TestCluster): Promise<string[]> {
  const groupFile = join(cluster.dir, 'group')
  await writeFile(groupFile, (await readFile('/etc/group', 'utf8')) + `edge-metaserver:x:${SERVICE_GID}:\n`)
  return ['unshare', '--mount', '--', 'sh', '-c', 'mount --bind "$0" /etc/group && exec "$@"', groupFile]
}

/** A directory with the operator's own edge settings for this test bed (join adds the node's values). */
export async function operatorNodeDir (cluster: TestCluster, name: string): Promise<{ dir: string, configFile: string }> {
  const dir = join(await cluster.tempDir(name), 'etc')
  await mkdir(dir)
  const configFile = join(dir, 'config.yaml')
  await writeFile(configFile, [
    '# operator settings kept by join', 'apiVersion: edge-metaserver.io/v1alpha1', 'kind: EdgeMetaServer',
    `stateDir: ${join(dir, '..', 'state')}`,
    'modules:', '  metaServer:', '    server: 127.0.0.1:0', '    dummyServer: ""', '    shutdownGracePeriod: 2s',
    '  edgeHub:', '    heartbeatPeriod: 2s', '    reconnectBackoffInitial: 100ms', '    reconnectBackoffMax: 1s',
    'logging:', '  level: debug', '',
  ].join('\n'))
  return { dir, configFile }
}

export async function startJoinBed (cluster: TestCluster, joinYaml: string[] = []): Promise<JoinBed> {
  const files = await prepareStackFiles(cluster)
  const cloudConfig = await writeCloudConfig(cluster, files, { address: '127.0.0.1:0', healthzAddress: '127.0.0.1:0', cloudHub: joinCloudHub(files, joinYaml) })
  const cloud = await startCloudInProcess({ configFile: cloudConfig, logFile: join(cluster.dir, 'cloud.log') })
  const joinServer = `127.0.0.1:${cloud.shim.joinPort!}`
  const caHash = publicKeyPin(await files.tunnelPki.ca.pem())
  const privateGroups = await privateGroupsWrap(cluster)
  return {
    files,
    cloud,
    joinServer,
    caHash,
    tokenFor: async (node) => {
      const res = await runCli(['token', 'create', '--node', node, '--kubeconfig', cluster.adminKubeconfig, '--ttl', '1h'])
      if (res.code !== 0) throw new Error(`token create failed: ${res.stderr}`)
      return res.stdout.split('\n')[0]!
    },
    join: (dir, o, wrap = true) => runCli(['join', '--server', o.server ?? joinServer, '--token', o.token, '--ca-cert-hash', o.hash ?? caHash,
      '--node-name', o.node, '--dir', dir], { timeoutMs: 60_000, ...(wrap ? { wrap: privateGroups } : {}) }),
    nodeDir: (name) => operatorNodeDir(cluster, name),
  }
}
