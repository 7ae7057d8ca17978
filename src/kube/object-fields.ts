// Field selectors evaluated on the edge must accept, reject and match exactly as kube-apiserver
// does (Kubernetes 1.34 and 1.37, the proven releases; see RELEASE_DEPENDENT). The apiserver has two independent layers and both are reproduced here:
//  - which labels a request may use: the field-label conversion func registered per kind in
//    pkg/apis/<group>/<version>/conversion.go; a kind without one falls back to
//    runtime.DefaultMetaV1FieldSelectorConversion (metadata.name, metadata.namespace only). A
//    refused label is a 400 whose message is that func's error, so it differs between kinds;
//  - what each object offers to match: the registry's ToSelectableFields/GetAttrs
//    (pkg/registry/<group>/<resource>/strategy.go). A label accepted but never set there (pods'
//    status.podIPs) reads "" and so only ever matches "", as upstream.
// Objects here are in their wire (versioned JSON) form, so values are read from the versioned
// field that the internal field upstream reads corresponds to. Pure.
import { goQuote } from './go-quote.js'

type Fields = Record<string, string>

interface Kind {
  /** The labels the kind's conversion func accepts (as the client writes them). */
  accepts: readonly string[]
  /** The kind's selectable fields beyond metadata.name/metadata.namespace, keyed by the label a client writes. */
  fields: (o: unknown) => Fields
  /** The conversion func's error for a label it does not accept. */
  reject?: (field: string, version: string) => string
}

const META = ['metadata.name', 'metadata.namespace']

const KINDS: Record<string, Kind> = {
  // pkg/apis/core/v1/conversion.go (Pod) + pkg/registry/core/pod/strategy.go ToSelectableFields.
  '/pods': {
    accepts: [...META, 'spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork',
      'status.phase', 'status.podIP', 'status.podIPs', 'status.nominatedNodeName', 'spec.host'],
    fields: (o) => ({
      'spec.nodeName': str(o, 'spec.nodeName'),
      // Legacy v1 clients send spec.host; the conversion func rewrites it to spec.nodeName.
      'spec.host': str(o, 'spec.nodeName'),
      'spec.restartPolicy': str(o, 'spec.restartPolicy'),
      'spec.schedulerName': str(o, 'spec.schedulerName'),
      // v1 → internal conversion falls back to the deprecated alias when the new field is empty.
      'spec.serviceAccountName': str(o, 'spec.serviceAccountName') || str(o, 'spec.serviceAccount'),
      'spec.hostNetwork': bool(o, 'spec.hostNetwork'),
      'status.phase': str(o, 'status.phase'),
      // Upstream reads podIPs[0] of the internal pod, which v1 conversion fills from status.podIP when set.
      'status.podIP': str(o, 'status.podIP') || str(o, 'status.podIPs.0.ip'),
      'status.nominatedNodeName': str(o, 'status.nominatedNodeName'),
    }),
  },
  // core/v1 conversion.go (Node) + pkg/registry/core/node/strategy.go. Nodes refuse metadata.namespace.
  '/nodes': { accepts: ['metadata.name', 'spec.unschedulable'], fields: (o) => ({ 'spec.unschedulable': bool(o, 'spec.unschedulable') }) },
  // core/v1 conversion.go + pkg/registry/core/namespace/strategy.go. Its selectable set also has a
  // legacy "name" key, unreachable because the conversion func refuses the label.
  '/namespaces': { accepts: ['metadata.name', 'status.phase'], fields: (o) => ({ 'status.phase': str(o, 'status.phase') }) },
  // core/v1 conversion.go + pkg/registry/core/secret/strategy.go.
  '/secrets': { accepts: ['type', ...META], fields: (o) => ({ type: str(o, 'type') }) },
  // core/v1 conversion.go + pkg/registry/core/service/strategy.go (since 1.31, kubernetes#123905).
  '/services': { accepts: [...META, 'spec.clusterIP', 'spec.type'], fields: (o) => ({ 'spec.clusterIP': str(o, 'spec.clusterIP'), 'spec.type': str(o, 'spec.type') }) },
  // core/v1 conversion.go + pkg/registry/core/replicationcontroller/strategy.go.
  '/replicationcontrollers': { accepts: [...META, 'status.replicas'], fields: (o) => ({ 'status.replicas': int(o, 'status.replicas') }) },
  // core/v1 conversion.go AddFieldLabelConversionsForEvent + pkg/registry/core/event/strategy.go.
  '/events': {
    accepts: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid', 'involvedObject.apiVersion',
      'involvedObject.resourceVersion', 'involvedObject.fieldPath', 'reason', 'reportingComponent', 'source', 'type', ...META],
    fields: (o) => ({
      ...reference(o, 'involvedObject'),
      reason: str(o, 'reason'),
      reportingComponent: str(o, 'reportingComponent'),
      source: str(o, 'source.component') || str(o, 'reportingComponent'),
      type: str(o, 'type'),
    }),
  },
  // pkg/apis/events/v1/conversion.go: the same storage and selectable set as core events, but the
  // client writes events.k8s.io names (regarding.*, reportingController), which the func maps onto
  // the core ones; the core names themselves are refused, and so is `source` (not in its mapping,
  // 1.34 and 1.37 alike: "field label not supported: source").
  'events.k8s.io/events': {
    accepts: ['reason', 'regarding.kind', 'regarding.namespace', 'regarding.name', 'regarding.uid', 'regarding.apiVersion',
      'regarding.resourceVersion', 'regarding.fieldPath', 'reportingController', 'type', ...META],
    fields: (o) => ({
      ...reference(o, 'regarding'),
      reason: str(o, 'reason'),
      reportingController: str(o, 'reportingController'),
      type: str(o, 'type'),
    }),
  },
  // pkg/apis/batch/v1/conversion.go + pkg/registry/batch/job/strategy.go (the label reads status.succeeded).
  'batch/jobs': {
    accepts: [...META, 'status.successful'],
    fields: (o) => ({ 'status.successful': int(o, 'status.succeeded') }),
    reject: (f) => `field label ${goQuote(f)} not supported for Job`,
  },
  // pkg/apis/certificates/v1/conversion.go + pkg/registry/certificates/certificates/strategy.go.
  'certificates.k8s.io/certificatesigningrequests': { accepts: ['metadata.name', 'spec.signerName'], fields: (o) => ({ 'spec.signerName': str(o, 'spec.signerName') }) },
  // pkg/apis/resource/v1/conversion.go (same in v1beta1, v1beta2) + pkg/registry/resource/resourceslice/strategy.go.
  'resource.k8s.io/resourceslices': {
    accepts: ['metadata.name', 'spec.nodeName', 'spec.driver'],
    fields: (o) => ({ 'spec.nodeName': str(o, 'spec.nodeName'), 'spec.driver': str(o, 'spec.driver') }),
    reject: (f, version) => `field label not supported for resource.k8s.io/${version}, Kind=ResourceSlice: ${f}`,
  },
}

// Every other kind these groups serve has no conversion func, so it selects on metadata only
// (apps too: ReplicaSets refuse status.replicas, kubernetes#135136, despite the docs).
const BUILT_IN_GROUPS = new Set(['', 'admissionregistration.k8s.io', 'apiextensions.k8s.io', 'apiregistration.k8s.io', 'apps',
  'authentication.k8s.io', 'authorization.k8s.io', 'autoscaling', 'batch', 'certificates.k8s.io', 'coordination.k8s.io',
  'discovery.k8s.io', 'events.k8s.io', 'flowcontrol.apiserver.k8s.io', 'internal.apiserver.k8s.io', 'networking.k8s.io',
  'node.k8s.io', 'policy', 'rbac.authorization.k8s.io', 'resource.k8s.io', 'scheduling.k8s.io', 'storage.k8s.io',
  'storagemigration.k8s.io'])

// Labels one proven release accepts and another refuses (a 400 there): which answer is right depends
// on the apiserver behind the edge, so the edge evaluates neither (offline: not answerable from the
// cache; online the apiserver decides). resourceslices' spec.pool.name: accepted since 1.37
// (pkg/apis/resource/v1/conversion.go ResourceSliceSelectorPoolName), refused by 1.34.
const RELEASE_DEPENDENT: Record<string, readonly string[]> = {
  'resource.k8s.io/resourceslices': ['spec.pool.name'],
}

/** Whether the proven releases disagree on accepting `field` for this (group, resource). */
export function fieldVariesByRelease (group: string, resource: string, field: string): boolean {
  return RELEASE_DEPENDENT[`${group}/${resource}`]?.includes(field) ?? false
}

// Built-in kinds with conversion funcs whose content we have not confirmed: treated as unknown.
// (1.37 registers them in certificates.k8s.io/v1 too, alpha/beta and off by default in the test bed.)
const UNCONFIRMED = new Set(['certificates.k8s.io/clustertrustbundles', 'certificates.k8s.io/podcertificaterequests'])

/**
 * Whether the edge knows every field this (group, resource) can be selected on. It does not for
 * custom resources (their CRD may declare selectableFields) and aggregated APIs: there only
 * metadata.name and metadata.namespace can be evaluated, and a field the edge does not know must
 * not be refused as the apiserver would refuse it.
 */
export function knowsFields (group: string, resource: string): boolean {
  return BUILT_IN_GROUPS.has(group) && !UNCONFIRMED.has(`${group}/${resource}`)
}

/** The fields the apiserver would match a field selector against for `obj` (metadata only for kinds the edge does not know). */
export function selectableFields (group: string, resource: string, obj: unknown): Fields {
  const fields: Fields = { 'metadata.name': str(obj, 'metadata.name') }
  const namespace = str(obj, 'metadata.namespace')
  if (namespace !== '') fields['metadata.namespace'] = namespace
  return knowsFields(group, resource) ? { ...fields, ...KINDS[`${group}/${resource}`]?.fields(obj) } : fields
}

/** Whether kube-apiserver accepts `field` in a field selector on this (group, resource). */
export function fieldSupported (group: string, resource: string, field: string): boolean {
  return (KINDS[`${group}/${resource}`]?.accepts ?? META).includes(field)
}

/** The message of the 400 the apiserver answers for a field selector naming an unsupported `field`. */
export function fieldNotSupported (group: string, resource: string, field: string, version = 'v1'): string {
  const kind = KINDS[`${group}/${resource}`]
  if (kind === undefined) return `${goQuote(field)} is not a known field selector: only "metadata.name", "metadata.namespace"`
  return kind.reject?.(field, version) ?? `field label not supported: ${field}`
}

function get (o: unknown, path: string): unknown {
  let v = o
  for (const k of path.split('.')) v = typeof v === 'object' && v !== null ? (v as Record<string, unknown>)[k] : undefined
  return v
}

const str = (o: unknown, path: string): string => {
  const v = get(o, path)
  return typeof v === 'string' ? v : ''
}
// strconv.FormatBool / strconv.Itoa of the Go field, whose zero value an absent JSON field leaves.
const bool = (o: unknown, path: string): string => String(get(o, path) === true)
const int = (o: unknown, path: string): string => {
  const v = get(o, path)
  return String(typeof v === 'number' && Number.isInteger(v) ? v : 0)
}

/** The seven selectable fields of the event's ObjectReference at `path`. */
function reference (o: unknown, path: string): Fields {
  const out: Fields = {}
  for (const f of ['kind', 'namespace', 'name', 'uid', 'apiVersion', 'resourceVersion', 'fieldPath']) out[`${path}.${f}`] = str(o, `${path}.${f}`)
  return out
}
