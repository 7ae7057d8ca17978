// Throw-away PKI for one test run, made with the openssl CLI (Node's crypto cannot issue X.509
// certificates). Nothing here is ever committed: every run generates fresh keys in its own dir.
import { execFile } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

export interface KeyPair {
  certFile: string
  keyFile: string
}

export interface IssueOptions {
  cn: string
  organizations?: string[]
  ipSans?: string[]
  dnsSans?: string[]
  usage: 'server' | 'client' | 'both'
  /** Validity in days (default 2); a renewal in a test may need another expiry than the certificate it replaces. */
  days?: number
}

export class CertificateAuthority implements KeyPair {
  private serial = 1
  constructor (
    readonly dir: string,
    readonly name: string,
    readonly certFile: string,
    readonly keyFile: string
  ) {}

  static async create (dir: string, name: string, cn: string): Promise<CertificateAuthority> {
    await mkdir(dir, { recursive: true })
    const certFile = join(dir, `${name}.crt`)
    const keyFile = join(dir, `${name}.key`)
    await run('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
      '-nodes', '-keyout', keyFile, '-out', certFile, '-subj', `/CN=${cn}`, '-days', '2',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'])
    return new CertificateAuthority(dir, name, certFile, keyFile)
  }

  pem (): Promise<string> {
    return readFile(this.certFile, 'utf8')
  }

  /** Issues a leaf certificate (EC P-256) signed by this CA into `<dir>/<fileName>.{crt,key}`. */
  async issue (fileName: string, opts: IssueOptions): Promise<KeyPair> {
    const keyFile = join(this.dir, `${fileName}.key`)
    const certFile = join(this.dir, `${fileName}.crt`)
    const csrFile = join(this.dir, `${fileName}.csr`)
    const extFile = join(this.dir, `${fileName}.ext`)
    const subject = `/CN=${opts.cn}` + (opts.organizations ?? []).map((o) => `/O=${o}`).join('')
    await run('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
      '-keyout', keyFile, '-out', csrFile, '-subj', subject])
    const sans = [...(opts.ipSans ?? []).map((ip) => `IP:${ip}`), ...(opts.dnsSans ?? []).map((d) => `DNS:${d}`)]
    const eku = { server: 'serverAuth', client: 'clientAuth', both: 'serverAuth,clientAuth' }[opts.usage]
    const ext = ['basicConstraints=critical,CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment',
      `extendedKeyUsage=${eku}`]
    if (sans.length > 0) ext.push(`subjectAltName=${sans.join(',')}`)
    await writeFile(extFile, ext.join('\n') + '\n')
    await run('openssl', ['x509', '-req', '-in', csrFile, '-CA', this.certFile, '-CAkey', this.keyFile,
      '-set_serial', String(Date.now() * 1000 + this.serial++), '-days', String(opts.days ?? 2), '-extfile', extFile, '-out', certFile])
    return { certFile, keyFile }
  }
}

/** The service-account token signing key pair (RSA, as kube-apiserver uses by default). */
export async function createServiceAccountKeys (dir: string): Promise<{ privateKeyFile: string, publicKeyFile: string }> {
  const privateKeyFile = join(dir, 'sa.key')
  const publicKeyFile = join(dir, 'sa.pub')
  await run('openssl', ['genrsa', '-out', privateKeyFile, '2048'])
  await run('openssl', ['rsa', '-in', privateKeyFile, '-pubout', '-out', publicKeyFile])
  return { privateKeyFile, publicKeyFile }
}
