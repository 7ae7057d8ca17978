// Schema and types for the cloud role (kind: CloudShim). Key names mirror
// KubeEdge's cloudcore.yaml so its users find settings where they expect them.
import { isIP } from 'node:net'
import {
  API_VERSION,
  featureGatesField,
  loggingField,
  type ApiVersion,
  type FeatureGates,
  type LoggingConfig,
} from './common.js'
import {
  address,
  bool,
  duration,
  filePath,
  int,
  literal,
  obj,
  oneOf,
  optionalFilePath,
  optionalStr,
  stringList,
} from './schema.js'
import { addressesConflict, formatAddress, type Address } from './values.js'

export const CLOUD_KIND = 'CloudShim'

export const EXECUTION_MODES = ['passthrough'] as const
export type ExecutionMode = (typeof EXECUTION_MODES)[number]

/** How the shim reaches kube-apiserver (KubeEdge: kubeAPIConfig). */
export interface KubeAPIConfig {
  /** Absolute path, or null for in-cluster configuration. */
  readonly kubeConfig: string | null
  /** Milliseconds; applies to non-watch upstream requests. */
  readonly timeout: number
  /** HTTP/1.1 connections for the pods' short requests. */
  readonly maxConnections: number
  /** Short requests relayed at once (running or waiting for a connection); beyond: 429. */
  readonly maxInflightRequests: number
  /** Long-running requests (watches, logs, exec, ...) relayed at once, all edges together; beyond: 429. */
  readonly maxLongRunningRequests: number
  /** HTTP/2 streams per connection for long-running requests; at most kube-apiserver's limit (100 by default). */
  readonly http2MaxStreamsPerConnection: number
}

/** Accepts the edges' tunnels (KubeEdge: modules.cloudHub). */
export interface CloudHubConfig {
  readonly address: Address
  /** Absolute paths. tlsCaFile verifies the edges' client certificates. */
  readonly tlsCaFile: string
  readonly tlsCertFile: string
  readonly tlsPrivateKeyFile: string
  /** Milliseconds. */
  readonly heartbeatPeriod: number
  readonly maxConcurrentStreamsPerNode: number
  /** Plain-HTTP probes and metrics listener. */
  readonly healthzAddress: Address
  /** Milliseconds. */
  readonly shutdownGracePeriod: number
  /** Node names whose tunnel connections are refused after the handshake (a deny list; read at start). */
  readonly revokedNodes: readonly string[]
  /**
   * `namespace/name` of a ConfigMap whose data keys are revoked node names (written by
   * `edge-metaserver node revoke`), watched: a change applies without a restart. Null: none.
   */
  readonly revokedNodesConfigMap: string | null
  /** Refuse a node's tunnel unless its Node object exists (watched: deleting the Node cuts the edge off). */
  readonly requireNodeObject: boolean
  /** Codings the shim may compress answers with on the tunnel, when the edge accepts them: auto (zstd where the runtime has it, gzip), zstd, gzip, none. */
  readonly compression: 'auto' | 'zstd' | 'gzip' | 'none'
  readonly join: JoinConfig
}

/** `edge-metaserver join`: bootstrap tokens exchanged for a node's certificates (see README, "Joining a node"). */
export interface JoinConfig {
  readonly enable: boolean
  /** HTTPS without client certificates, apart from the mTLS-only tunnel listener. */
  readonly address: Address
  /** Absolute path of the tunnel CA's private key (signs the nodes' tunnel client certificates); null when join is off. */
  readonly tlsCaKeyFile: string | null
  /** Milliseconds. */
  readonly nodeCertificateLifetime: number
  /** Milliseconds; asked of the kubelet-serving signer (which may cap it). */
  readonly servingCertificateLifetime: number
  /** Exactly the SANs of every serving certificate the shim approves. */
  readonly servingIPAddresses: readonly string[]
  readonly servingDNSNames: readonly string[]
}

/** Executes the edges' requests (KubeEdge: modules.dynamicController). */
export interface DynamicControllerConfig {
  readonly enable: boolean
  readonly executionMode: ExecutionMode
  readonly tokenReviewCacheSize: number
  /** Milliseconds. */
  readonly tokenReviewCacheMaxTTL: number
  /** Milliseconds; 0 disables caching of rejected tokens. */
  readonly tokenReviewNegativeTTL: number
  /** Empty: TokenReviews use the apiserver's default audiences. */
  readonly apiAudiences: readonly string[]
}

export interface CloudConfig {
  readonly apiVersion: ApiVersion
  readonly kind: typeof CLOUD_KIND
  readonly kubeAPIConfig: KubeAPIConfig
  readonly featureGates: FeatureGates
  readonly modules: {
    readonly cloudHub: CloudHubConfig
    readonly dynamicController: DynamicControllerConfig
  }
  readonly logging: LoggingConfig
}

const PKI = '/etc/edge-metaserver/pki'

const kubeAPIConfigField = obj<KubeAPIConfig>({
  kubeConfig: optionalFilePath({ default: null, mustExist: true }),
  timeout: duration({ default: '60s', positive: true }),
  maxConnections: int({ default: 128, min: 1, max: 10_000 }),
  maxInflightRequests: int({ default: 1000, min: 1, max: 100_000 }),
  maxLongRunningRequests: int({ default: 10_000, min: 1, max: 1_000_000 }),
  // kube-apiserver advertises 100 streams per connection unless --http2-max-streams-per-connection says otherwise.
  http2MaxStreamsPerConnection: int({ default: 100, min: 1, max: 1000 }),
})

const cloudHubField = obj<CloudHubConfig>(
  {
    address: address({ default: '0.0.0.0:10560' }),
    tlsCaFile: filePath({ default: `${PKI}/tunnel-ca.crt`, mustExist: true }),
    tlsCertFile: filePath({ default: `${PKI}/cloud.crt`, mustExist: true }),
    tlsPrivateKeyFile: filePath({ default: `${PKI}/cloud.key`, mustExist: true }),
    heartbeatPeriod: duration({ default: '15s', positive: true }),
    maxConcurrentStreamsPerNode: int({ default: 4000, min: 1, max: 100_000 }),
    healthzAddress: address({ default: '0.0.0.0:10561' }),
    shutdownGracePeriod: duration({ default: '30s' }),
    revokedNodes: stringList({ default: [] }),
    revokedNodesConfigMap: optionalStr({ pattern: /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\/[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/, patternHint: 'must be namespace/name of a ConfigMap' }),
    requireNodeObject: bool(false),
    compression: oneOf(['auto', 'zstd', 'gzip', 'none'], 'auto'),
    join: obj<JoinConfig>({
      enable: bool(false),
      address: address({ default: '0.0.0.0:10562' }),
      tlsCaKeyFile: optionalFilePath({ default: null, mustExist: true }),
      nodeCertificateLifetime: duration({ default: '720h', positive: true }),
      servingCertificateLifetime: duration({ default: '720h', positive: true }),
      servingIPAddresses: stringList({ default: ['127.0.0.1', '169.254.30.10'], minItems: 1 }),
      servingDNSNames: stringList({ default: [] }),
    }, (v, issue) => {
      if (v.enable && v.tlsCaKeyFile === null) issue('tlsCaKeyFile', 'required when modules.cloudHub.join.enable is true (it signs the nodes\' tunnel certificates)')
      const bad = v.servingIPAddresses.find((ip) => isIP(ip) === 0)
      if (bad !== undefined) issue('servingIPAddresses', `"${bad}" is not an IP address`)
      // kube-apiserver refuses a serving certificate shorter than 10 minutes (expirationSeconds >= 600).
      if (v.servingCertificateLifetime < 600_000) issue('servingCertificateLifetime', 'must be at least 10m (the kubelet-serving signer\'s minimum)')
    }),
  },
  (v, issue) => {
    if (addressesConflict(v.address, v.healthzAddress)) {
      issue('healthzAddress', `conflicts with modules.cloudHub.address (${formatAddress(v.address)})`)
    }
    if (v.join.enable && (addressesConflict(v.address, v.join.address) || addressesConflict(v.healthzAddress, v.join.address))) {
      issue('join', `address ${formatAddress(v.join.address)} conflicts with modules.cloudHub.address or healthzAddress`)
    }
  }
)

const dynamicControllerField = obj<DynamicControllerConfig>({
  enable: bool(true),
  executionMode: oneOf(EXECUTION_MODES, 'passthrough'),
  tokenReviewCacheSize: int({ default: 10_000, min: 1, max: 1_000_000 }),
  tokenReviewCacheMaxTTL: duration({ default: '5m' }),
  tokenReviewNegativeTTL: duration({ default: '10s' }),
  apiAudiences: stringList({ default: [] }),
})

export const cloudSchema = obj<CloudConfig>({
  apiVersion: literal(API_VERSION),
  kind: literal(CLOUD_KIND),
  kubeAPIConfig: kubeAPIConfigField,
  featureGates: featureGatesField,
  modules: obj<CloudConfig['modules']>({
    cloudHub: cloudHubField,
    dynamicController: dynamicControllerField,
  }),
  logging: loggingField,
})
