// The regression guard: `dlab check --all` and `dlab progress --recheck` re-grade every exercise the learner
// passed, one line each; one that fails now is recorded as a failed attempt, and the exit code is 1.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';
import { createContext, type Context } from '../context.ts';
import { main } from '../main.ts';
import { testIo } from '../test-io.ts';
import { recheck, type RecheckRow } from './recheck.ts';

const ID = '03-time-and-causality/01-vector-clocks';
const STUB = `exercises/${ID}.ts`;

describe('dlab check --all / progress --recheck', () => {
  let course: TempCourse;
  beforeAll(() => {
    course = tempCourse();
  });
  afterAll(() => course.dispose());

  async function run(fn: (ctx: Context) => Promise<number>) {
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    try {
      const code = await fn(ctx);
      return { code, out: io.out(), err: io.err() };
    } finally {
      ctx.close();
    }
  }

  it('a passed exercise that still passes: one ✓ line, exit 0, no attempt added; broken since: ✗, exit 1, a failed attempt', async () => {
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    writeFileSync(join(course.root, STUB), reference);
    await run(async (ctx) => {
      ctx.store().recordAttempt({ exerciseId: ID, durationMs: 1, target: 'exercises', passed: true, tests: 4, files: { [STUB]: reference } });
      return 0;
    });
    const ok = await run((ctx) => recheck(ctx, { json: false }));
    expect(ok.code).toBe(0);
    expect(ok.out).toMatch(new RegExp(`\\n✓ ${ID.replace(/\//g, '\\/')} +still passes +\\d+\\.\\d s\\n`));
    expect(ok.out).toContain('All 1 exercise you passed still pass.');
    const attempts = () => run(async (ctx) => ctx.store().attempts(ID).length);
    expect((await attempts()).code).toBe(1);

    // Later work breaks it: a receive no longer ticks.
    const from = '    clock = vcTick(clock, ev.node);\n';
    expect(reference).toContain(from);
    writeFileSync(join(course.root, STUB), reference.replace(from, "    if (ev.kind !== 'recv') clock = vcTick(clock, ev.node);\n"));
    const bad = await run((ctx) => recheck(ctx, { json: true }));
    expect(bad.code).toBe(1);
    const j = JSON.parse(bad.out) as { checked: number; regressed: string[]; exercises: RecheckRow[] };
    expect(j).toMatchObject({ checked: 1, regressed: [ID] });
    expect(j.exercises[0]).toMatchObject({ id: ID, passed: false, headline: expect.stringContaining('stampTrace') });
    const last = await run(async (ctx) => {
      const all = ctx.store().attempts(ID);
      expect(all).toHaveLength(2);
      expect(all[1]).toMatchObject({ passed: false, target: 'exercises', failedTest: expect.stringContaining('stampTrace') });
      // A pass is for good: the exercise stays passed; the regression is an attempt.
      expect(ctx.store().status(ID)).toBe('passed');
      return 0;
    });
    expect(last.code).toBe(0);
  }, 300_000);
});

describe('wiring (no grading)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlab-recheck-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function dlab(...argv: string[]) {
    const io = testIo({ DLAB_DB: join(dir, 'progress.db') }, dir);
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }

  it('nothing passed yet: nothing to re-check, exit 0, from check --all and progress --recheck alike', async () => {
    for (const argv of [['check', '--all'], ['progress', '--recheck']]) {
      const r = await dlab(...argv);
      expect(r, argv.join(' ')).toEqual({ code: 0, out: 'No exercise has passed yet: nothing to re-check. `npx dlab next` shows where to start.\n', err: '' });
    }
    expect(JSON.parse((await dlab('check', '--all', '--json')).out)).toEqual({ checked: 0, regressed: [], exercises: [] });
  });

  it('--all takes no exercise, --target or --explore', async () => {
    for (const [argv, what] of [
      [['check', 'vector-clocks', '--all'], 'takes no exercise (got vector-clocks)'],
      [['check', '--all', '--target', 'solutions'], 'takes no --target'],
      [['check', '--all', '--explore', '3'], 'takes no --explore'],
    ] as const) {
      const r = await dlab(...argv);
      expect(r.code).toBe(2);
      expect(r.err).toContain(`check --all re-grades every exercise you passed, so it ${what}`);
      expect(r.err).toContain('next: npx dlab check --all [--json]');
    }
  });
});
