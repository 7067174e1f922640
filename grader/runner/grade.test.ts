// The runner against real hidden tests: verdicts as values, time-outs that kill, load errors in one line.
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadCourse, type Exercise } from '../core/course.ts';
import { grade } from './grade.ts';
import { GradingSession } from './run-jobs.ts';
import { mutantTarget } from './targets.ts';

let dir: string;
let ex: Exercise;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'dlab-grade-'));
  const c = loadCourse();
  if (!c.ok) throw new Error(c.error.message);
  ex = c.value.byId.get('03-time-and-causality/01-vector-clocks')!;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function implWith(edit: (src: string) => string): string {
  const file = join(dir, `impl-${Math.random().toString(36).slice(2)}.ts`);
  writeFileSync(file, edit(readFileSync(ex.paths.solution, 'utf8')));
  return file;
}

describe('grade', () => {
  it('passes the reference and fails the stub, as values', async () => {
    const sol = await grade(ex, { kind: 'solutions' });
    expect(sol.ok && sol.value.passed).toBe(true);
    const stub = await grade(ex, { kind: 'exercises' });
    expect(stub.ok && stub.value.kind).toBe('failed');
    if (stub.ok) expect(stub.value.failures[0]!.message).toContain('TODO: implement');
  });

  it('kills a synchronous infinite loop and names the test it was in', async () => {
    const file = implWith((s) => s.replace('export function vcMerge(a: VC, b: VC): VC {', 'export function vcMerge(a: VC, b: VC): VC {\n  while (true) {}'));
    // The limit is CPU time, so the verdict is the same on a busy machine; a short one keeps this test quick.
    const r = await grade({ ...ex, limitMs: 1_000 }, { kind: 'path', path: file });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.value.kind).toBe('timed-out');
    expect(r.value.failures[0]!.test).toBe('vector clocks > vcMerge is the entry-wise maximum (so it is commutative, associative and idempotent)');
    expect(r.value.failures[0]!.message).toMatch(/^timed out in vector clocks > vcMerge .*: it used more than 1 s of CPU time/);
  });

  it('stops at the first failing test unless asked for all, and reports the rest as not run', async () => {
    const file = implWith((s) => s.replace(/export function vcTick\(([^)]*)\): VC \{/, 'export function vcTick($1): VC {\n  throw new Error("tick broke");'));
    const first = await grade(ex, { kind: 'path', path: file });
    expect(first.ok && first.value.failures.map((f) => f.test)).toEqual(['vector clocks > vcTick adds one to the ticking node and changes nothing else']);
    if (first.ok) expect(first.value.notRun).toBeGreaterThan(0);
    const all = await grade(ex, { kind: 'path', path: file }, { all: true });
    expect(all.ok && all.value.failures.length).toBeGreaterThan(1);
    if (all.ok) expect(all.value.notRun).toBe(0);
  });

  it('fails a run whose code leaves a rejected promise nobody awaited', async () => {
    const file = implWith((s) => s.replace(/export function vcTick\(([^)]*)\): VC \{/, 'export function vcTick($1): VC {\n  void Promise.reject(new Error("floating boom"));'));
    const r = await grade(ex, { kind: 'path', path: file });
    expect(r.ok && r.value.passed).toBe(false);
    if (r.ok) expect(r.value.failures.some((f) => f.test.startsWith('(an error nobody caught') && f.message.includes('floating boom'))).toBe(true);
  });

  it('keeps one warm worker across runs in a session and reads the changed file each time', async () => {
    const session = new GradingSession();
    try {
      const file = join(dir, 'watched.ts');
      writeFileSync(file, readFileSync(ex.paths.stub, 'utf8'));
      const a = await grade(ex, { kind: 'path', path: file }, {}, undefined, session);
      writeFileSync(file, readFileSync(ex.paths.solution, 'utf8'));
      const b = await grade(ex, { kind: 'path', path: file }, {}, undefined, session);
      writeFileSync(file, readFileSync(ex.paths.stub, 'utf8'));
      const c = await grade(ex, { kind: 'path', path: file }, {}, undefined, session);
      expect([a.ok && a.value.passed, b.ok && b.value.passed, c.ok && c.value.passed]).toEqual([false, true, false]);
    } finally {
      session.close();
    }
  });

  it('stops code whose memory grows without bound and says it ran out of memory', async () => {
    const file = implWith((s) =>
      s.replace('export function vcMerge(a: VC, b: VC): VC {', 'const hoard: number[][] = [];\nexport function vcMerge(a: VC, b: VC): VC {\n  for (;;) hoard.push(new Array(1000).fill(hoard.length));'),
    );
    // A small heap keeps this test quick; the real limit is HEAP_LIMIT_MB.
    const session = new GradingSession({ heapLimitMb: 64 });
    try {
      const r = await grade(ex, { kind: 'path', path: file }, {}, undefined, session);
      expect(r.ok && r.value.kind).toBe('crashed');
      if (r.ok) expect(r.value.failures[0]!.message).toMatch(/^vector clocks > vcMerge .* ran out of memory: it used more than the 64 MB the test process may use/);
    } finally {
      session.close();
    }
  });

  it('reports a syntax error as code that did not load, with the file and line', async () => {
    const file = implWith((s) => s.replace('return { ...v, [me]: entry(v, me) + 1 };', 'return { ...v, [me]: entry(v, me) + 1 ;'));
    const r = await grade(ex, { kind: 'path', path: file });
    expect(r.ok && r.value.kind).toBe('did-not-load');
    if (r.ok) expect(r.value.failures[0]!.message).toContain(file.split('/').pop()!);
  });

  it('reports a throw at import time as code that did not load', async () => {
    const file = implWith((s) => `${s}\nthrow new Error('boom at load');\n`);
    const r = await grade(ex, { kind: 'path', path: file });
    expect(r.ok && r.value.kind).toBe('did-not-load');
    if (r.ok) expect(r.value.failures[0]!.message).toContain('boom at load');
  });

  it('rejects a mutant with the property it breaks, and refuses a patch that no longer applies', async () => {
    const r = await grade(ex, mutantTarget(ex, 'compare-by-sum'));
    expect(r.ok && r.value.passed).toBe(false);
    if (r.ok) expect(r.value.failures.map((f) => f.test)).toEqual(['vector clocks > vcCompare is the happens-before order on clocks, with concurrency']);
    const stale = join(dir, 'stale.patch');
    writeFileSync(stale, readFileSync(mutantTarget(ex, 'compare-by-sum').kind === 'mutant' ? join(ex.paths.mutantsDir, 'compare-by-sum.patch') : '', 'utf8').replace(/let aSmaller/g, 'let aSmallr'));
    const bad = await grade(ex, { kind: 'mutant', name: 'stale', patch: stale });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.error.code).toBe('mutant-does-not-apply');
  });
});

describe('grade, split across two workers', () => {
  const summary = (r: Awaited<ReturnType<typeof grade>>) =>
    r.ok ? { kind: r.value.kind, passed: r.value.passed, tests: r.value.tests, notRun: r.value.notRun, failures: r.value.failures.map((f) => f.test) } : r.error.code;

  it('gives the verdict one worker gives, whichever shard the first failure is in', async () => {
    const mergeBroken = (s: string) => s.replace(/export function vcMerge\(([^)]*)\): VC \{/, 'export function vcMerge($1): VC {\n  throw new Error("merge broke");');
    const targets = [
      { kind: 'solutions' } as const,
      // vcCompare (the third test, on the first shard) fails.
      mutantTarget(ex, 'compare-by-sum'),
      // vcMerge (the second test, on the second shard) fails.
      { kind: 'path', path: implWith(mergeBroken) } as const,
      // Both fail: only the earlier one in file order is reported, as one worker stops there.
      { kind: 'path', path: implWith((s) => mergeBroken(s).replace(/export function vcCompare\(([^)]*)\): Order \{/, 'export function vcCompare($1): Order {\n  throw new Error("compare broke");')) } as const,
    ];
    // Warm workers, as watch mode has: the verdicts are the same, and the test is quicker.
    const session = new GradingSession({ maxWorkers: 2 });
    try {
      for (const t of targets) {
        const one = summary(await grade(ex, t, {}, undefined, session));
        const two = summary(await grade(ex, t, { shards: 2 }, undefined, session));
        expect(two).toEqual(one);
      }
      const everything = summary(await grade(ex, targets[3]!, { all: true }, undefined, session));
      expect(typeof everything === 'object' && everything.failures.length).toBeGreaterThanOrEqual(2);
      const both = summary(await grade(ex, targets[3]!, { shards: 2 }, undefined, session));
      expect(typeof both === 'object' && both.failures).toEqual(['vector clocks > vcMerge is the entry-wise maximum (so it is commutative, associative and idempotent)']);
    } finally {
      session.close();
    }
  });

  it('names the test that looped, on either shard', async () => {
    const file = implWith((s) => s.replace('export function vcMerge(a: VC, b: VC): VC {', 'export function vcMerge(a: VC, b: VC): VC {\n  while (true) {}'));
    const r = await grade({ ...ex, limitMs: 1_000 }, { kind: 'path', path: file }, { shards: 2 });
    expect(r.ok && r.value.kind).toBe('timed-out');
    if (r.ok) expect(r.value.failures[0]!.test).toBe('vector clocks > vcMerge is the entry-wise maximum (so it is commutative, associative and idempotent)');
  });
});
