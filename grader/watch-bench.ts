// Benchmark of the learner's loop: from a save (by rename, as vim does) to the verdict on screen.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import type { BenchResult } from './bench.ts';
import { createContext } from './cli/context.ts';
import { watch, type WatchEvent } from './cli/commands/watch.ts';
import { testIo } from './cli/test-io.ts';
import { loadCourse } from './core/course.ts';
import { tempCourse } from './testing/temp-course.ts';

const PREFERRED = '01-foundations/01-lamport-ordering';
const SAVES = 10;

export async function benchmarks(): Promise<BenchResult[]> {
  const course = tempCourse();
  const c = loadCourse(course.root);
  if (!c.ok) throw new Error(c.error.message);
  const ex = c.value.byId.get(PREFERRED) ?? c.value.exercises[0]!;
  const io = testIo({ DLAB_DB: course.db }, course.root);
  const ctx = createContext(io, course.root);
  const verdicts = () => io.out().split('\n').filter((l) => l.includes('"verdict"')).map((l) => JSON.parse(l) as WatchEvent);
  const waitFor = async (n: number) => {
    while (verdicts().length < n) await new Promise((r) => setTimeout(r, 2));
  };
  let stop: () => void = () => undefined;
  const until = new Promise<void>((r) => (stop = r));
  const stub = ex.paths.stub;
  const reference = readFileSync(ex.paths.solution, 'utf8');
  const done = watch(ctx, ex.id, { json: true, until });
  try {
    await waitFor(1);
    const times: number[] = [];
    for (let i = 0; i < SAVES; i++) {
      const t0 = performance.now();
      // The reference, changed by a comment so that every save is a real change.
      writeFileSync(`${stub}.tmp`, `${reference}\n// save ${i}\n`);
      renameSync(`${stub}.tmp`, stub);
      await waitFor(i + 2);
      times.push(performance.now() - t0);
      const v = verdicts().at(-1);
      if (v?.event !== 'verdict' || !v.passed) throw new Error(`the reference of ${ex.id} did not pass in watch mode`);
    }
    times.sort((a, b) => a - b);
    return [{ bench: ex.id === PREFERRED ? 'watch.save_to_verdict_ms' : `watch.save_to_verdict_ms.${ex.slug}`, value: Math.round((times[4]! + times[5]!) / 2), unit: 'ms' }];
  } finally {
    stop();
    await done;
    ctx.close();
    course.dispose();
  }
}
