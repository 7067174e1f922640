// The determinism self-check: a failing simulation case is replayed twice (sharing the learner's module), and
// two different traces are reported with the first differing line of each and the likely cause.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createContext } from '../cli/context.ts';
import { testIo } from '../cli/test-io.ts';
import { tempCourse, type TempCourse } from '../testing/temp-course.ts';
import { determinismLines, firstDifference, likelyCauses, replayCaseOf, type Determinism } from './determinism.ts';

const NL = '01-foundations/00-network-lies';

describe('pieces', () => {
  it('the first differing line of two traces, 1-based; a trace that ends early says so', () => {
    expect(firstDifference('a\nb\nc', 'a\nb\nc')).toBeUndefined();
    expect(firstDifference('a\nb\nc', 'a\nx\nc')).toEqual({ line: 2, first: 'b', second: 'x' });
    expect(firstDifference('a\nb', 'a\nb\nc')).toEqual({ line: 3, first: '(the trace ends here)', second: 'c' });
  });

  it('the case of a failure: its seed, and the path of its replay command', () => {
    expect(replayCaseOf({ test: 't', message: 'm', seed: 1003, replay: 'npx dlab replay x --seed 1003 --path 0:0 --target y' })).toEqual({ seed: 1003, path: '0:0' });
    expect(replayCaseOf({ test: 't', message: 'm', seed: 7, replay: 'npx dlab replay x --seed 7' })).toEqual({ seed: 7 });
    expect(replayCaseOf({ test: 't', message: 'm' })).toBeUndefined();
    expect(replayCaseOf(undefined)).toBeUndefined();
  });

  it('likely causes found in the file come first, with their place; comments and handler-local state do not count', () => {
    const found = likelyCauses({
      'x.ts': [
        '// let notState = 1; Math.random()',
        "import { setTimeout as later } from 'node:timers/promises';",
        'const seen = new Map<string, number>();',
        'export class Node {',
        '  private readonly local = new Map();',
        '  stamp() { return Date.now(); }',
        '}',
        'let counter = 0;',
        'const rand = Math.random;',
      ].join('\n'),
    });
    expect(found.map((c) => [c.what.split(' ')[0], c.where])).toEqual([
      ['module-level', 'x.ts:3 (`seen`)'],
      ['Math.random()', 'x.ts:9'],
      ['the', 'x.ts:6'],
      ['a', 'x.ts:2'],
    ]);
    expect(likelyCauses({ 'y.ts': 'export class A {\n  private n = 0;\n}\n' }).every((c) => c.where === undefined)).toBe(true);
  });

  it('the words name the case, the first differing line of each replay, and the cause', () => {
    const d: Determinism = {
      seed: 9,
      path: '0:1',
      deterministic: false,
      finding: 'differs',
      line: 12,
      first: '   8.000  a→c #1 send {seq:3}',
      second: '   8.000  a→c #1 send {seq:5}',
      causes: likelyCauses({ 'e.ts': 'let seq = 0;\n' }),
    };
    const text = determinismLines(d).join('\n');
    expect(text).toContain('Your code is not deterministic: the failing case (seed 9, path 0:1) was replayed twice, and the two traces differ.');
    expect(text).toContain('first difference, line 12 of the trace:\n    1st replay: 8.000  a→c #1 send {seq:3}\n    2nd replay: 8.000  a→c #1 send {seq:5}');
    expect(text).toContain('Likely cause: module-level state carried between runs, at e.ts:1 (`seq`).');
    expect(determinismLines({ ...d, deterministic: true, finding: undefined as never, causes: [] })).toEqual([]);
  });
});

describe('on a simulation exercise (the network lies)', () => {
  let tmp: TempCourse;
  let reference: string;
  beforeAll(() => {
    tmp = tempCourse();
    reference = readFileSync(join(tmp.root, 'solutions', `${NL}.ts`), 'utf8');
  });
  afterAll(() => tmp.dispose());

  function edit(text: string, from: string, to: string): string {
    expect(text, `the reference no longer holds: ${from}`).toContain(from);
    return text.replace(from, to);
  }

  /** One sequence counter at module level, for every link and every run: frames are numbered differently each run. */
  const moduleState = () =>
    edit(
      edit(edit(reference, 'const RETRANSMIT_MS = 30;\n', 'const RETRANSMIT_MS = 30;\n\nlet lastSeq = 0;\n'), '    const seq = (this.lastSeq.get(to) ?? 0) + 1;\n    this.lastSeq.set(to, seq);\n', '    const seq = ++lastSeq;\n'),
      '  private readonly lastSeq = new Map<NodeId, number>();\n',
      '',
    );

  /** The real Math.random kept at import (out of the simulator's reach) for a nonce on every frame; and no reorder buffer. */
  const realRandom = () =>
    edit(
      edit(
        edit(reference, 'const RETRANSMIT_MS = 30;\n', 'const RETRANSMIT_MS = 30;\n\nconst random = Math.random;\n'),
        "    this.ctx.send(to, { kind: 'data', seq, payload: p });",
        "    this.ctx.send(to, { kind: 'data', seq, payload: p, nonce: Math.floor(random() * 1e6) } as Frame<P>);",
      ),
      '    } else if (frame.seq > done + 1) {',
      '    } else if (frame.seq < 0) {',
    );

  async function run(fn: (ctx: ReturnType<typeof createContext>) => Promise<number>) {
    const io = testIo({ DLAB_DB: tmp.db }, tmp.root);
    const ctx = createContext(io, tmp.root);
    try {
      const code = await fn(ctx);
      return { code, out: io.out(), err: io.err() };
    } finally {
      ctx.close();
    }
  }

  let replayLine: RegExpExecArray | null = null;

  it('check: module-level state makes the two replays differ; the verdict says so, with both lines and the cause', async () => {
    writeFileSync(join(tmp.root, 'exercises', `${NL}.ts`), moduleState());
    const { check } = await import('../cli/commands/grade.ts');
    const r = await run((ctx) => check(ctx, NL, { json: false }));
    expect(r.code).toBe(1);
    replayLine = / --seed (\d+) --path (\S+)/.exec(r.out);
    expect(replayLine).not.toBeNull();
    expect(r.out).toContain(`Your code is not deterministic: the failing case (seed ${replayLine![1]}, path ${replayLine![2]}) was replayed twice, and the two traces differ.`);
    expect(r.out).toMatch(/\n {4}1st replay: .+\n {4}2nd replay: .+\n/);
    expect(r.out).toContain(`Likely cause: module-level state carried between runs, at exercises/${NL}.ts:`);
    expect(r.out).toContain('(`lastSeq`)');
  }, 300_000);

  it('replay: real randomness kept from import time differs too (--json); a deterministic mutant does not', async () => {
    expect(replayLine).not.toBeNull();
    const [, seed, path] = replayLine!;
    const file = join(tmp.root, 'random-nonce.ts');
    const text = realRandom();
    writeFileSync(file, text);
    const at = text.split('\n').indexOf('const random = Math.random;') + 1;
    const { replay } = await import('../cli/commands/grade.ts');
    const r = await run((ctx) => replay(ctx, NL, { seed, path, target: file, json: true }));
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as { report: string; determinism: Determinism };
    expect(j.determinism).toMatchObject({ seed: Number(seed), path, deterministic: false, finding: 'differs' });
    expect(j.determinism.first).not.toBe(j.determinism.second);
    expect(j.determinism.causes[0]).toEqual({ what: expect.stringContaining('Math.random()'), where: `random-nonce.ts:${at}` });

    const m = await run((ctx) => replay(ctx, NL, { seed, path, target: 'mutant:no-reorder-buffer', json: true }));
    expect(m.code).toBe(1);
    expect((JSON.parse(m.out) as { determinism: Determinism }).determinism).toEqual({ seed: Number(seed), path, deterministic: true, causes: [] });
  }, 300_000);
});
