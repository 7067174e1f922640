// `npm run bench`: the DESIGN.md budgets as measured figures, one JSON line per benchmark.
// Each area keeps its own benchmarks module; this file runs them all in one process.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { loadCourse } from './core/course.ts';
import { ROOT } from './core/paths.ts';
import { grade } from './runner/grade.ts';
import { tempCourse } from './testing/temp-course.ts';

export interface BenchResult {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
}

/** Benchmark modules of other areas; each exports `benchmarks(): Promise<BenchResult[]>`. */
const MODULES: ReadonlyArray<readonly [prefix: string, file: string]> = [
  ['sim', 'harness/sim/bench.ts'],
  ['lincheck', 'harness/lincheck/bench.ts'],
  ['watch', 'grader/watch-bench.ts'],
];

// What node_modules/.bin/dlab would run (npm does not link a package's own bin into its own .bin).
const BIN = join(ROOT, 'grader', 'bin', 'dlab.mjs');
const dlab = (args: string[], env: NodeJS.ProcessEnv) => wallMs(process.execPath, [BIN, ...args], env);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function wallMs(cmd: string, args: string[], env: NodeJS.ProcessEnv): number {
  const t0 = performance.now();
  const r = spawnSync(cmd, args, { cwd: ROOT, env, stdio: 'ignore' });
  const ms = performance.now() - t0;
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}`);
  return ms;
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;

/** The commands that must start fast (DESIGN.md, "Budgets"): the name each figure carries, and its arguments. */
const QUICK: ReadonlyArray<readonly [string, string[]]> = [
  ['list.cold', ['list']],
  ['next.cold', ['next']],
  ['version', ['--version']],
  ['help', ['--help']],
];

/**
 * The quick commands' start-up, each run paired with a `node -e 0` just before it: the budget is a ratio to
 * Node's own start-up on the same machine, and pairing keeps it honest while the machine's speed drifts.
 */
function quickBenchmarks(env: NodeJS.ProcessEnv, runs: number): BenchResult[] {
  const node: number[] = [];
  const times = new Map(QUICK.map(([name]) => [name, [] as number[]]));
  const ratios = new Map(QUICK.map(([name]) => [name, [] as number[]]));
  for (let i = 0; i < runs; i++) {
    for (const [name, args] of QUICK) {
      const base = wallMs(process.execPath, ['-e', '0'], env);
      const t = dlab(args, env);
      node.push(base);
      times.get(name)!.push(t);
      ratios.get(name)!.push(t / base);
    }
  }
  const out: BenchResult[] = [{ bench: 'cli.node_startup_ms', value: round(median(node)), unit: 'ms' }];
  for (const [name] of QUICK) {
    // `list.cold` -> cli.list.cold_ms and cli.list.ratio_vs_node_startup; `version` -> cli.version_ms.
    out.push({ bench: `cli.${name}_ms`, value: round(median(times.get(name)!)), unit: 'ms' });
    out.push({ bench: `cli.${name.split('.')[0]}.ratio_vs_node_startup`, value: round(median(ratios.get(name)!), 2), unit: 'x' });
  }
  return out;
}

/** The one start after an edit or a pull, which rebuilds the CLI bundle first (grader/bin/bundle.mjs). */
function staleBundleMs(env: NodeJS.ProcessEnv): number {
  const course = tempCourse();
  try {
    const bin = join(course.root, 'grader', 'bin', 'dlab.mjs');
    return median(
      Array.from({ length: 3 }, () => {
        rmSync(join(course.root, '.dlab', 'build', 'manifest.json'), { force: true });
        return wallMs(process.execPath, [bin, 'list'], { ...env, DLAB_DB: course.db });
      }),
    );
  } finally {
    course.dispose();
  }
}

async function cliBenchmarks(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dlab-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DLAB_DB: join(dir, 'progress.db'), NO_COLOR: '1' };
  delete env['DLAB_FROM_SOURCE'];
  try {
    // Builds the CLI bundle if a source changed and caches the lesson, as any second run of the learner's finds them.
    dlab(['next'], env);
    const quick = quickBenchmarks(env, 11);
    const stale = staleBundleMs(env);
    const npx = median(Array.from({ length: 3 }, () => wallMs('npx', ['dlab', 'list'], env)));
    return [
      ...quick,
      { bench: 'cli.list.stale_bundle_ms', value: round(stale), unit: 'ms' },
      { bench: 'cli.list.via_npx_ms', value: round(npx), unit: 'ms' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The size of the whole course (CURRICULUM.md), for the projection of verify's cost. */
const COURSE_EXERCISES = 91;

/**
 * `dlab check` as a learner runs it (a fresh process, the early worker included): every reference, and every
 * exercise's first mutant (its time to the first failure). Then `dlab verify --no-cache` on every core, and
 * what it would cost for the whole course at the same cost per exercise.
 */
async function checkBenchmarks(): Promise<BenchResult[]> {
  const dir = mkdtempSync(join(tmpdir(), 'dlab-bench-'));
  const env: NodeJS.ProcessEnv = { ...process.env, DLAB_DB: join(dir, 'progress.db'), NO_COLOR: '1' };
  try {
    const course = loadCourse();
    if (!course.ok) throw new Error(course.error.message);
    const exercises = course.value.exercises;
    dlab(['check', exercises[0]!.id, '--target', 'solutions'], env); // tsx's transform cache, as a learner's second run finds it
    const checks = exercises.map((e) => dlab(['check', e.id, '--target', 'solutions', '--json'], env));
    const mutants = exercises.filter((e) => e.mutants.length > 0).map((e) => dlab(['check', e.id, '--target', `mutant:${e.mutants[0]}`, '--json'], env));
    const t0 = performance.now();
    const r = spawnSync(process.execPath, [BIN, 'verify', '--no-cache', '--json'], { cwd: ROOT, env, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
    const verifyMs = performance.now() - t0;
    if (r.status !== 0) throw new Error(`dlab verify failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
    const rows = JSON.parse(r.stdout) as Array<{ id: string; durationMs: number }>;
    const perExercise = verifyMs / rows.length;
    const slowest = [...rows].sort((a, b) => b.durationMs - a.durationMs)[0]!;
    return [
      { bench: 'check.reference.median_ms', value: round(median(checks)), unit: 'ms' },
      { bench: 'check.reference.max_ms', value: round(Math.max(...checks)), unit: 'ms' },
      { bench: 'check.mutant_first_failure.median_ms', value: round(median(mutants)), unit: 'ms' },
      { bench: 'verify.no_cache_ms', value: round(verifyMs), unit: 'ms' },
      { bench: 'verify.per_exercise_ms', value: round(perExercise), unit: 'ms' },
      { bench: `verify.slowest_exercise_ms.${slowest.id}`, value: round(slowest.durationMs), unit: 'ms' },
      // verify already runs on every core, so its wall time per exercise scales to the course as it is.
      { bench: `verify.projected_${COURSE_EXERCISES}_exercises_s`, value: round((perExercise * COURSE_EXERCISES) / 1000), unit: 's' },
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Events per second of wall time inside each simulation exercise's reference, as its hidden test runs it (the
 * simulator, the reference's handlers and the test's invariants together): every sim.run of one graded run
 * appends its event count and wall time to a file (RunConfig.simStatsOut).
 */
async function referenceSimRates(): Promise<BenchResult[]> {
  const course = loadCourse();
  if (!course.ok) throw new Error(course.error.message);
  const dir = mkdtempSync(join(tmpdir(), 'dlab-simstats-'));
  const out: BenchResult[] = [];
  try {
    for (const ex of course.value.exercises.filter((e) => e.kind === 'simulation')) {
      const file = join(dir, `${ex.id.replace('/', '-')}.tsv`);
      const r = await grade(ex, { kind: 'solutions' }, { simStatsOut: file, all: true });
      if (!r.ok || !r.value.passed) throw new Error(`the reference of ${ex.id} did not pass: ${r.ok ? r.value.failures[0]?.message.split('\n')[0] : r.error.message}`);
      let events = 0;
      let ms = 0;
      for (const row of (existsSync(file) ? readFileSync(file, 'utf8') : '').split('\n')) {
        const [e, t] = row.split('\t');
        if (e === undefined || t === undefined) continue;
        events += Number(e);
        ms += Number(t);
      }
      if (ms > 0) out.push({ bench: `sim.reference_events_per_sec.${ex.id}`, value: Math.round(events / (ms / 1000)), unit: 'events/s' });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

async function main(): Promise<void> {
  const only = process.argv[2];
  const emit = (rs: BenchResult[]) => {
    for (const r of rs) if (only === undefined || r.bench.startsWith(only)) process.stdout.write(JSON.stringify(r) + '\n');
  };
  const wanted = (prefix: string) => only === undefined || only.startsWith(prefix) || prefix.startsWith(only);
  if (wanted('cli')) emit(await cliBenchmarks());
  if (wanted('check') || wanted('verify')) emit(await checkBenchmarks());
  if (wanted('sim')) emit(await referenceSimRates());
  for (const [prefix, m] of MODULES) {
    if (!wanted(prefix)) continue;
    const file = join(ROOT, m);
    if (existsSync(file)) emit(moduleBenchmarks(file));
  }
}

/**
 * One area's benchmarks, in a fresh process: what this process did before (the graded runs above, their heap
 * and compiled code) must not colour the figures, so a throughput measured here is the same as when the module
 * runs alone.
 */
function moduleBenchmarks(file: string): BenchResult[] {
  const r = spawnSync(process.execPath, [...process.execArgv, fileURLToPath(import.meta.url), MODULE_FLAG, file], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`the benchmarks of ${file} failed: ${r.stderr.trim().split('\n').at(-1) ?? ''}`);
  return r.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as BenchResult);
}

const MODULE_FLAG = '--module';

if (process.argv[2] === MODULE_FLAG) {
  const mod = (await import(pathToFileURL(process.argv[3]!).href)) as { benchmarks?: () => Promise<BenchResult[]> };
  for (const r of (await mod.benchmarks?.()) ?? []) process.stdout.write(JSON.stringify(r) + '\n');
} else {
  await main();
}
