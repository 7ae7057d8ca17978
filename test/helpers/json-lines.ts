// One reader for the JSON lines tests consume as they arrive: the test clients' output (one object
// per line; LineChild in test/cluster/clients.ts) and raw watch responses. Lines are split with the
// product's own splitter (src/util/lines.ts), so a character cut between two chunks comes out intact.
import type { Readable } from 'node:stream'
import { LineSplitter } from '../../src/util/lines.js'

// Far above any line a test client prints (a store dump of a few thousand names).
const MAX_LINE_BYTES = 64 << 20

/** Calls `onObject` for every line of `stream` that is a JSON object (other lines, e.g. blank ones, are skipped). */
export function onJsonLines (stream: Readable, onObject: (o: any) => void): void {
  const splitter = new LineSplitter(MAX_LINE_BYTES)
  stream.on('data', (chunk: Buffer | string) => {
    for (const line of splitter.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk)) {
      if (line.trim().startsWith('{')) onObject(JSON.parse(line))
    }
  })
}
