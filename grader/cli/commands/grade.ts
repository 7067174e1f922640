// Commands that grade: check (once), watch (on every save), replay (one failing case, in full).
import { randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import type { Exercise } from '../../core/course.ts';
import { DlabExit, fail } from '../../core/errors.ts';
import { scratchDir } from '../../core/paths.ts';
import { grade, headline, planJob, verdictOf, type GradeOptions, type Verdict } from '../../runner/grade.ts';
import { GradingSession } from '../../runner/run-jobs.ts';
import { parseTarget, type Target } from '../../runner/targets.ts';
import type { Files } from '../../store/progress-store.ts';
import type { Context } from '../context.ts';
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
  if (t.kind === 'exercises') {
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
  return v;
}

export function nextSteps(ctx: Context, ex: Exercise, v: Verdict): string[] {
  const p = paint(ctx.io);
  if (v.passed) {
    const course = ctx.course();
    const progress = ctx.store().progress();
    const after = course.exercises.find((e) => e.index > ex.index && progress.get(e.id)?.status !== 'passed');
    return [
      after === undefined ? p.dim('Every exercise has passed.') : `${p.bold('Next:')} npx dlab next   ${p.dim(`(${after.id})`)}`,
      p.dim(`Compare with the reference: npx dlab diff ${ex.id}`),
    ];
  }
  return [`${p.bold('Edit:')} ${stubLocation(ex, ctx.io.cwd)}   ${p.dim('then `npx dlab check` again, or `npx dlab hint`')}`];
}

export async function check(
  ctx: Context,
  id: string | undefined,
  opts: { json: boolean; target?: string | undefined; explore?: number | undefined },
): Promise<number> {
  const ex = ctx.exercise(id);
  const t = target(ctx, ex, opts.target);
  const v = await gradeAndRecord(ctx, ex, t);
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
      tests: v.tests,
      notRun: v.notRun,
      failures: v.failures,
    };
    if (explored.length > 0) {
      json['explore'] = explored.map((e) => ({ seedShift: e.seedShift, passed: e.verdict.passed, failures: e.verdict.failures }));
      json['explorePassed'] = explored.every((e) => e.verdict.passed);
    }
    line(io.stdout, JSON.stringify(json, null, 2));
  } else {
    line(io.stdout, renderVerdict(v, io));
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

export async function replay(
  ctx: Context,
  id: string | undefined,
  opts: { seed: string | undefined; path?: string | undefined; target?: string | undefined },
): Promise<number> {
  if (id === undefined) fail('bad-usage', 'replay needs an exercise id', 'npx dlab replay <id> --seed S [--path P]');
  if (opts.seed === undefined || !/^-?\d+$/.test(opts.seed)) fail('bad-usage', 'replay needs --seed S (a whole number, from the failure report)', 'copy the replay command printed under the failure');
  const ex = ctx.exercise(id);
  const t = target(ctx, ex, opts.target);
  const dir = join(scratchDir(ctx.root), 'replay');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, `${process.pid}.txt`);
  rmSync(out, { force: true });
  const r = await grade(ex, t, { replay: { seed: Number(opts.seed), path: opts.path, out } }, ctx.root);
  if (!r.ok) throw new DlabExit(r.error);
  const { io } = ctx;
  if (existsSync(out)) {
    io.stdout.write(readFileSync(out, 'utf8'));
    rmSync(out, { force: true });
  } else {
    // The test has no replayable case with this seed; show the verdict of the run instead.
    line(io.stdout, renderVerdict({ ...r.value, durationMs: 0 }, { color: false }, { showAll: true }));
  }
  return r.value.passed ? 0 : 1;
}
