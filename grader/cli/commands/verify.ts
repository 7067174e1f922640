// `dlab verify`: proves every exercise sound. The reference passes (on extra seeds too), so does every
// alternative correct design kept in grader/alternatives/<id>/, the untouched stub fails, every mutant is
// rejected, the stub and the reference export the same types.
import { spawn } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { CATALOGUE } from '../../catalogue.ts';
import { checkCatalogue, findExercise, type Exercise } from '../../core/course.ts';
import { DlabExit } from '../../core/errors.ts';
import { compareExportTypes } from '../../core/export-types.ts';
import { lessonMinutes } from '../../core/syllabus.ts';
import { planJob, verdictOf, type PlannedJob, type Verdict } from '../../runner/grade.ts';
import type { Job, JobOutcome } from '../../runner/protocol.ts';
import { GradingSession } from '../../runner/run-jobs.ts';
import { saveSignatures } from '../../runner/classic.ts';
import { VerdictCache } from '../../runner/verdict-cache.ts';
import { alternativesOf, committedStub, mutantTarget } from '../../runner/targets.ts';
import type { Context } from '../context.ts';
import { line, paint } from '../io.ts';

/** One row of `dlab verify --json` (a documented contract). */
export interface VerifyRow {
  readonly id: string;
  readonly solutionPasses: boolean;
  readonly stubFails: boolean;
  readonly mutants: ReadonlyArray<{ readonly name: string; readonly rejected: boolean }>;
  /** The correct implementations of other designs in grader/alternatives/<id>/, each of which must pass. */
  readonly alternatives: ReadonlyArray<{ readonly name: string; readonly passes: boolean }>;
  /** Wall time of this exercise's runs, added up over the workers; 0 when every run came from the cache. */
  readonly durationMs: number;
  /** Everything that makes the exercise unsound, in words; empty when it is sound. */
  readonly problems: readonly string[];
}


const MIN_MUTANTS = 3;
/** Random seed families a mutant that passes the fixed seeds is run on, to tell a weak fixed seed from a missing property. */
const EXPLORE_MISSED = 20;

function outcomePassed(plan: PlannedJob, o: JobOutcome | undefined, root: string): boolean {
  return o !== undefined && verdictOf(plan, o, 0, root).passed;
}

export interface VerifyOptions {
  readonly json: boolean;
  readonly only?: string | undefined;
  readonly seeds?: number | undefined;
  /** false: grade every run again even if its inputs are unchanged since a cached run. */
  readonly cache?: boolean;
  /** Also run everything with every core kept busy, and fail where a verdict changes. */
  readonly stress?: boolean;
}

export async function verify(ctx: Context, opts: VerifyOptions): Promise<number> {
  const { io } = ctx;
  const p = paint(io);
  const { course, problems: catalogueProblems } = checkCatalogue(CATALOGUE, ctx.root);
  let exercises: readonly Exercise[] = course.exercises;
  if (opts.only !== undefined) {
    const r = findExercise(course, opts.only);
    if (!r.ok) throw new DlabExit(r.error);
    exercises = [r.value];
  }
  const extraSeeds = opts.seeds ?? 1;
  const t0 = performance.now();

  const planned: Array<{ ex: Exercise; role: Role; plan: PlannedJob }> = [];
  const problems = new Map<string, string[]>(exercises.map((e) => [e.id, []]));
  const changedStubs: string[] = [];
  for (const ex of exercises) {
    const add = (role: (typeof planned)[number]['role'], r: ReturnType<typeof planJob>) => {
      if (r.ok) planned.push({ ex, role, plan: r.value });
      else problems.get(ex.id)!.push(r.error.message);
    };
    for (let s = 0; s <= extraSeeds; s++) add('solution', planJob(ex, { kind: 'solutions' }, { seedShift: s }, ctx.root, s === 0 ? '' : `-s${s}`));
    // The stub as committed, not a learner's work on it (nor an author's uncommitted edit).
    const stub = committedStub(ex, ctx.root);
    if (stub.changed) changedStubs.push(ex.id);
    add('stub', planJob(ex, stub.target, {}, ctx.root, '-committed'));
    for (const m of ex.mutants) add({ mutant: m }, planJob(ex, mutantTarget(ex, m), {}, ctx.root));
    for (const a of alternativesOf(ex)) add({ alternative: a.name }, planJob(ex, { kind: 'path', path: a.path }, {}, ctx.root, `-alt-${a.name}`));
    if (lessonMinutes(ex) === undefined) problems.get(ex.id)!.push(`${ex.id}'s lesson has no "*About N minutes.*" line near its top (the estimated time dlab list and the README show)`);
    if (ex.mutants.length < MIN_MUTANTS) problems.get(ex.id)!.push(`has ${ex.mutants.length} mutants; every exercise keeps at least ${MIN_MUTANTS} (the classic bugs CURRICULUM.md lists)`);
  }
  for (const prob of catalogueProblems) {
    const ex = exercises.find((e) => prob.includes(e.id));
    if (ex !== undefined) problems.get(ex.id)!.push(prob);
  }
  const unowned = catalogueProblems.filter((prob) => !exercises.some((e) => prob.includes(e.id)));

  const cache = opts.cache === false ? undefined : new VerdictCache(ctx.root);
  // Each run's cache key, computed once: it reads the test and the implementation's files.
  const keys = new Map(planned.map((x) => [x.plan.job.key, cache?.key(x.ex, x.plan.target, x.plan.job)]));
  const outcomes = new Map<string, JobOutcome>();
  const wallMs = new Map<string, number>();
  const todo: Job[] = [];
  for (const x of planned) {
    const k = keys.get(x.plan.job.key);
    const hit = k === undefined ? undefined : cache?.get(k);
    if (hit !== undefined) outcomes.set(x.plan.job.key, hit);
    else todo.push(x.plan.job);
  }
  // Two workers per core: a run on real sockets mostly waits (time-outs, a silent peer), and another run can use
  // the core meanwhile. Limits are in CPU time and in wall time less the waits for a CPU, so sharing a core
  // changes no verdict (verify --stress checks that under far more load).
  const workers = Math.max(2, Math.min(2 * availableParallelism(), 8));
  if (!opts.json) {
    if (changedStubs.length > 0) {
      const which = changedStubs.length === 1 ? changedStubs[0] : `${changedStubs.length} exercises`;
      line(io.stdout, p.dim(`the stub of ${which} differs from the committed one (your work?): verifying the committed stub; yours is untouched`));
    }
    const cached = planned.length - todo.length;
    line(io.stdout, p.dim(`verifying ${exercises.length} exercise${exercises.length === 1 ? '' : 's'}: ${planned.length} runs, ${todo.length} on ${workers} worker${workers === 1 ? '' : 's'}${cached > 0 ? `, ${cached} unchanged since a previous run (cached; --no-cache runs them again)` : ''} …`));
  }
  const session = new GradingSession({ maxWorkers: workers, root: ctx.root });
  try {
    for (const [k, o] of await session.run(todo)) outcomes.set(k, o);
    for (const [k, ms] of session.timings) wallMs.set(k, ms);
  } finally {
    session.close();
  }
  if (cache !== undefined) {
    for (const job of todo) {
      const o = outcomes.get(job.key);
      const k = keys.get(job.key);
      if (o !== undefined && k !== undefined) cache.set(k, o);
    }
  }
  // A mutant the fixed seeds miss: is it caught on random seed families? Then the fixed seeds lack a
  // hand-written case for that bug (say so); if not, the hidden test lacks the property or the fault.
  const missed = planned.filter((x) => isMutant(x.role) && outcomePassed(x.plan, outcomes.get(x.plan.job.key), ctx.root));
  const explored = new Map<string, number[]>();
  if (missed.length > 0) {
    const jobs: Array<{ key: string; shift: number; job: Job }> = [];
    for (const x of missed) {
      for (let shift = 1; shift <= EXPLORE_MISSED; shift++) {
        const r = planJob(x.ex, x.plan.target, { seedShift: shift }, ctx.root, `-x${shift}`);
        if (r.ok) jobs.push({ key: x.plan.job.key, shift, job: r.value.job });
      }
    }
    const s2 = new GradingSession({ maxWorkers: workers, root: ctx.root });
    try {
      const res = await s2.run(jobs.map((j) => j.job));
      for (const j of jobs) {
        const plan = planned.find((x) => x.plan.job.key === j.key)!.plan;
        if (!outcomePassed(plan, res.get(j.job.key), ctx.root)) explored.set(j.key, [...(explored.get(j.key) ?? []), j.shift]);
      }
    } finally {
      s2.close();
    }
  }
  // Under --stress: every run again while other processes keep every core busy; the verdicts must not change.
  const stressed = opts.stress === true ? await underLoad(planned.map((x) => x.plan.job), ctx.root, workers) : undefined;

  const typeProblems = compareExportTypes(
    exercises.filter((e) => !catalogueProblems.some((prob) => prob.includes(e.id))),
    ctx.root,
  );

  const rows: VerifyRow[] = exercises.map((ex) => {
    const mine = planned.filter((x) => x.ex === ex);
    const verdicts = mine.map((x) => ({ role: x.role, plan: x.plan, v: verdictOf(x.plan, outcomes.get(x.plan.job.key) ?? { kind: 'crashed', message: 'no result' }, 0, ctx.root), tag: x.plan.job.env['DLAB_SEED_SHIFT'] }));
    const list = problems.get(ex.id)!;
    // Every mutant's verdict is in hand: keep their failure signatures for check's "classic mistake" line.
    saveSignatures(ex, ctx.root, new Map(verdicts.flatMap((x) => (isMutant(x.role) ? [[x.role.mutant, x.v] as const] : []))));
    list.push(...(typeProblems.get(ex.id) ?? []));
    const sol = verdicts.filter((x) => x.role === 'solution');
    for (const s of sol) if (!s.v.passed) list.push(`the solution fails${s.tag === '0' ? '' : ` on seed shift ${s.tag} (a flaky test?)`}: ${describe(s.v)}`);
    const stub = verdicts.find((x) => x.role === 'stub');
    if (stub?.v.passed === true) list.push('the untouched stub passes: the hidden test checks too little');
    const mutants = ex.mutants.map((name) => {
      const m = verdicts.find((x) => isMutant(x.role) && x.role.mutant === name);
      if (m === undefined) return { name, rejected: false };
      if (m.v.passed) {
        const caught = explored.get(m.plan.job.key) ?? [];
        list.push(
          caught.length > 0
            ? `mutant '${name}' is accepted on the fixed seeds but caught on ${caught.length}/${EXPLORE_MISSED} random seed families (seed shifts ${caught.slice(0, 5).join(', ')}): add a hand-written case for this bug to the fixed seeds`
            : `mutant '${name}' is accepted, on the fixed seeds and on ${EXPLORE_MISSED} random seed families: the hidden test misses this bug`,
        );
      }
      if (m.v.kind === 'did-not-load') list.push(`mutant '${name}' does not load (${describe(m.v)}): fix the patch`);
      return { name, rejected: !m.v.passed && m.v.kind !== 'did-not-load' };
    });
    const alternatives = verdicts.flatMap((x) => {
      if (typeof x.role !== 'object' || !('alternative' in x.role)) return [];
      if (!x.v.passed) list.push(`the alternative solution '${x.role.alternative}' (a correct design the grader must accept) fails: ${describe(x.v)}`);
      return [{ name: x.role.alternative, passes: x.v.passed }];
    });
    const solutionPasses = sol.length === extraSeeds + 1 && sol.every((s) => s.v.passed);
    if (stressed !== undefined) {
      for (const x of mine) {
        const calm = signature(x.plan, outcomes.get(x.plan.job.key), ctx.root);
        const busy = signature(x.plan, stressed.get(x.plan.job.key), ctx.root);
        if (calm !== busy) list.push(`${roleName(x.role)}'s verdict changes when the machine is busy: ${calm} when idle, ${busy} under load`);
      }
    }
    const durationMs = sum(mine.map((x) => wallMs.get(x.plan.job.key) ?? 0));
    return { id: ex.id, solutionPasses, stubFails: stub !== undefined && !stub.v.passed, mutants, alternatives, durationMs, problems: list };
  });

  const sound = rows.filter((r) => r.problems.length === 0).length;
  const ok = sound === rows.length && unowned.length === 0;
  if (opts.json) {
    line(io.stdout, JSON.stringify(rows, null, 2));
  } else {
    for (const r of rows) {
      const mark = r.problems.length === 0 ? p.green('✓') : p.red('✗');
      const rejected = r.mutants.filter((m) => m.rejected).length;
      const cost = r.durationMs === 0 ? 'cached' : `${(r.durationMs / 1000).toFixed(1)} s`;
      const alts = r.alternatives.length === 0 ? '' : ` · alternatives ${r.alternatives.filter((a) => a.passes).length}/${r.alternatives.length} pass`;
      line(io.stdout, `${mark} ${r.id.padEnd(48)} ${p.dim(`solution ${r.solutionPasses ? 'passes' : 'FAILS'} · stub ${r.stubFails ? 'fails' : 'PASSES'} · mutants ${rejected}/${r.mutants.length} rejected${alts} · ${cost}`)}`);
      for (const prob of r.problems) line(io.stdout, `    ${p.red('-')} ${prob}`);
    }
    for (const prob of unowned) line(io.stdout, `${p.red('✗')} ${prob}`);
    line(io.stdout, p.dim(`${((performance.now() - t0) / 1000).toFixed(1)} s`));
  }
  // The closing line CI reads.
  line(opts.json ? io.stderr : io.stdout, `verify: ${sound} passed, ${rows.length - sound + unowned.length} failed`);
  return ok ? 0 : 1;
}

function describe(v: Verdict): string {
  const f = v.failures[0];
  return f === undefined ? v.kind : `${f.test}: ${f.message.split('\n')[0]}`;
}

type Role = 'solution' | 'stub' | { readonly mutant: string } | { readonly alternative: string };

const isMutant = (role: Role): role is { readonly mutant: string } => typeof role === 'object' && 'mutant' in role;

function roleName(role: Role): string {
  if (typeof role !== 'object') return `the ${role}`;
  return 'mutant' in role ? `mutant '${role.mutant}'` : `the alternative solution '${role.alternative}'`;
}

/** What must not change with load: pass or fail, the kind of verdict, and which tests failed. */
function signature(plan: PlannedJob, o: JobOutcome | undefined, root: string): string {
  if (o === undefined) return 'no result';
  const v = verdictOf(plan, o, 0, root);
  return v.passed ? 'passed' : `${v.kind} (${v.failures.map((f) => f.test).join('; ')})`;
}

/** Runs the jobs again with one CPU-burning process per core kept running beside them. */
async function underLoad(jobs: readonly Job[], root: string, workers: number): Promise<Map<string, JobOutcome>> {
  const burners = Array.from({ length: availableParallelism() }, () => spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' }));
  const session = new GradingSession({ maxWorkers: workers, root });
  try {
    return await session.run(jobs);
  } finally {
    session.close();
    for (const b of burners) b.kill('SIGKILL');
  }
}

function sum(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0);
}
