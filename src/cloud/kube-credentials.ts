// How the shim reaches kube-apiserver as itself (TokenReview, pod lookups): a kubeconfig file, or
// the in-cluster service account when none is given. Pod requests never use these credentials:
// they carry the pod's own token (DESIGN decision 3).
/* eslint-disable @typescript-eslint/no-explicit-any -- a kubeconfig is untyped YAML; every field used is checked where it is read */
import { readFile } from 'node:fs/promises'
import { dirname, resolve } from 'node:path'
import { parse } from 'yaml'

export interface KubeCredentials {
  server: URL
  ca: string | undefined
  cert: string | undefined
  key: string | undefined
  /** Current bearer token (projected tokens rotate, so it is re-read), or undefined for cert auth. */
  token: () => string | undefined
  close: () => void
}

const IN_CLUSTER_DIR = '/var/run/secrets/kubernetes.io/serviceaccount'
const TOKEN_REREAD_MS = 60_000

export async function loadKubeCredentials (kubeconfigPath: string): Promise<KubeCredentials> {
  return kubeconfigPath === '' ? inCluster() : fromKubeconfig(kubeconfigPath)
}

async function inCluster (): Promise<KubeCredentials> {
  const host = process.env.KUBERNETES_SERVICE_HOST
  const port = process.env.KUBERNETES_SERVICE_PORT
  if (host === undefined || host === '' || port === undefined || port === '') {
    throw new Error('kubeAPIConfig.kubeConfig is empty and KUBERNETES_SERVICE_HOST/PORT are not set: not running in a cluster')
  }
  const bracketed = host.includes(':') ? `[${host}]` : host
  const tokenFile = `${IN_CLUSTER_DIR}/token`
  let token = (await readFile(tokenFile, 'utf8')).trim()
  const timer = setInterval(() => {
    readFile(tokenFile, 'utf8').then((t) => { token = t.trim() }, () => { /* keep the last good token */ })
  }, TOKEN_REREAD_MS)
  timer.unref()
  return {
    server: new URL(`https://${bracketed}:${port}`),
    ca: await readFile(`${IN_CLUSTER_DIR}/ca.crt`, 'utf8'),
    cert: undefined,
    key: undefined,
    token: () => token,
    close: () => clearInterval(timer),
  }
}

async function fromKubeconfig (path: string): Promise<KubeCredentials> {
  const doc = parse(await readFile(path, 'utf8')) as any
  const base = dirname(path)
  const contextName = doc?.['current-context']
  const context = (doc?.contexts ?? []).find((c: any) => c?.name === contextName)?.context
  if (context === undefined) throw new Error(`${path}: current-context "${contextName}" not found`)
  const cluster = (doc.clusters ?? []).find((c: any) => c?.name === context.cluster)?.cluster
  const user = (doc.users ?? []).find((u: any) => u?.name === context.user)?.user ?? {}
  if (cluster?.server === undefined) throw new Error(`${path}: cluster "${context.cluster}" has no server`)
  const inline = async (data: string | undefined, file: string | undefined): Promise<string | undefined> => {
    if (data !== undefined) return Buffer.from(data, 'base64').toString('utf8')
    if (file !== undefined) return readFile(resolve(base, file), 'utf8')
    return undefined
  }
  const token: string | undefined = user.token ?? (user.tokenFile === undefined ? undefined : (await readFile(resolve(base, user.tokenFile), 'utf8')).trim())
  return {
    server: new URL(cluster.server),
    ca: await inline(cluster['certificate-authority-data'], cluster['certificate-authority']),
    cert: await inline(user['client-certificate-data'], user['client-certificate']),
    key: await inline(user['client-key-data'], user['client-key']),
    token: () => token,
    close: () => {},
  }
}
