// A TCP port inside a private network namespace that leads to a 127.0.0.1 port of the test's own
// namespace (where the test bed's kube-apiserver and the cloud shim listen), without touching the
// host's interfaces: a child in the namespace accepts TCP and connects to a unix socket (the
// filesystem is shared), and the test process forwards that socket to the real port.
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { createConnection, createServer, type Server, type Socket } from 'node:net'
import { join } from 'node:path'
import type { NetNamespace } from './process.js'

// Runs in the namespace: argv = [node, host, port, unix path]; prints "ready" once listening.
const INSIDE = `
const net = require('node:net')
const [host, port, path] = process.argv.slice(1)
net.createServer((c) => {
  const u = net.connect(path)
  c.on('error', () => u.destroy()); u.on('error', () => c.destroy())
  c.pipe(u).pipe(c)
}).listen(Number(port), host, () => console.log('ready'))
`

function splice (a: Socket, b: Socket): void {
  a.on('error', () => b.destroy())
  b.on('error', () => a.destroy())
  a.pipe(b).pipe(a)
}

export interface Bridge { close: () => Promise<void> }

export async function bridgeIntoNamespace (ns: NetNamespace, listen: { host: string, port: number }, targetPort: number, dir: string): Promise<Bridge> {
  const path = join(dir, `bridge-${listen.host}-${listen.port}.sock`)
  const server: Server = createServer((c) => splice(c, createConnection(targetPort, '127.0.0.1')))
  server.listen(path)
  await once(server, 'listening')
  const child = spawn('setpriv', ['--pdeathsig', 'SIGKILL', '--', ...ns.wrap(), process.execPath, '-e', INSIDE, listen.host, String(listen.port), path],
    { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.setEncoding('utf8').on('data', (d: string) => { out += d })
  child.stderr.setEncoding('utf8').on('data', (d: string) => { out += d })
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', () => { if (out.includes('ready')) resolve() })
    child.once('exit', (code) => reject(new Error(`bridge to ${listen.host}:${listen.port} exited (${code}): ${out}`)))
  })
  return {
    close: async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL')
        await once(child, 'exit')
      }
      server.close()
    },
  }
}
