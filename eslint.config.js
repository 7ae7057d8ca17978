// One dialect for the whole tree: neostandard (the style fastify and pino use) with TypeScript
// rules from typescript-eslint. `npm test` runs it before the suite.
import neostandard from 'neostandard'

export default [
  ...neostandard({ ts: true, ignores: ['dist/**', 'node_modules/**', 'test/clients/**', 'test/cluster/kubebin/**', 'test/cluster/etcdbin/**'] }),
  {
    files: ['src/**/*.ts'],
    rules: {
      // `any` only where a comment says why (eslint-disable-next-line with a reason).
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
]
