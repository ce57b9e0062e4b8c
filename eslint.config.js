// Lint rules, including the house layering: only engine/ imports onnxruntime-node,
// only serve/ imports the HTTP stack (fastify, pino, prom-client), only config/ reads
// process.env, only cli/ sets the exit status, and folders are imported only through
// their index.ts. (The direction of imports between folders is src/layering.test.ts.)
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const onlyThroughIndex = {
  regex: '^(\\.\\./)+[^./][^/]*/(?!index\\.ts$)',
  message: 'Import another folder only through its index.ts.',
};
const onnxruntime = { name: 'onnxruntime-node', message: 'Only src/engine/ may import onnxruntime-node.' };
const httpStack = {
  regex: '^(fastify|@fastify/.*|pino(-.*)?|prom-client)$',
  message: 'Only src/serve/ may import the HTTP stack (fastify, pino, prom-client).',
};

export default tseslint.config(
  { ignores: ['node_modules/**', 'scratch/**', 'bench/results/**', 'dist/**', '.dist-test-*/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-imports': ['error', { paths: [onnxruntime], patterns: [onlyThroughIndex, httpStack] }],
      'no-restricted-properties': ['error',
        { object: 'process', property: 'env', message: 'Only src/config/ reads process.env.' },
        { object: 'process', property: 'exit', message: 'Only src/cli/ ends the process.' },
        { object: 'process', property: 'exitCode', message: 'Only src/cli/ sets the exit status.' },
      ],
    },
  },
  {
    files: ['src/engine/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [onlyThroughIndex, httpStack] }] },
  },
  {
    files: ['src/serve/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { paths: [onnxruntime], patterns: [onlyThroughIndex] }] },
  },
  {
    files: ['src/config/**/*.ts'],
    rules: { 'no-restricted-properties': 'off' },
  },
  {
    files: ['src/cli/**/*.ts'],
    rules: { 'no-restricted-properties': ['error', { object: 'process', property: 'env', message: 'Only src/config/ reads process.env; the CLI passes it through once.' }] },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: { 'no-restricted-imports': 'off', 'no-restricted-properties': 'off' },
  },
);
