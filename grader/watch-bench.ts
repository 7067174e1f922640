// Benchmark of the learner's loop: from a save (by rename, as vim does) to the verdict on screen, for every
// exercise: saves of the reference (a pass), then of one mutant (time to its first failure).
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './bench.ts';
import { createContext } from './cli/context.ts';
import { watch, type WatchEvent } from './cli/commands/watch.ts';
import { testIo } from './cli/test-io.ts';
import { loadCourse, type Exercise } from './core/course.ts';
import { materialize, mutantTarget } from './runner/targets.ts';
import { tempCourse } from './testing/temp-course.ts';

const REFERENCE_SAVES = 3;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** Save-to-verdict times of one exercise in one watch session: the reference's saves, then one mutant's. */
async function watchExercise(root: string, db: string, ex: Exercise): Promise<{ reference: number[]; mutant: number | undefined }> {
  const io = testIo({ DLAB_DB: db }, root);
  const ctx = createContext(io, root);
  const verdicts = () => io.out().split('\n').filter((l) => l.includes('"verdict"')).map((l) => JSON.parse(l) as WatchEvent);
  const waitFor = async (n: number) => {
    while (verdicts().length < n) await new Promise((r) => setTimeout(r, 2));
  };
  const save = async (text: string, n: number): Promise<number> => {
    const t0 = performance.now();
    writeFileSync(`${ex.paths.stub}.tmp`, text);
    renameSync(`${ex.paths.stub}.tmp`, ex.paths.stub);
    await waitFor(n);
    return performance.now() - t0;
  };
  let stop: () => void = () => undefined;
  const until = new Promise<void>((r) => (stop = r));
  const reference = readFileSync(ex.paths.solution, 'utf8');
  const done = watch(ctx, ex.id, { json: true, until });
  try {
    await waitFor(1);
    const times: number[] = [];
    for (let i = 0; i < REFERENCE_SAVES; i++) {
      // The reference, changed by a comment so that every save is a real change.
      times.push(await save(`${reference}\n// save ${i}\n`, i + 2));
      const v = verdicts().at(-1);
      if (v?.event !== 'verdict' || !v.passed) throw new Error(`the reference of ${ex.id} did not pass in watch mode`);
    }
    const name = ex.mutants[0];
    const entry = name === undefined ? undefined : materialize(ex, mutantTarget(ex, name), root);
    let mutant: number | undefined;
    if (entry?.ok === true) {
      mutant = await save(readFileSync(entry.value, 'utf8'), REFERENCE_SAVES + 2);
      const v = verdicts().at(-1);
      if (v?.event !== 'verdict' || v.passed) throw new Error(`mutant '${name}' of ${ex.id} passed in watch mode`);
    }
    return { reference: times, mutant };
  } finally {
    stop();
    await done;
    ctx.close();
  }
}

export async function benchmarks(): Promise<BenchResult[]> {
  const course = tempCourse();
  try {
    const c = loadCourse(course.root);
    if (!c.ok) throw new Error(c.error.message);
    const refs: number[] = [];
    const mutants: number[] = [];
    // Each exercise's own figure too, so that a slow one is visible.
    const each: BenchResult[] = [];
    for (const ex of c.value.exercises.filter((e) => e.files === undefined)) {
      const r = await watchExercise(course.root, course.db, ex);
      refs.push(median(r.reference));
      each.push({ bench: `watch.save_to_verdict_ms.reference.${ex.id}`, value: Math.round(median(r.reference)), unit: 'ms' });
      if (r.mutant !== undefined) mutants.push(r.mutant);
    }
    return [
      { bench: 'watch.save_to_verdict_ms.reference_median', value: Math.round(median(refs)), unit: 'ms' },
      { bench: 'watch.save_to_verdict_ms.reference_max', value: Math.round(Math.max(...refs)), unit: 'ms' },
      { bench: 'watch.save_to_first_failure_ms.mutant_median', value: Math.round(median(mutants)), unit: 'ms' },
      ...each,
    ];
  } finally {
    course.dispose();
  }
}
