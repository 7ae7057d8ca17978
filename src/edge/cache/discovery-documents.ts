// Bodies that are not API objects but that clients need before anything else: discovery (legacy
// and aggregated), the OpenAPI documents and /version. Cached per path and content type, because
// one path answers several representations (kubectl asks for aggregated discovery, older clients
// for the legacy form). Without /version offline, ingress controllers cannot even start.
import { pickStored } from '../../kube/media-type.js'
import type { StoredDocument } from './store.js'

const DISCOVERY = /^\/(api|apis)(\/[^/]+){0,2}\/?$/
const OPENAPI = /^\/openapi\/v[23](\/.*)?$/

export function isDocumentPath (path: string): boolean {
  return path === '/version' || DISCOVERY.test(path) || OPENAPI.test(path)
}

/** The stored representation the client's Accept header would have chosen, if any. */
export function chooseDocument (accept: string | undefined, stored: StoredDocument[]): StoredDocument | undefined {
  const chosen = pickStored(accept, stored.map((d) => d.contentType))
  return chosen === undefined ? undefined : stored.find((d) => d.contentType === chosen)
}

/**
 * The kind kube-apiserver serves for a resource, as the cached discovery says: the legacy
 * APIResourceList of its group version, or the aggregated APIGroupDiscoveryList of /api or /apis.
 * A custom resource names its kind (and list kind) freely: guessing one from the resource name or
 * the list kind is how peers came to serve "Leas" for leases. undefined: no JSON discovery cached.
 */
export function kindFromDiscovery (documents: (path: string) => StoredDocument[], group: string, version: string, resource: string): string | undefined {
  const legacy = group === '' ? `/api/${version}` : `/apis/${group}/${version}`
  for (const doc of documents(legacy)) {
    const found = parsed(doc)?.resources?.find((r: { name?: unknown }) => r?.name === resource)?.kind
    if (typeof found === 'string' && found !== '') return found
  }
  for (const doc of documents(group === '' ? '/api' : '/apis')) {
    const body = parsed(doc)
    if (body?.kind !== 'APIGroupDiscoveryList' || !Array.isArray(body.items)) continue
    const entry = body.items.find((g: { metadata?: { name?: unknown } }) => (g?.metadata?.name ?? '') === group)
    const resources = entry?.versions?.find((v: { version?: unknown }) => v?.version === version)?.resources
    const found = Array.isArray(resources) ? resources.find((r: { resource?: unknown }) => r?.resource === resource)?.responseKind?.kind : undefined
    if (typeof found === 'string' && found !== '') return found
  }
  return undefined
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- discovery JSON; every field read is checked
function parsed (doc: StoredDocument): any {
  if (!/json/i.test(doc.contentType)) return undefined
  try { return JSON.parse(doc.body.toString('utf8')) } catch { return undefined }
}
