// Is the learner's code deterministic? A simulation is a function of its seed: replaying a failing case must
// give the same trace every time. When a simulation exercise fails with a seed and a path, the grader replays
// that case twice (the replay path `dlab replay` uses) and compares the two reports. The second replay runs in
// the same worker as the first and shares its module instance of the learner's code, so that state kept at
// module level (a Map at the top of the file) is carried from the first run into the second, as it is
// carried from case to case in a graded run. Real randomness, the real clock, or a real timer that escaped
// the simulator make the two differ too.
//
// How the module is shared: the worker keeps modules by job key (hooks.mjs); the second job has the first
// one's key, so `@impl/<id>` resolves to the module the first job loaded, and its entry is written with a
// `/./` segment (the same file), so that the hidden test's own module is new and its tests run again.
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';
import { replaySeedsFile } from '../../harness/report.ts';
import type { Exercise } from '../core/course.ts';
import type { Result } from '../core/errors.ts';
import { ok } from '../core/errors.ts';
import { scratchDir } from '../core/paths.ts';
import { planJob, verdictOf, type Failure, type Verdict } from './grade.ts';
import type { Job, JobOutcome } from './protocol.ts';
import { GradingSession } from './run-jobs.ts';
import type { Target } from './targets.ts';

/** One case: the seed a failure report printed, and its path (fast-check's shrink path). */
export interface ReplayCase {
  readonly seed: number;
  readonly path?: string | undefined;
  /** `dlab replay --from/--to/--nodes/--hide-sends`: the part of the diagram to draw (ENV.replayView's value). */
  readonly view?: string | undefined;
}

export interface ReplayRun {
  readonly verdict: Verdict;
  /** The replayed case's full report, as the hidden test wrote it; undefined when no property owning the seed reported. */
  readonly report: string | undefined;
  /** The fixed seeds of the properties the replay went past (to name them when the seed is nobody's). */
  readonly bases: readonly number[];
  /** The job that ran: a second replay shares its module (see the file's head). */
  readonly job: Job;
}

const readIfThere = (p: string): string | undefined => {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
};

let replays = 0;

/**
 * Replays one case: runs the hidden test with the replay set (every test with `all`, else stopping at the
 * first failure), and reads the report the replayed property wrote. With `after`, it runs as the second replay
 * of that run, sharing its module (and so it must run in the same session, which has one worker).
 */
export async function runReplay(
  session: GradingSession,
  ex: Exercise,
  t: Target,
  c: ReplayCase,
  root: string,
  opts: { readonly all: boolean; readonly after?: ReplayRun },
): Promise<Result<ReplayRun>> {
  const dir = join(scratchDir(root), 'replay');
  mkdirSync(dir, { recursive: true });
  const n = ++replays;
  const out = join(dir, `${process.pid}-${n}.txt`);
  const seedsOut = replaySeedsFile(out);
  rmSync(out, { force: true });
  rmSync(seedsOut, { force: true });
  const planned = planJob(ex, t, { replay: { seed: c.seed, path: c.path, out, view: c.view }, all: opts.all }, root, `-replay${n}`);
  if (!planned.ok) return planned;
  let plan = planned.value;
  if (opts.after !== undefined) {
    const prev = opts.after.job;
    plan = { ...plan, job: { ...plan.job, key: prev.key, entry: `${dirname(prev.entry)}${sep}.${sep}${basename(prev.entry)}` } };
  }
  try {
    const outcomes = await session.run([plan.job]);
    const o: JobOutcome = outcomes.get(plan.job.key) ?? { kind: 'crashed', message: 'no result' };
    const verdict = verdictOf(plan, o, session.timings.get(plan.job.key) ?? 0, root);
    const report = readIfThere(out);
    const bases = [...new Set((readIfThere(seedsOut) ?? '').split('\n').filter((l) => l !== '').map(Number))].sort((a, b) => a - b);
    return ok({ verdict, report, bases, job: plan.job });
  } finally {
    rmSync(out, { force: true });
    rmSync(seedsOut, { force: true });
  }
}

/** Whether a replay reproduced a failure of that seed: its property reported, and failed. */
export function replayFailed(r: ReplayRun, seed: number): boolean {
  return r.report !== undefined && r.verdict.failures.some((f) => f.seed === seed);
}

/** The case a failure report names: its seed, and the path in its replay command. */
export function replayCaseOf(f: Failure | undefined): ReplayCase | undefined {
  if (f?.seed === undefined) return undefined;
  const path = / --path (\d+(?::\d+)*)/.exec(f.replay ?? '')?.[1];
  return path === undefined ? { seed: f.seed } : { seed: f.seed, path };
}

/** The determinism check runs for simulation exercises only: their runs are functions of the seed by design. */
export function checksDeterminism(ex: Exercise): boolean {
  return ex.kind === 'simulation';
}

export interface Cause {
  /** What, in words. */
  readonly what: string;
  /** Where it was seen in the learner's files (`path:line`), when it was. */
  readonly where?: string;
}

export interface Determinism {
  readonly seed: number;
  /** null when the replay ran the seed's whole property (`dlab replay` without --path). */
  readonly path: string | null;
  readonly deterministic: boolean;
  /**
   * `differs`: the two replays gave two different traces. `not-reproduced`: the case failed in the graded run
   * but passes when replayed on its own, both times (check only: it knows the graded run failed there).
   */
  readonly finding?: 'differs' | 'not-reproduced';
  /** The first line (1-based) where the two traces differ, and that line of each. */
  readonly line?: number;
  readonly first?: string;
  readonly second?: string;
  /** Likely causes, those found in the learner's files first. */
  readonly causes: readonly Cause[];
}

/** A replay's trace: the report it wrote, else (no property reported) the verdict's failures. */
export function traceOf(r: ReplayRun): string {
  return r.report ?? (r.verdict.failures.map((f) => `${f.test}\n${f.message}`).join('\n') || r.verdict.kind);
}

/** The first line where two traces differ (1-based), with that line of each; undefined when they are equal. */
export function firstDifference(a: string, b: string): { line: number; first: string; second: string } | undefined {
  if (a === b) return undefined;
  const la = a.split('\n');
  const lb = b.split('\n');
  for (let i = 0; i < Math.max(la.length, lb.length); i++) {
    if (la[i] !== lb[i]) return { line: i + 1, first: la[i] ?? '(the trace ends here)', second: lb[i] ?? '(the trace ends here)' };
  }
  return undefined;
}

const STATE = 'module-level state carried between runs';
const RANDOM = "Math.random() outside the simulator (at import time, or kept from it), or node:crypto's random values (which it does not replace)";
const CLOCK = 'the real clock (Date.now(), new Date(), performance.now()) read outside the simulator';
const TIMER = "a real setTimeout that escaped the simulator (imported from 'node:timers', or kept at import time)";

/**
 * Likely causes of nondeterminism found in the learner's files (by path), in the order: module-level state,
 * Math.random, the real clock, a real timer; then those not found, without a place.
 */
export function likelyCauses(files: Readonly<Record<string, string>>): Cause[] {
  const found = new Map<string, string>();
  const note = (what: string, where: string) => {
    if (!found.has(what)) found.set(what, where);
  };
  for (const [file, text] of Object.entries(files)) {
    text.split('\n').forEach((l, i) => {
      const at = `${file}:${i + 1}`;
      const code = l.replace(/\/\/.*$/, '');
      // Only the top level of the file: `let x` or `const m = new Map()` in column 0.
      const state =
        /^(?:export\s+)?(?:let|var)\s+([A-Za-z_$][\w$]*)/.exec(code) ??
        /^(?:export\s+)?const\s+([A-Za-z_$][\w$]*)\s*(?::[^=]+)?=\s*(?:new\s+(?:Map|Set|WeakMap|Array|Object)\b|\[|\{)/.exec(code);
      if (state !== null) note(STATE, `${at} (\`${state[1]}\`)`);
      if (/\bMath\.random\b|\b(?:randomUUID|randomBytes|getRandomValues|randomInt)\b/.test(code)) note(RANDOM, at);
      if (/\bDate\.now\b|\bnew Date\(|\bperformance\.now\b/.test(code)) note(CLOCK, at);
      if (
        /from\s+['"](?:node:)?timers(?:\/promises)?['"]|require\(\s*['"](?:node:)?timers/.test(code) ||
        /^(?:export\s+)?(?:const|let|var)\s+[\w$]+\s*=\s*(?:globalThis\.)?(?:setTimeout|setInterval|setImmediate)\b/.test(code) ||
        /^(?:setTimeout|setInterval|setImmediate)\(/.test(code)
      ) {
        note(TIMER, at);
      }
    });
  }
  const all = [STATE, RANDOM, CLOCK, TIMER];
  return [...all.filter((w) => found.has(w)).map((what) => ({ what, where: found.get(what)! })), ...all.filter((w) => !found.has(w)).map((what) => ({ what }))];
}

/**
 * Replays a failing case a second time after `first` (in the same session, sharing its module) and compares
 * the two traces. `gradedFailed`: the graded run failed on this case, so a case that passes when replayed
 * alone, twice, is a finding too.
 */
export async function secondReplay(
  session: GradingSession,
  ex: Exercise,
  t: Target,
  c: ReplayCase,
  root: string,
  first: ReplayRun,
  opts: { readonly all: boolean; readonly gradedFailed: boolean; readonly files: Readonly<Record<string, string>> },
): Promise<Result<Determinism>> {
  const second = await runReplay(session, ex, t, c, root, { all: opts.all, after: first });
  if (!second.ok) return second;
  const base = { seed: c.seed, path: c.path ?? null };
  const diff = firstDifference(traceOf(first), traceOf(second.value));
  if (diff !== undefined) return ok({ ...base, deterministic: false, finding: 'differs', ...diff, causes: likelyCauses(opts.files) });
  if (opts.gradedFailed && !replayFailed(first, c.seed) && !replayFailed(second.value, c.seed)) {
    return ok({ ...base, deterministic: false, finding: 'not-reproduced', causes: likelyCauses(opts.files) });
  }
  return ok({ ...base, deterministic: true, causes: [] });
}

/** The verdict's words for a finding (plain text, no colour); nothing when the code is deterministic. */
export function determinismLines(d: Determinism): string[] {
  if (d.deterministic) return [];
  const which = `seed ${d.seed}${d.path === null ? '' : `, path ${d.path}`}`;
  const out: string[] = [];
  if (d.finding === 'differs') {
    out.push(`Your code is not deterministic: the failing case (${which}) was replayed twice, and the two traces differ.`);
    out.push(`  first difference, line ${d.line} of the trace:`);
    out.push(`    1st replay: ${(d.first ?? '').trim()}`);
    out.push(`    2nd replay: ${(d.second ?? '').trim()}`);
  } else {
    out.push(
      `Your code is not deterministic: the failing case (${which}) passes when replayed on its own, twice, though it failed in the graded run, where other cases ran before it.`,
    );
  }
  const found = d.causes.filter((c) => c.where !== undefined);
  const rest = d.causes.filter((c) => c.where === undefined).map((c) => c.what);
  if (found.length > 0) {
    out.push(`  Likely cause: ${found.map((c) => `${c.what}, at ${c.where}`).join('; ')}.`);
    if (rest.length > 0) out.push(`  Other causes to rule out: ${rest.join('; ')}.`);
  } else {
    out.push(`  Likely causes: ${rest.join('; ')}.`);
  }
  out.push('  A run must depend on its seed alone: keep state inside the node objects the simulator creates, and use its clock and timers.');
  return out;
}

/** The learner's files a target grades, keyed by the path a learner knows them by (relative to the repo root). */
function targetFiles(ex: Exercise, t: Target, root: string, entry: string): Record<string, string> {
  const paths = t.kind === 'exercises' ? ex.paths.stubFiles : ex.files === undefined ? [entry] : ex.files.map((f) => join(dirname(entry), f));
  const out: Record<string, string> = {};
  for (const p of paths) {
    const text = readIfThere(p);
    if (text !== undefined) out[p.startsWith(root + sep) ? p.slice(root.length + 1) : p] = text;
  }
  return out;
}

/**
 * The determinism self-check of `dlab check`: for a simulation exercise whose verdict failed with a seed and a
 * path, replays that case twice in one worker (stopping at the first failure, as the graded run did) and
 * compares the traces. Undefined when it does not apply (a pass, no seed, not a simulation) or a replay could
 * not be planned.
 */
export async function determinismOf(
  ex: Exercise,
  t: Target,
  v: Verdict,
  root: string,
): Promise<Determinism | undefined> {
  if (v.passed || !checksDeterminism(ex)) return undefined;
  const c = replayCaseOf(v.failures[0]);
  if (c === undefined || c.path === undefined) return undefined;
  // One worker: the second replay must find the first one's module in it.
  const session = new GradingSession({ root, maxWorkers: 1 });
  try {
    const first = await runReplay(session, ex, t, c, root, { all: false });
    if (!first.ok) return undefined;
    const d = await secondReplay(session, ex, t, c, root, first.value, {
      all: false,
      gradedFailed: true,
      files: targetFiles(ex, t, root, first.value.job.entry),
    });
    return d.ok ? d.value : undefined;
  } finally {
    session.close();
  }
}

/** The learner's files for the determinism check of a replay (see determinismOf). */
export function learnerFilesOf(ex: Exercise, t: Target, root: string, run: ReplayRun): Record<string, string> {
  return targetFiles(ex, t, root, run.job.entry);
}
