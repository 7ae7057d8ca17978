// Preloaded into every unit test file by `npm run test:unit` (--import): once the file's last
// teardown has run, nothing may keep the process alive — a server, socket, child process or
// ref'd timer left behind is a leak, and one that a later change turns into a hang. The root
// test's teardowns run last-registered first, so this one (registered before the file's own
// code) runs after all of them. A clean file exits on its own and the watchdog never fires:
// it is unref'd. Run one file with it: npx tap --node-arg=--import=tsx
// --node-arg=--import=./test/helpers/open-handles.ts test/cloud/handler.test.ts
import t from 'tap'

/** How long a finished file may take to let go (closing sockets need a few ticks; the machine is slow). */
const EXIT_BOUND_MS = 5000
// The runner's own stdio and IPC pipes to tap's parent process.
const RUNNER_RESOURCES = new Set(['PipeWrap', 'TTYWrap'])

t.teardown(() => {
  const watchdog = setTimeout(() => {
    const active = process.getActiveResourcesInfo().filter((r) => !RUNNER_RESOURCES.has(r))
    process.stderr.write(`open-handles: the process is still alive ${EXIT_BOUND_MS} ms after the last teardown; ` +
      `active resources: ${JSON.stringify(active)} (close every server, socket, child and timer a test opens)\n`)
    process.exit(1)
  }, EXIT_BOUND_MS)
  watchdog.unref()
})
