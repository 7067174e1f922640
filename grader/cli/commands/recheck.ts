// `dlab check --all` (and `dlab progress --recheck`): the regression guard. Re-grades every exercise the
// learner has passed, with their code as it is now, prints one line each, and records a failed attempt for
// each one that no longer passes (an earlier exercise broken by later work, or by a new version of the course).
import type { Exercise } from '../../core/course.ts';
import { DlabExit } from '../../core/errors.ts';
import { headline, planJob, verdictOf, type PlannedJob, type Verdict } from '../../runner/grade.ts';
import { GradingSession } from '../../runner/run-jobs.ts';
import type { Files } from '../../store/progress-store.ts';
import type { Context } from '../context.ts';
import { line, paint } from '../io.ts';
import { learnerFiles, recordVerdict } from './grade.ts';

/** Two workers: the two cores of the machine dlab targets, as check and watch use. */
const WORKERS = 2;

/** One row of `dlab check --all --json`. */
export interface RecheckRow {
  readonly id: string;
  readonly passed: boolean;
  /** `passed`, or the one-line reason it fails now. */
  readonly headline: string;
  readonly durationMs: number;
}

export async function recheck(ctx: Context, opts: { json: boolean }): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const progress = ctx.store().progress();
  const passed = ctx.course().exercises.filter((e) => progress.get(e.id)?.status === 'passed');
  if (passed.length === 0) {
    if (opts.json) line(io.stdout, JSON.stringify({ checked: 0, regressed: [], exercises: [] }, null, 2));
    else line(io.stdout, 'No exercise has passed yet: nothing to re-check. `npx dlab next` shows where to start.');
    return 0;
  }
  // The files as they are now, read before grading: a regression's snapshot is the code that was graded.
  const runs: Array<{ ex: Exercise; files: Files; plan: PlannedJob }> = passed.map((ex) => {
    const r = planJob(ex, { kind: 'exercises' }, {}, ctx.root, '-recheck');
    if (!r.ok) throw new DlabExit(r.error);
    return { ex, files: learnerFiles(ex, ctx.root), plan: r.value };
  });
  if (!opts.json) line(io.stdout, p.dim(`re-grading the ${passed.length} exercise${passed.length === 1 ? '' : 's'} you passed, on ${WORKERS} workers …`));
  const session = new GradingSession({ root: ctx.root, maxWorkers: WORKERS });
  const verdicts: Verdict[] = [];
  try {
    const outcomes = await session.run(runs.map((x) => x.plan.job));
    for (const x of runs) {
      const o = outcomes.get(x.plan.job.key) ?? { kind: 'crashed' as const, message: 'no result' };
      verdicts.push(verdictOf(x.plan, o, session.timings.get(x.plan.job.key) ?? 0, ctx.root));
    }
  } finally {
    session.close();
  }
  const rows: RecheckRow[] = runs.map((x, i) => {
    const v = verdicts[i]!;
    // A regression is recorded as a failed attempt; the exercise stays passed (a pass is for good).
    if (!v.passed) recordVerdict(ctx, x.ex, v, x.files);
    return { id: x.ex.id, passed: v.passed, headline: headline(v), durationMs: v.durationMs };
  });
  const regressed = rows.filter((r) => !r.passed);
  if (opts.json) {
    line(io.stdout, JSON.stringify({ checked: rows.length, regressed: regressed.map((r) => r.id), exercises: rows }, null, 2));
  } else {
    const width = Math.max(...rows.map((r) => r.id.length));
    for (const r of rows) {
      const secs = p.dim(`${(r.durationMs / 1000).toFixed(1)} s`);
      line(io.stdout, r.passed ? `${p.green('✓')} ${r.id.padEnd(width)}  still passes  ${secs}` : `${p.red('✗')} ${r.id.padEnd(width)}  no longer passes: ${r.headline}`);
    }
    line(io.stdout);
    if (regressed.length === 0) line(io.stdout, `All ${rows.length} exercise${rows.length === 1 ? '' : 's'} you passed still pass.`);
    else {
      const n = regressed.length;
      line(io.stdout, `${n} of ${rows.length} exercise${rows.length === 1 ? '' : 's'} you passed no longer pass${n === 1 ? 'es' : ''} (recorded as a failed attempt).`);
      line(io.stdout, `${p.bold('See why:')} npx dlab check ${regressed[0]!.id}`);
    }
  }
  return regressed.length === 0 ? 0 : 1;
}
