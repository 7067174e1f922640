// Commands that grade: check (once), watch (on every save), replay (one failing case, in full).
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { relative } from 'node:path';
import type { Exercise } from '../../core/course.ts';
import { DlabExit, fail } from '../../core/errors.ts';
import { shown } from '../../core/paths.ts';
import { grade, headline, planJob, verdictOf, type GradeOptions, type Verdict } from '../../runner/grade.ts';
import { annotate, classicFor, resemblesOf } from '../../runner/classic.ts';
import { checksDeterminism, determinismLines, determinismOf, learnerFilesOf, runReplay, secondReplay, type Determinism } from '../../runner/determinism.ts';
import { GradingSession } from '../../runner/run-jobs.ts';
import { checkShards } from '../../runner/shards.ts';
import { parseTarget, type Target } from '../../runner/targets.ts';
import { encodeReplayView, SEED_STRIDE } from '../../../harness/run-config.ts';
import type { Files } from '../../store/progress-store.ts';
import { firstUnfinished, type Context } from '../context.ts';
import { line, paint } from '../io.ts';
import { renderVerdict, stubLocation } from '../render.ts';

/** The learner's files of an exercise, keyed by path relative to the repo root. */
export function learnerFiles(ex: Exercise, root: string): Files {
  const out: Record<string, string> = {};
  for (const p of ex.paths.stubFiles) {
    try {
      out[relative(root, p)] = readFileSync(p, 'utf8');
    } catch {
      /* a deleted file is graded as missing; nothing to keep */
    }
  }
  return out;
}

function target(ctx: Context, ex: Exercise, raw: string | undefined): Target {
  const t = parseTarget(ex, raw, ctx.io.cwd);
  if (!t.ok) throw new DlabExit(t.error);
  return t.value;
}

/** Grades once and records the attempt when the learner's own code was graded. */
export async function gradeAndRecord(ctx: Context, ex: Exercise, t: Target, opts: GradeOptions = {}, session?: GradingSession): Promise<Verdict> {
  const files = t.kind === 'exercises' ? learnerFiles(ex, ctx.root) : undefined;
  const r = await grade(ex, t, opts, ctx.root, session);
  if (!r.ok) throw new DlabExit(r.error);
  const v = r.value;
  if (t.kind === 'exercises') recordVerdict(ctx, ex, v, files);
  // A failure shaped like one of the exercise's mutants says which classic mistake it resembles (classic.ts).
  const classic = t.kind === 'exercises' || t.kind === 'path' ? await classicFor(ex, v, ctx.root, session === undefined ? {} : { session }) : undefined;
  return classic === undefined ? v : annotate(v, classic);
}

/** Records a verdict of the learner's own code as an attempt (with a snapshot of the files graded). */
export function recordVerdict(ctx: Context, ex: Exercise, v: Verdict, files: Files | undefined): void {
  const first = v.failures[0];
  const seed = v.failures.find((f) => f.seed !== undefined)?.seed;
  ctx.store().recordAttempt({
    exerciseId: ex.id,
    durationMs: v.durationMs,
    target: v.target,
    passed: v.passed,
    tests: v.tests,
    failedTest: first?.test,
    message: first === undefined ? undefined : headline(v).slice(0, 2000),
    seed,
    files,
  });
}

export function nextSteps(ctx: Context, ex: Exercise, v: Verdict): string[] {
  const p = paint(ctx.io);
  if (v.passed) {
    // What `dlab next` opens (and watch's `n`): one function decides.
    const after = firstUnfinished(ctx.course(), ctx.store());
    return [
      after === undefined ? p.dim('Every exercise has passed.') : `${p.bold('Next:')} npx dlab next   ${p.dim(`(${after.id})`)}`,
      p.dim(`Compare with the reference: npx dlab diff ${ex.id}`),
    ];
  }
  return [`${p.bold('Edit:')} ${editLocation(ex, v, ctx.root, ctx.io.cwd)}   ${p.dim('then `npx dlab check` again, or `npx dlab hint`')}`];
}

const escapeRegExp = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Where to edit after a failure, as `path:line`: the line of your file that a syntax error (or a throw while
 * loading) names when the code did not load; otherwise the first `TODO:` of the stub.
 */
export function editLocation(ex: Exercise, v: Verdict, root: string, cwd: string): string {
  if (v.kind === 'did-not-load') {
    for (const f of v.failures) {
      for (const file of ex.paths.stubFiles) {
        // Messages name files relative to the repo (the runner strips the root), or in full.
        const names = [relative(root, file), file].map(escapeRegExp).join('|');
        const m = new RegExp(`(?:^|[\\s(])(?:file://)?(?:${names}):(\\d+)`, 'm').exec(f.message);
        if (m !== null) return `${shown(file, cwd)}:${m[1]}`;
      }
    }
  }
  return stubLocation(ex, cwd);
}

export async function check(
  ctx: Context,
  id: string | undefined,
  opts: { json: boolean; target?: string | undefined; explore?: number | undefined },
): Promise<number> {
  const ex = ctx.exercise(id);
  const t = target(ctx, ex, opts.target);
  const v = await gradeAndRecord(ctx, ex, t, { shards: checkShards(ex) });
  // A failing simulation case is replayed twice: two different traces mean the code is not deterministic.
  const det = t.kind === 'exercises' || t.kind === 'path' ? await determinismOf(ex, t, v, ctx.root) : undefined;
  const explore = opts.explore ?? 0;
  const explored: Array<{ seedShift: number; verdict: Verdict }> = [];
  // --explore: more runs on fresh seeds; reported beside the verdict, never recorded as it.
  if (v.passed && explore > 0) {
    // One warm worker per core for all of them: a family costs the time of its tests, not a process start.
    const session = new GradingSession({ root: ctx.root, maxWorkers: Math.max(1, Math.min(availableParallelism(), 4)) });
    try {
      const shifts = Array.from({ length: explore }, () => randomInt(1, 2 ** 14));
      const planned = shifts.map((seedShift, i) => {
        const r = planJob(ex, t, { seedShift }, ctx.root, `-e${i}`);
        if (!r.ok) throw new DlabExit(r.error);
        return { seedShift, plan: r.value };
      });
      const outcomes = await session.run(planned.map((x) => x.plan.job));
      for (const x of planned) {
        const o = outcomes.get(x.plan.job.key) ?? { kind: 'crashed' as const, message: 'no result' };
        explored.push({ seedShift: x.seedShift, verdict: verdictOf(x.plan, o, session.timings.get(x.plan.job.key) ?? 0, ctx.root) });
      }
    } finally {
      session.close();
    }
  }
  const { io } = ctx;
  if (opts.json) {
    const json: Record<string, unknown> = {
      id: v.id,
      target: v.target,
      passed: v.passed,
      durationMs: v.durationMs,
      ...(v.cpuMs !== undefined ? { cpuMs: v.cpuMs } : {}),
      tests: v.tests,
      notRun: v.notRun,
      failures: v.failures,
      ...(resemblesOf(v) === undefined ? {} : { resembles: resemblesOf(v)!.mutant }),
      ...(det === undefined ? {} : { determinism: det }),
    };
    if (explored.length > 0) {
      json['explore'] = explored.map((e) => ({ seedShift: e.seedShift, passed: e.verdict.passed, failures: e.verdict.failures }));
      json['explorePassed'] = explored.every((e) => e.verdict.passed);
    }
    line(io.stdout, JSON.stringify(json, null, 2));
  } else {
    line(io.stdout, renderVerdict(v, io));
    if (det !== undefined && !det.deterministic) line(io.stdout, `\n${determinismLines(det).join('\n')}`);
    // Only the families that failed, in full; the rest as one line.
    for (const e of explored.filter((x) => !x.verdict.passed)) {
      line(io.stdout, `\n${paint(io).dim(`explore (seed shift ${e.seedShift}):`)}`);
      line(io.stdout, renderVerdict(e.verdict, io));
    }
    if (explored.length > 0) {
      const bad = explored.filter((x) => !x.verdict.passed).length;
      line(io.stdout, `\nexplore: ${explored.length - bad} of ${explored.length} fresh seed families passed${bad > 0 ? ' (the verdict above stands; a failing family is a case the fixed seeds miss)' : ''}`);
    }
    if (t.kind === 'exercises') {
      line(io.stdout);
      for (const l of nextSteps(ctx, ex, v)) line(io.stdout, l);
    }
  }
  return v.passed && explored.every((e) => e.verdict.passed) ? 0 : 1;
}

/** "a, b and c" */
function andList(xs: readonly string[]): string {
  return xs.length <= 1 ? (xs[0] ?? '') : `${xs.slice(0, -1).join(', ')} and ${xs.at(-1)}`;
}

/**
 * `dlab replay`: runs exactly one case of one property (the one whose fixed seed the given seed belongs to)
 * and prints its full report. A seed that no property of the exercise owns, or a path that names no case of
 * it, is bad input (exit 2), never a pass; otherwise the exit code is the replayed case's: 0 if it passes now.
 */
export async function replay(
  ctx: Context,
  id: string | undefined,
  opts: {
    seed: string | undefined;
    path?: string | undefined;
    target?: string | undefined;
    json?: boolean;
    /** `--from MS`, `--to MS`: the diagram's window in virtual ms (both inclusive), as typed. */
    from?: string | undefined;
    to?: string | undefined;
    /** `--nodes a,b`: the diagram's columns, in order, as typed. */
    nodes?: string | undefined;
    /** `--hide-sends`: no send rows in the diagram. */
    hideSends?: boolean;
    /** Grade this exercise (a shared case's code in a scratch folder: share.ts) instead of looking up `id`. */
    exercise?: Exercise;
  },
): Promise<number> {
  const copy = `copy the Replay line printed under a failure by \`npx dlab check${id === undefined ? '' : ` ${id}`}\``;
  if (id === undefined && opts.exercise === undefined) fail('bad-usage', 'replay needs an exercise id', 'npx dlab replay <id> --seed S [--path P], or npx dlab replay --file F');
  if (opts.seed === undefined) fail('bad-usage', 'replay needs --seed S, the seed from a failure report', copy);
  // Seeds are what the failure report printed: whole numbers from 0 (a property's fixed seed, or that plus a
  // multiple of 65536 for another seed family).
  if (!/^\d+$/.test(opts.seed) || !Number.isSafeInteger(Number(opts.seed))) {
    fail('bad-usage', `--seed takes the seed a failure report printed (a whole number, 0 or more), not '${opts.seed}'`, copy);
  }
  if (opts.path !== undefined && !/^\d+(:\d+)*$/.test(opts.path)) {
    fail('bad-usage', `--path takes the path a failure report printed (numbers joined by ':', like 0:1:3), not '${opts.path}'`, copy);
  }
  const view = replayViewOf(opts, `for example: npx dlab replay ${id ?? opts.exercise?.id ?? '<id>'} --seed ${opts.seed} --from 900 --to 1000 --nodes a,b --hide-sends`);
  const seed = Number(opts.seed);
  const ex = opts.exercise ?? ctx.exercise(id);
  const t = opts.exercise !== undefined ? ({ kind: 'exercises' } as const) : target(ctx, ex, opts.target);
  const again = `npx dlab replay ${ex.id} --seed ${seed}${opts.target === undefined ? '' : ` --target ${opts.target}`}`;
  // One worker, kept for a second replay of a failing simulation case (the determinism check, determinism.ts).
  const session = new GradingSession({ root: ctx.root, maxWorkers: 1 });
  try {
    return await replayIn(ctx, session, ex, t, { seed, path: opts.path, view, json: opts.json === true, copy, again });
  } finally {
    session.close();
  }
}

/**
 * The diagram view `dlab replay` was asked for, checked and encoded for the job (ENV.replayView), or undefined
 * for the whole run. Times are virtual milliseconds, as the report prints them.
 */
function replayViewOf(opts: { from?: string | undefined; to?: string | undefined; nodes?: string | undefined; hideSends?: boolean }, example: string): string | undefined {
  const time = (flag: string, raw: string | undefined): number | undefined => {
    if (raw === undefined) return undefined;
    if (!/^\d+(\.\d+)?$/.test(raw)) fail('bad-usage', `${flag} takes a time in ms of the replayed run (a number, 0 or more, like 1500), not '${raw}'`, example);
    return Number(raw);
  };
  const fromMs = time('--from', opts.from);
  const toMs = time('--to', opts.to);
  if (fromMs !== undefined && toMs !== undefined && fromMs > toMs) fail('bad-usage', `--from ${opts.from} is after --to ${opts.to}: the window would be empty`, example);
  let nodes: string[] | undefined;
  if (opts.nodes !== undefined) {
    if (!/^[^,\s]+(,[^,\s]+)*$/.test(opts.nodes)) fail('bad-usage', `--nodes takes node names joined by commas, like n1,n2, not '${opts.nodes}'`, example);
    nodes = [...new Set(opts.nodes.split(','))];
  }
  if (fromMs === undefined && toMs === undefined && nodes === undefined && opts.hideSends !== true) return undefined;
  return encodeReplayView({
    ...(fromMs !== undefined ? { fromMs } : {}),
    ...(toMs !== undefined ? { toMs } : {}),
    ...(nodes !== undefined ? { nodes } : {}),
    ...(opts.hideSends === true ? { hideSends: true } : {}),
  });
}

async function replayIn(
  ctx: Context,
  session: GradingSession,
  ex: Exercise,
  t: Target,
  opts: { seed: number; path: string | undefined; view: string | undefined; json: boolean; copy: string; again: string },
): Promise<number> {
  const { seed, copy, again } = opts;
  // Every test runs (no stopping at the first failure): the property that owns the seed may come after a
  // hand-written scenario that fails.
  const first = await runReplay(session, ex, t, { seed, path: opts.path, view: opts.view }, ctx.root, { all: true });
  if (!first.ok) throw new DlabExit(first.error);
  const { verdict: v, report, bases } = first.value;
  // fast-check's own words for a path that leads to no case of this seed.
  if (v.failures.some((f) => /Unable to replay, got (wrong|invalid) path=/.test(f.message))) {
    fail('bad-usage', `seed ${seed} of ${ex.id} has no case at path ${opts.path}`, `copy the whole Replay line of the failure, or replay the seed from its first case: ${again}`);
  }
  const owned = bases.some((b) => (((seed - b) % SEED_STRIDE) + SEED_STRIDE) % SEED_STRIDE === 0);
  const seeds = bases.length === 0 ? 'its tests take no seeds' : `its seeds are ${andList(bases.map(String))}`;
  // Every test ran and none failed, and no property owns the seed: it is not a seed of this exercise.
  if (report === undefined && v.kind === 'passed' && !owned) fail('bad-usage', `no test of ${ex.id} uses seed ${seed}; ${seeds}`, copy);
  // The replayed property throws its failure with the replayed seed; other tests' failures are not this case's.
  const passed = report !== undefined && !v.failures.some((f) => f.seed === seed);
  // No report: the code did not load, crashed or timed out, or a test failed before its property started
  // (that one may own the seed). Show why.
  const why =
    v.kind === 'failed' && !owned
      ? `seed ${seed} was not replayed: no property that ran owns it (${bases.length === 0 ? 'none ran' : `their seeds are ${andList(bases.map(String))}`}); the tests below failed before reaching their property, if they have one:\n\n`
      : '';
  const text = report ?? why + renderVerdict({ ...v, durationMs: 0 }, { color: false }, { showAll: true }) + '\n';
  // A simulation case that fails is replayed a second time, sharing the first replay's module: the same
  // command must print the same bytes every time.
  let det: Determinism | undefined;
  if (!passed && report !== undefined && checksDeterminism(ex)) {
    const d = await secondReplay(session, ex, t, { seed, path: opts.path, view: opts.view }, ctx.root, first.value, { all: true, gradedFailed: false, files: learnerFilesOf(ex, t, ctx.root, first.value) });
    if (d.ok) det = d.value;
  }
  const { io } = ctx;
  if (opts.json) {
    const json = { id: ex.id, target: v.target, seed, path: opts.path ?? null, passed, report: text, ...(det === undefined ? {} : { determinism: det }) };
    line(io.stdout, JSON.stringify(json, null, 2));
  } else {
    io.stdout.write(text);
    if (det !== undefined && !det.deterministic) line(io.stdout, `\n${determinismLines(det).join('\n')}`);
  }
  return passed ? 0 : 1;
}
