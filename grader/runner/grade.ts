// One way to get a verdict: build jobs for (exercise, target), run them, and turn outcomes into verdicts.
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import type { Exercise } from '../core/course.ts';
import { err, ok, type Result } from '../core/errors.ts';
import { ROOT, scratchDir } from '../core/paths.ts';
import { join } from 'node:path';
import { ENV } from '../../harness/run-config.ts';
import type { ErrorInfo, Job, JobOutcome } from './protocol.ts';
import { runJobs, type GradingSession } from './run-jobs.ts';
import { mergeShards, removeControl, shardJob } from './shards.ts';
import { materialize, targetLabel, type Target } from './targets.ts';

export interface Failure {
  readonly test: string;
  readonly message: string;
  readonly seed?: number;
  readonly replay?: string;
}

export type VerdictKind =
  | 'passed'
  /** At least one test failed. */
  | 'failed'
  /** A test ran past its wall-clock limit and was stopped. */
  | 'timed-out'
  /** The code could not be loaded: a syntax error, a missing export, a throw at import time. */
  | 'did-not-load'
  /** The test process died (out of memory, killed). */
  | 'crashed';

/** The graded result of one exercise against one target. Matches `dlab check --json` plus `kind` and `logs`. */
export interface Verdict {
  readonly id: string;
  readonly target: string;
  readonly kind: VerdictKind;
  readonly passed: boolean;
  readonly durationMs: number;
  /** CPU time the grading used (loading and tests), in ms; absent when the run was stopped. Steadier than durationMs on a busy machine. */
  readonly cpuMs?: number;
  /** Tests that ran. */
  readonly tests: number;
  /** Tests not run because grading stops at the first failure (0 when everything ran). */
  readonly notRun: number;
  readonly failures: readonly Failure[];
  /** What the learner's code printed (console.log), first lines only. */
  readonly logs: readonly string[];
}

export interface GradeOptions {
  /** runConfig().seedShift for this run (0 for a graded run). */
  readonly seedShift?: number;
  /** `dlab replay`: the case to run, and the file its report goes to. */
  readonly replay?: { readonly seed: number; readonly path?: string | undefined; readonly out: string; readonly view?: string | undefined };
  /** `dlab compare`: the file the hidden test appends behaviour metrics to. */
  readonly metricsOut?: string;
  /** `npm run bench`: the file every simulation appends its event count and wall time to. */
  readonly simStatsOut?: string;
  /** Run every test even after one failed (default: stop at the first failure, as check and watch do). */
  readonly all?: boolean;
  /**
   * Split the hidden tests across this many workers (shards.ts), to use both cores of a check or a save in
   * watch mode; the merged verdict is the same on any machine. Default 1.
   */
  readonly shards?: number;
}

export interface PlannedJob {
  readonly job: Job;
  readonly exercise: Exercise;
  readonly target: Target;
}

function keyPart(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '');
}

/** A job for one exercise and target, or an error when the target cannot be built (a mutant that no longer applies). */
export function planJob(ex: Exercise, target: Target, opts: GradeOptions = {}, root: string = ROOT, tag = ''): Result<PlannedJob> {
  const entry = materialize(ex, target, root);
  if (!entry.ok) return entry;
  const label = targetLabel(target);
  const env: Record<string, string> = { [ENV.exercise]: ex.id, [ENV.seedShift]: String(opts.seedShift ?? 0) };
  if (target.kind !== 'exercises') env[ENV.target] = label;
  if (opts.replay !== undefined) {
    env[ENV.replay] = opts.replay.path === undefined ? String(opts.replay.seed) : `${opts.replay.seed}:${opts.replay.path}`;
    env[ENV.replayOut] = opts.replay.out;
    if (opts.replay.view !== undefined) env[ENV.replayView] = opts.replay.view;
  }
  if (opts.metricsOut !== undefined) env[ENV.metricsOut] = opts.metricsOut;
  if (opts.simStatsOut !== undefined) env[ENV.simStatsOut] = opts.simStatsOut;
  const implDir = ex.files !== undefined ? entry.value.replace(/\/index\.ts$/, '') : entry.value.replace(/\/[^/]+$/, '');
  // The key names the module the worker caches, so two different implementations must never share one.
  const key = keyPart(`${ex.id}-${target.kind === 'mutant' ? `m-${target.name}` : target.kind === 'path' ? `path-${createHash('sha1').update(entry.value).digest('hex').slice(0, 8)}` : target.kind}${tag}`);
  return ok({
    exercise: ex,
    target,
    job: { key, exerciseId: ex.id, testFile: ex.paths.test, entry: entry.value, implDir, limitMs: ex.limitMs, bail: opts.all !== true, env },
  });
}

// The query that names a job's modules (see hooks.mjs); URL-encoded, so it holds no ':' before a line number.
const JOB_QUERY = /\?dlab-job=[^\s:)'"]*/g;

/** Makes a message read well: paths relative to the repo, no internal job markers. */
function clean(message: string, root: string): string {
  return message
    .replace(JOB_QUERY, '')
    .replace(/^Transform failed with \d+ errors?:\s*/, '')
    .split(pathToFileURL(root).href + '/')
    .join('')
    .split(root + '/')
    .join('')
    .trim();
}

function firstLine(s: string): string {
  return s.split('\n')[0] ?? s;
}

function failureOf(test: string, e: ErrorInfo, root: string): Failure {
  const f: { -readonly [K in keyof Failure]: Failure[K] } = { test, message: clean(e.message, root) };
  if (e.seed !== undefined) f.seed = e.seed;
  if (e.replay !== undefined) f.replay = e.replay;
  return f;
}

/** Errors nobody caught, as one failure: the first of them, and how many more there were. */
function uncaught(errors: readonly ErrorInfo[], root: string): Failure[] {
  const first = errors[0];
  if (first === undefined) return [];
  const more = errors.length - 1;
  const f = failureOf('(an error nobody caught: a promise nobody awaited, or a throw in a callback)', first, root);
  return [more === 0 ? f : { ...f, message: `${f.message}\n(and ${more} more error${more === 1 ? '' : 's'} nobody caught)` }];
}

export function verdictOf(p: PlannedJob, outcome: JobOutcome, durationMs: number, root: string = ROOT): Verdict {
  const cpu = outcome.kind === 'finished' && outcome.cpuMs !== undefined ? { cpuMs: outcome.cpuMs } : {};
  const base = { id: p.exercise.id, target: targetLabel(p.target), durationMs: Math.round(durationMs), ...cpu };
  switch (outcome.kind) {
    case 'timed-out': {
      const secs = outcome.limitMs / 1000;
      const msg =
        outcome.reason === 'cpu'
          ? `timed out in ${outcome.test}: it used more than ${secs} s of CPU time, so it was stopped (an infinite loop, or work that grows without bound?)`
          : `timed out in ${outcome.test}: still waiting after ${Math.round(secs * 2)} s, so it was stopped (a promise that never settles, or a reply that never comes?)`;
      return { ...base, kind: 'timed-out', passed: false, tests: outcome.tests.length, notRun: 0, failures: [{ test: outcome.test, message: msg }], logs: [] };
    }
    case 'crashed':
      if (outcome.outOfMemory === true) return { ...base, kind: 'crashed', passed: false, tests: 0, notRun: 0, failures: [{ test: '(test process)', message: clean(outcome.message, root) }], logs: [] };
      return { ...base, kind: 'crashed', passed: false, tests: 0, notRun: 0, failures: [{ test: '(test process)', message: `the test process crashed: ${clean(outcome.message, root)}` }], logs: [] };
    case 'finished': {
      const ran = outcome.tests.filter((t) => t.state !== 'skipped');
      const notRun = outcome.tests.filter((t) => t.notRun === true).length;
      if (outcome.loadErrors.length > 0 && ran.length === 0) {
        const failures = outcome.loadErrors.map((e) => failureOf('(loading your code)', e, root));
        return { ...base, kind: 'did-not-load', passed: false, tests: 0, notRun: 0, failures, logs: outcome.logs };
      }
      const failures = [
        ...ran.filter((t) => t.state === 'failed').flatMap((t) => (t.errors.length > 0 ? t.errors : [{ message: 'failed' }]).map((e) => failureOf(t.name, e, root))),
        // A failing beforeAll/afterAll (a leak check at teardown, say) fails the run after the tests.
        ...outcome.loadErrors.map((e) => failureOf('(setup or teardown around the tests)', e, root)),
        ...uncaught(outcome.unhandled ?? [], root),
      ];
      if (ran.length === 0) {
        return { ...base, kind: 'failed', passed: false, tests: 0, notRun, failures: [{ test: '(hidden test)', message: 'the hidden test ran no test' }], logs: outcome.logs };
      }
      return { ...base, kind: failures.length === 0 ? 'passed' : 'failed', passed: failures.length === 0, tests: ran.length, notRun, failures, logs: outcome.logs };
    }
  }
}

let runCounter = 0;

/**
 * Grades one exercise against one target. Errors only for a target that cannot be built.
 * With a session (watch mode) the warm worker is reused; each run gets a fresh job key so that the
 * worker reads the learner's files again.
 */
export async function grade(ex: Exercise, target: Target, opts: GradeOptions = {}, root: string = ROOT, session?: GradingSession): Promise<Result<Verdict>> {
  const planned = planJob(ex, target, opts, root, session === undefined ? '' : `-r${++runCounter}`);
  if (!planned.ok) return planned;
  const job = planned.value.job;
  const shards = Math.max(1, opts.shards ?? 1);
  const jobs = shards === 1 ? [job] : shardJob(job, shards, join(scratchDir(root), 'shards'));
  const t0 = performance.now();
  let outcomes: Map<string, JobOutcome>;
  try {
    outcomes = session === undefined ? await runJobs(jobs, { root, maxWorkers: shards }) : await session.run(jobs);
  } finally {
    removeControl(jobs);
  }
  const parts = jobs.map((j) => outcomes.get(j.key));
  if (parts.some((o) => o === undefined)) return err('runner', `no result for ${ex.id}`, 'run it again; if it repeats, report a bug');
  const outcome = shards === 1 ? (parts[0] as JobOutcome) : mergeShards(parts as JobOutcome[], job.bail);
  return ok(verdictOf(planned.value, outcome, performance.now() - t0, root));
}

/** The one-line reason a verdict failed, for lists and the progress store. */
export function headline(v: Verdict): string {
  const f = v.failures[0];
  if (f === undefined) return v.passed ? 'passed' : 'failed';
  return `${f.test}: ${firstLine(f.message)}`;
}
