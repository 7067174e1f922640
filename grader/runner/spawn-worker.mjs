// @ts-check
// Starts the runner's worker process. Plain JavaScript, so that grader/bin/dlab.mjs can start it before
// the TypeScript loader is even registered (see run-jobs.ts, adoptEarlyWorker).
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const WORKER = join(dirname(fileURLToPath(import.meta.url)), 'worker.mjs');

/**
 * The worker's JavaScript heap, in MB. Far above what any reference needs (they all pass at 192), so that
 * code whose state grows without bound is stopped as out of memory within a second or two, long before it
 * slows the machine; V8 ends the process, and run-jobs.ts reports it (see OUT_OF_MEMORY).
 */
export const HEAP_LIMIT_MB = 1024;

/** What V8 prints to stderr when the heap limit is reached. */
export const OUT_OF_MEMORY = /JavaScript heap out of memory|Reached heap limit/;

/** Set in a worker's environment by spawnWorker({ oneJob: true }); read by worker.mjs. */
export const ONE_JOB_ENV = 'DLAB_WORKER_ONE_JOB';

/**
 * A worker process: detached, so that its whole process group (vitest's test processes with it) can be
 * killed at once when a test overruns its limit.
 * @param {string} root the repo root
 * @param {number} [heapLimitMb] the heap limit (tests use a small one)
 * @param {{ oneJob?: boolean }} [opts] oneJob: the worker will most likely grade one job (a check), so it starts
 *   the TypeScript compiler only if a file is not in the cache, instead of at once for the files of later jobs
 * @returns {import('node:child_process').ChildProcess}
 */
export function spawnWorker(root, heapLimitMb = HEAP_LIMIT_MB, opts = {}) {
  return spawn(process.execPath, [`--max-old-space-size=${heapLimitMb}`, WORKER, root], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', ...(opts.oneJob === true ? { [ONE_JOB_ENV]: '1' } : {}) },
  });
}
