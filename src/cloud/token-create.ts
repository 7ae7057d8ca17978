// `edge-metaserver token create --node NAME`: a bootstrap token bound to one node (run by the
// operator with cluster-admin credentials, never by the shim: the shim may not touch Secrets).
// Prints the token, and with --tunnel-ca the whole `join` command the node runs.
/* eslint-disable @typescript-eslint/no-explicit-any -- kube-apiserver's JSON answers are untyped here; only the fields read are checked */
import { randomInt } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { bootstrapTokenSecret, nodeGroup } from '../kube/bootstrap-token.js'
import { publicKeyPin } from '../pki/x509.js'
import { withAdminClient } from './admin-client.js'

export interface TokenCreateOptions {
  /** A kubeconfig file; "" for in-cluster credentials. */
  kubeconfig: string
  node: string
  ttlMs: number
  /** The shim's tunnel CA certificate: to print --ca-cert-hash. */
  tunnelCaFile?: string
  /** The shim's join address (HOST:PORT) for the printed command. */
  joinServer?: string
}

const ALPHABET = 'abcdefghijklmnopqrstuvwxyz0123456789'
const randomString = (n: number): string => Array.from({ length: n }, () => ALPHABET[randomInt(ALPHABET.length)]).join('')

/** Creates the token's Secret; returns the lines to print (the token first). */
export async function createJoinToken (o: TokenCreateOptions): Promise<string[]> {
  if (nodeGroup(o.node) === undefined) throw new Error(`"${o.node}" is not a node name a bootstrap token can carry (lowercase RFC 1123, at most 213 characters)`)
  const pin = o.tunnelCaFile === undefined ? undefined : publicKeyPin(await readFile(o.tunnelCaFile, 'utf8'))
  return await withAdminClient(o.kubeconfig, async (upstream) => {
    const expires = new Date(Date.now() + o.ttlMs)
    // A token ID that is taken (409) gets one more draw; two collisions in 36^6 mean something else is wrong.
    for (let attempt = 0; attempt < 2; attempt++) {
      const id = randomString(6)
      const secret = randomString(16)
      const res = await upstream.json<any>('POST', '/api/v1/namespaces/kube-system/secrets', bootstrapTokenSecret(id, secret, o.node, expires))
      if (res.status === 409) continue
      if (res.status !== 201) throw new Error(`creating Secret kube-system/bootstrap-token-${id} failed (HTTP ${res.status}): ${res.body?.message ?? ''}`)
      const token = `${id}.${secret}`
      return [
        token,
        ...(pin === undefined
          ? []
          : [`on node ${o.node}, until ${expires.toISOString()}:`,
              `  edge-metaserver join --server ${o.joinServer ?? 'SHIM_HOST:10562'} --token ${token} --ca-cert-hash ${pin} --node-name ${o.node}`]),
      ]
    }
    throw new Error('two token IDs in a row were already taken')
  })
}
