// Watch mode end to end without a TTY: saves (by rename, as vim does) produce verdict events.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';
import { createContext } from '../context.ts';
import { testIo } from '../test-io.ts';
import { next } from './learn.ts';
import { CONFIDENCE_FAMILIES, watch, type WatchEvent } from './watch.ts';

const ID = '03-time-and-causality/01-vector-clocks';
let course: TempCourse;
beforeAll(() => {
  course = tempCourse();
});
afterAll(() => course.dispose());

function saveByRename(path: string, text: string): void {
  writeFileSync(`${path}.swp~`, text);
  renameSync(`${path}.swp~`, path);
}

describe('dlab watch --json', () => {
  it('grades at start and after every save, one JSON event per line', async () => {
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    const events = () =>
      io
        .out()
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as WatchEvent);
    const verdicts = () => events().filter((e) => e.event === 'verdict');
    const waitFor = async (n: number) => {
      for (let i = 0; i < 400 && verdicts().length < n; i++) await new Promise((r) => setTimeout(r, 50));
    };
    let stop: () => void = () => undefined;
    const until = new Promise<void>((r) => (stop = r));
    const done = watch(ctx, ID, { json: true, until });
    await waitFor(1);
    saveByRename(stub, reference.replace('return { ...v, [me]: entry(v, me) + 1 };', 'return { ...v, [me]: entry(v, me) + 2 };'));
    await waitFor(2);
    saveByRename(stub, reference);
    await waitFor(3);
    // Saving the same code again grades it again, but it is not another attempt.
    const attempts = ctx.store().progress().get(ID)!.attempts;
    saveByRename(stub, reference);
    await waitFor(4);
    expect(ctx.store().progress().get(ID)!.attempts).toBe(attempts);
    stop();
    expect(await done).toBe(0);
    ctx.close();
    const vs = verdicts();
    expect(vs.map((v) => v.event === 'verdict' && v.passed)).toEqual([false, false, true, true]);
    expect(events()[0]).toEqual({ event: 'run-start', id: ID });
    const second = vs[1]!;
    if (second.event === 'verdict') expect(second.failures[0]!.test).toContain('vcTick');
  }, 60_000);

  it('after a pass, grades the same code on fresh seed families in the background and says so, without recording anything', async () => {
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    const confidence = async (code: string) => {
      saveByRename(stub, code);
      const io = testIo({ DLAB_DB: course.db }, course.root);
      const ctx = createContext(io, course.root);
      const events = () =>
        io
          .out()
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as WatchEvent);
      let stop: () => void = () => undefined;
      const until = new Promise<void>((r) => (stop = r));
      const done = watch(ctx, ID, { json: true, until });
      for (let i = 0; i < 600 && !events().some((e) => e.event === 'confidence'); i++) await new Promise((r) => setTimeout(r, 50));
      const attempts = ctx.store().attempts(ID).length;
      stop();
      await done;
      ctx.close();
      return { events: events(), attempts };
    };
    const ok = await confidence(reference);
    expect(ok.events.filter((e) => e.event === 'verdict').map((e) => e.event === 'verdict' && e.passed)).toEqual([true]);
    expect(ok.events.find((e) => e.event === 'confidence')).toEqual({ event: 'confidence', id: ID, families: CONFIDENCE_FAMILIES, passed: CONFIDENCE_FAMILIES });
    // Code that is right on the fixed seeds and wrong on every other family: the pass stands, the families say why not.
    const lucky = reference.replace(
      /export function vcTick\(([^)]*)\): VC \{/,
      "export function vcTick($1): VC {\n  if (process.env['DLAB_SEED_SHIFT'] !== '0') return { ...v };",
    );
    const before = ok.attempts;
    const bad = await confidence(lucky);
    const c = bad.events.find((e) => e.event === 'confidence');
    expect(bad.events.filter((e) => e.event === 'verdict').map((e) => e.event === 'verdict' && e.passed)).toEqual([true]);
    expect(c?.event === 'confidence' && c.passed).toBe(0);
    expect(c?.event === 'confidence' && c.failed?.failure.test).toContain('vcTick');
    expect(c?.event === 'confidence' && c.failed?.seedShift).toBeGreaterThan(0);
    // One attempt for the new code, none for the background runs.
    expect(bad.attempts).toBe(before + 1);
    saveByRename(stub, reference);
  }, 120_000);

  it('after a pass, "Next:" names the exercise `dlab next` opens, and says what to do without a terminal', async () => {
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    saveByRename(stub, readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8'));
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    expect(await watch(ctx, ID, { maxRuns: 1 })).toBe(0);
    const named = /Next: npx dlab next\s+\(([^:]+):/.exec(io.out())?.[1];
    expect(named, io.out()).toBeDefined();
    expect(io.out()).not.toContain('Press d');
    const nextIo = testIo({ DLAB_DB: course.db }, course.root);
    const nextCtx = createContext(nextIo, course.root);
    await next(nextCtx);
    expect(nextIo.out().split('\n')[1]).toMatch(new RegExp(`^${named}: `));
    expect(ctx.store().current()).toBe(named);
    ctx.close();
    nextCtx.close();
  }, 60_000);

  it('stops at once on Ctrl-C in the middle of a run, killing the grader and recording nothing', async () => {
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    const stub = join(course.root, 'exercises', `${ID}.ts`);
    const reference = readFileSync(join(course.root, 'solutions', `${ID}.ts`), 'utf8');
    saveByRename(stub, reference.replace('export function vcMerge(a: VC, b: VC): VC {', 'export function vcMerge(a: VC, b: VC): VC {\n  while (true) {}'));
    const before = ctx.store().progress().get(ID)?.attempts ?? 0;
    const done = watch(ctx, ID, { json: true });
    for (let i = 0; i < 400 && !io.out().includes('run-start'); i++) await new Promise((r) => setTimeout(r, 25));
    // Let the run reach the loop, then interrupt it as a terminal's Ctrl-C would.
    await new Promise((r) => setTimeout(r, 300));
    process.emit('SIGINT');
    // 128 + SIGINT, as a shell reports a program stopped by Ctrl-C.
    expect(await done).toBe(130);
    expect(io.out()).not.toContain('"verdict"');
    expect(ctx.store().progress().get(ID)?.attempts ?? 0).toBe(before);
    ctx.close();
  }, 60_000);

  it('exits 143 on SIGTERM', async () => {
    const io = testIo({ DLAB_DB: course.db }, course.root);
    const ctx = createContext(io, course.root);
    const done = watch(ctx, ID, { json: true });
    for (let i = 0; i < 400 && !io.out().includes('run-start'); i++) await new Promise((r) => setTimeout(r, 25));
    process.emit('SIGTERM');
    expect(await done).toBe(143);
    ctx.close();
  }, 60_000);
});
