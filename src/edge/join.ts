// `edge-metaserver join`: one command from a bare node to the files the edge daemon starts from.
//  1. GET the shim's join info over TLS *without* trusting it yet; pin the tunnel CA by the hash the
//     operator copied (kubeadm's --discovery-token-ca-cert-hash) and check the server's certificate
//     is signed by it. The token is sent only after this, so a man in the middle never sees it.
//  2. Generate both keys here (they never leave the node), send the token and two PKCS#10 requests
//     over TLS verified against the pinned CA; get the tunnel client certificate, the serving
//     certificate and the cluster CA back.
//  3. Check what came back, then write everything at once (join-files.ts) and merge the node's
//     values into the config file (other keys and comments are kept).
// Every failure is one line and its own exit code, before anything is written.
/* eslint-disable @typescript-eslint/no-explicit-any -- the shim's JSON answers are untyped here; every field used is checked where it is read */
import { X509Certificate, type KeyObject } from 'node:crypto'
import https from 'node:https'
import { isIP } from 'node:net'
import { readFile } from 'node:fs/promises'
import { dirname, join as joinPath, resolve } from 'node:path'
import type { TLSSocket } from 'node:tls'
import { parseDocument } from 'yaml'
import { formatConfigErrors, parseConfigText } from '../config/index.js'
import { BOOTSTRAP_TOKEN } from '../kube/bootstrap-token.js'
import { createCertificateRequest, newNodeKey, privateKeyPem, publicKeyPin } from '../pki/x509.js'
import { keyAccess, writeAll, type OutFile } from './join-files.js'

/** Exit codes, one per kind of failure the operator fixes differently. */
export const JOIN_EXIT = {
  failed: 1,
  usage: 2,
  /** Nothing answers, or what answers is not an edge-metaserver join endpoint. */
  wrongServer: 3,
  /** The CA does not match --ca-cert-hash, or the server's certificate does not chain to it. */
  wrongCaHash: 4,
  /** kube-apiserver does not accept the token (unknown, expired, deleted, not a bootstrap token). */
  tokenRejected: 5,
  /** The token is valid but made for another node (or for none). */
  wrongNode: 6,
  /** The serving certificate was denied or not signed. */
  certificateRefused: 7,
} as const

export class JoinFailure extends Error {
  constructor (readonly exitCode: number, message: string) { super(message) }
}

export interface JoinOptions {
  /** HOST:PORT of the shim's join listener. */
  server: string
  token: string
  caCertHash: string
  nodeName: string
  /** Where keys and certificates go (under pki/). */
  dir: string
  /** The edge config to create, or to merge the node's values into. */
  configFile: string
  /** HOST:PORT the edge dials; default: the join server's host and the tunnel port the shim reports. */
  tunnelServer?: string
}

interface JoinInfo { tunnelCa: string, tunnelPort: number, servingIPAddresses: string[], servingDNSNames: string[] }
interface JoinResult { tunnelCertificate: string, tunnelCa: string, servingCertificate: string, clusterCa: string }

const TIMEOUT_MS = 60_000
const HASH = /^sha256:[0-9a-f]{64}$/

export function checkJoinOptions (o: JoinOptions): void {
  const usage = (m: string): never => { throw new JoinFailure(JOIN_EXIT.usage, m) }
  if (!BOOTSTRAP_TOKEN.test(o.token)) usage('--token must be a bootstrap token: [a-z0-9]{6}.[a-z0-9]{16}')
  if (!HASH.test(o.caCertHash)) usage('--ca-cert-hash must be sha256:<64 hex digits> (printed by "edge-metaserver token create")')
  if (!/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(o.nodeName) || o.nodeName.length > 253) {
    usage(`node name "${o.nodeName}" is not a lowercase RFC 1123 subdomain; pass --node-name`)
  }
  splitHostPort(o.server, '--server')
  if (o.tunnelServer !== undefined) splitHostPort(o.tunnelServer, '--tunnel-server')
}

function splitHostPort (s: string, flag: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s)
  const port = Number(m?.[3])
  if (m === null || port < 1 || port > 65535) throw new JoinFailure(JOIN_EXIT.usage, `${flag} must be HOST:PORT, got "${s}"`)
  return { host: m[1] ?? m[2]!, port }
}

/** Joins this node; returns the lines to print. */
export async function joinNode (o: JoinOptions): Promise<string[]> {
  checkJoinOptions(o)
  const server = splitHostPort(o.server, '--server')
  // The config is read (and must parse) before anything is asked of the shim.
  const baseConfig = await readFile(o.configFile, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined
    throw new JoinFailure(JOIN_EXIT.failed, `cannot read ${o.configFile}: ${err.message}`)
  })

  const { info, peer } = await fetchInfo(server)
  const pin = publicKeyPin(info.tunnelCa)
  if (pin !== o.caCertHash) throw new JoinFailure(JOIN_EXIT.wrongCaHash, `the shim's CA is ${pin}, not --ca-cert-hash ${o.caCertHash}: wrong hash, or not the shim you meant`)
  const ca = new X509Certificate(info.tunnelCa)
  if (!peer.checkIssued(ca) || !peer.verify(ca.publicKey)) {
    throw new JoinFailure(JOIN_EXIT.wrongCaHash, `${o.server} presented a certificate not signed by the CA it names: not the shim you meant`)
  }

  const tunnelKey = newNodeKey()
  const servingKey = newNodeKey()
  const subject = { cn: `system:node:${o.nodeName}`, o: ['system:nodes'] }
  const result = await postJoin(server, info.tunnelCa, {
    token: o.token,
    nodeName: o.nodeName,
    tunnelCsr: createCertificateRequest(tunnelKey, subject),
    servingCsr: createCertificateRequest(servingKey, subject, { ips: info.servingIPAddresses, dns: info.servingDNSNames }),
  })
  checkResult(result, tunnelKey, servingKey)

  const pki = joinPath(o.dir, 'pki')
  const paths = {
    tunnelCa: joinPath(pki, 'tunnel-ca.crt'), nodeCert: joinPath(pki, 'node.crt'), nodeKey: joinPath(pki, 'node.key'),
    servingCert: joinPath(pki, 'server.crt'), servingKey: joinPath(pki, 'server.key'), clusterCa: joinPath(pki, 'cluster-ca.crt'),
  }
  const tunnelServer = o.tunnelServer ?? `${isIP(server.host) === 6 ? `[${server.host}]` : server.host}:${info.tunnelPort}`
  const config = edgeConfig(baseConfig, o, tunnelServer, paths)
  const access = await keyAccess()
  const files: OutFile[] = [
    { path: paths.tunnelCa, content: result.tunnelCa, secret: false },
    { path: paths.nodeCert, content: result.tunnelCertificate, secret: false },
    { path: paths.nodeKey, content: privateKeyPem(tunnelKey), secret: true },
    { path: paths.servingCert, content: result.servingCertificate, secret: false },
    { path: paths.servingKey, content: privateKeyPem(servingKey), secret: true },
    { path: paths.clusterCa, content: result.clusterCa, secret: false },
    { path: o.configFile, content: config, secret: false },
  ]
  await writeAll(files, access).catch((err: Error) => { throw new JoinFailure(JOIN_EXIT.failed, `writing ${o.dir} failed: ${err.message}`) })
  const tunnelCert = new X509Certificate(result.tunnelCertificate)
  const servingCert = new X509Certificate(result.servingCertificate)
  return [
    `node ${o.nodeName} joined: tunnel certificate valid until ${new Date(tunnelCert.validTo).toISOString()}, serving certificate until ${new Date(servingCert.validTo).toISOString()}`,
    `wrote ${pki}/{tunnel-ca.crt,node.crt,node.key,server.crt,server.key,cluster-ca.crt} and ${o.configFile}`,
    access.mode === 0o640 ? 'keys are 0640 root:edge-metaserver' : `keys are 0600 (${access.why}): the service's user must be able to read them`,
    `start it: systemctl enable --now edge-metaserver${resolve(o.configFile) === '/etc/edge-metaserver/config.yaml' ? '' : `   (or: edge-metaserver edge --config ${o.configFile})`}`,
  ]
}

function checkResult (r: JoinResult, tunnelKey: KeyObject, servingKey: KeyObject): void {
  const bad = (m: string): never => { throw new JoinFailure(JOIN_EXIT.failed, `the shim answered with ${m}`) }
  try {
    const tunnel = new X509Certificate(r.tunnelCertificate)
    const serving = new X509Certificate(r.servingCertificate)
    const clusterCa = new X509Certificate(r.clusterCa)
    if (!tunnel.checkPrivateKey(tunnelKey)) bad('a tunnel certificate for another key')
    if (!tunnel.verify(new X509Certificate(r.tunnelCa).publicKey)) bad('a tunnel certificate not signed by the tunnel CA')
    if (!serving.checkPrivateKey(servingKey)) bad('a serving certificate for another key')
    if (!serving.verify(clusterCa.publicKey)) bad('a serving certificate that does not chain to the cluster CA (pods would refuse it)')
  } catch (err) {
    if (err instanceof JoinFailure) throw err
    bad(`an unreadable certificate (${(err as Error).message})`)
  }
}

/** The config file: the operator's own (kept, comments and all) or a new one, with the node's values set. */
function edgeConfig (base: string | undefined, o: JoinOptions, tunnelServer: string,
  paths: { tunnelCa: string, nodeCert: string, nodeKey: string, servingCert: string, servingKey: string }): string {
  const doc = parseDocument(base ?? 'apiVersion: edge-metaserver.io/v1alpha1\nkind: EdgeMetaServer\n')
  if (doc.errors.length > 0) throw new JoinFailure(JOIN_EXIT.failed, `${o.configFile}: ${doc.errors[0]!.message}`)
  doc.set('nodeName', o.nodeName)
  doc.setIn(['modules', 'edgeHub', 'server'], tunnelServer)
  doc.setIn(['modules', 'edgeHub', 'tlsCaFile'], paths.tunnelCa)
  doc.setIn(['modules', 'edgeHub', 'tlsCertFile'], paths.nodeCert)
  doc.setIn(['modules', 'edgeHub', 'tlsPrivateKeyFile'], paths.nodeKey)
  doc.setIn(['modules', 'metaServer', 'tlsCertFile'], paths.servingCert)
  doc.setIn(['modules', 'metaServer', 'tlsPrivateKeyFile'], paths.servingKey)
  const text = doc.toString()
  const parsed = parseConfigText(text, o.configFile, dirname(resolve(o.configFile)), { kind: 'EdgeMetaServer' })
  if (!parsed.ok) throw new JoinFailure(JOIN_EXIT.failed, `the resulting config would not load:\n${formatConfigErrors(parsed.errors)}`)
  return text
}

interface Answer { status: number, body: any, peer: X509Certificate | undefined }

function request (server: { host: string, port: number }, method: string, path: string, tls: https.RequestOptions, body?: unknown): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const text = body === undefined ? undefined : JSON.stringify(body)
    const req = https.request({
      host: server.host, port: server.port, method, path, agent: false, timeout: TIMEOUT_MS,
      ...(isIP(server.host) === 0 ? { servername: server.host } : {}),
      headers: { accept: 'application/json', ...(text === undefined ? {} : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) }) },
      ...tls,
    }, (res) => {
      const peerRaw = (res.socket as TLSSocket).getPeerCertificate?.()?.raw
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (c: Buffer) => { size += c.length; if (size <= 1 << 20) chunks.push(c) })
      res.once('end', () => {
        let parsed: unknown
        try { parsed = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { parsed = undefined }
        resolve({ status: res.statusCode!, body: parsed, peer: peerRaw === undefined ? undefined : new X509Certificate(peerRaw) })
      })
      res.once('error', reject)
    })
    req.once('timeout', () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })))
    req.once('error', reject)
    req.end(text)
  })
}

const target = (s: { host: string, port: number }): string => `${isIP(s.host) === 6 ? `[${s.host}]` : s.host}:${s.port}`

async function fetchInfo (server: { host: string, port: number }): Promise<{ info: JoinInfo, peer: X509Certificate }> {
  let answer: Answer
  try {
    // Not verified here on purpose: the CA pin below is the trust anchor (kubeadm's discovery).
    answer = await request(server, 'GET', '/join/v1/info', { rejectUnauthorized: false })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new JoinFailure(JOIN_EXIT.wrongServer, `cannot reach ${target(server)}: ${e.code ?? e.message}${e.code === 'EPROTO' || /SSL|TLS/.test(e.message) ? ' (is it TLS? the join port is modules.cloudHub.join.address)' : ''}`)
  }
  const info = answer.body
  if (answer.status !== 200 || info?.kind !== 'JoinInfo' || typeof info.tunnelCa !== 'string' || typeof info.tunnelPort !== 'number' ||
    !Array.isArray(info.servingIPAddresses) || !Array.isArray(info.servingDNSNames) || answer.peer === undefined) {
    throw new JoinFailure(JOIN_EXIT.wrongServer, `${target(server)} is not an edge-metaserver join endpoint (GET /join/v1/info answered HTTP ${answer.status})`)
  }
  try { publicKeyPin(info.tunnelCa) } catch {
    throw new JoinFailure(JOIN_EXIT.wrongServer, `${target(server)} sent a tunnel CA that is not a certificate`)
  }
  return { info, peer: answer.peer }
}

async function postJoin (server: { host: string, port: number }, tunnelCa: string, body: unknown): Promise<JoinResult> {
  let answer: Answer
  try {
    answer = await request(server, 'POST', '/join/v1/certificates', { ca: tunnelCa, rejectUnauthorized: true }, body)
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
      throw new JoinFailure(JOIN_EXIT.wrongCaHash, `the shim's certificate is not valid for ${server.host}: use a name or address it was issued for`)
    }
    throw new JoinFailure(JOIN_EXIT.wrongServer, `the join request to ${target(server)} failed: ${e.code ?? e.message}`)
  }
  const b = answer.body
  if (answer.status === 200 && b?.kind === 'JoinResult') return b as JoinResult
  const reason: string = typeof b?.reason === 'string' ? b.reason : 'Unknown'
  const message = typeof b?.message === 'string' ? b.message : `HTTP ${answer.status}`
  const code = ({
    InvalidToken: JOIN_EXIT.tokenRejected, TokenRejected: JOIN_EXIT.tokenRejected, NotABootstrapToken: JOIN_EXIT.tokenRejected,
    TokenNotBoundToNode: JOIN_EXIT.wrongNode, TokenForAnotherNode: JOIN_EXIT.wrongNode,
    ServingCertificateDenied: JOIN_EXIT.certificateRefused, ServingCertificateFailed: JOIN_EXIT.certificateRefused, Timeout: JOIN_EXIT.certificateRefused,
  } as Record<string, number>)[reason] ?? JOIN_EXIT.failed
  throw new JoinFailure(code, `the shim refused the join: ${message}`)
}
