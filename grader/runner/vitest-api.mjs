// @ts-check
// What a hidden test gets when it imports 'vitest' inside the grader: vitest's own test API, from its runner
// package, without loading the rest of vitest (expect, mocks, snapshots), which hidden tests do not use:
// they judge behaviour with the harness's checks, which throw a report.
export { afterAll, afterEach, beforeAll, beforeEach, describe, it, onTestFailed, onTestFinished, suite, test } from '@vitest/runner';
