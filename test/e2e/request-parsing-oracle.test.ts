// Differential test of the edge's request parsing against kube-apiserver's own Go code (the oracle,
// test/kube/go-oracle/main.go, built by build-binaries.sh at the test bed's module versions): for
// ≥ 5 000 generated request targets and methods, and ~1 000 generated field and label selectors,
// src/kube (request-info.ts, selectors.ts) must compute what Go's http.ReadRequest,
// RequestInfoFactory.NewRequestInfo, ListOptions decoding, fields.ParseSelector with
// RequiresExactMatch("metadata.name") and labels.Parse compute. RBAC at the edge decides on that
// request info, so any difference is a request the edge judges differently from kube-apiserver.
// The run's seed is printed; REQUEST_ORACLE_SEED=<seed> replays it (REQUEST_ORACLE_CASES sets the
// count). Needs the built oracle, no cluster: here in test/e2e, outside `npm run test:unit`.
import t from 'tap'
import { randomInt } from 'node:crypto'
import { binaries } from '../cluster/cluster.js'
import { generate } from '../kube/go-oracle/generate.js'
import { askOracle, compareAll, describe, knownStricter, type Mismatch } from '../kube/go-oracle/oracle.js'

const seed = process.env.REQUEST_ORACLE_SEED !== undefined ? Number(process.env.REQUEST_ORACLE_SEED) : randomInt(2 ** 32)
const count = Math.max(5000, Number(process.env.REQUEST_ORACLE_CASES ?? 5000))

t.test(`kube/request-info and selectors parse as kube-apiserver's Go code (seed ${seed}, ${count} requests)`, async (t) => {
  t.comment(`seed ${seed} (replay: REQUEST_ORACLE_SEED=${seed} npx tap test/e2e/request-parsing-oracle.test.ts)`)
  const { REQUEST_ORACLE: oracle } = await binaries()
  t.ok(oracle, 'build-binaries.sh reports REQUEST_ORACLE')
  const cases = generate(seed, count, 500)
  const started = Date.now()
  const answers = await askOracle(oracle, cases)
  t.comment(`oracle answered ${answers.length} cases in ${Date.now() - started} ms`)
  const { compared, mismatches } = compareAll(cases, answers)

  // The generator must reach what matters, or a green run proves little: count the kinds of cases
  // the oracle saw (from Go's side, so the counts cannot come from the code under test).
  const seen = { resource: 0, list: 0, watch: 0, pinnedName: 0, refused: 0, listOptionsError: 0, fieldOk: 0, labelOk: 0 }
  answers.slice(0, cases.requests.length).forEach((a) => {
    const go = a as { err?: string, infoErr?: string, listErr?: string, info?: { IsResourceRequest: boolean, Verb: string, Name: string }, query?: Record<string, string[]> }
    if (go.err !== undefined || go.infoErr !== undefined) { seen.refused++; return }
    if (go.info?.IsResourceRequest === true) seen.resource++
    if (go.info?.Verb === 'list') seen.list++
    if (go.info?.Verb === 'watch') seen.watch++
    if (go.info?.Verb === 'list' || go.info?.Verb === 'watch') {
      if (go.info.Name !== '') seen.pinnedName++
      if (go.listErr !== undefined) seen.listOptionsError++
    }
  })
  const selectors = cases.fieldSelectors.length + cases.labelSelectors.length
  answers.slice(cases.requests.length, cases.requests.length + selectors).forEach((a) => { if ((a as { err?: string }).err === undefined) seen.fieldOk++ })
  answers.slice(cases.requests.length + selectors).forEach((a) => { if ((a as { err?: string }).err === undefined) seen.labelOk++ })
  t.comment(`coverage (Go's view): ${JSON.stringify(seen)}`)
  for (const [k, v] of Object.entries(seen)) t.ok(v >= 10, `generated cases include ${k} (${v})`)

  const stricter = new Map<string, number>()
  const real: Mismatch[] = []
  for (const m of mismatches) {
    const why = knownStricter(m)
    if (why === undefined) real.push(m)
    else stricter.set(why, (stricter.get(why) ?? 0) + 1)
  }
  for (const [why, n] of stricter) t.comment(`known, stricter than kube-apiserver: ${why} × ${n}`)
  // One reproduction per mismatch (bounded, the count says how many there are).
  for (const m of real.slice(0, 50)) t.comment(describe(m, seed))
  if (real.length > 50) t.comment(`… and ${real.length - 50} more`)
  t.equal(real.length, 0, `no mismatch with kube-apiserver's Go code in ${compared} cases (seed ${seed})`)
})
