// The local demo: a real cluster (etcd + kube-apiserver + kube-controller-manager), the cloud shim
// with its join listener, node "edge-demo" joined with `token create` + `join` (no hand-made
// certificate), the edge daemon started from what join wrote, and kubectl in in-cluster mode —
// exactly as a pod on that node runs it — going pod → edge → HTTP/2 mTLS tunnel → shim →
// kube-apiserver; then the cloud goes away and the edge answers reads from its cache and refuses writes.
// Run: npm run demo   (needs root for `unshare --mount`; see README)
import { clientGo, kubectl } from '../test/cluster/clients.js'
import { joinCloudHub, operatorNodeDir, privateGroupsWrap } from '../test/e2e/joined-node.js'
import { runCli } from '../test/e2e/process.js'
import { Stack, waitUntil } from '../test/e2e/stack.js'

const say = (line: string): void => { process.stdout.write(`\n\x1b[1m==> ${line}\x1b[0m\n`) }

say('starting the test cluster and the cloud shim (join listener on)')
const stack = await Stack.start(undefined, { cloudHub: (files) => joinCloudHub(files) })
let failed = false
try {
  const NODE = 'edge-demo'
  await stack.fixtures.node(NODE)
  say(`cluster admin: edge-metaserver token create --node ${NODE} --ttl 1h --tunnel-ca tunnel-ca.crt --server …`)
  const created = await runCli(['token', 'create', '--node', NODE, '--ttl', '1h', '--kubeconfig', stack.cluster.adminKubeconfig,
    '--tunnel-ca', stack.tunnelPki.ca.certFile, '--server', `127.0.0.1:${stack.cloud.joinPort!}`])
  process.stdout.write(created.stdout + created.stderr)
  if (created.code !== 0) throw new Error(`token create exited ${created.code}`)
  const joinArgs = created.stdout.split('\n')[2]!.trim().split(/\s+/).slice(1)
  // The operator's own settings for this demo (loopback ports, no dummy address); join adds the node's values.
  const { dir, configFile } = await operatorNodeDir(stack.cluster, 'demo-node')
  say(`on the node, as root: the printed command (keys and config into ${dir})`)
  // Run as root against a private /etc/group, so the demo never adds a group to this machine.
  const joined = await runCli([...joinArgs, '--dir', dir], { timeoutMs: 60_000, wrap: await privateGroupsWrap(stack.cluster) })
  process.stdout.write(joined.stdout + joined.stderr)
  if (joined.code !== 0) throw new Error(`join exited ${joined.code}`)
  say('the edge daemon starts from exactly what join wrote')
  const edge = await stack.startEdgeFromConfig(configFile, `edge-${NODE}`)
  const ns = await stack.fixtures.namespace('demo')
  const me = await stack.fixtures.podIdentity(ns, 'edge-demo', {
    rules: [{ apiGroups: [''], resources: ['configmaps'], verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'] }],
  })
  const pod = await stack.podEnv(edge, me.token, ns)
  process.stdout.write(`kube-apiserver  ${stack.cluster.url}\n` +
    `cloud shim      tunnel 127.0.0.1:${stack.cloud.tunnelPort}, join 127.0.0.1:${stack.cloud.joinPort!}, health http://127.0.0.1:${stack.cloud.healthPort}/readyz\n` +
    `edge daemon     https://${pod.host}:${pod.port} (node ${edge.nodeName})\n` +
    `pod             ${ns}/${me.pod.name}, service account "${me.serviceAccount}"; KUBERNETES_SERVICE_HOST=${pod.host} KUBERNETES_SERVICE_PORT=${pod.port}\n`)

  const steps: Array<[string, string[], string?]> = [
    ['kubectl version (in-cluster config, through the edge)', ['version', '-o', 'yaml']],
    ['kubectl apply -f - (a ConfigMap)', ['apply', '-f', '-'], 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: hello\ndata:\n  greeting: "hello from the edge"\n'],
    ['kubectl get configmaps (Table output)', ['get', 'configmaps']],
    ['kubectl auth can-i create configmaps', ['auth', 'can-i', 'create', 'configmaps']],
    ['kubectl get secrets (forbidden: refused at the edge, with kube-apiserver\'s exact 403)', ['get', 'secrets']],
  ]
  for (const [title, args, stdin] of steps) {
    say(title)
    const r = await kubectl(pod, args, stdin === undefined ? {} : { stdin })
    process.stdout.write(r.stdout + r.stderr)
  }
  say('verified directly on kube-apiserver')
  const cm = await stack.admin.must('GET', `/api/v1/namespaces/${ns}/configmaps/hello`)
  process.stdout.write(`configmap ${ns}/hello data.greeting = ${JSON.stringify(cm.data.greeting)}\n`)
  failed = cm.data.greeting !== 'hello from the edge'

  say('an app in the pod lists configmaps with client-go (JSON): the edge keeps the answer in its cache')
  const listed = await clientGo(pod, ['list', '--resource', 'configmaps'])
  process.stdout.write(listed.stdout + listed.stderr)
  say('the cloud goes away (the cloud shim stops)')
  await stack.cloud.close()
  await waitUntil(() => !edge.tunnel.state.connected, 10_000, 'the edge to notice')
  const offline: Array<[string, string[], string?]> = [
    ['kubectl get configmaps (offline: answered from the edge cache, with a warning)', ['get', 'configmaps']],
    ['kubectl apply (offline: a clear 503, nothing changed or queued; client-go retries it for ~10 s first)', ['apply', '-f', '-'],
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: offline\ndata:\n  k: v\n'],
  ]
  for (const [title, args, stdin] of offline) {
    say(title)
    const r = await kubectl(pod, args, stdin === undefined ? {} : { stdin })
    process.stdout.write(r.stdout + r.stderr)
    if (args[0] === 'get') failed ||= r.code !== 0 || !r.stderr.includes('served from edge cache')
    else failed ||= r.code === 0
  }
} catch (err) {
  failed = true
  process.stderr.write(`demo failed: ${(err as Error).stack}\n`)
} finally {
  say('stopping everything')
  await stack.stop()
}
process.exitCode = failed ? 1 : 0
