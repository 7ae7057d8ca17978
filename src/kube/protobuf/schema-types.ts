// The shape of the generated schema (src/kube/protobuf/k8s-api.schema.ts, made by
// scripts/gen-proto-schema.ts).

/** [JSON name ('' when inline), proto field number, scalar type or message full name, flags] */
export type SchemaField = [string, number, string, number]

export interface SchemaMessage {
  f: SchemaField[]
  /** a named Go slice (`type Verbs []string`): its JSON is the array in field `items` */
  slice?: 1
}

export interface SchemaFile {
  versions: Record<string, string>
  /** "apps/v1" (or "v1" for core) → proto package "k8s.io.api.apps.v1" */
  groups: Record<string, string>
  messages: Record<string, SchemaMessage>
}
