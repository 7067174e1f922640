// The runner's parent side: a worker process holding one vitest instance, a watchdog that kills it when a
// test overruns its limit (a learner's `while (true) {}` cannot be interrupted any other way), and a
// session that keeps the worker warm across runs (watch mode) and starts a new one after a kill.
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { aliases } from '../core/aliases.ts';
import { spawnWorker } from './spawn-worker.mjs';
import { ROOT, scratchDir } from '../core/paths.ts';
import { LOAD_PHASE, WORKER_ENV, type Job, type JobOutcome, type ParentMessage, type ProgressLine, type WorkerMessage } from './protocol.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const SETUP = join(HERE, 'setup.ts');
/** Extra time past a test's limit before the watchdog kills: vitest's own timeout handles async hangs first. */
const GRACE_MS = 1_000;
const POLL_MS = 25;

export interface RunOptions {
  /** Test processes run in parallel (default 1). */
  readonly maxWorkers?: number;
  readonly root?: string;
}

/** Process groups of live workers, so that a Ctrl-C can stop them (see stopAllRuns). */
const liveGroups = new Set<number>();

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  liveGroups.delete(pid);
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Kills every worker this process started; the CLI calls it on SIGINT/SIGTERM. */
export function stopAllRuns(): void {
  for (const pid of [...liveGroups]) killGroup(pid);
}
process.on('exit', stopAllRuns);

let sessionCounter = 0;

/**
 * The worker grader/bin/dlab.mjs started before loading the CLI, for a command that grades: it loads
 * vitest while the CLI loads TypeScript. Taken once; a second session starts its own.
 */
function adoptEarlyWorker(root: string): ChildProcess | undefined {
  const g = globalThis as { __dlabEarlyWorker?: { child: ChildProcess; root: string } };
  const early = g.__dlabEarlyWorker;
  delete g.__dlabEarlyWorker;
  if (early === undefined) return undefined;
  if (early.root !== root || early.child.exitCode !== null) {
    early.child.kill('SIGKILL');
    return undefined;
  }
  return early.child;
}

interface Worker {
  readonly child: ChildProcess;
  readonly progressFd: number;
  offset: number;
  pending: string;
  stderr: string;
  exited: boolean;
}

/**
 * A grading session: runs batches of jobs, one batch at a time, in a worker that stays alive between
 * batches. Give every run fresh job keys: the worker caches modules by key, so a new key is what makes
 * it read the learner's file again.
 */
export class GradingSession {
  private worker: Worker | undefined;
  private readonly dir: string;
  private readonly root: string;
  private readonly maxWorkers: number;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(opts: RunOptions = {}) {
    this.root = opts.root ?? ROOT;
    this.maxWorkers = opts.maxWorkers ?? 1;
    this.dir = join(scratchDir(this.root), 'runs', `${process.pid}-${++sessionCounter}`);
  }

  /** Runs every job once and returns each outcome; never throws for anything a learner's code does. */
  run(jobs: readonly Job[], onOutcome?: (key: string, outcome: JobOutcome) => void): Promise<Map<string, JobOutcome>> {
    const next = this.queue.then(() => this.runNow(jobs, onOutcome));
    this.queue = next.catch(() => undefined);
    return next;
  }

  close(): void {
    this.stopWorker();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async runNow(jobs: readonly Job[], onOutcome?: (key: string, outcome: JobOutcome) => void): Promise<Map<string, JobOutcome>> {
    const results = new Map<string, JobOutcome>();
    const record = (key: string, outcome: JobOutcome) => {
      if (results.has(key)) return;
      results.set(key, outcome);
      onOutcome?.(key, outcome);
    };
    let remaining = jobs;
    while (remaining.length > 0) {
      const before = results.size;
      const crash = await this.round(remaining, record);
      remaining = jobs.filter((j) => !results.has(j.key));
      if (remaining.length > 0 && results.size === before) {
        // The worker died without finishing or timing out anything: report it rather than loop.
        for (const j of remaining) record(j.key, { kind: 'crashed', message: crash ?? 'the test process stopped unexpectedly' });
        remaining = [];
      }
    }
    return results;
  }

  private startWorker(): Worker {
    mkdirSync(this.dir, { recursive: true });
    const progressFile = join(this.dir, 'progress.ndjson');
    writeFileSync(progressFile, '');
    const child = adoptEarlyWorker(this.root) ?? spawnWorker(this.root);
    if (child.pid !== undefined) liveGroups.add(child.pid);
    const w: Worker = { child, progressFd: openSync(progressFile, 'r'), offset: 0, pending: '', stderr: '', exited: child.exitCode !== null };
    child.stderr?.on('data', (b: Buffer) => {
      w.stderr = (w.stderr + b.toString()).slice(-4_000);
    });
    child.on('exit', () => {
      w.exited = true;
    });
    return w;
  }

  private stopWorker(): void {
    const w = this.worker;
    if (w === undefined) return;
    this.worker = undefined;
    killGroup(w.child.pid);
    closeSync(w.progressFd);
  }

  private readProgress(w: Worker): ProgressLine[] {
    const buf = Buffer.alloc(64 * 1024);
    for (;;) {
      const n = readSync(w.progressFd, buf, 0, buf.length, w.offset);
      if (n <= 0) break;
      w.offset += n;
      w.pending += buf.subarray(0, n).toString();
    }
    const lines = w.pending.split('\n');
    w.pending = lines.pop() ?? '';
    return lines.filter((l) => l !== '').map((l) => JSON.parse(l) as ProgressLine);
  }

  /** One attempt at a batch in the (possibly new) worker; returns a crash reason when it died. */
  private round(jobs: readonly Job[], record: (key: string, outcome: JobOutcome) => void): Promise<string | undefined> {
    const w = (this.worker ??= this.startWorker());
    writeFileSync(join(this.dir, 'jobs.json'), JSON.stringify(Object.fromEntries(jobs.map((j) => [j.key, j]))));
    const byKey = new Map(jobs.map((j) => [j.key, j]));
    const running = new Map<string, { phase: string; since: number }>();
    const finished = new Set<string>();

    return new Promise((resolveRound) => {
      let done = false;
      let fatal: string | undefined;
      const finish = (killed: boolean) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        w.child.removeListener('message', onMessage);
        w.child.removeListener('exit', onExit);
        if (killed || w.exited || fatal !== undefined) this.stopWorker();
        const reason = fatal ?? (w.stderr.trim() === '' ? undefined : w.stderr.trim().split('\n').slice(-5).join('\n'));
        resolveRound(killed || w.exited || fatal !== undefined ? reason : undefined);
      };
      const watchdog = () => {
        const now = performance.now();
        for (const line of this.readProgress(w)) {
          if (finished.has(line.key) || !byKey.has(line.key)) continue;
          if (line.e === 'file') running.set(line.key, { phase: LOAD_PHASE, since: now });
          else if (line.e === 'start') running.set(line.key, { phase: line.test, since: now });
          else running.set(line.key, { phase: `(after '${line.test}')`, since: now });
        }
        for (const [key, r] of running) {
          const job = byKey.get(key)!;
          if (now - r.since > job.limitMs + GRACE_MS) {
            record(key, { kind: 'timed-out', test: r.phase, limitMs: job.limitMs, tests: [] });
            finish(true);
            return;
          }
        }
      };
      const timer = setInterval(watchdog, POLL_MS);
      const onMessage = (raw: unknown) => {
        const m = raw as WorkerMessage;
        if (m.type === 'job') {
          if (!byKey.has(m.key)) return;
          finished.add(m.key);
          running.delete(m.key);
          record(m.key, m.outcome);
        } else if (m.type === 'fatal') {
          fatal = m.message;
          finish(true);
        } else if (m.type === 'done') finish(false);
      };
      const onExit = () => {
        watchdog();
        finish(true);
      };
      w.child.on('message', onMessage);
      w.child.on('exit', onExit);
      if (w.exited) return onExit();
      const msg: ParentMessage = {
        type: 'run',
        env: { [WORKER_ENV.progressFile]: join(this.dir, 'progress.ndjson'), [WORKER_ENV.jobsFile]: join(this.dir, 'jobs.json') },
        jobs,
        maxWorkers: this.maxWorkers,
        root: this.root,
        setupFile: SETUP,
        scratch: this.dir,
        aliases: aliases(this.root).map((a) => ({ find: a.find.source, replacement: a.replacement })),
      };
      w.child.send(msg);
    });
  }
}

/** Runs every job once in a fresh worker and returns each outcome. */
export async function runJobs(jobs: readonly Job[], opts: RunOptions = {}): Promise<Map<string, JobOutcome>> {
  const session = new GradingSession(opts);
  try {
    return await session.run(jobs);
  } finally {
    session.close();
  }
}
