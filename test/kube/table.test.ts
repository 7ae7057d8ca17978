import t from 'tap'
import { toPartialObjectMetadata, toPartialObjectMetadataList, toTable } from '../../src/kube/table.js'

const cm = (name: string, created: string | null): Record<string, unknown> => ({
  kind: 'ConfigMap',
  apiVersion: 'v1',
  metadata: { name, namespace: 'prod', uid: `uid-${name}`, resourceVersion: '7', creationTimestamp: created, labels: { app: 'web' } },
  data: { secret: 'value' },
})
const a = cm('a', '2024-05-01T10:20:30Z')
const b = cm('b', '2024-05-02T00:00:00.123+02:00')

t.test('the default table convertor', async (t) => {
  const table = toTable([a, b], { resourceVersion: '42', continue: 'tok', remainingItemCount: 3 }, null)
  if ('error' in table) throw new Error(table.error)
  // Key order matters: bodies are compared byte for byte with the apiserver's.
  t.same(Object.keys(table), ['kind', 'apiVersion', 'metadata', 'columnDefinitions', 'rows'])
  t.same(table.metadata, { resourceVersion: '42', continue: 'tok', remainingItemCount: 3 })
  t.same(table.columnDefinitions.map((c) => [c.name, c.type, c.format, c.priority]), [['Name', 'string', 'name', 0], ['Created At', 'date', '', 0]])
  t.match(table.columnDefinitions[0]!.description, /^Name must be unique within a namespace\. .*working-with-objects\/names#names$/)
  t.match(table.columnDefinitions[1]!.description, /^CreationTimestamp is a timestamp .*in UTC\.\n\nPopulated by the system\. Read-only\. Null for lists\. More info: https:\/\/git\.k8s\.io\/community\/contributors\/devel\/sig-architecture\/api-conventions\.md#metadata$/)
  t.same(table.rows!.map((r) => r.cells), [['a', '2024-05-01T10:20:30Z'], ['b', '2024-05-01T22:00:00Z']], 'RFC 3339 in UTC, whole seconds')
  t.same(table.rows![0]!.object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: a.metadata }, 'Metadata is the default')
  t.equal(JSON.stringify(table).includes('"secret"'), false, 'no object data leaks into the default table')
})

t.test('includeObject', async (t) => {
  const rowsOf = (include: string | null): unknown[] => {
    const table = toTable([a], {}, include)
    if ('error' in table) throw new Error(table.error)
    return table.rows!.map((r) => r.object)
  }
  t.same(rowsOf('Metadata'), rowsOf(null))
  t.same(rowsOf(''), rowsOf(null))
  t.same(rowsOf('Object'), [a])
  t.same(rowsOf('None'), [null], 'None keeps the key with null, as Go marshals an empty RawExtension')
  t.same(toTable([a], {}, 'object'), { error: 'Unable to convert to Table as requested: includeObject: Invalid value: "object": must be \'Metadata\', \'Object\', \'None\', or empty' })
  t.same(toTable([], {}, 'Self'), { error: 'Unable to convert to Table as requested: includeObject: Invalid value: "Self": must be \'Metadata\', \'Object\', \'None\', or empty' }, 'validated even with no rows')
})

t.test('edge cases', async (t) => {
  const empty = toTable([], { resourceVersion: '5' }, null)
  if ('error' in empty) throw new Error(empty.error)
  t.equal(empty.rows, null, 'no rows marshal as null')
  t.same(empty.metadata, { resourceVersion: '5' })
  const odd = toTable([{ metadata: { name: 'x', creationTimestamp: null } }, {}], { remainingItemCount: 0, continue: '' }, null)
  if ('error' in odd) throw new Error(odd.error)
  t.same(odd.rows!.map((r) => r.cells), [['x', '0001-01-01T00:00:00Z'], ['', '0001-01-01T00:00:00Z']], 'an unset time is Go\'s zero time')
  t.same(odd.metadata, { remainingItemCount: 0 }, 'remainingItemCount 0 is kept, an empty continue is not')
})

t.test('partial object metadata', async (t) => {
  t.same(toPartialObjectMetadata(a), { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: a.metadata })
  t.same(toPartialObjectMetadata({}), { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: { creationTimestamp: null } })
  const list = toPartialObjectMetadataList([a, b], { resourceVersion: '42' })
  t.same(Object.keys(list), ['kind', 'apiVersion', 'metadata', 'items'])
  t.same(list.metadata, { resourceVersion: '42' })
  t.same(list.items!.map((i) => [i.kind, (i.metadata as { name: string }).name]), [['PartialObjectMetadata', 'a'], ['PartialObjectMetadata', 'b']])
  t.equal(toPartialObjectMetadataList([], {}).items, null, 'no items marshal as null')
})
