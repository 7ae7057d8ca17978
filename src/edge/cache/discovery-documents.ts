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
