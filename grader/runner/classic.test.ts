// "This looks like a classic mistake": signatures, matching, the cache, the words, and the line in check,
// check --json and watch; `dlab verify` writes the cache as a side effect.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CATALOGUE } from '../catalogue.ts';
import { loadCourse, type Exercise } from '../core/course.ts';
import { ROOT } from '../core/paths.ts';
import { tempCourse, type TempCourse } from '../testing/temp-course.ts';
import { createContext } from '../cli/context.ts';
import { testIo } from '../cli/test-io.ts';
import { annotate, cachePath, classicFor, classicLine, loadSignatures, mask, matchSignature, mutantWords, resemblesOf, saveSignatures, signatureOf, type MutantSignature } from './classic.ts';
import { headline, type Verdict } from './grade.ts';

const VC = '03-time-and-causality/01-vector-clocks';
const NL = '01-foundations/00-network-lies';

function verdict(test: string, message: string, over: Partial<Verdict> = {}): Verdict {
  return { id: VC, target: 'exercises', kind: 'failed', passed: false, durationMs: 1, tests: 2, notRun: 0, failures: [{ test, message }], logs: [], ...over };
}

const course = () => {
  const r = loadCourse(ROOT);
  if (!r.ok) throw new Error(r.error.message);
  return r.value;
};

describe('signatures', () => {
  it('mask numbers and spacing, keep the words', () => {
    expect(mask('  safety violated at t=291.69 ms:  delivery #3 of 48 ')).toBe('safety violated at t=# ms: delivery ## of #');
  });

  it("a signature is the failing test, the report's first line, and its Why line (else its second line), shapes only", () => {
    const pure = signatureOf(verdict('t', "Property violated: p is 0\nCounterexample: [{\"a\":2}]\nWhy: vcCompare({a:2, b:0}): got 'after', expected 'concurrent'\nFound after 1 run"));
    expect(pure).toEqual({ test: 't', head: 'Property violated: p is #', detail: "Why: vcCompare({•:#, •:#}): got 'after', expected 'concurrent'" });
    const sim = signatureOf(verdict('t', '✗ every payload\n  safety violated at t=3 ms: b\'s delivery #3 from a was "ab3"\n\n  seed 9'));
    expect(sim?.detail).toBe('safety violated at t=# ms: •\'s delivery ## from • was "…"');
    expect(signatureOf(verdict('t', 'x', { kind: 'did-not-load' }))).toBeUndefined();
    expect(signatureOf(verdict('t', 'x', { kind: 'passed', passed: true, failures: [] }))).toBeUndefined();
  });

  it('matches the one mutant with the same test, first line and what-broke line; two alike, or none: nothing', () => {
    const sig = (test: string, head: string, detail: string) => ({ test, head, detail });
    const mutants: MutantSignature[] = [
      { name: 'one', signature: sig('t1', 'h', 'd1') },
      { name: 'two', signature: sig('t2', 'h', 'd2') },
      { name: 'three', signature: sig('t2', 'h', 'd3') },
      { name: 'four', signature: sig('t2', 'h', 'd3') },
      { name: 'passes', signature: null },
    ];
    expect(matchSignature(sig('t1', 'h', 'd1'), mutants)).toBe('one');
    expect(matchSignature(sig('t2', 'h', 'd2'), mutants)).toBe('two');
    // The same property, broken another way (an untouched stub's TODO, say): not that mistake.
    expect(matchSignature(sig('t1', 'h', 'Why: TODO: implement f'), mutants)).toBeUndefined();
    // Two mutants fail alike: a guess would mislead, so nothing is said.
    expect(matchSignature(sig('t2', 'h', 'd3'), mutants)).toBeUndefined();
    expect(matchSignature(sig('t3', 'h', 'd1'), mutants)).toBeUndefined();
  });
});

describe('words and the line', () => {
  it("words come from the catalogue's mutantNotes, else from the mutant's name", () => {
    const c = course();
    expect(mutantWords(c.byId.get(VC)!, 'compare-by-sum')).toBe('compare by sum');
    expect(mutantWords(c.byId.get(NL)!, 'fire-and-forget')).toBe(c.byId.get(NL)!.mutantNotes!['fire-and-forget']);
    expect(classicLine({ mutant: 'x', words: 'compare by sum' })).toBe('This looks like a classic mistake: compare by sum. Try hint 2 (npx dlab hint).');
  });

  it('every mutantNotes entry names a mutant of its exercise, and says nothing of the patch', () => {
    for (const ch of CATALOGUE) {
      for (const e of ch.exercises) {
        for (const [name, words] of Object.entries(e.mutantNotes ?? {})) {
          expect(e.mutants, `${ch.slug}/${e.slug}: mutantNotes names '${name}'`).toContain(name);
          expect(words).not.toMatch(/patch|mutant|BUG/i);
        }
      }
    }
  });

  it("the line goes at the end of the report's first paragraph; the first line (the headline) is unchanged", () => {
    const c = { mutant: 'm', words: 'w' };
    const sim = verdict('t', '✗ property\n  safety violated\n\n  seed 1\n  diagram');
    const a = annotate(sim, c);
    expect(a.failures[0]!.message).toBe(`✗ property\n  safety violated\n  ${classicLine(c)}\n\n  seed 1\n  diagram`);
    expect(headline(a)).toBe(headline(sim));
    expect(resemblesOf(a)).toEqual(c);
    expect(resemblesOf(sim)).toBeUndefined();
    const pure = verdict('t', 'Property violated: p\nWhy: w\nReplay: r');
    expect(annotate(pure, c).failures[0]!.message).toBe(`Property violated: p\nWhy: w\nReplay: r\n${classicLine(c)}`);
    // A long first paragraph: right under the first line, where a report cut to the screen still shows it.
    const long = verdict('t', ['head', ...Array.from({ length: 30 }, (_, i) => `  line ${i}`)].join('\n'));
    expect(annotate(long, c).failures[0]!.message.split('\n')[1]).toBe(`  ${classicLine(c)}`);
  });
});

describe('the cache', () => {
  let tmp: TempCourse;
  let nl: Exercise;
  beforeAll(() => {
    tmp = tempCourse();
    const r = loadCourse(tmp.root);
    if (!r.ok) throw new Error(r.error.message);
    nl = r.value.byId.get(NL)!;
  });
  afterAll(() => tmp.dispose());

  it('is named by the hidden test, the reference and the patches: a changed patch is a new file', () => {
    const before = cachePath(nl, tmp.root);
    const patch = join(nl.paths.mutantsDir, `${nl.mutants[0]}.patch`);
    const text = readFileSync(patch, 'utf8');
    writeFileSync(patch, `${text}\n`);
    expect(cachePath(nl, tmp.root)).not.toBe(before);
    writeFileSync(patch, text);
    expect(cachePath(nl, tmp.root)).toBe(before);
  });

  it('a simulation exercise without the cache says nothing and grades nothing (too dear); with it, it matches', async () => {
    const sim = (detail: string) => ({ ...verdict('perfect network', `✗ every payload\n  ${detail}\n\n  seed 1003`), id: NL });
    const t0 = performance.now();
    expect(await classicFor(nl, sim('c got nothing'), tmp.root)).toBeUndefined();
    expect(performance.now() - t0).toBeLessThan(1_000);
    expect(loadSignatures(nl, tmp.root)).toBeUndefined();
    // The cache as `dlab verify` leaves it: one verdict per mutant.
    const verdicts = new Map(nl.mutants.map((m, i) => [m, sim(i === 0 ? 'c got nothing at t=7 ms' : `other ${m}`)]));
    expect(saveSignatures(nl, tmp.root, verdicts)).toBe(true);
    // The same shape, other numbers (and another node): the same mistake.
    expect(await classicFor(nl, sim('b got nothing at t=12 ms'), tmp.root)).toEqual({ mutant: nl.mutants[0], words: mutantWords(nl, nl.mutants[0]!) });
    expect(await classicFor(nl, sim('b got two at t=12 ms'), tmp.root)).toBeUndefined();
  });
});

describe('in check, check --json and watch (vector clocks, a pure exercise)', () => {
  let tmp: TempCourse;
  beforeAll(() => {
    tmp = tempCourse();
  });
  afterAll(() => tmp.dispose());

  /** A total order in place of happens-before, written otherwise than the mutant: the sum of the counters, by loops. */
  const sumBug = () => {
    const ref = readFileSync(join(tmp.root, 'solutions', `${VC}.ts`), 'utf8');
    const start = ref.indexOf('/** How two clocks are ordered');
    const end = ref.indexOf('/** The vector clock of every event');
    expect(start).toBeGreaterThan(0);
    expect(end).toBeGreaterThan(start);
    const mine = [
      'export function vcCompare(a: VC, b: VC): Order {',
      '  let sa = 0;',
      '  let sb = 0;',
      '  for (const k in a) sa += a[k]!;',
      '  for (const k in b) sb += b[k]!;',
      "  return sa < sb ? 'before' : sa > sb ? 'after' : 'equal';",
      '}',
      '',
      '',
    ].join('\n');
    return ref.slice(0, start) + mine + ref.slice(end);
  };

  async function run<T>(fn: (ctx: ReturnType<typeof createContext>) => Promise<T>) {
    const io = testIo({ DLAB_DB: tmp.db }, tmp.root);
    const ctx = createContext(io, tmp.root);
    try {
      const code = await fn(ctx);
      return { code, out: io.out(), err: io.err() };
    } finally {
      ctx.close();
    }
  }

  it('verify saves the signatures; check reads them, adds the line, and check --json says what it resembles', async () => {
    const { verify } = await import('../cli/commands/verify.ts');
    await run((ctx) => verify(ctx, { json: true, only: VC, seeds: 0, cache: false }));
    const ex = loadCourse(tmp.root);
    if (!ex.ok) throw new Error(ex.error.message);
    const vc = ex.value.byId.get(VC)!;
    const sigs = loadSignatures(vc, tmp.root);
    expect(sigs?.map((s) => s.name)).toEqual(vc.mutants);
    expect(sigs?.every((s) => s.signature !== null)).toBe(true);

    writeFileSync(join(tmp.root, 'exercises', `${VC}.ts`), sumBug());
    const { check } = await import('../cli/commands/grade.ts');
    const text = await run((ctx) => check(ctx, VC, { json: false }));
    expect(text.code).toBe(1);
    expect(text.out).toContain('This looks like a classic mistake: compare by sum. Try hint 2 (npx dlab hint).');
    // Neither the reference nor the patch is shown.
    expect(text.out).not.toContain('.patch');
    expect(text.out).not.toContain('entry(a, node)');
    const json = await run((ctx) => check(ctx, VC, { json: true }));
    expect((JSON.parse(json.out) as { resembles?: string }).resembles).toBe('compare-by-sum');

    // check read the file verify wrote (it did not grade the mutants again): tampered words come through.
    const path = cachePath(vc, tmp.root);
    const file = JSON.parse(readFileSync(path, 'utf8')) as { mutants: Array<{ name: string }> };
    for (const m of file.mutants) if (m.name === 'compare-by-sum') m.name = 'receive-without-tick';
    writeFileSync(path, JSON.stringify(file));
    const tampered = await run((ctx) => check(ctx, VC, { json: false }));
    expect(tampered.out).toContain('This looks like a classic mistake: receive without tick.');
  }, 300_000);

  it('watch shows the line under the verdict', async () => {
    const { rmSync } = await import('node:fs');
    rmSync(join(tmp.root, '.dlab', 'cache', 'classic'), { recursive: true, force: true });
    writeFileSync(join(tmp.root, 'exercises', `${VC}.ts`), sumBug());
    const { watch } = await import('../cli/commands/watch.ts');
    // No cache: a pure exercise computes it, once, with the watch's own workers.
    const r = await run((ctx) => watch(ctx, VC, { maxRuns: 1 }));
    expect(r.out).toContain('This looks like a classic mistake: compare by sum. Try hint 2 (npx dlab hint).');
  }, 300_000);
});
