// `dlab verify` in a learner's clone: it grades the committed stub, never the learner's work on it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';
import { createContext } from '../context.ts';
import { testIo } from '../test-io.ts';
import { verify, type VerifyRow } from './verify.ts';

const ID = '03-time-and-causality/01-vector-clocks';
let course: TempCourse;
beforeAll(() => {
  course = tempCourse();
  const git = (...args: string[]) => execFileSync('git', ['-C', course.root, ...args], { stdio: 'ignore' });
  git('init', '-q');
  git('add', 'exercises');
  git('-c', 'user.name=t', '-c', 'user.email=t@example.com', 'commit', '-qm', 'course');
});
afterAll(() => course.dispose());

describe('dlab verify', () => {
  it('grades the committed stub when the working copy holds a solved exercise, and leaves the file alone', async () => {
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const solved = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    writeFileSync(stub, solved);
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    const code = await verify(ctx, { json: true, only: ID, seeds: 0, cache: false });
    ctx.close();
    const [row] = JSON.parse(io.out()) as VerifyRow[];
    expect(row?.stubFails).toBe(true);
    expect(row?.problems).toEqual([]);
    expect(code).toBe(0);
    expect(readFileSync(stub, 'utf8')).toBe(solved);
    const text = testIo({ DLAB_DB: course.db }, course.root);
    const ctx2 = createContext(text, course.root);
    await verify(ctx2, { json: false, only: ID, seeds: 0 });
    ctx2.close();
    expect(text.out()).toContain(`the stub of ${ID} differs from the committed one (your work?): verifying the committed stub`);
  }, 120_000);

  it('grades every alternative design in grader/alternatives/<id>/: one that passes is listed, one that is rejected makes the exercise unsound', async () => {
    const dir = join(course.root, 'grader', 'alternatives', ID);
    mkdirSync(dir, { recursive: true });
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    writeFileSync(join(dir, 'same-as-reference.ts'), reference);
    // The untouched stub (as committed: the test above solved the working copy) stands in for a wrong design.
    writeFileSync(join(dir, 'stub-as-design.ts'), execFileSync('git', ['-C', course.root, 'show', `HEAD:exercises/${ID}.ts`], { encoding: 'utf8' }));
    try {
      const io = testIo({ DLAB_DB: course.db }, course.root);
      const ctx = createContext(io, course.root);
      const code = await verify(ctx, { json: true, only: ID, seeds: 0, cache: false });
      ctx.close();
      const [row] = JSON.parse(io.out()) as VerifyRow[];
      expect(row?.alternatives).toEqual([
        { name: 'same-as-reference', passes: true },
        { name: 'stub-as-design', passes: false },
      ]);
      expect(row?.problems.join('\n')).toContain("the alternative solution 'stub-as-design' (a correct design the grader must accept) fails: ");
      expect(code).toBe(1);
    } finally {
      rmSync(join(course.root, 'grader', 'alternatives'), { recursive: true, force: true });
    }
  }, 120_000);
});
