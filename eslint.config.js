// One dialect for the whole tree: neostandard (the style fastify and pino use) with TypeScript
// rules from typescript-eslint. `npm test` runs it before the suite (`npm run lint`).
import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'node_modules/**', 'test/clients/**', 'test/cluster/kubebin/**', 'test/cluster/etcdbin/**'],
  }),
  {
    rules: {
      // Wrapped objects here pack related properties per line (a config block, a Status); one
      // property per line would double the length of the code without making it clearer.
      '@stylistic/object-property-newline': 'off',
      // `void promise` marks a promise deliberately not awaited (a background task with its own error handling).
      'no-void': ['error', { allowAsStatement: true }],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: {
      // `any` only where an eslint-disable comment says why.
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
]
