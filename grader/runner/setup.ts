// Runs in the test process before each hidden-test file: applies the job's environment and reports
// progress to the runner, which kills the process when a test (or the file's import) overruns its limit.
import { appendFileSync, readFileSync } from 'node:fs';
import { basename } from 'node:path';
import { afterEach, beforeEach, expect, vi } from 'vitest';
import type { Job, ProgressLine } from './protocol.ts';
import { WORKER_ENV } from './protocol.ts';

const progressFile = process.env[WORKER_ENV.progressFile];
const jobsFile = process.env[WORKER_ENV.jobsFile];

function report(line: ProgressLine): void {
  // Synchronous, so the line is on disk before a learner's `while (true) {}` can start.
  if (progressFile !== undefined) appendFileSync(progressFile, JSON.stringify(line) + '\n');
}

const testPath = expect.getState().testPath ?? '';
const key = basename(testPath).replace(/\.test\.ts$/, '');
const jobs = jobsFile === undefined ? {} : (JSON.parse(readFileSync(jobsFile, 'utf8')) as Record<string, Job>);
const job = jobs[key];

if (job !== undefined) {
  // Files share one process (no isolation, for speed): clear the previous job's variables first.
  for (const k of Object.keys(process.env)) if (k.startsWith('DLAB_') && !Object.values(WORKER_ENV).includes(k as never)) delete process.env[k];
  Object.assign(process.env, job.env);
  vi.setConfig({ testTimeout: job.limitMs, hookTimeout: job.limitMs });
  report({ e: 'file', key });
  // fullName starts with the wrapper file's name; the learner knows the test by its suite and title.
  const name = (t: { fullName: string; file: { name: string } }) => t.fullName.replace(`${t.file.name} > `, '');
  beforeEach((ctx) => {
    report({ e: 'start', key, test: name(ctx.task) });
  });
  afterEach((ctx) => {
    report({ e: 'end', key, test: name(ctx.task) });
  });
}
