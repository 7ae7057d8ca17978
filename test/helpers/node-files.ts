// A node's tunnel certificate files as the edge reads them (configured pair, tunnel CA, renewed dir),
// with a CertificateFiles over them whose reloads and log lines are recorded.
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto'
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { pino } from 'pino'
import { CertificateFiles, chooseCertificates, RENEWED, type CertificatePaths } from '../../src/edge/certificate-files.js'
import { issueClientCertificate, newNodeKey, privateKeyPem } from '../../src/pki/x509.js'
import { CertificateAuthority } from '../cluster/pki.js'

export interface NodeFiles {
  files: CertificateFiles
  /** Every certificate handed to the tunnel by a reload. */
  used: string[]
  logs: Array<Record<string, any>>
  renewed: (f: keyof typeof RENEWED) => string
  paths: CertificatePaths
}

export class NodePki {
  private constructor (private readonly dir: string, private readonly caPem: string, private readonly caKey: KeyObject) {}

  static async create (dir: string): Promise<NodePki> {
    const ca = await CertificateAuthority.create(join(dir, 'ca'), 'ca', 'tunnel-ca')
    return new NodePki(dir, await readFile(ca.certFile, 'utf8'), createPrivateKey(await readFile(ca.keyFile)))
  }

  /** A tunnel client pair for `node`, valid from `fromHours` to `toHours` (from now). */
  pair (node: string, toHours: number, fromHours = -0.1): { cert: string, key: string } {
    const key = newNodeKey()
    const cert = issueClientCertificate({
      caCertPem: this.caPem, caKey: this.caKey, subject: { cn: `system:node:${node}`, o: ['system:nodes'] }, publicKey: createPublicKey(key),
      notBefore: new Date(Date.now() + fromHours * 3600_000), notAfter: new Date(Date.now() + toHours * 3600_000),
    })
    return { cert, key: privateKeyPem(key) }
  }

  /** Node n1's files with `configured` as its configured pair (no serving pair), loaded as the edge loads them at start. */
  async files (configured = this.pair('n1', 10)): Promise<NodeFiles> {
    const base = await mkdtemp(join(this.dir, 'node-'))
    const paths: CertificatePaths = {
      tunnelCa: join(base, 'ca.crt'), tunnelCert: join(base, 'node.crt'), tunnelKey: join(base, 'node.key'),
      servingCert: undefined, servingKey: undefined, renewedDir: join(base, 'pki'),
    }
    await mkdir(paths.renewedDir)
    await Promise.all([writeFile(paths.tunnelCa, this.caPem), writeFile(paths.tunnelCert, configured.cert), writeFile(paths.tunnelKey, configured.key)])
    const loaded = await chooseCertificates(paths, 'n1')
    if ('refused' in loaded.tunnel) throw new Error(loaded.tunnel.refused)
    if (loaded.tunnel.cert !== configured.cert) throw new Error('the configured pair is not the one loaded at start')
    const used: string[] = []
    const logs: NodeFiles['logs'] = []
    const logger = pino({ level: 'debug' }, { write: (s: string) => { logs.push(JSON.parse(s)) } })
    const files = new CertificateFiles(paths, { tunnel: (c) => used.push(c.cert), serving: () => { throw new Error('no serving pair here') } },
      'n1', { tunnel: loaded.tunnel, serving: undefined }, logger)
    return { files, used, logs, renewed: (f) => join(paths.renewedDir, RENEWED[f]), paths }
  }
}
