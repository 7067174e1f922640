// Unit tests of dlab's own code (grader/ and harness/). Hidden exercise tests under grader/tests/ are
// run only by the grader's runner, against a target, never by this config.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';
import { aliases } from './grader/core/aliases.ts';

export default defineConfig({
  resolve: { alias: aliases(fileURLToPath(new URL('.', import.meta.url))) },
  test: {
    include: ['grader/**/*.test.ts', 'harness/**/*.test.ts'],
    exclude: ['grader/tests/**', 'node_modules/**'],
    pool: 'forks',
    testTimeout: 60_000,
  },
});
