import t from 'tap'
import { PassThrough } from 'node:stream'
import { constants, createGzip, gzipSync } from 'node:zlib'
import { answerEncoding, BodyCollector, readWatchEvents } from '../../../src/edge/cache/framing.js'
import { waitUntil } from '../../helpers/wait.js'

t.test('watch events split anywhere, even inside a multi-byte character, are read whole and in order', async (t) => {
  const events = [{ type: 'ADDED', object: { metadata: { name: 'crème-brûlée-🍮' } } }, { type: 'BOOKMARK', object: { metadata: { resourceVersion: '7' } } }]
  const bytes = Buffer.from(events.map((e) => JSON.stringify(e)).join('\n\n') + '\n')
  const cut = bytes.indexOf(Buffer.from('🍮')) + 2
  const body = new PassThrough()
  const seen: any[] = []
  const stops: string[] = []
  readWatchEvents(body, 'json', 1 << 10, (e: any) => seen.push(e), (why) => stops.push(why))
  body.write(bytes.subarray(0, cut))
  body.write(bytes.subarray(cut))
  t.same(seen, events)
  t.same(stops, [])
})

t.test('an event over the bound or a line that is not JSON stops the reading', async (t) => {
  for (const [name, chunks, why] of [
    ['too long', ['{"type":"ADDED","object":{"metadata":{"name":"' + 'x'.repeat(100) + '"}}}\n'], 'event larger than the cache body limit'],
    ['torn', ['{"type":"ADDED"\n'], 'unparsable event'],
  ] as const) {
    const body = new PassThrough()
    const seen: any[] = []
    const stops: string[] = []
    readWatchEvents(body, 'json', 64, (e: any) => seen.push(e), (w) => stops.push(w))
    for (const c of chunks) body.write(c)
    body.write('{"type":"DELETED","object":{}}\n')
    t.same(seen, [], `${name}: nothing read, nothing after it either`)
    t.same(stops, [why], name)
  }
})

t.test('a gzipped watch (kube-apiserver 1.37 gzips WatchList streams) is read event by event as it is flushed', async (t) => {
  const body = new PassThrough()
  const seen: any[] = []
  const stops: string[] = []
  readWatchEvents(body, 'json', 1 << 10, (e: any) => seen.push(e), (why) => stops.push(why), true)
  const gzip = createGzip()
  gzip.on('data', (c: Buffer) => body.write(c))
  const flushed = (): Promise<void> => new Promise((resolve) => gzip.flush(constants.Z_SYNC_FLUSH, () => resolve()))
  gzip.write('{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n')
  await flushed()
  await waitUntil(() => seen.length === 1, { what: 'the first event', timeoutMs: 5000, intervalMs: 5 })
  t.same(seen.map((e) => e.object.metadata.name), ['a'], 'the first event is read before the stream ends')
  gzip.write('{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"7"}}}\n')
  await flushed()
  await waitUntil(() => seen.length === 2, { what: 'the second event', timeoutMs: 5000, intervalMs: 5 })
  t.same(seen.map((e) => e.type), ['ADDED', 'BOOKMARK'])
  body.write(Buffer.from('not gzip at all'))
  await waitUntil(() => stops.length > 0, { what: 'the reading to stop', timeoutMs: 5000, intervalMs: 5 })
  t.equal(stops.length, 1, 'a corrupt gzip stream stops the reading, once')
  t.match(stops[0], /undecodable gzip/)
})

t.test('bodies are collected whole, gunzipped, and dropped over either bound', async (t) => {
  const collector = new BodyCollector({ maxBodyBytes: 100, maxCollectingBytes: 150 })
  /** Whole bodies are awaited; for dropped ones, `done` must not have come 200 ms after the body ended. */
  const collect = async (gzipped: boolean, write: (b: PassThrough) => void, dropped = false): Promise<Buffer | undefined> => {
    const body = new PassThrough()
    const got = new Promise<Buffer>((resolve) => collector.collect(body, gzipped, resolve))
    write(body)
    if (!dropped) return await got
    return await Promise.race([got, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), 200))])
  }
  t.same(await collect(false, (b) => { b.write('ab'); b.end('cd') }), Buffer.from('abcd'))
  t.same(await collect(true, (b) => b.end(gzipSync('plain text'))), Buffer.from('plain text'))
  t.equal(await collect(false, (b) => b.end('x'.repeat(101)), true), undefined, 'over the per-body bound')
  t.equal(await collect(true, (b) => b.end(gzipSync('y'.repeat(101))), true), undefined, 'gunzipped over the bound')
  t.equal(await collect(false, (b) => { b.write('z'); b.destroy() }, true), undefined, 'cut off')
  // Two bodies at once: together over the shared budget, the second is dropped.
  const first = new PassThrough()
  const firstDone = new Promise<Buffer>((resolve) => collector.collect(first, false, resolve))
  first.write('a'.repeat(90))
  t.equal(await collect(false, (b) => b.end('b'.repeat(90)), true), undefined, 'over the budget for all bodies')
  first.end()
  t.equal((await firstDone).length, 90, 'the first one is still whole')
  t.same(await collect(false, (b) => b.end('c'.repeat(90))), Buffer.from('c'.repeat(90)), 'the budget is released when a body ends')
})

t.test('plain JSON and Kubernetes protobuf are decoded, nothing else', async (t) => {
  t.equal(answerEncoding('application/json'), 'json')
  t.equal(answerEncoding('application/json; charset=utf-8'), 'json')
  t.equal(answerEncoding('application/json;as=Table;v=v1;g=meta.k8s.io'), undefined)
  t.equal(answerEncoding('application/vnd.kubernetes.protobuf'), 'protobuf')
  t.equal(answerEncoding('application/vnd.kubernetes.protobuf;stream=watch'), 'protobuf')
  t.equal(answerEncoding('application/vnd.kubernetes.protobuf;as=Table'), undefined)
  t.equal(answerEncoding('application/vnd.kubernetes.protobuf;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1'), 'protobuf')
  t.equal(answerEncoding('application/yaml'), undefined)
  t.equal(answerEncoding(''), undefined)
})
