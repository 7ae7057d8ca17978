// Differential run of request-info/selectors against the Go oracle outside tap, to explore: prints
// every mismatch of one seeded run (the CI test is test/e2e/request-parsing-oracle.test.ts).
//   REQUEST_ORACLE_SEED=1 N=20000 npx tsx test/kube/go-oracle/compare.ts
// ORACLE=<binary> skips building/locating it through test/cluster/build-binaries.sh.
import { binaries } from '../../cluster/cluster.js'
import { generate } from './generate.js'
import { askOracle, compareAll, describe, knownStricter } from './oracle.js'

const seed = Number(process.env.REQUEST_ORACLE_SEED ?? process.env.SEED ?? Math.floor(Math.random() * 2 ** 32))
const n = Number(process.env.N ?? 5000)
const oracle = process.env.ORACLE ?? (await binaries()).REQUEST_ORACLE
const cases = generate(seed, n)
const { compared, mismatches } = compareAll(cases, await askOracle(oracle, cases))
const real = mismatches.filter((m) => knownStricter(m) === undefined)
for (const m of real) console.log(describe(m, seed))
console.log(`seed ${seed}: ${real.length} mismatches of ${compared} (and ${mismatches.length - real.length} known, stricter at the edge)`)
process.exitCode = real.length === 0 ? 0 : 1
