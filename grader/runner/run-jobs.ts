// The runner's parent side: worker processes that run hidden-test jobs (worker.mjs), a watchdog that kills a
// worker whose job overran its limit (a learner's `while (true) {}` cannot be interrupted any other way), and
// a session that keeps workers warm across runs (watch mode, verify) and starts a new one after a kill.
import type { ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { HEAP_LIMIT_MB, OUT_OF_MEMORY, spawnWorker } from './spawn-worker.mjs';
import { ROOT, scratchDir } from '../core/paths.ts';
import { LOAD_PHASE, type Job, type JobOutcome, type ParentMessage, type ProgressLine, type WorkerMessage } from './protocol.ts';

/**
 * Plain wall-clock backstop, as a multiple of a job's CPU limit, in case the worker's own watchdog thread
 * (CPU time, and patient wall time at 2x) could not act. Far above it, so that load never reaches it.
 */
const WALL_BACKSTOP_FACTOR = 30;
const POLL_MS = 20;
/** A worker serves this many jobs, then is replaced: each job leaves its test and implementation modules loaded. */
const JOBS_PER_WORKER = 60;

export interface RunOptions {
  /** Worker processes run jobs in parallel (default 1). */
  readonly maxWorkers?: number;
  /** Each worker's JavaScript heap limit in MB (default HEAP_LIMIT_MB). */
  readonly heapLimitMb?: number;
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

/** Writes the index after which the shards sharing `controlFile` skip their tests, unless a lower one is there. */
function stopShardsAfter(controlFile: string, index: number): void {
  try {
    const was = Number(readFileSync(controlFile, 'utf8').trim() || 'Infinity');
    if (!(was <= index)) writeFileSync(controlFile, String(index));
  } catch {
    /* only saves work: the shards' outcomes are merged in file order either way */
  }
}

/** A run stopped by GradingSession.close() before it finished (a learner quit watch mid-run): no verdict. */
export class RunCancelled extends Error {
  constructor() {
    super('the run was stopped');
    this.name = 'RunCancelled';
  }
}

/**
 * The workers grader/bin/dlab.mjs started before loading the CLI, for a command that grades: they load
 * vitest's runner, fast-check and the harness while the CLI loads. Each is taken once; later workers are started here.
 */
function adoptEarlyWorker(root: string): ChildProcess | undefined {
  const g = globalThis as { __dlabEarlyWorkers?: { children: ChildProcess[]; root: string } };
  const early = g.__dlabEarlyWorkers;
  if (early === undefined) return undefined;
  if (early.root !== root) {
    for (const c of early.children.splice(0)) c.kill('SIGKILL');
  }
  for (let child = early.children.shift(); child !== undefined; child = early.children.shift()) {
    if (child.exitCode === null) return child;
  }
  delete g.__dlabEarlyWorkers;
  return undefined;
}

/** The IPC channel of a worker: referenced only while a job runs, so an idle worker never keeps the CLI alive. */
function channel(child: ChildProcess): { ref(): void; unref(): void } | undefined {
  return (child as unknown as { channel?: { ref(): void; unref(): void } }).channel;
}

interface WorkerProc {
  readonly child: ChildProcess;
  readonly progressFile: string;
  /** -1 once closed. */
  progressFd: number;
  offset: number;
  pending: string;
  stderr: string;
  exited: boolean;
  jobs: number;
}

/**
 * A grading session: runs batches of jobs, one batch at a time, on up to `maxWorkers` worker processes that
 * stay alive between batches. Give every run fresh job keys: a worker keeps modules by key, so a new key is
 * what makes it read the learner's file again.
 */
export class GradingSession {
  private readonly idle: WorkerProc[] = [];
  private readonly dir: string;
  private readonly root: string;
  private readonly maxWorkers: number;
  private readonly heapLimitMb: number;
  private queue: Promise<unknown> = Promise.resolve();
  private started = 0;
  private closed = false;
  /** Workers running a job now, so that close() can stop them mid-run. */
  private readonly busy = new Set<WorkerProc>();
  /** Wall time of each job run so far, from its dispatch to its outcome (ms), by key. */
  readonly timings = new Map<string, number>();

  constructor(opts: RunOptions = {}) {
    this.root = opts.root ?? ROOT;
    this.maxWorkers = Math.max(1, opts.maxWorkers ?? 1);
    this.heapLimitMb = opts.heapLimitMb ?? HEAP_LIMIT_MB;
    this.dir = join(scratchDir(this.root), 'runs', `${process.pid}-${++sessionCounter}`);
  }

  /** Runs every job once and returns each outcome; never throws for anything a learner's code does. */
  run(jobs: readonly Job[], onOutcome?: (key: string, outcome: JobOutcome) => void): Promise<Map<string, JobOutcome>> {
    const next = this.queue.then(() => this.runNow(jobs, onOutcome));
    this.queue = next.catch(() => undefined);
    return next;
  }

  /**
   * Starts the worker processes now, so that their start-up overlaps other work (watch mode does this
   * before the first save).
   */
  warm(): void {
    while (this.idle.length < this.maxWorkers) this.idle.push(this.startWorker());
  }

  /** Stops every worker, idle or running; a run in progress rejects with RunCancelled. */
  close(): void {
    this.closed = true;
    for (const w of [...this.idle.splice(0), ...this.busy]) this.stopWorker(w);
    rmSync(this.dir, { recursive: true, force: true });
  }

  private async runNow(jobs: readonly Job[], onOutcome?: (key: string, outcome: JobOutcome) => void): Promise<Map<string, JobOutcome>> {
    const results = new Map<string, JobOutcome>();
    const todo = [...jobs];
    const lane = async () => {
      for (let job = todo.shift(); job !== undefined; job = todo.shift()) {
        if (this.closed) throw new RunCancelled();
        const w = this.idle.pop() ?? this.startWorker();
        const t0 = performance.now();
        this.busy.add(w);
        const { outcome, keep } = await this.runOne(w, job);
        this.busy.delete(w);
        if (this.closed) throw new RunCancelled();
        this.timings.set(job.key, performance.now() - t0);
        if (keep && w.jobs < JOBS_PER_WORKER) this.idle.push(w);
        else this.stopWorker(w);
        results.set(job.key, outcome);
        onOutcome?.(job.key, outcome);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.maxWorkers, jobs.length) }, lane));
    return results;
  }

  private startWorker(): WorkerProc {
    mkdirSync(this.dir, { recursive: true });
    const progressFile = join(this.dir, `progress-${++this.started}.ndjson`);
    writeFileSync(progressFile, '');
    const child = (this.heapLimitMb === HEAP_LIMIT_MB ? adoptEarlyWorker(this.root) : undefined) ?? spawnWorker(this.root, this.heapLimitMb);
    if (child.pid !== undefined) liveGroups.add(child.pid);
    const w: WorkerProc = { child, progressFile, progressFd: openSync(progressFile, 'r'), offset: 0, pending: '', stderr: '', exited: child.exitCode !== null, jobs: 0 };
    child.stderr?.on('data', (b: Buffer) => {
      w.stderr = (w.stderr + b.toString()).slice(-4_000);
    });
    child.on('exit', () => {
      w.exited = true;
    });
    // A worker waiting in the idle list must not keep the CLI alive once it is done.
    child.unref();
    channel(child)?.unref();
    return w;
  }

  private stopWorker(w: WorkerProc): void {
    killGroup(w.child.pid);
    if (w.progressFd >= 0) closeSync(w.progressFd);
    w.progressFd = -1;
  }

  private readProgress(w: WorkerProc): ProgressLine[] {
    if (w.progressFd < 0) return [];
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

  /** One job on one worker; `keep` is false when the worker was killed or died and must not be reused. */
  private runOne(w: WorkerProc, job: Job): Promise<{ outcome: JobOutcome; keep: boolean }> {
    w.jobs++;
    const child = w.child;
    channel(child)?.ref();
    return new Promise((resolveJob) => {
      let done = false;
      let phase: { name: string; since: number; index?: number } | undefined;
      const finish = (outcome: JobOutcome, keep: boolean) => {
        if (done) return;
        done = true;
        clearInterval(timer);
        child.removeListener('message', onMessage);
        child.removeListener('exit', onExit);
        channel(child)?.unref();
        resolveJob({ outcome, keep });
      };
      const timedOut = (reason: 'cpu' | 'wall', cpuMs?: number) => {
        const index = phase?.index;
        // The other shards of the job need not run past this test (see Job.shard).
        if (job.shard !== undefined) stopShardsAfter(job.shard.controlFile, index ?? -1);
        finish({ kind: 'timed-out', test: phase?.name ?? LOAD_PHASE, ...(index !== undefined ? { index } : {}), limitMs: job.limitMs, reason, ...(cpuMs !== undefined ? { cpuMs } : {}), tests: [] }, false);
      };
      const watchdog = () => {
        const now = performance.now();
        for (const line of this.readProgress(w)) {
          if (line.e === 'over') return timedOut(line.why, line.cpuMs);
          if (line.key !== job.key) continue;
          if (line.e === 'file') phase = { name: LOAD_PHASE, since: now };
          else if (line.e === 'start') phase = { name: line.test, since: now, ...(line.index !== undefined ? { index: line.index } : {}) };
          else phase = { name: `(after '${line.test}')`, since: now };
        }
        if (phase !== undefined && now - phase.since > job.limitMs * WALL_BACKSTOP_FACTOR) timedOut('wall');
      };
      const timer = setInterval(watchdog, POLL_MS);
      const onMessage = (raw: unknown) => {
        const m = raw as WorkerMessage;
        if (m.type === 'job' && m.key === job.key) finish(m.outcome, true);
      };
      const onExit = () => {
        watchdog();
        if (done) return;
        const err = w.stderr.trim();
        if (OUT_OF_MEMORY.test(err)) {
          finish({ kind: 'crashed', message: `${phase?.name ?? LOAD_PHASE} ran out of memory: it used more than the ${this.heapLimitMb} MB the test process may use (state that grows without bound?)`, outOfMemory: true }, false);
          return;
        }
        finish({ kind: 'crashed', message: err === '' ? 'the test process stopped unexpectedly' : err.split('\n').slice(-5).join('\n') }, false);
      };
      child.on('message', onMessage);
      child.on('exit', onExit);
      if (w.exited) return onExit();
      const msg: ParentMessage = { type: 'job', job, progressFile: w.progressFile };
      child.send(msg);
    });
  }
}

/** Runs every job once on fresh workers and returns each outcome. */
export async function runJobs(jobs: readonly Job[], opts: RunOptions = {}): Promise<Map<string, JobOutcome>> {
  const session = new GradingSession(opts);
  try {
    return await session.run(jobs);
  } finally {
    session.close();
  }
}
