// A stand-in for systemd's notification socket: a unix datagram socket (AF_UNIX, SOCK_DGRAM) that
// the daemon's NOTIFY_SOCKET points at. Node.js cannot open one, so a small python3 process binds
// it and prints each datagram as one JSON line. File descriptors sent with BARRIER=1 are dropped
// by the kernel on receipt (no room for them), which closes them: that is the barrier's answer.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { waitUntil } from './wait.js'

const RECEIVER = `
import json, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print(json.dumps("bound"), flush=True)
while True:
    print(json.dumps(s.recv(65536).decode("utf-8", "replace")), flush=True)
`

export class NotifySocket {
  /** Each datagram received, in order ("READY=1\\nSTATUS=serving"…). */
  readonly datagrams: string[] = []
  private constructor (readonly path: string, private readonly child: ChildProcess) {}

  static async open (dir: string): Promise<NotifySocket> {
    const path = join(dir, 'notify.sock')
    const child = spawn('python3', ['-c', RECEIVER, path], { stdio: ['ignore', 'pipe', 'inherit'] })
    const socket = new NotifySocket(path, child)
    let bound = false
    let rest = ''
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (rest + chunk).split('\n')
      rest = lines.pop()!
      for (const line of lines) {
        const text = JSON.parse(line) as string
        if (text === 'bound' && !bound) bound = true
        else socket.datagrams.push(text)
      }
    })
    await waitUntil(() => bound, { what: `python3 to bind ${path}`, failIf: () => child.exitCode !== null ? 'python3 exited' : undefined })
    return socket
  }

  /** The datagrams that set `assignment` (e.g. "READY=1"). */
  with (assignment: string): string[] {
    return this.datagrams.filter((d) => d.split('\n').includes(assignment))
  }

  close (): void {
    this.child.kill()
  }
}
