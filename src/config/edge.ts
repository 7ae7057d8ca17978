// Schema and types for the edge role (kind: EdgeMetaServer). Key names mirror
// KubeEdge's edgecore.yaml so its users find settings where they expect them.
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
  addressList,
  bool,
  duration,
  filePath,
  int,
  literal,
  obj,
  oneOf,
  optionalAddress,
  optionalStr,
  size,
  str,
  stringList,
} from './schema.js'
import { addressesConflict, formatAddress, type Address } from './values.js'

export const EDGE_KIND = 'EdgeMetaServer'

/** The pods' API endpoint (KubeEdge: modules.metaManager.metaServer). */
export interface MetaServerConfig {
  /** Always true: accepted for KubeEdge-shaped files, `false` is refused. */
  readonly enable: boolean
  readonly server: Address
  /** Link-local listener on a dummy interface; null when disabled with "". */
  readonly dummyServer: Address | null
  readonly dummyInterface: string
  /** Absolute paths (relative ones are resolved against the config file's directory). */
  readonly tlsCertFile: string
  readonly tlsPrivateKeyFile: string
  readonly serviceAccountIssuers: readonly string[]
  /** Never empty: an empty list in the file means "same as serviceAccountIssuers". */
  readonly apiAudiences: readonly string[]
  /** Bytes. */
  readonly maxRequestBodyBytes: number
  /** Milliseconds; applies to non-watch requests. */
  readonly requestTimeout: number
  readonly maxInflightRequests: number
  /** Watches and other long-running requests open at once (each holds a tunnel stream). */
  readonly maxLongRunningRequests: number
  /** Milliseconds. */
  readonly shutdownGracePeriod: number
  readonly redirect: RedirectConfig
}

/** Transparent redirection of pods' connections to the `kubernetes` Service (src/edge/redirect.ts). */
export interface RedirectConfig {
  /**
   * IPv4 ClusterIP of the `kubernetes` Service, or 'auto' (ClusterIP and port as the cloud shim read
   * them from the cluster, remembered for an offline start); null (the default) leaves redirection off.
   */
  readonly serviceClusterIP: string | null
  /** Ignored with 'auto' (the Service's own https port is used). */
  readonly servicePort: number
  readonly backend: 'auto' | 'nftables' | 'iptables'
  /** Milliseconds between checks that the iptables jump is still first in nat PREROUTING. */
  readonly recheckPeriod: number
}

/** The HTTP/2 mTLS tunnel to the cloud shim (KubeEdge: modules.edgeHub). */
export interface EdgeHubConfig {
  readonly enable: boolean
  /**
   * Cloud shim tunnel addresses in order of preference (one string in the file is a list of one);
   * a name may resolve to several addresses, each a server of its own. Never empty when `enable`
   * is true.
   */
  readonly server: readonly Address[]
  readonly tlsCaFile: string
  readonly tlsCertFile: string
  readonly tlsPrivateKeyFile: string
  /**
   * Name every cloud certificate is verified against; null means each server's
   * own host as written in `server`. May be an IP literal, which must then not
   * be sent as SNI.
   */
  readonly serverName: string | null
  /** Milliseconds, like every duration below. */
  readonly heartbeatPeriod: number
  readonly heartbeatTimeout: number
  readonly reconnectBackoffInitial: number
  readonly reconnectBackoffMax: number
  readonly connectTimeout: number
  /** While the tunnel is down, failed dials are logged at warn at most this often (with a count). */
  readonly dialFailureLogInterval: number
  /** Codings the edge accepts for answers on the tunnel: auto (zstd where the runtime has it, gzip), zstd, gzip, none. */
  readonly compression: 'auto' | 'zstd' | 'gzip' | 'none'
}

export interface CacheConfig {
  readonly enable: boolean
  /** Bytes. */
  readonly maxSizeBytes: number
  /** Milliseconds between BOOKMARKs on a watch held while the cloud is unreachable. */
  readonly watchBookmarkInterval: number
  /** Milliseconds; a held watch ends after a random time between this and twice this. */
  readonly offlineWatchTimeout: number
}

export interface EdgeConfig {
  readonly apiVersion: ApiVersion
  readonly kind: typeof EDGE_KIND
  /** Null when unset; the caller then takes it from the tunnel certificate's CN. */
  readonly nodeName: string | null
  readonly stateDir: string
  readonly featureGates: FeatureGates
  readonly modules: {
    readonly metaServer: MetaServerConfig
    readonly edgeHub: EdgeHubConfig
    readonly cache: CacheConfig
  }
  readonly logging: LoggingConfig
}

const PKI = '/etc/edge-metaserver/pki'

const redirectField = obj<RedirectConfig>(
  {
    serviceClusterIP: optionalStr(),
    servicePort: int({ default: 443, min: 1, max: 65535 }),
    backend: oneOf(['auto', 'nftables', 'iptables'], 'auto'),
    recheckPeriod: duration({ default: '30s', positive: true }),
  },
  (v, issue) => {
    // A DNAT cannot cross address families and the dummy address it targets is IPv4.
    if (v.serviceClusterIP !== null && v.serviceClusterIP !== 'auto' && isIP(v.serviceClusterIP) !== 4) {
      issue('serviceClusterIP', `must be an IPv4 address (the ClusterIP of the kubernetes Service: kubectl get service kubernetes -n default) or auto, got "${v.serviceClusterIP}"`)
    }
  }
)

const metaServerField = obj<MetaServerConfig>(
  {
    enable: bool(true),
    server: address({ default: '127.0.0.1:10550' }),
    dummyServer: optionalAddress({ default: '169.254.30.10:10550' }),
    dummyInterface: str({
      default: 'edge-dummy0',
      // Linux IFNAMSIZ is 16 including the terminating NUL.
      maxLength: 15,
      pattern: /^(?!\.{1,2}$)[a-zA-Z0-9_.-]+$/,
      patternHint: 'must be a network interface name of letters, digits, "_", "." and "-"',
    }),
    tlsCertFile: filePath({ default: `${PKI}/server.crt`, mustExist: true }),
    tlsPrivateKeyFile: filePath({ default: `${PKI}/server.key`, mustExist: true }),
    serviceAccountIssuers: stringList({ default: ['https://kubernetes.default.svc.cluster.local'], minItems: 1 }),
    apiAudiences: stringList({ default: [] }),
    maxRequestBodyBytes: size({ default: '3Mi', positive: true }),
    requestTimeout: duration({ default: '60s', positive: true }),
    maxInflightRequests: int({ default: 400, min: 1, max: 100_000 }),
    maxLongRunningRequests: int({ default: 3000, min: 1, max: 100_000 }),
    shutdownGracePeriod: duration({ default: '30s' }),
    redirect: redirectField,
  },
  (v, issue) => {
    // Accepted so KubeEdge-shaped files load; `false` would leave a daemon that serves nothing.
    if (!v.enable) issue('enable', 'must be true: serving the pods\' API is what edge-metaserver is for (to run without it, do not run the edge daemon)')
    // The daemon puts this address on an interface itself (`ip addr add <ip>/32`): a name won't do.
    if (v.dummyServer && isIP(v.dummyServer.host) !== 4) {
      issue('dummyServer', `must be an IPv4 address (it is added to an interface as a /32), got "${v.dummyServer.host}"`)
    }
    if (v.dummyServer && addressesConflict(v.server, v.dummyServer)) {
      issue('dummyServer', `conflicts with modules.metaServer.server (${formatAddress(v.server)})`)
    }
    // Redirected connections are delivered to the dummy listener: without it they would be refused.
    if (v.redirect.serviceClusterIP !== null && v.dummyServer === null) {
      issue('redirect', 'serviceClusterIP needs modules.metaServer.dummyServer: redirected connections are delivered to the dummy listener, which is disabled')
    }
    // Resolve here so consumers never have to re-implement the fallback.
    if (v.apiAudiences.length === 0) return { ...v, apiAudiences: v.serviceAccountIssuers }
  }
)

const edgeHubField = obj<EdgeHubConfig>(
  {
    enable: bool(true),
    server: addressList({ allowPortZero: false }),
    tlsCaFile: filePath({ default: `${PKI}/tunnel-ca.crt`, mustExist: true }),
    tlsCertFile: filePath({ default: `${PKI}/node.crt`, mustExist: true }),
    tlsPrivateKeyFile: filePath({ default: `${PKI}/node.key`, mustExist: true }),
    serverName: optionalStr(),
    heartbeatPeriod: duration({ default: '15s', positive: true }),
    heartbeatTimeout: duration({ default: '10s', positive: true }),
    reconnectBackoffInitial: duration({ default: '500ms', positive: true }),
    reconnectBackoffMax: duration({ default: '30s', positive: true }),
    connectTimeout: duration({ default: '10s', positive: true }),
    dialFailureLogInterval: duration({ default: '1m', positive: true }),
    // Off by default for memory: a compression context lives as long as its stream (~30 KiB per
    // watch here, ~90 KiB at the shim); on where the uplink matters (README, "Compression on the tunnel").
    compression: oneOf(['auto', 'zstd', 'gzip', 'none'], 'none'),
  },
  (v, issue) => {
    if (v.enable && v.server.length === 0) {
      issue('server', 'missing required key (the cloud shim tunnel address is required when modules.edgeHub.enable is true)')
    }
    if (v.reconnectBackoffInitial > v.reconnectBackoffMax) {
      issue('reconnectBackoffInitial', 'must not be greater than modules.edgeHub.reconnectBackoffMax')
    }
  }
)

const cacheField = obj<CacheConfig>({
  enable: bool(true),
  maxSizeBytes: size({ default: '256Mi', positive: true }),
  watchBookmarkInterval: duration({ default: '60s', positive: true }),
  offlineWatchTimeout: duration({ default: '30m', positive: true }),
})

export const edgeSchema = obj<EdgeConfig>({
  apiVersion: literal(API_VERSION),
  kind: literal(EDGE_KIND),
  nodeName: optionalStr({
    maxLength: 253,
    pattern: /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    patternHint: 'must be a lowercase RFC 1123 subdomain (a Kubernetes node name)',
  }),
  stateDir: filePath({ default: '/var/lib/edge-metaserver', mustExist: false }),
  featureGates: featureGatesField,
  modules: obj<EdgeConfig['modules']>({
    metaServer: metaServerField,
    edgeHub: edgeHubField,
    cache: cacheField,
  }),
  logging: loggingField,
}, (v, issue) => {
  // Without the gate the edge serves plain HTTP with no authentication: anything that can reach
  // the listener acts with whatever token it holds. That is tolerable on loopback only.
  const server = v.modules.metaServer.server
  if (!v.featureGates.requireAuthorization && !isLoopback(server.host)) {
    issue('featureGates', 'requireAuthorization: false serves plain HTTP without authentication, so modules.metaServer.server ' +
      `must be a loopback address (127.0.0.1 or ::1), got "${formatAddress(server)}"`)
  }
  if (!v.featureGates.requireAuthorization && v.modules.metaServer.redirect.serviceClusterIP !== null) {
    issue('featureGates', 'requireAuthorization: false starts no dummy listener, so modules.metaServer.redirect.serviceClusterIP cannot be used')
  }
})

function isLoopback (host: string): boolean {
  if (host === 'localhost' || host === '::1') return true
  return isIP(host) === 4 && host.startsWith('127.')
}
