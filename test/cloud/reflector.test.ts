import t from 'tap'
import { Readable } from 'node:stream'
import { pino } from 'pino'
import { Reflector, type KubeObject } from '../../src/cloud/reflector.js'
import type { Upstream, UpstreamResponse } from '../../src/cloud/upstream.js'

const logger = pino({ level: 'silent' })

/** Answers LIST with `items` and WATCH with the given chunks (then blocks until aborted). */
function fakeUpstream (opts: { listStatus?: number, items?: KubeObject[], watchChunks?: Buffer[] }): Upstream & { lists: number } {
  const fake = {
    lists: 0,
    async json (): Promise<{ status: number, body: any }> {
      fake.lists++
      if ((opts.listStatus ?? 200) !== 200) return { status: opts.listStatus!, body: { message: 'failing on purpose' } }
      return { status: 200, body: { items: opts.items ?? [], metadata: { resourceVersion: '10' } } }
    },
    async ownStream (_method: string, _path: string, signal: AbortSignal): Promise<UpstreamResponse> {
      const chunks = opts.watchChunks ?? []
      const body = new Readable({ read () {} }) as UpstreamResponse['body']
      body.dump = async () => { body.destroy() }
      for (const c of chunks) body.push(c)
      signal.addEventListener('abort', () => body.destroy(new Error('aborted')), { once: true })
      return { statusCode: 200, headers: {}, body }
    },
  }
  return fake as unknown as Upstream & { lists: number }
}

t.test('a watch event whose multi-byte characters are split across chunks arrives intact', async (t) => {
  const name = 'café-☕'
  const event = Buffer.from(JSON.stringify({ type: 'ADDED', object: { metadata: { name, namespace: 'ns', resourceVersion: '11' } } }) + '\n')
  // Cut inside the 3-byte '☕'.
  const cut = event.indexOf(Buffer.from('☕')) + 1
  const upstream = fakeUpstream({ watchChunks: [event.subarray(0, cut), event.subarray(cut)] })
  let changed!: () => void
  const added = new Promise<void>((resolve) => { changed = resolve })
  const r = new Reflector<KubeObject>(upstream, '/api/v1/configmaps', (o) => o, () => { if (r.items.size > 0) changed() }, logger)
  r.start()
  t.teardown(() => r.stop())
  await added
  t.same([...r.items.keys()], [`ns/${name}`])
})

t.test('stop ends the backoff sleep of a failing reflector at once', async (t) => {
  const upstream = fakeUpstream({ listStatus: 500 })
  const r = new Reflector<KubeObject>(upstream, '/api/v1/configmaps', (o) => o, () => {}, logger)
  r.start()
  // Let it fail often enough that its backoff is long (the cap is 30 s), then stop it mid-sleep.
  for (let i = 0; i < 200 && upstream.lists < 2; i++) await new Promise((resolve) => setTimeout(resolve, 50))
  t.ok(upstream.lists >= 1, `it listed and failed (${upstream.lists} times)`)
  const sleeping = (r as any).wake !== undefined
  t.ok(sleeping, 'it is sleeping in its backoff')
  const started = Date.now()
  const lists = upstream.lists
  r.stop()
  await new Promise((resolve) => setImmediate(resolve))
  t.equal((r as any).wake, undefined, 'the sleep ended (it clears its wake-up once its timer is gone)')
  t.equal(upstream.lists, lists, 'no LIST after stop')
  t.comment(`stopped in ${Date.now() - started} ms`)
})
