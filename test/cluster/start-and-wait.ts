// Helper for cleanup.test.ts: starts a test cluster, prints its processes and ports as one JSON
// line, then waits to be killed. Not a test file itself.
import { TestCluster } from './cluster.js'

const cluster = await TestCluster.start({ controllerManager: false })
process.stdout.write(JSON.stringify({ pids: cluster.pids(), ports: [cluster.port] }) + '\n')
await new Promise(() => { /* until killed */ })
