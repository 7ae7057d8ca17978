// PKCS#10 requests and X.509 certificates, built and read with der.ts and signed by node:crypto:
// what `join` (a request per key) and the shim (a tunnel client certificate; checking a serving
// request before approving it) need, and nothing more. No I/O.
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, sign, verify, X509Certificate, type KeyObject } from 'node:crypto'
import { isIP } from 'node:net'
import {
  bits, bool, children, decodeBits, decodeOid, DerError, expect, explicit, implicit, nul, octets, oid, read, seq, set,
  smallInt, time, tlv, uint, utf8, type Der, type Node,
} from './der.js'

const OID = {
  cn: '2.5.4.3',
  o: '2.5.4.10',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  rsaSha256: '1.2.840.113549.1.1.11',
} as const

export interface Subject { cn: string, o: string[] }
export interface Sans { dns: string[], ips: string[] }

/** A request as read: what it asks for, and its public key (the signature is already verified). */
export interface CertificateRequest {
  subject: Subject
  /** Subject attributes other than CN and O (a strict approver refuses them). */
  otherSubjectAttributes: string[]
  sans: Sans
  /** rfc822Name, URI or other SAN kinds: never wanted here. */
  otherSans: string[]
  publicKey: KeyObject
}

export class RequestError extends Error {}

function name (subject: Subject): Der {
  return seq(
    set(seq(oid(OID.cn), utf8(subject.cn))),
    ...subject.o.map((o) => set(seq(oid(OID.o), utf8(o))))
  )
}

function ipBytes (ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number))
  const [head = '', tail = ''] = ip.split('::')
  const groups = (s: string): string[] => s === '' ? [] : s.split(':')
  const h = groups(head)
  const t = ip.includes('::') ? groups(tail) : []
  const all = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t]
  return Buffer.concat(all.map((g) => Buffer.from(parseInt(g, 16).toString(16).padStart(4, '0'), 'hex')))
}

function formatIp (b: Buffer): string {
  if (b.length === 4) return [...b].join('.')
  if (b.length !== 16) throw new DerError('an IP SAN of neither 4 nor 16 bytes')
  const groups: string[] = []
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16))
  // The canonical (RFC 5952) form, so a set comparison does not depend on spelling.
  return new URL(`http://[${groups.join(':')}]/`).hostname.slice(1, -1)
}

/** An IP address in its canonical spelling (as formatIp prints it), for comparisons. */
export function canonicalIp (ip: string): string {
  return formatIp(ipBytes(ip))
}

function sanExtension (sans: Sans): Der {
  return seq(oid(OID.subjectAltName), octets(seq(
    ...sans.dns.map((d) => implicit(2, Buffer.from(d, 'ascii'))),
    ...sans.ips.map((ip) => implicit(7, ipBytes(ip)))
  )))
}

function signatureAlgorithm (key: KeyObject): { der: Der, hash: string } {
  if (key.asymmetricKeyType === 'rsa') return { der: seq(oid(OID.rsaSha256), nul()), hash: 'sha256' }
  if (key.asymmetricKeyType === 'ec') {
    const curve = key.asymmetricKeyDetails?.namedCurve
    if (curve === 'prime256v1') return { der: seq(oid(OID.ecdsaSha256)), hash: 'sha256' }
    if (curve === 'secp384r1') return { der: seq(oid(OID.ecdsaSha384)), hash: 'sha384' }
  }
  throw new RequestError(`unsupported key type ${key.asymmetricKeyType ?? '?'} (RSA, or EC P-256/P-384)`)
}

function signed (tbs: Der, key: KeyObject): Der {
  const alg = signatureAlgorithm(key)
  return seq(tbs, alg.der, bits(sign(alg.hash, tbs, key)))
}

const pem = (label: string, der: Buffer): string =>
  `-----BEGIN ${label}-----\n${der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n')}-----END ${label}-----\n`

function unpem (label: string, text: string): Buffer {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(text)
  if (m === null) throw new RequestError(`not a PEM ${label}`)
  return Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64')
}

/** A PKCS#10 request (PEM) for `key`'s public half, signed with it. */
export function createCertificateRequest (key: KeyObject, subject: Subject, sans: Sans = { dns: [], ips: [] }): string {
  const spki = createPublicKey(key).export({ type: 'spki', format: 'der' })
  const attributes = sans.dns.length + sans.ips.length === 0
    ? Buffer.alloc(0)
    : seq(oid(OID.extensionRequest), set(seq(sanExtension(sans))))
  // attributes [0] IMPLICIT SET OF Attribute: the one extensionRequest, or none.
  const info = seq(smallInt(0), name(subject), spki, tlv(0xa0, attributes))
  return pem('CERTIFICATE REQUEST', signed(info, key))
}

function readString (node: Node): string {
  // UTF8String, PrintableString, IA5String, T61String, BMPString (UCS-2 big-endian).
  if (node.tag === 0x1e) return Buffer.from(node.content).swap16().toString('utf16le')
  if ([0x0c, 0x13, 0x16, 0x14].includes(node.tag)) return node.content.toString('utf8')
  throw new DerError(`unexpected string type 0x${node.tag.toString(16)}`)
}

function readName (node: Node): { subject: Subject, other: string[] } {
  const subject: Subject = { cn: '', o: [] }
  const other: string[] = []
  let cns = 0
  for (const rdn of children(expect(node, 0x30, 'Name'))) {
    for (const atv of children(expect(rdn, 0x31, 'RelativeDistinguishedName'))) {
      const [type, value] = children(expect(atv, 0x30, 'AttributeTypeAndValue'))
      const t = decodeOid(type!)
      if (value === undefined) throw new DerError('attribute without a value')
      if (t === OID.cn) { subject.cn = readString(value); cns++ } else if (t === OID.o) subject.o.push(readString(value))
      else other.push(t)
    }
  }
  if (cns > 1) other.push(`${OID.cn} (more than one CN)`)
  return { subject, other }
}

function readSans (extnValue: Buffer): { sans: Sans, other: string[] } {
  const sans: Sans = { dns: [], ips: [] }
  const other: string[] = []
  for (const gn of children(read(extnValue))) {
    if (gn.tag === 0x82) sans.dns.push(gn.content.toString('ascii'))
    else if (gn.tag === 0x87) sans.ips.push(formatIp(gn.content))
    else other.push(`GeneralName [${gn.tag & 0x1f}]`)
  }
  return { sans, other }
}

/** Reads a PEM PKCS#10 request and verifies its signature (proof that the requester holds the key). */
export function parseCertificateRequest (text: string): CertificateRequest {
  try {
    const der = unpem('CERTIFICATE REQUEST', text)
    const top = read(der)
    if (top.raw.length !== der.length) throw new DerError('trailing bytes after the request')
    const [info, alg, sig] = children(expect(top, 0x30, 'CertificationRequest'))
    const [version, subjectNode, spki, attrs] = children(expect(info, 0x30, 'CertificationRequestInfo'))
    if (expect(version, 0x02, 'version').content.toString('hex') !== '00') throw new DerError('request version is not 1')
    const { subject, other } = readName(subjectNode!)
    const publicKey = createPublicKey({ key: expect(spki, 0x30, 'SubjectPublicKeyInfo').raw, format: 'der', type: 'spki' })
    const algOid = decodeOid(children(expect(alg, 0x30, 'AlgorithmIdentifier'))[0]!)
    const hash = { [OID.ecdsaSha256]: 'sha256', [OID.ecdsaSha384]: 'sha384', [OID.rsaSha256]: 'sha256' }[algOid]
    if (hash === undefined) throw new RequestError(`unsupported signature algorithm ${algOid}`)
    if (!verify(hash, info!.raw, publicKey, decodeBits(sig!))) throw new RequestError('the request\'s signature does not verify')
    let sans: Sans = { dns: [], ips: [] }
    const otherSans: string[] = []
    for (const attr of attrs === undefined ? [] : children(expect(attrs, 0xa0, 'attributes'))) {
      const [type, values] = children(expect(attr, 0x30, 'Attribute'))
      const t = decodeOid(type!)
      if (t !== OID.extensionRequest) { otherSans.push(`attribute ${t}`); continue }
      for (const ext of children(children(expect(values, 0x31, 'values'))[0]!)) {
        const parts = children(expect(ext, 0x30, 'Extension'))
        const id = decodeOid(parts[0]!)
        const value = expect(parts[parts.length - 1], 0x04, 'extnValue').content
        if (id !== OID.subjectAltName) { otherSans.push(`extension ${id}`); continue }
        const read = readSans(value)
        sans = read.sans
        otherSans.push(...read.other)
      }
    }
    return { subject, otherSubjectAttributes: other, sans, otherSans, publicKey }
  } catch (err) {
    if (err instanceof DerError) throw new RequestError(`malformed certificate request: ${err.message}`)
    if (err instanceof RequestError) throw err
    throw new RequestError(`malformed certificate request: ${(err as Error).message}`)
  }
}

export interface IssueOptions {
  caCertPem: string
  caKey: KeyObject
  subject: Subject
  publicKey: KeyObject
  notBefore: Date
  notAfter: Date
}

/** A client-auth-only leaf certificate (PEM) for `publicKey`, signed by the CA. */
export function issueClientCertificate (o: IssueOptions): string {
  const ca = new X509Certificate(o.caCertPem)
  const caTbs = children(read(ca.raw))[0]!
  // The issuer is the CA's subject byte for byte (fields: [0] version, serial, sigAlg, issuer, validity, subject).
  const caSubject = children(caTbs)[5]!.raw
  const serial = randomBytes(16)
  serial[0] = (serial[0]! & 0x7f) | 0x01
  const tbs = seq(
    explicit(0, smallInt(2)),
    uint(serial),
    signatureAlgorithm(o.caKey).der,
    caSubject,
    seq(time(o.notBefore), time(o.notAfter)),
    name(o.subject),
    o.publicKey.export({ type: 'spki', format: 'der' }),
    explicit(3, seq(
      seq(oid(OID.basicConstraints), bool(true), octets(seq())),
      // digitalSignature only: bit 0 of the KeyUsage BIT STRING (7 unused bits).
      seq(oid(OID.keyUsage), bool(true), octets(Buffer.from([0x03, 0x02, 0x07, 0x80]))),
      seq(oid(OID.extKeyUsage), octets(seq(oid(OID.clientAuth))))
    ))
  )
  return pem('CERTIFICATE', signed(tbs, o.caKey))
}

/** kubeadm's CA pin: "sha256:" and the hex SHA-256 of the certificate's SubjectPublicKeyInfo. */
export function publicKeyPin (certPem: string): string {
  const spki = new X509Certificate(certPem).publicKey.export({ type: 'spki', format: 'der' })
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`
}

/** A node's new private key (EC P-256: small, fast, and what kube-apiserver's signers accept). */
export function newNodeKey (): KeyObject {
  return generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey
}

export function privateKeyPem (key: KeyObject): string {
  return key.export({ type: 'pkcs8', format: 'pem' }) as string
}
