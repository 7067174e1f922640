// Unit tests of dlab's own code (grader/ and harness/). Hidden exercise tests under grader/tests/ are
// run only by the grader's runner, against a target, never by this config.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  resolve: {
    alias: [
      { find: /^@dlab\/harness$/, replacement: here('./harness/index.ts') },
      { find: /^@dlab\/harness\//, replacement: here('./harness/') },
      { find: /^@dlab\/testkit$/, replacement: here('./grader/testkit/index.ts') },
      { find: /^@solutions\//, replacement: here('./solutions/') },
    ],
  },
  test: {
    include: ['grader/**/*.test.ts', 'harness/**/*.test.ts'],
    exclude: ['grader/tests/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
