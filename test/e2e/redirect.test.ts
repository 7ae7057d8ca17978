// Transparent redirection, proven in network namespaces with the real test bed. A "node" namespace
// holds the edge daemon (the real CLI) and a kube-proxy-like DNAT of the `kubernetes` Service
// ClusterIP:443 to "kube-apiserver" (a port in the node namespace bridged to the test bed's real
// kube-apiserver); a "pod" namespace hangs off it by a veth, routed through it like a pod on a CNI
// bridge. The pod's kubectl, client-go and python — with nothing but the env a vanilla kubelet gives
// (KUBERNETES_SERVICE_HOST=<ClusterIP>, PORT=443) and ca.crt — must reach the EDGE (its request
// counter grows; its /readyz, not kube-apiserver's, answers), while the node's own connection to
// the same ClusterIP still reaches kube-apiserver. Stopping the daemon must remove its rules.
// Done once per backend, each against the kube-proxy of the same kind (nftables mode; iptables mode).
//
// Nothing touches the host's interfaces: the namespaces reach the test bed's 127.0.0.1 ports
// through unix-socket bridges (netns-bridge.ts).
import t, { type Test } from 'tap'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SERVICE_CLUSTER_IP } from '../cluster/cluster.js'
import { clientGo, jsonLines, kubectl, podEnvironment, python, type PodEnvironment } from '../cluster/clients.js'
import { waitForValue } from '../helpers/wait.js'
import { writeEdgeConfig } from './configs.js'
import { bridgeIntoNamespace } from './netns-bridge.js'
import { NetNamespace, runCommand, startCli, type CliProcess } from './process.js'
import { Stack } from './stack.js'

const NODE_IP = '10.88.0.1'
const POD_IP = '10.88.0.2'
const APISERVER = { host: NODE_IP, port: 6443 } // where the stand-in kube-proxy sends the ClusterIP
const DUMMY = '169.254.30.10:10550'

const stack = await Stack.start()
t.teardown(() => stack.stop())
const cluster = stack.cluster

// The ClusterIP as an operator reads it from the cluster, not from the test's own constant.
const service = await cluster.admin.must('GET', '/api/v1/namespaces/default/services/kubernetes')
const clusterIP: string = service.spec.clusterIP
const hostRules = async (): Promise<string> => (await runCommand('nft', ['list', 'ruleset'])).stdout
const hostBefore = await hostRules()
// Every top-level await is above: tap ends the root test once it is idle with nothing queued.

t.test('the kubernetes Service ClusterIP is the one the serving certificates carry', async (t) => {
  t.equal(clusterIP, SERVICE_CLUSTER_IP)
})

/** The kube-proxy modes' DNAT of the ClusterIP (PREROUTING for pods, OUTPUT for the node itself). */
const kubeProxy = {
  // kube-proxy's nftables mode: chains at priority dstnat (-100), written as a number for older nft.
  nftables: async (node: NetNamespace): Promise<void> => {
    const rules = ['table ip kube-proxy {',
      '  chain nat-prerouting { type nat hook prerouting priority -100; policy accept; jump services; }',
      '  chain nat-output { type nat hook output priority -100; policy accept; jump services; }',
      `  chain services { ip daddr ${clusterIP} tcp dport 443 dnat to ${APISERVER.host}:${APISERVER.port}; }`, '}', ''].join('\n')
    must(await runIn(node, 'nft', ['-f', '-'], rules), 'nft kube-proxy')
  },
  iptables: async (node: NetNamespace): Promise<void> => {
    must(await node.run('iptables', ['-t', 'nat', '-N', 'KUBE-SERVICES']), 'iptables -N')
    must(await node.run('iptables', ['-t', 'nat', '-A', 'KUBE-SERVICES', '-d', `${clusterIP}/32`, '-p', 'tcp', '--dport', '443',
      '-j', 'DNAT', '--to-destination', `${APISERVER.host}:${APISERVER.port}`]), 'iptables -A')
    for (const chain of ['PREROUTING', 'OUTPUT']) must(await node.run('iptables', ['-t', 'nat', '-I', chain, '-j', 'KUBE-SERVICES']), `iptables -I ${chain}`)
  },
}

function must (r: { code: number | null, stderr: string }, what: string): void {
  if (r.code !== 0) throw new Error(`${what}: ${r.stderr}`)
}

function runIn (ns: NetNamespace, command: string, args: string[], stdin: string): ReturnType<typeof runCommand> {
  const [nsenter, ...rest] = ns.wrap()
  return runCommand(nsenter!, [...rest, command, ...args], { stdin })
}

/** curl in a namespace, verifying TLS against the cluster CA (the pods' ca.crt). */
async function curl (ns: NetNamespace, url: string, token?: string): Promise<{ status: string, body: string, stderr: string }> {
  const r = await ns.run('curl', ['-sS', '--max-time', '10', '--cacert', cluster.pki.ca.certFile, ...(token === undefined ? [] : ['-H', `Authorization: Bearer ${token}`]),
    '-o', '-', '-w', '\n%{http_code}', url])
  const at = r.stdout.lastIndexOf('\n')
  return { status: r.stdout.slice(at + 1), body: r.stdout.slice(0, at), stderr: r.stderr }
}

/** Sum of the edge's edge_metaserver_requests_total for one verb, read on its loopback listener. */
async function edgeRequests (node: NetNamespace, verb: string): Promise<number> {
  const m = await curl(node, 'https://127.0.0.1:10550/metrics')
  if (m.status !== '200') throw new Error(`edge /metrics: ${m.status} ${m.stderr}`)
  let sum = 0
  for (const line of m.body.split('\n')) {
    if (line.startsWith('edge_metaserver_requests_total{') && line.includes(`verb="${verb}"`)) sum += Number(line.split(' ').at(-1))
  }
  return sum
}

async function topology (t: Test): Promise<{ node: NetNamespace, pod: NetNamespace }> {
  const node = await NetNamespace.create()
  t.teardown(() => node.close())
  const pod = await NetNamespace.create()
  t.teardown(() => pod.close())
  const steps: Array<[NetNamespace, string[]]> = [
    [node, ['link', 'add', 'ems-node', 'type', 'veth', 'peer', 'name', 'ems-pod', 'netns', String(pod.pid)]],
    [node, ['addr', 'add', `${NODE_IP}/24`, 'dev', 'ems-node']], [node, ['link', 'set', 'ems-node', 'up']],
    // The node's default route (its way to the real network) points away from the pod.
    [node, ['route', 'add', 'default', 'via', POD_IP, 'dev', 'ems-node']],
    [pod, ['addr', 'add', `${POD_IP}/24`, 'dev', 'ems-pod']], [pod, ['link', 'set', 'ems-pod', 'up']],
    [pod, ['route', 'add', 'default', 'via', NODE_IP]],
  ]
  for (const [ns, args] of steps) must(await ns.run('ip', args), `ip ${args.join(' ')}`)
  const dir = await cluster.tempDir('bridges')
  const bridges = [
    await bridgeIntoNamespace(node, APISERVER, cluster.port, dir),
    await bridgeIntoNamespace(node, { host: '127.0.0.1', port: stack.cloud.tunnelPort }, stack.cloud.tunnelPort, dir),
  ]
  t.teardown(() => Promise.all(bridges.map((b) => b.close())))
  return { node, pod }
}

for (const backend of ['nftables', 'iptables'] as const) {
  t.test(`${backend}: pods reach the edge through the ClusterIP, the node reaches kube-apiserver, stop removes the rules`, async (t) => {
    const { node, pod } = await topology(t)
    await kubeProxy[backend](node)
    const nodeName = `edge-redirect-${backend}`
    const ns = await stack.fixtures.namespace('redirect')
    await stack.fixtures.configMap(ns, 'through-the-edge', { via: 'redirect' })
    // Created before the edge starts, so its first policy bundle already holds the pod.
    const identity = await stack.fixtures.podIdentity(ns, nodeName, { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] })

    // Before the daemon: the stand-in kube-proxy sends the pod to kube-apiserver (the topology works).
    const direct = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
    t.match(direct.body, /^\[\+\]etcd ok$/m, `without the daemon the pod reaches kube-apiserver: ${direct.stderr}`)

    const configFile = await writeEdgeConfig(cluster, stack.files, nodeName, {
      server: '127.0.0.1:10550', dummyServer: DUMMY, tunnelPort: stack.cloud.tunnelPort,
      metaServer: ['redirect:', `  serviceClusterIP: ${clusterIP}`, `  backend: ${backend}`, '  recheckPeriod: 1s'],
    })
    const edge: CliProcess = startCli(['edge', '--config', configFile], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}.log`) })
    t.teardown(() => edge.stop(5000))
    const installed = await edge.waitForLog((l) => l.msg === 'redirection installed', 'redirection installed')
    t.equal(installed.backend, backend)
    await waitForValue(async () => (await curl(node, 'https://127.0.0.1:10550/readyz')).status === '200' ? true : undefined,
      { what: 'the edge to be ready (tunnel up, policy received)', timeoutMs: 30_000 })

    if (backend === 'nftables') {
      const table = await node.run('nft', ['list', 'table', 'ip', 'edge-metaserver'])
      t.match(table.stdout, /type nat hook prerouting priority dstnat - 10;/, 'the table\'s chain runs before kube-proxy\'s dstnat')
      t.match(table.stdout, `ip daddr ${clusterIP} tcp dport 443 dnat to ${DUMMY}`)
    } else {
      const prerouting = (await node.run('iptables', ['-t', 'nat', '-S', 'PREROUTING'])).stdout.split('\n').filter((l) => l.startsWith('-A'))
      t.same(prerouting, ['-A PREROUTING -j EDGE-METASERVER', '-A PREROUTING -j KUBE-SERVICES'], 'the edge\'s jump comes before kube-proxy\'s')
      // kube-proxy re-creating its jump (after a flush, or starting after the daemon) prepends it.
      must(await node.run('iptables', ['-t', 'nat', '-D', 'PREROUTING', '-j', 'KUBE-SERVICES']), 'iptables -D')
      must(await node.run('iptables', ['-t', 'nat', '-I', 'PREROUTING', '-j', 'KUBE-SERVICES']), 'iptables -I')
      const moved = await edge.waitForLog((l) => l.level === 'warn' && /put it first again/.test(l.msg), 'the recheck moving the jump back')
      t.equal(moved.backend, 'iptables')
      const again = (await node.run('iptables', ['-t', 'nat', '-S', 'PREROUTING'])).stdout.split('\n').filter((l) => l.startsWith('-A'))
      t.same(again, ['-A PREROUTING -j EDGE-METASERVER', '-A PREROUTING -j KUBE-SERVICES'], 'the edge\'s jump is first again')
    }

    // The pod, with a vanilla kubelet's env: the edge answers (its own readiness checks), TLS verified.
    const viaEdge = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
    t.match(viaEdge.body, /^\[\+\]tunnel ok/m, `the pod's ClusterIP connection reaches the edge: ${viaEdge.stderr}`)
    t.notMatch(viaEdge.body, /etcd/)
    // The node's own connection to the same ClusterIP still goes to kube-apiserver.
    const fromNode = await curl(node, `https://${clusterIP}/readyz?verbose`, cluster.adminToken)
    t.match(fromNode.body, /^\[\+\]etcd ok$/m, `the node itself still reaches kube-apiserver: ${fromNode.stderr}`)

    const env: PodEnvironment = {
      ...await podEnvironment(await cluster.tempDir(`pod-${backend}`), { host: clusterIP, port: 443, token: identity.token, caPem: cluster.pki.caPem, namespace: ns }),
      wrap: pod.wrap(),
    }
    const clients: Array<[string, () => Promise<{ code: number | null, stdout: string, stderr: string }>, (out: string) => string[]]> = [
      ['kubectl', () => kubectl(env, ['get', 'configmaps', '-o', 'name']), (out) => out.trim().split('\n')],
      ['client-go', () => clientGo(env, ['list', '--resource', 'configmaps']), (out) => jsonLines(out).filter((l) => l.type === 'list').flatMap((l) => l.names)],
      ['python', () => python(env, ['list', ns]), (out) => jsonLines(out).flatMap((l) => l.names ?? [])],
    ]
    for (const [name, run, names] of clients) {
      const before = await edgeRequests(node, 'list')
      const r = await run()
      t.equal(r.code, 0, `${name} succeeds: ${r.stderr.slice(-500)}`)
      t.match(names(r.stdout).join(' '), /through-the-edge/, `${name} lists the ConfigMap`)
      t.ok(await edgeRequests(node, 'list') > before, `${name}'s list went through the edge (its request counter grew)`)
    }

    // Killed -9: the rules stay (pods keep pointing at the edge while it restarts), and the next
    // start replaces them — the same rules afterwards, not a second copy.
    const ours = async (): Promise<string[]> => backend === 'nftables'
      ? (await node.run('nft', ['list', 'table', 'ip', 'edge-metaserver'])).stdout.split('\n').map((l) => l.trim()).filter((l) => l !== '')
      : (await node.run('iptables', ['-t', 'nat', '-S'])).stdout.split('\n').filter((l) => l.includes('EDGE-METASERVER'))
    const beforeKill = await ours()
    t.ok(beforeKill.some((l) => l.includes(`dnat to ${DUMMY}`) || l.includes(`--to-destination ${DUMMY}`)), 'the DNAT rule is in place')
    await edge.signal('SIGKILL', 20_000)
    t.same(await ours(), beforeKill, 'kill -9 leaves the rules')
    const restarted: CliProcess = startCli(['edge', '--config', configFile], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}-restarted.log`) })
    t.teardown(() => restarted.stop(5000))
    t.equal((await restarted.waitForLog((l) => l.msg === 'redirection installed', 'redirection installed (restart)')).backend, backend)
    t.same(await ours(), beforeKill, 'the restart replaced them: the same rules, not doubled')
    const afterRestart = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
    t.match(afterRestart.body, /^\[[+-]\]tunnel\b/m, `the pod reaches the restarted edge (its own readiness checks): ${afterRestart.stderr}`)
    t.notMatch(afterRestart.body, /etcd/)

    const stopped = await restarted.signal('SIGTERM', 20_000)
    t.equal(stopped.code, 0)
    t.ok(restarted.logLines().some((l) => l.msg === 'redirection removed' && l.backend === backend), 'the daemon says it removed the rules')
    if (backend === 'nftables') {
      const after = await node.run('nft', ['list', 'ruleset'])
      t.notMatch(after.stdout, 'edge-metaserver', `no edge-metaserver table is left:\n${after.stdout}`)
      t.match(after.stdout, 'table ip kube-proxy', 'kube-proxy\'s table is untouched')
    } else {
      const after = await node.run('iptables', ['-t', 'nat', '-S'])
      t.notMatch(after.stdout, 'EDGE-METASERVER', `no EDGE-METASERVER chain or jump is left:\n${after.stdout}`)
      t.match(after.stdout, '-A PREROUTING -j KUBE-SERVICES', 'kube-proxy\'s jump is untouched')
    }
    // With the daemon gone the pod is back on kube-proxy's path.
    t.match((await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)).body, /^\[\+\]etcd ok$/m)
  })
}

t.test('a node without kube-proxy (common on KubeEdge nodes): the rule alone takes the pod to the edge', async (t) => {
  const { node, pod } = await topology(t)
  const nodeName = 'edge-redirect-no-kube-proxy'
  const ns = await stack.fixtures.namespace('redirect')
  const identity = await stack.fixtures.podIdentity(ns, nodeName)
  const configFile = await writeEdgeConfig(cluster, stack.files, nodeName, {
    server: '127.0.0.1:10550', dummyServer: DUMMY, tunnelPort: stack.cloud.tunnelPort,
    metaServer: ['redirect:', `  serviceClusterIP: ${clusterIP}`],
  })
  const edge = startCli(['edge', '--config', configFile], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}.log`) })
  t.teardown(() => edge.stop(5000))
  t.equal((await edge.waitForLog((l) => l.msg === 'redirection installed', 'redirection installed')).backend, 'nftables', 'auto picks nftables where nft works')
  await waitForValue(async () => (await curl(node, 'https://127.0.0.1:10550/readyz')).status === '200' ? true : undefined,
    { what: 'the edge to be ready', timeoutMs: 30_000 })
  const viaEdge = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
  t.match(viaEdge.body, /^\[\+\]tunnel ok/m, `the pod reaches the edge: ${viaEdge.stderr}`)
  t.equal((await edge.signal('SIGTERM', 20_000)).code, 0)
  const after = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
  t.not(after.status, '200', 'with the daemon stopped nothing answers the ClusterIP on this node')
})

t.test('serviceClusterIP: auto — the ClusterIP the shim read from the cluster, remembered for an offline start; KubeEdge\'s injected env reaches the edge too', async (t) => {
  const { node, pod } = await topology(t)
  const nodeName = 'edge-redirect-auto'
  const ns = await stack.fixtures.namespace('redirect')
  await stack.fixtures.configMap(ns, 'auto-through-the-edge', { via: 'auto' })
  const identity = await stack.fixtures.podIdentity(ns, nodeName, { rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch'] }] })
  const stateDir = await cluster.tempDir('edge-redirect-auto-state')
  const config = (tunnelPort: number): Promise<string> => writeEdgeConfig(cluster, stack.files, nodeName, {
    server: '127.0.0.1:10550', dummyServer: DUMMY, tunnelPort, stateDir, metaServer: ['redirect:', '  serviceClusterIP: auto'],
  })
  const edge = startCli(['edge', '--config', await config(stack.cloud.tunnelPort)], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}.log`) })
  t.teardown(() => edge.stop(5000))
  await edge.waitForLog((l) => /no kubernetes Service known yet/.test(l.msg), 'a fresh edge knows no ClusterIP')
  const installed = await edge.waitForLog((l) => l.msg === 'redirection installed', 'redirection installed')
  t.same([installed.clusterIP, installed.port], [clusterIP, service.spec.ports.find((p: { name: string }) => p.name === 'https').port],
    'the rule is for the kubernetes Service as kube-apiserver holds it (sent by the shim in the policy bundle)')
  await waitForValue(async () => (await curl(node, 'https://127.0.0.1:10550/readyz')).status === '200' ? true : undefined,
    { what: 'the edge to be ready', timeoutMs: 30_000 })
  const viaEdge = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
  t.match(viaEdge.body, /^\[\+\]tunnel ok/m, `the pod's ClusterIP connection reaches the edge: ${viaEdge.stderr}`)

  // Next to KubeEdge's edgecore, edged gives pods METASERVER_DUMMY_IP/PORT (the drop-in's values) as
  // KUBERNETES_SERVICE_HOST/PORT instead: the same pod, with that env, reaches the edge directly.
  const kubeEdgeEnv: PodEnvironment = {
    ...await podEnvironment(await cluster.tempDir('pod-kubeedge'), { host: '169.254.30.10', port: 10550, token: identity.token, caPem: cluster.pki.caPem, namespace: ns }),
    wrap: pod.wrap(),
  }
  const before = await edgeRequests(node, 'list')
  const listed = await kubectl(kubeEdgeEnv, ['get', 'configmaps', '-o', 'name'])
  t.equal(listed.code, 0, `kubectl with KUBERNETES_SERVICE_HOST=169.254.30.10 KUBERNETES_SERVICE_PORT=10550 succeeds: ${listed.stderr.slice(-500)}`)
  t.match(listed.stdout, /auto-through-the-edge/)
  t.ok(await edgeRequests(node, 'list') > before, 'and went through the edge')
  t.equal((await edge.signal('SIGTERM', 20_000)).code, 0)
  t.notMatch((await node.run('nft', ['list', 'ruleset'])).stdout, 'edge-metaserver', 'stop removed the rule')

  // Restarted with the cloud unreachable (nothing listens on port 9 in the node namespace): the
  // persisted bundle's Service is redirected again at start-up, before any cloud contact.
  const offline = startCli(['edge', '--config', await config(9)], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}-offline.log`) })
  t.teardown(() => offline.stop(5000))
  const remembered = await offline.waitForLog((l) => l.msg === 'redirection installed', 'redirection installed (offline)')
  t.same([remembered.clusterIP, remembered.port], [installed.clusterIP, installed.port], 'the same Service, from the state directory')
  t.notOk(offline.logLines().some((l) => l.msg === 'tunnel connected'), 'without a tunnel')
  const offlineAnswer = await curl(pod, `https://${clusterIP}/readyz?verbose`, identity.token)
  t.match(offlineAnswer.body, /^\[[+-]\]tunnel\b/m, `the pod reaches the offline edge: ${offlineAnswer.stderr}`)
  t.equal((await offline.signal('SIGTERM', 20_000)).code, 0)
  t.notMatch((await node.run('nft', ['list', 'ruleset'])).stdout, 'edge-metaserver', 'stop removed it again')
})

t.test('a serving certificate without the ClusterIP: no redirection, a clear error, the pods keep the direct path', async (t) => {
  const node = await NetNamespace.create()
  t.teardown(() => node.close())
  const nodeName = 'edge-redirect-nocert'
  await stack.fixtures.node(nodeName)
  const narrow = await cluster.pki.ca.issue('edge-serving-no-clusterip', { cn: 'edge-metaserver', usage: 'server', ipSans: ['127.0.0.1', '169.254.30.10'] })
  const configFile = await writeEdgeConfig(cluster, { ...stack.files, edgeServing: narrow }, nodeName, {
    server: '127.0.0.1:10550', dummyServer: DUMMY, tunnelPort: stack.cloud.tunnelPort,
    metaServer: ['redirect:', `  serviceClusterIP: ${clusterIP}`],
  })
  const edge = startCli(['edge', '--config', configFile], { wrap: node.wrap(), logFile: join(cluster.dir, `edge-${nodeName}.log`) })
  t.teardown(() => edge.stop(5000))
  const refused = await edge.waitForLog((l) => l.level === 'error' && /not redirecting/.test(l.msg), 'the certificate error')
  t.match(refused.msg, `the serving certificate has no IP SAN ${clusterIP}; pods using ${clusterIP}:443 keep reaching kube-apiserver directly`)
  t.equal(refused.file, narrow.certFile, 'the error names the certificate file')
  t.notMatch((await node.run('nft', ['list', 'ruleset'])).stdout, 'edge-metaserver', 'no table was installed')
  t.ok(edge.running, 'the daemon keeps serving')
  t.equal((await edge.signal('SIGTERM', 20_000)).code, 0)
})

t.test('the host\'s own ruleset was not touched', async (t) => {
  t.equal(await hostRules(), hostBefore)
  t.equal((await readFile('/proc/self/net/dev', 'utf8')).includes('ems-'), false, 'no test veth in the host namespace')
})
