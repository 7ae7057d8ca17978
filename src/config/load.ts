// Reading config files from disk. The parsing itself lives in parse.ts.
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import type { CloudConfig } from './cloud.js'
import { CLOUD_KIND } from './cloud.js'
import type { EdgeConfig } from './edge.js'
import { EDGE_KIND } from './edge.js'
import { ConfigLoadError } from './errors.js'
import { checkFiles, fsReason } from './files.js'
import { decodeConfigText, toResult, type ConfigResult, type ParseOptions } from './parse.js'

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
  return toResult({ ...decoded, errors: [...decoded.errors, ...(await checkFiles(decoded.files))] })
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
