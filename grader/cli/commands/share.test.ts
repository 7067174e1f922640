// `dlab share` and `dlab replay --file`: a learner's failing case in one file, replayed byte for byte in
// another copy of the course; other versions replay with a note; anything else is bad input.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempCourse, type TempCourse } from '../../testing/temp-course.ts';
import { createContext, type Context } from '../context.ts';
import { main } from '../main.ts';
import { testIo } from '../test-io.ts';
import { replay } from './grade.ts';
import { courseVersion, replayFile, share, type SharedCase } from './share.ts';

const ID = '03-time-and-causality/01-vector-clocks';
const STUB = `exercises/${ID}.ts`;

async function run(course: TempCourse, fn: (ctx: Context) => Promise<number>) {
  const io = testIo({ DLAB_DB: course.db }, course.root);
  const ctx = createContext(io, course.root);
  try {
    const code = await fn(ctx);
    return { code, out: io.out(), err: io.err() };
  } finally {
    ctx.close();
  }
}

/** A wrong vcCompare: entries compared as strings ("10" < "9"), and a missing entry as the empty string. */
function wrong(reference: string): string {
  const from = '    const x = entry(a, node);\n    const y = entry(b, node);\n';
  expect(reference).toContain(from);
  return reference.replace(from, "    const x = String(a[node] ?? '');\n    const y = String(b[node] ?? '');\n");
}

describe('dlab share, then dlab replay --file elsewhere', () => {
  let a: TempCourse;
  let b: TempCourse;
  beforeAll(() => {
    a = tempCourse();
    b = tempCourse();
  });
  afterAll(() => {
    a.dispose();
    b.dispose();
  });

  it('writes the code, seed, path, version and headline; a fresh course replays it with the same bytes', async () => {
    const code = wrong(readFileSync(join(a.root, 'solutions', `${ID}.ts`), 'utf8'));
    writeFileSync(join(a.root, STUB), code);
    const file = join(a.root, 'case.json');
    const s = await run(a, (ctx) => share(ctx, ID, { out: 'case.json', json: true }));
    expect(s.code).toBe(0);
    const printed = JSON.parse(s.out) as Record<string, unknown>;
    const shared = JSON.parse(readFileSync(file, 'utf8')) as SharedCase;
    expect(printed).toEqual({ file: 'case.json', id: ID, version: courseVersion(a.root), passed: false, headline: shared.headline, seed: shared.seed, path: shared.path });
    expect(shared).toMatchObject({ dlab: 'shared case', format: 1, id: ID, version: courseVersion(a.root), passed: false, files: { [STUB]: code } });
    expect(shared.seed).toEqual(expect.any(Number));
    expect(shared.path).toMatch(/^\d+(:\d+)*$/);
    expect(shared.headline).toMatch(/^vector clocks > .*: Property violated: /);
    // Sharing graded it as check does: the attempt is in the progress store.
    const attempts = await run(a, async (ctx) => ctx.store().attempts(ID).length);
    expect(attempts.code).toBe(1);

    const theirs = readFileSync(join(b.root, STUB), 'utf8');
    const here = await run(a, (ctx) => replay(ctx, ID, { seed: String(shared.seed), path: shared.path ?? undefined }));
    expect(here.code).toBe(1);
    expect(here.out).toContain('Property violated');
    const there = await run(b, (ctx) => replayFile(ctx, file, { json: false }));
    expect(there).toEqual({ code: 1, out: here.out, err: '' });
    // The learner's own file in the other course is untouched: the shared code went to a scratch folder.
    expect(readFileSync(join(b.root, STUB), 'utf8')).toBe(theirs);

    // From another version: it still replays, the same bytes, and says the versions differ.
    const old = join(b.root, 'old.json');
    writeFileSync(old, JSON.stringify({ ...shared, version: '0.0.1' }));
    const r = await run(b, (ctx) => replayFile(ctx, old, { json: true }));
    expect(r.code).toBe(1);
    expect((JSON.parse(r.out) as { report: string }).report).toBe(here.out);
    expect(r.err).toBe(`dlab: note: old.json was shared from dlab 0.0.1, and this is dlab ${courseVersion(b.root)}: it replays, but where the versions differ the trace may too\n`);
  }, 300_000);

  it('without a failure to replay, share says so, and replay --file offers to grade the code instead', async () => {
    const reference = readFileSync(join(a.root, 'solutions', `${ID}.ts`), 'utf8');
    writeFileSync(join(a.root, STUB), reference);
    // The last attempt graded these very files and passed: share reuses it, without grading.
    await run(a, async (ctx) => {
      ctx.store().recordAttempt({ exerciseId: ID, durationMs: 1, target: 'exercises', passed: true, tests: 4, files: { [STUB]: reference } });
      return 0;
    });
    const t0 = performance.now();
    const s = await run(a, (ctx) => share(ctx, ID, { out: 'pass.json', json: false }));
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(s.code).toBe(0);
    expect(s.out).toContain('Wrote pass.json: your code (1 file), it passes, dlab');
    expect(s.out).not.toContain('replay --file');
    const r = run(b, (ctx) => replayFile(ctx, join(a.root, 'pass.json'), { json: false }));
    await expect(r).rejects.toMatchObject({
      error: { code: 'bad-usage', message: expect.stringContaining('pass.json has no failing case to replay (its code passed)'), next: expect.stringMatching(/^grade its code with: npx dlab check 03-time-and-causality\/01-vector-clocks --target \S*\.dlab\/share\/[0-9a-f]+\/exercises$/) },
    });
  }, 120_000);
});

describe('dlab replay --file: bad input (exit 2, one line and the next step)', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'dlab-share-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function dlab(...argv: string[]) {
    const io = testIo({ DLAB_DB: join(dir, 'progress.db') }, dir);
    const code = await main(argv, io);
    return { code, out: io.out(), err: io.err() };
  }
  const good = { dlab: 'shared case', format: 1, version: '0.1.0', id: ID, files: { [STUB]: 'x' }, passed: false, headline: 'h', seed: 303, path: '0' };
  const write = (name: string, body: unknown) => writeFileSync(join(dir, name), typeof body === 'string' ? body : JSON.stringify(body));

  it.each([
    ['missing.json', undefined, 'cannot read missing.json: no such file'],
    ['text.json', 'not json', 'text.json is not JSON, so not a case `dlab share` wrote'],
    ['export.json', { exercises: [] }, 'cannot replay export.json: it is not a case `dlab share` wrote'],
    ['seed.json', { ...good, seed: -1 }, 'cannot replay seed.json: its seed is not a whole number'],
    ['stray.json', { ...good, files: { '../../etc/passwd': 'x' } }, `cannot replay stray.json: ../../etc/passwd is not a file of ${ID}`],
  ])('%s', async (name, body, message) => {
    if (body !== undefined) write(name, body);
    const r = await dlab('replay', '--file', name);
    expect(r.code).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toMatch(/^dlab: [^\n]+\n {2}next: [^\n]+\n$/);
    expect(r.err).toContain(message);
  });

  it('an exercise this course does not have; an id or seed beside --file', async () => {
    write('other.json', { ...good, id: '09-nope/01-nothing' });
    const r = await dlab('replay', '--file', 'other.json', '--json');
    expect(r.code).toBe(2);
    expect(JSON.parse(r.out)).toMatchObject({ error: { code: 'unknown-exercise', message: 'other.json is a case of 09-nope/01-nothing, which this course does not have' } });
    write('good.json', good);
    expect((await dlab('replay', ID, '--file', 'good.json')).err).toContain(`replay --file takes its exercise, seed and path from the file, so not ${ID}`);
    expect((await dlab('replay', '--file', 'good.json', '--seed', '3')).err).toContain('so not --seed');
  });

  it('share and replay --file have their help', async () => {
    const share = await dlab('share', '--help');
    expect(share.out).toContain('Usage: dlab share [id] [--out FILE] [--json]');
    expect((await dlab('replay', '--help')).out).toMatch(/\n {2}--file F +instead of <id> and --seed: a case `dlab share` wrote\n/);
  });
});
