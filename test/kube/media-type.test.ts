import t from 'tap'
import { negotiateGet as get, negotiateList as list, negotiateWatch as watch, pickStored, type Negotiated } from '../../src/kube/media-type.js'

/** 'json', 'table', 'partial-metadata', or the same prefixed 'protobuf ' when written in protobuf. */
function shown (n: Negotiated | undefined): string | undefined {
  return n === undefined ? undefined : n.encoding === 'json' ? n.as : `protobuf ${n.as}`
}
const negotiateList = (accept: string | undefined, protobuf = false): string | undefined => shown(list(accept, { protobuf }))
const negotiateGet = (accept: string | undefined, protobuf = false): string | undefined => shown(get(accept, { protobuf }))
const PB = 'application/vnd.kubernetes.protobuf'

const TABLE_V1 = 'application/json;as=Table;v=v1;g=meta.k8s.io'

t.test('what real clients send', async (t) => {
  t.equal(negotiateList(undefined), 'json')
  t.equal(negotiateList(''), 'json')
  // kubectl get
  t.equal(negotiateList(`${TABLE_V1},application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json`), 'table')
  // client-go metadata client: protobuf first, for any resource (custom ones too)
  t.equal(negotiateList('application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json'), 'protobuf partial-metadata')
  t.equal(shown(watch('application/vnd.kubernetes.protobuf;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json')), 'protobuf partial-metadata', 'its watch asks for single objects')
  // client-go typed clients with protobuf enabled: protobuf for built-in kinds, JSON for custom resources
  t.equal(negotiateList('application/vnd.kubernetes.protobuf, */*', true), 'protobuf json')
  t.equal(negotiateList('application/vnd.kubernetes.protobuf, */*'), 'json')
  t.equal(negotiateList('application/vnd.kubernetes.protobuf,application/json', true), 'protobuf json')
  t.equal(negotiateList('application/json, */*'), 'json')
})

t.test('ranges the apiserver skips, and what is left', async (t) => {
  t.equal(negotiateList('application/json;as=Table'), undefined, 'as=Table without g/v is not a transform the endpoint allows')
  t.equal(negotiateList('application/json;as=Table, application/json'), 'json')
  t.equal(negotiateList('application/json;as=Table;g=meta.k8s.io;v=v2'), undefined)
  t.equal(negotiateList('application/json;as=Deployment;g=apps;v=v1'), undefined)
  t.equal(negotiateList('application/json;stream=watch'), 'json')
  t.equal(negotiateList('application/json;stream=bogus, application/json;as=Table;g=meta.k8s.io;v=v1'), 'table')
  t.equal(negotiateList('application/json;sv=v2'), undefined)
  t.equal(negotiateList('application/json;charset=utf-8'), 'json', 'unrecognized parameters are ignored')
  t.equal(negotiateList('application/yaml'), undefined, 'the edge writes only JSON')
  t.equal(negotiateList('application/yaml, application/json'), 'json')
  t.equal(negotiateList('Application/JSON'), undefined, 'Go compares media types case-sensitively')
  t.equal(negotiateList(' '), undefined, 'a blank header parses to no ranges')
  t.equal(negotiateList('*/*'), 'json')
  t.equal(negotiateList('application/*'), 'json')
  t.equal(negotiateList('*/*;as=Table;g=meta.k8s.io;v=v1'), 'table')
  t.equal(negotiateList('text/html'), undefined)
})

t.test('protobuf: only where kube-apiserver allows it', async (t) => {
  t.equal(negotiateList(PB, false), undefined, 'custom resources are JSON only: 406')
  t.equal(negotiateGet(PB, true), 'protobuf json')
  t.equal(negotiateList(`${PB};as=Table;g=meta.k8s.io;v=v1`, true), undefined, 'no Table in protobuf')
  t.equal(negotiateList(`${PB};as=Table;g=meta.k8s.io;v=v1, application/json`, true), 'json')
  t.equal(negotiateList('*/*', true), 'json', 'a wildcard is taken by JSON, first of the serializers')
  t.equal(negotiateList('application/*', true), 'json')
  t.equal(negotiateList(`${PB};stream=watch`, true), 'protobuf json')
  t.equal(negotiateList(`${PB};q=0, */*`, true), 'json')
  t.equal(negotiateList(`application/json;q=0, ${PB}`, true), 'protobuf json', 'JSON refused, protobuf still fine')
  t.equal(negotiateList(`${PB};as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json`, true), undefined, 'wrong arity: 406')
})

t.test('PartialObjectMetadata of the wrong arity is a 406, not a fall-through', async (t) => {
  t.equal(negotiateList('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1, application/json'), undefined)
  t.equal(negotiateGet('application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1'), 'partial-metadata')
  t.equal(negotiateGet('application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json'), undefined)
  t.equal(negotiateGet(`${TABLE_V1}`), 'table')
})

t.test('quality ordering (goautoneg)', async (t) => {
  t.equal(negotiateList(`application/json;q=0.5, ${TABLE_V1}`), 'table', 'higher q first')
  t.equal(negotiateList(`${TABLE_V1};q=0.4, application/json;q=0.5`), 'json')
  t.equal(negotiateList(`${TABLE_V1}, application/json`), 'table', 'equal q keeps header order')
  t.equal(negotiateList(`*/*, ${TABLE_V1};q=0.5`), 'table', 'goautoneg ranks a concrete type above */* whatever its q')
  t.equal(negotiateList('application/json;q= 0.5'), undefined, 'an unparsable q is 0')
})

t.test('q=0 rejects when it is the most specific range', async (t) => {
  t.equal(negotiateList('application/json;q=0'), undefined)
  t.equal(negotiateList('*/*, application/json;q=0'), undefined)
  t.equal(negotiateList('*/*;q=0, application/json'), 'json')
  t.equal(negotiateList(`${TABLE_V1}, application/json;q=0`), 'table', 'of equally specific ranges the first decides')
})

t.test('pickStored', async (t) => {
  const AGGREGATED = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
  const AGGREGATED_PB = 'application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList'
  const discovery = [AGGREGATED, 'application/json', AGGREGATED_PB]
  const kubectl = `${AGGREGATED},application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json`
  t.equal(pickStored(kubectl, discovery), AGGREGATED)
  t.equal(pickStored(kubectl, ['application/json']), 'application/json', 'falls back to the unaggregated document')
  t.equal(pickStored('application/json', discovery), 'application/json', 'plain JSON never gets the aggregated body')
  t.equal(pickStored(undefined, discovery), 'application/json')
  t.equal(pickStored('*/*', discovery), 'application/json')
  t.equal(pickStored(`${AGGREGATED_PB},${AGGREGATED}`, discovery), AGGREGATED_PB)
  t.equal(pickStored('application/json;G=apidiscovery.k8s.io;V=v2;AS=APIGroupDiscoveryList', discovery), AGGREGATED, 'parameter names fold case')
  t.equal(pickStored('application/json;g=apidiscovery.k8s.io;v=v2;as=apigroupdiscoverylist', discovery), undefined, 'values do not')
  t.equal(pickStored(AGGREGATED, ['application/json']), undefined)

  const PB = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf'
  t.equal(pickStored(PB, ['application/json', PB]), PB)
  t.equal(pickStored('application/com.github.proto-openapi.spec.v2.v1.0+protobuf', ['application/json', PB]), undefined)
  t.equal(pickStored(`application/json;q=0.9, ${PB}`, ['application/json', PB]), PB, 'by q, not by stored order')
  t.equal(pickStored('application/json;q=0, */*', ['application/json', PB]), PB, 'a specific q=0 excludes that type')
  t.equal(pickStored('application/json', ['application/json;charset=utf-8']), 'application/json;charset=utf-8', 'stored parameters the range does not name are fine')
  t.equal(pickStored('application/json;pretty=1', ['application/json']), undefined, 'every range parameter must be matched')
  t.equal(pickStored('application/json', []), undefined)
})
