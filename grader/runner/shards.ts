// One job split across workers (Job.shard) and its shards' outcomes merged back into the outcome one worker
// would have given: tests in file order, and with bail, nothing after the first failure in file order.
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Exercise } from '../core/course.ts';
import type { ErrorInfo, Job, JobOutcome, TestOutcome } from './protocol.ts';

/**
 * Shards of a save in watch mode, whose workers stay warm. A constant, not the machine's core count: which
 * tests share a process (and so a learner's module-level state) must not depend on the machine, or neither
 * would the verdict.
 */
export const SHARDS = 2;

/**
 * Shards of a one-off grading (check, share): fixed per exercise, like SHARDS. A fresh worker spends most of a
 * simulation's or a pure exercise's time compiling hot code (V8's warm-up); two fresh workers would each pay it,
 * and start up side by side on the same two cores, so one worker is quicker. Tests on real sockets mostly wait
 * (time-outs, slow peers), and two workers overlap those waits.
 */
export function checkShards(ex: Pick<Exercise, 'kind'>): number {
  return ex.kind === 'sockets' ? 2 : 1;
}

/** The jobs for `job` split `count` ways; their control file is created empty (no shard has failed yet). */
export function shardJob(job: Job, count: number, dir: string): Job[] {
  mkdirSync(dir, { recursive: true });
  const controlFile = join(dir, `${job.key}.fail`);
  writeFileSync(controlFile, '');
  return Array.from({ length: count }, (_, index) => ({ ...job, key: `${job.key}-s${index}`, shard: { index, count, controlFile } }));
}

export function removeControl(jobs: readonly Job[]): void {
  const f = jobs[0]?.shard?.controlFile;
  if (f !== undefined) rmSync(f, { force: true });
}

type Finished = Extract<JobOutcome, { kind: 'finished' }>;
type TimedOut = Extract<JobOutcome, { kind: 'timed-out' }>;

const ran = (t: TestOutcome) => t.state !== 'skipped';

/** The index, in file order, at which a shard stopped: its first failing test, or the test that overran. */
function stopIndex(o: Finished | TimedOut): number {
  if (o.kind === 'timed-out') return o.index ?? -1;
  const i = o.tests.findIndex((t) => t.state === 'failed' && t.otherShard !== true);
  return i < 0 ? Infinity : i;
}

/** Shard outcomes, in shard order, as one outcome. */
export function mergeShards(outcomes: readonly JobOutcome[], bail: boolean): JobOutcome {
  const crashed = outcomes.find((o) => o.kind === 'crashed');
  if (crashed !== undefined) return crashed;
  const parts = outcomes as readonly (Finished | TimedOut)[];
  // A file that did not load fails the same way in every shard: report it once.
  const unloaded = parts.find((o) => o.kind === 'finished' && o.loadErrors.length > 0 && !o.tests.some(ran));
  if (unloaded !== undefined) return unloaded;
  const cut = bail ? Math.min(...parts.map(stopIndex)) : Infinity;
  const first = parts.find((o) => o.kind === 'timed-out' && stopIndex(o) === cut);
  if (first !== undefined) return first;
  const finished = parts.filter((o): o is Finished => o.kind === 'finished');
  const list = finished[0]?.tests ?? [];
  const count = parts.length;
  const tests: TestOutcome[] = list.map((t, i) => {
    const owner = parts[i % count];
    let mine: TestOutcome;
    if (owner === undefined) mine = t;
    else if (owner.kind === 'finished') mine = owner.tests[i] ?? t;
    // Tests before the one that overran passed there (a shard stops at its own first failure).
    else mine = i < stopIndex(owner) ? { name: t.name, state: 'passed', durationMs: 0, errors: [] } : { name: t.name, state: 'skipped', durationMs: 0, errors: [], notRun: true };
    const { otherShard: _, ...own } = mine;
    if (i > cut && ran(own)) return { name: own.name, state: 'skipped', durationMs: 0, errors: [], notRun: true };
    return own;
  });
  // A failing afterAll of a suite both shards ran fails in both: once is enough.
  const loadErrors = [...new Map(finished.flatMap((o) => o.loadErrors).map((e) => [e.message, e])).values()];
  const upTo = (e: ErrorInfo) => (e.index ?? -1) <= cut;
  const unhandled = finished.flatMap((o) => (o.unhandled ?? []).filter(upTo));
  // Lines in the order one worker would have printed them: the file's loading once, then test by test.
  const logs: string[] = [];
  const lines = (o: Finished, index: number) => o.logs.filter((_, k) => (o.logAt?.[k] ?? -1) === index);
  if (finished[0] !== undefined) logs.push(...lines(finished[0], -1));
  for (let i = 0; i < list.length && i <= cut; i++) {
    const owner = parts[i % count];
    if (owner?.kind === 'finished') logs.push(...lines(owner, i));
  }
  const cpuMs = finished.reduce((sum, o) => sum + (o.cpuMs ?? 0), 0);
  return { kind: 'finished', tests, loadErrors, unhandled, logs, cpuMs };
}
