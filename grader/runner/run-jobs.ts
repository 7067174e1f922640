// The runner's parent side: starts a worker process, watches each test's progress, and kills the worker
// when a test overruns its limit (a learner's `while (true) {}` cannot be interrupted any other way).
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ROOT, scratchDir } from '../core/paths.ts';
import { aliases } from '../core/aliases.ts';
import { LOAD_PHASE, WORKER_ENV, type Job, type JobOutcome, type ParentMessage, type ProgressLine, type WorkerMessage } from './protocol.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORKER = join(HERE, 'worker.mjs');
const SETUP = join(HERE, 'setup.ts');
/** Extra time past a test's limit before the watchdog kills: vitest's own timeout handles async hangs first. */
const GRACE_MS = 1_000;
const POLL_MS = 25;

export interface RunOptions {
  /** Test processes run in parallel (default 1). */
  readonly maxWorkers?: number;
  readonly root?: string;
  /** Called as each job's outcome is known. */
  readonly onOutcome?: (key: string, outcome: JobOutcome) => void;
}

interface Running {
  phase: string;
  since: number;
}

let runCounter = 0;
/** Process groups of live workers, so that a Ctrl-C can stop them (see stopAllRuns). */
const liveGroups = new Set<number>();

/** Kills every worker this process started; the CLI calls it on SIGINT/SIGTERM. */
export function stopAllRuns(): void {
  for (const pid of liveGroups) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveGroups.clear();
}

/** Runs every job once and returns each outcome; never throws for anything a learner's code does. */
export async function runJobs(jobs: readonly Job[], opts: RunOptions = {}): Promise<Map<string, JobOutcome>> {
  const root = opts.root ?? ROOT;
  const results = new Map<string, JobOutcome>();
  const dir = join(scratchDir(root), 'runs', `${process.pid}-${++runCounter}`);
  mkdirSync(dir, { recursive: true });
  const record = (key: string, outcome: JobOutcome) => {
    if (results.has(key)) return;
    results.set(key, outcome);
    opts.onOutcome?.(key, outcome);
  };
  try {
    let remaining = jobs.filter((j) => !results.has(j.key));
    while (remaining.length > 0) {
      const before = results.size;
      const crash = await round(remaining, dir, root, opts.maxWorkers ?? 1, record);
      remaining = jobs.filter((j) => !results.has(j.key));
      if (remaining.length > 0 && results.size === before) {
        // The worker died without finishing or timing out anything: report it rather than loop.
        for (const j of remaining) record(j.key, { kind: 'crashed', message: crash ?? 'the test process stopped unexpectedly' });
        remaining = [];
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return results;
}

function round(
  jobs: readonly Job[],
  dir: string,
  root: string,
  maxWorkers: number,
  record: (key: string, outcome: JobOutcome) => void,
): Promise<string | undefined> {
  const progressFile = join(dir, 'progress.ndjson');
  const jobsFile = join(dir, 'jobs.json');
  writeFileSync(progressFile, '');
  writeFileSync(jobsFile, JSON.stringify(Object.fromEntries(jobs.map((j) => [j.key, j]))));
  const byKey = new Map(jobs.map((j) => [j.key, j]));
  const running = new Map<string, Running>();
  const finished = new Set<string>();

  const child = spawn(process.execPath, [WORKER], {
    cwd: root,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    env: {
      ...process.env,
      [WORKER_ENV.progressFile]: progressFile,
      [WORKER_ENV.jobsFile]: jobsFile,
      NO_COLOR: '1',
      FORCE_COLOR: '0',
    },
  });
  if (child.pid !== undefined) liveGroups.add(child.pid);
  let stderr = '';
  child.stderr?.on('data', (b: Buffer) => {
    stderr = (stderr + b.toString()).slice(-4_000);
  });

  return new Promise((resolveRound) => {
    let fd: number | undefined;
    let offset = 0;
    let pending = '';
    let done = false;
    let fatal: string | undefined;

    const kill = () => {
      if (child.pid === undefined) return;
      liveGroups.delete(child.pid);
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    };
    process.once('exit', kill);

    const readProgress = () => {
      fd ??= openSync(progressFile, 'r');
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const n = readSync(fd, buf, 0, buf.length, offset);
        if (n <= 0) break;
        offset += n;
        pending += buf.subarray(0, n).toString();
      }
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      const now = performance.now();
      for (const raw of lines) {
        if (raw === '') continue;
        const line = JSON.parse(raw) as ProgressLine;
        if (finished.has(line.key)) continue;
        if (line.e === 'file') running.set(line.key, { phase: LOAD_PHASE, since: now });
        else if (line.e === 'start') running.set(line.key, { phase: line.test, since: now });
        else running.set(line.key, { phase: `(after '${line.test}')`, since: now });
      }
    };

    const timer = setInterval(() => {
      readProgress();
      const now = performance.now();
      for (const [key, r] of running) {
        const job = byKey.get(key)!;
        if (now - r.since > job.limitMs + GRACE_MS) {
          record(key, { kind: 'timed-out', test: r.phase, limitMs: job.limitMs, tests: [] });
          finish();
          return;
        }
      }
    }, POLL_MS);

    const finish = () => {
      if (done) return;
      done = true;
      clearInterval(timer);
      process.removeListener('exit', kill);
      kill();
      if (fd !== undefined) closeSync(fd);
      resolveRound(fatal ?? (stderr.trim() === '' ? undefined : lastLines(stderr)));
    };

    child.on('message', (raw) => {
      const m = raw as WorkerMessage;
      if (m.type === 'job') {
        finished.add(m.key);
        running.delete(m.key);
        record(m.key, m.outcome);
      } else if (m.type === 'fatal') {
        fatal = m.message;
        finish();
      } else if (m.type === 'done') finish();
    });
    child.on('exit', () => {
      if (!done) {
        readProgress();
        finish();
      }
    });
    child.on('error', (e) => {
      fatal = e.message;
      finish();
    });
    const msg: ParentMessage = {
      type: 'run',
      jobs,
      maxWorkers,
      root,
      setupFile: SETUP,
      scratch: dir,
      aliases: aliases(root).map((a) => ({ find: a.find.source, replacement: a.replacement })),
    };
    child.send(msg);
  });
}

function lastLines(s: string): string {
  return s.trim().split('\n').slice(-5).join('\n');
}
