// A network partition between an edge and the cloud shim, controlled from inside a test: a TCP
// relay on 127.0.0.1 that the edge dials instead of the shim. `cut()` drops every connection and
// refuses new ones (what a lost uplink looks like to the edge: resets, then nothing); `restore()`
// lets connections through again.
import net from 'node:net'

export class Partition {
  private readonly sockets = new Set<net.Socket>()
  private isCut = false

  private constructor (private readonly server: net.Server, readonly port: number) {}

  static async between (targetPort: number): Promise<Partition> {
    // Assigned once the server exists; the connection handler (which runs only later) reads it.
    // eslint-disable-next-line prefer-const
    let partition: Partition | undefined
    const server = net.createServer((client) => {
      if (partition === undefined || partition.isCut) { client.destroy(); return }
      const upstream = net.connect(targetPort, '127.0.0.1')
      for (const [a, b] of [[client, upstream], [upstream, client]] as const) {
        partition.sockets.add(a)
        a.on('error', () => b.destroy())
        a.on('close', () => { partition!.sockets.delete(a); b.destroy() })
        a.pipe(b)
      }
    })
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    partition = new Partition(server, (server.address() as net.AddressInfo).port)
    return partition
  }

  cut (): void {
    this.isCut = true
    for (const s of this.sockets) s.destroy()
  }

  restore (): void {
    this.isCut = false
  }

  async close (): Promise<void> {
    this.cut()
    await new Promise((resolve) => this.server.close(resolve))
  }
}
