// The tunnel's answer codec (src/tunnel/compression.ts): what the shim picks for which answer, that
// both codings round-trip bodies larger than their window, that a flushed stream hands over each
// chunk while it stays open, and that decoding is bounded (announced length, window, memory).
import t from 'tap'
import { once } from 'node:events'
import zlib from 'node:zlib'
import {
  acceptCodingHeader, announcedCoding, chooseCoding, decodedLength, DecodedTooLargeError, decoder, enabledCodings, encodedHeaders, encoder, flushedLazily,
  HEADER_CODING, HEADER_DECODED_LENGTH, MIN_COMPRESSED_BYTES, type Coding,
} from '../../src/tunnel/compression.js'
import { waitUntil } from '../helpers/wait.js'

const CODINGS: Coding[] = ['zstd', 'gzip']
const json = { 'content-type': 'application/json' }

function listBody (items: number): Buffer {
  const list = { kind: 'ConfigMapList', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items: [] as unknown[] }
  for (let i = 0; i < items; i++) list.items.push({ metadata: { name: `cm-${i}`, namespace: 'ns', uid: `uid-${i * 7919}`, resourceVersion: String(1000 + i) }, data: { key: `value ${i} ${(i * 2654435761) % 1e9}` } })
  return Buffer.from(JSON.stringify(list))
}

async function compress (coding: Coding, body: Buffer): Promise<Buffer> {
  const enc = encoder(coding, false)
  const chunks: Buffer[] = []
  enc.on('data', (c: Buffer) => chunks.push(c))
  enc.end(body)
  await once(enc, 'end')
  return Buffer.concat(chunks)
}

async function roundTrip (coding: Coding, body: Buffer): Promise<{ wire: number, out: Buffer }> {
  const enc = encoder(coding, false)
  const dec = decoder(coding)
  let wire = 0
  enc.on('data', (c: Buffer) => { wire += c.length; dec.write(c) })
  enc.once('end', () => dec.end())
  const chunks: Buffer[] = []
  dec.on('data', (c: Buffer) => chunks.push(c))
  const ended = once(dec, 'end')
  enc.end(body)
  await ended
  return { wire, out: Buffer.concat(chunks) }
}

t.test('the runtime offers zstd when node:zlib has it, gzip always; none and a single coding are honoured', async (t) => {
  const hasZstd = typeof (zlib as unknown as { createZstdCompress?: unknown }).createZstdCompress === 'function'
  t.same(enabledCodings('auto'), hasZstd ? ['zstd', 'gzip'] : ['gzip'])
  t.same(enabledCodings('gzip'), ['gzip'])
  t.same(enabledCodings('zstd'), hasZstd ? ['zstd'] : [])
  t.same(enabledCodings('none'), [])
  t.equal(acceptCodingHeader([]), undefined, 'an edge with compression off offers nothing')
  t.equal(acceptCodingHeader(['zstd', 'gzip']), 'zstd, gzip')
})

t.test('the shim picks the edge\'s first coding it has, and none for bodies that are absent, compressed already or too small', async (t) => {
  const big = { ...json, 'content-length': String(MIN_COMPRESSED_BYTES) }
  t.equal(chooseCoding(CODINGS, 'zstd, gzip', 'GET', 200, big), 'zstd')
  t.equal(chooseCoding(['gzip'], 'zstd, gzip', 'GET', 200, big), 'gzip', 'a shim without zstd falls back to gzip')
  t.equal(chooseCoding(CODINGS, 'gzip', 'GET', 200, json), 'gzip', 'no Content-Length (a chunked list, a watch): compressed')
  t.equal(chooseCoding(CODINGS, 'br', 'GET', 200, big), undefined, 'nothing in common')
  t.equal(chooseCoding(CODINGS, undefined, 'GET', 200, big), undefined, 'an edge that offers nothing')
  t.equal(chooseCoding([], 'zstd, gzip', 'GET', 200, big), undefined, 'a shim with compression off')
  t.equal(chooseCoding(CODINGS, 'zstd', 'GET', 200, { ...big, 'content-encoding': 'gzip' }), undefined, 'kube-apiserver gzipped it for the pod')
  t.equal(chooseCoding(CODINGS, 'zstd', 'GET', 200, { ...json, 'content-length': String(MIN_COMPRESSED_BYTES - 1) }), undefined, 'too small')
  t.equal(chooseCoding(CODINGS, 'zstd', 'HEAD', 200, big), undefined, 'HEAD has no body')
  t.equal(chooseCoding(CODINGS, 'zstd', 'GET', 304, json), undefined, '304 has no body')
})

t.test('a compressed answer carries its coding and kube-apiserver\'s length aside; the edge reads them back', async (t) => {
  const headers = encodedHeaders({ 'content-type': 'application/json', 'content-length': '1234' }, 'zstd')
  t.same(headers, { 'content-type': 'application/json', [HEADER_CODING]: 'zstd', [HEADER_DECODED_LENGTH]: '1234' })
  t.equal(decodedLength(headers), 1234)
  t.equal(decodedLength({ [HEADER_DECODED_LENGTH]: '-1' }), undefined)
  t.equal(decodedLength({}), undefined)
  t.equal(announcedCoding(['zstd', 'gzip'], 'gzip'), 'gzip')
  t.equal(announcedCoding(['gzip'], 'zstd'), 'unknown', 'a coding the edge did not offer')
  t.equal(announcedCoding(['gzip'], undefined), undefined)
})

for (const coding of CODINGS) {
  if (!enabledCodings('auto').includes(coding)) continue
  t.test(`${coding}: a list larger than the window round-trips byte for byte, much smaller on the wire`, async (t) => {
    const body = listBody(3000)
    t.ok(body.length > 256 * 1024)
    const { wire, out } = await roundTrip(coding, body)
    t.ok(out.equals(body), 'identical after decoding')
    t.ok(wire < body.length / 3, `${wire} bytes on the wire for ${body.length}`)
  })

  t.test(`${coding}: a flushed stream hands over each event while it stays open`, async (t) => {
    const enc = encoder(coding, true)
    const dec = decoder(coding)
    enc.pipe(dec)
    let received = ''
    dec.setEncoding('utf8').on('data', (d: string) => { received += d })
    const events = ['{"type":"ADDED","object":{"metadata":{"name":"a"}}}\n', '{"type":"MODIFIED","object":{"metadata":{"name":"a"}}}\n']
    for (const event of events) {
      const before = received
      enc.write(event)
      // An event that waited for more input or the end would never come out here.
      await waitUntil(() => received !== before, { what: 'the event to come out' })
      t.equal(received.slice(before.length), event, 'the event came out whole before the next one was written')
      t.notOk(enc.writableEnded, 'the stream is still open')
    }
    enc.end()
    await once(dec, 'end')
  })

  t.test(`${coding}: output past the announced length fails the decoding`, async (t) => {
    const body = listBody(200)
    const compressed = await compress(coding, body)
    const dec = decoder(coding, body.length - 1)
    dec.resume()
    dec.end(compressed)
    const [err] = await once(dec, 'error')
    t.type(err, DecodedTooLargeError)
    const exact = decoder(coding, body.length)
    const chunks: Buffer[] = []
    exact.on('data', (c: Buffer) => chunks.push(c))
    exact.end(compressed)
    await once(exact, 'end')
    t.ok(Buffer.concat(chunks).equals(body), 'exactly the announced length decodes')
  })

  t.test(`${coding}: a bomb (256 MiB of zeros) held by an unread decoder takes memory bounded by its buffers`, async (t) => {
    const zeros = Buffer.alloc(1 << 20)
    const enc = encoder(coding, false)
    const bomb: Buffer[] = []
    enc.on('data', (c: Buffer) => bomb.push(c))
    for (let i = 0; i < 256; i++) enc.write(zeros)
    enc.end()
    await once(enc, 'end')
    const dec = decoder(coding)
    dec.end(Buffer.concat(bomb))
    await new Promise((resolve) => setTimeout(resolve, 200))
    t.ok(dec.readableLength <= 1 << 20, `${dec.readableLength} bytes decoded and waiting for a reader`)
    dec.destroy()
  })
}

t.test('zstd: a frame asking for a window beyond the bound is refused, not allocated', { skip: !enabledCodings('auto').includes('zstd') && 'no zstd in this runtime' }, async (t) => {
  const C = zlib.constants as unknown as Record<string, number>
  const body = listBody(2000)
  const zstd = zlib as unknown as { zstdCompressSync: (b: Buffer, o: object) => Buffer }
  const wide = zstd.zstdCompressSync(body, { params: { [C.ZSTD_c_windowLog!]: 24, [C.ZSTD_c_compressionLevel!]: 19 } })
  const dec = decoder('zstd')
  dec.resume()
  dec.end(wide)
  const outcome = await Promise.race([once(dec, 'error').then(() => 'error'), once(dec, 'end').then(() => 'end')])
  t.equal(outcome, 'error')
})

t.test('a lazily created flushed compressor: each chunk comes out before the next is read; an empty answer is a valid empty frame', async (t) => {
  const coding = enabledCodings('auto')[0]!
  const events = ['{"type":"ADDED"}\n', '{"type":"MODIFIED"}\n']
  let pulled = 0
  async function * source (): AsyncGenerator<Buffer> {
    for (const e of events) { pulled++; yield Buffer.from(e) }
  }
  const out: Buffer[] = []
  let pulledAtFirstOutput = -1
  for await (const chunk of flushedLazily(coding)(source())) {
    if (pulledAtFirstOutput < 0) pulledAtFirstOutput = pulled
    out.push(chunk)
  }
  t.equal(pulledAtFirstOutput, 1, 'the first event came out before the second was read')
  const dec = decoder(coding)
  const plain: Buffer[] = []
  dec.on('data', (c: Buffer) => plain.push(c))
  dec.end(Buffer.concat(out))
  await once(dec, 'end')
  t.equal(Buffer.concat(plain).toString(), events.join(''))

  const empty: Buffer[] = []
  for await (const chunk of flushedLazily(coding)((async function * () {})())) empty.push(chunk)
  const dec2 = decoder(coding)
  dec2.resume()
  dec2.end(Buffer.concat(empty))
  await once(dec2, 'end')
  t.pass('an answer without a chunk decodes to nothing')
})
