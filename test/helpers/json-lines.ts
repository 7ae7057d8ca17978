// One reader for the JSON lines tests consume as they arrive: the informer test clients' output
// (test/clients/go and python print one object per line: add/update/delete, and "store" after a
// "dump" on stdin) and raw watch responses. Lines are split with the product's own splitter
// (src/util/lines.ts), so a character cut between two chunks comes out intact.
import type { ChildProcess } from 'node:child_process'
import type { Readable } from 'node:stream'
import { LineSplitter } from '../../src/util/lines.js'
import { waitUntil } from './wait.js'

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

/** An informer in a child process speaking the test clients' lines; `store()` asks it for a dump. */
export class LineInformer {
  readonly lines: any[] = []
  /** The last 20 000 characters of its stderr (for failure messages and t.comment). */
  stderr = ''
  private exited = false

  constructor (readonly name: string, readonly child: ChildProcess) {
    onJsonLines(child.stdout!, (o) => this.lines.push(o))
    child.stderr!.setEncoding('utf8').on('data', (d: string) => { this.stderr = (this.stderr + d).slice(-20_000) })
    child.once('exit', () => { this.exited = true })
  }

  /** The names (name@resourceVersion) in the informer's store now. */
  async store (timeoutMs = 20_000): Promise<string[]> {
    if (this.exited) throw new Error(`${this.name} exited: ${this.stderr.slice(-2000)}`)
    const before = this.lines.length
    this.child.stdin!.write('dump\n')
    await waitUntil(() => this.lines.slice(before).some((l) => l.type === 'store'), {
      timeoutMs, what: () => `${this.name} store dump${this.exited ? ` (exited: ${this.stderr.slice(-2000)})` : ''}`,
    })
    return this.lines.slice(before).find((l) => l.type === 'store').items
  }

  /** name@resourceVersion of every add/update handler call, in order. */
  delivered (): string[] {
    return this.lines.filter((l) => l.type === 'add' || l.type === 'update').map((l) => `${l.name}@${l.resourceVersion}`)
  }

  /** The last `n` non-empty stderr lines, joined (for t.comment). */
  stderrTail (n = 3): string {
    return this.stderr.split('\n').filter((l) => l.trim() !== '').slice(-n).join(' | ')
  }

  stop (): void { this.child.kill() }
}
