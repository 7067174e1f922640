// @ts-check
// Starts the runner's worker process. Plain JavaScript, so that grader/bin/dlab.mjs can start it before
// the TypeScript loader is even registered (see run-jobs.ts, adoptEarlyWorker).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.mjs');

/**
 * A worker process: detached, so that its whole process group (vitest's test processes with it) can be
 * killed at once when a test overruns its limit.
 * @param {string} root the repo root
 * @returns {import('node:child_process').ChildProcess}
 */
export function spawnWorker(root) {
  return spawn(process.execPath, [WORKER, root], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
}
