// Reading config files from disk. The parsing itself lives in parse.ts.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { CloudConfig } from './cloud.js'
import { CLOUD_KIND } from './cloud.js'
import type { EdgeConfig } from './edge.js'
import { EDGE_KIND } from './edge.js'
import { checkEdgeCertificates } from './certificates.js'
import { ConfigLoadError, sortConfigErrors, type ConfigError } from './errors.js'
import { checkFiles, fsReason } from './files.js'
import { decodeConfigText, toResult, type ConfigResult, type Decoded, type ParseOptions } from './parse.js'

export interface LoadOptions extends ParseOptions {
  /** Also report referenced certificate/key/kubeconfig files that are missing or unreadable. */
  readonly checkFiles?: boolean
}

export async function loadConfigFile (file: string, opts: LoadOptions = {}): Promise<ConfigResult> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    return {
      ok: false,
      errors: [{ file, line: 0, column: 0, path: '', message: `cannot read config file: ${fsReason(err)}` }],
    }
  }
  const decoded = decodeConfigText(text, file, path.dirname(path.resolve(file)), opts)
  if (!opts.checkFiles) return toResult(decoded)
  const fileErrors = await checkFiles(decoded.files)
  // Certificates are read only once every file is there and the config is valid.
  const certificates = decoded.errors.length === 0 && fileErrors.length === 0
    ? await certificateFindings(decoded, file)
    : { errors: [], warnings: [] }
  const result = toResult({ ...decoded, errors: [...decoded.errors, ...fileErrors, ...certificates.errors] })
  return result.ok && certificates.warnings.length > 0 ? { ...result, warnings: sortConfigErrors(certificates.warnings) } : result
}

/** checkEdgeCertificates for each edge document, as config errors and warnings at the line of the key. */
async function certificateFindings (decoded: Decoded, file: string): Promise<{ errors: ConfigError[], warnings: ConfigError[] }> {
  const errors: ConfigError[] = []
  const warnings: ConfigError[] = []
  for (const config of decoded.configs) {
    if (config.kind !== EDGE_KIND) continue
    const hub = config.modules.edgeHub
    const meta = config.modules.metaServer
    const renewed = { tunnel: path.join(config.stateDir, 'pki', 'node.crt'), serving: path.join(config.stateDir, 'pki', 'server.crt') }
    const paths = [hub.tlsCaFile, hub.tlsCertFile, hub.tlsPrivateKeyFile, meta.tlsCertFile, meta.tlsPrivateKeyFile, renewed.tunnel, renewed.serving]
    const texts = new Map(await Promise.all(paths.map(async (p) => [p, await readFile(p, 'utf8').catch(() => undefined)] as const)))
    for (const f of checkEdgeCertificates(config, (p) => texts.get(p), new Date(), renewed)) {
      const at = decoded.files.find((ref) => ref.keyPath === f.keyPath)
      const error: ConfigError = { file, line: at?.line ?? 0, column: at?.column ?? 0, path: f.keyPath, message: f.message }
      ;(f.severity === 'error' ? errors : warnings).push(error)
    }
  }
  return { errors, warnings }
}

/** Loads the EdgeMetaServer document of `file`; throws ConfigLoadError listing every problem. */
export async function loadEdgeConfig (file: string, opts: Omit<LoadOptions, 'kind'> = {}): Promise<EdgeConfig> {
  const r = await loadConfigFile(file, { ...opts, kind: EDGE_KIND })
  if (!r.ok) throw new ConfigLoadError(r.errors)
  if (r.config.kind !== EDGE_KIND) throw new Error('unreachable: kind selection returned another kind')
  return r.config
}

/** Loads the CloudShim document of `file`; throws ConfigLoadError listing every problem. */
export async function loadCloudConfig (file: string, opts: Omit<LoadOptions, 'kind'> = {}): Promise<CloudConfig> {
  const r = await loadConfigFile(file, { ...opts, kind: CLOUD_KIND })
  if (!r.ok) throw new ConfigLoadError(r.errors)
  if (r.config.kind !== CLOUD_KIND) throw new Error('unreachable: kind selection returned another kind')
  return r.config
}
