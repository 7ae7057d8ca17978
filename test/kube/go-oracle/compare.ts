// Differential run of request-info/selectors against the Go oracle outside tap, to explore: prints
// every mismatch of one seeded run (the CI test is test/e2e/request-parsing-oracle.test.ts).
//   REQUEST_ORACLE_SEED=1 N=20000 npx tsx test/kube/go-oracle/compare.ts
// ORACLE=<binary> skips building/locating it through test/cluster/build-binaries.sh.
import { binaries } from '../../cluster/cluster.js'
import { generate } from './generate.js'
import { askOracle, compareAll, describe } from './oracle.js'

const seed = Number(process.env.REQUEST_ORACLE_SEED ?? process.env.SEED ?? Math.floor(Math.random() * 2 ** 32))
const n = Number(process.env.N ?? 5000)
const oracle = process.env.ORACLE ?? (await binaries()).REQUEST_ORACLE
const cases = generate(seed, n)
const { compared, mismatches } = compareAll(cases, await askOracle(oracle, cases))
for (const m of mismatches) console.log(describe(m, seed))
console.log(`seed ${seed}: ${mismatches.length} mismatches of ${compared}`)
process.exitCode = mismatches.length === 0 ? 0 : 1
