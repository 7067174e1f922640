// Unit tests of the checker: semantics of ok/fail/info, budgets, partitions, custom models, rendering, assertion.
import { describe, expect, it } from 'vitest';
import type { History, HistoryEvent } from '../history/types.ts';
import { PropertyFailure } from '../report.ts';
import { assertLinearizable } from './assert.ts';
import { checkLinearizable, validateHistory } from './checker.ts';
import { defineModel } from './model.ts';
import { casRegisterModel, kvModel, registerModel } from './models.ts';

/** Builds a history from `[process, type, f, value]` rows, in order. */
function h(...rows: [number, HistoryEvent['type'], string, unknown][]): History {
  return rows.map(([process, type, f, value]) => ({ process, type, f, value }));
}

describe('register semantics', () => {
  it('accepts reads that overlap a write returning either value, and rejects going back', () => {
    // From the MIT 6.824 quiz porcupine uses: a write overlapping two reads.
    const ok = h(
      [0, 'invoke', 'write', 100],
      [1, 'invoke', 'read', null],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 0],
      [1, 'ok', 'read', 100],
      [0, 'ok', 'write', 100],
    );
    expect(checkLinearizable(ok, registerModel(0)).verdict).toBe('linearizable');
    const bad = h(
      [0, 'invoke', 'write', 200],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 200],
      [2, 'invoke', 'read', null],
      [2, 'ok', 'read', 0],
      [0, 'ok', 'write', 200],
    );
    expect(checkLinearizable(bad, registerModel(0)).verdict).toBe('not-linearizable');
  });

  it('drops failed operations: a failed write did not happen', () => {
    const hist = h([0, 'invoke', 'write', 1], [0, 'fail', 'write', 1], [1, 'invoke', 'read', null], [1, 'ok', 'read', 1]);
    expect(checkLinearizable(hist, registerModel()).verdict).toBe('not-linearizable');
  });

  it('lets an info operation take effect late, or never', () => {
    const late = h(
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', ':timed-out'],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', null],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    expect(checkLinearizable(late, registerModel()).verdict).toBe('linearizable');
    const never = h([0, 'invoke', 'write', 1], [1, 'invoke', 'read', null], [1, 'ok', 'read', null]);
    expect(checkLinearizable(never, registerModel()).verdict).toBe('linearizable');
    // But at most once: after the value changed again, the timed-out write cannot bring it back twice.
    const twice = h(
      [0, 'invoke', 'write', 1],
      [0, 'info', 'write', ':timed-out'],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
      [1, 'invoke', 'write', 2],
      [1, 'ok', 'write', 2],
      [1, 'invoke', 'read', null],
      [1, 'ok', 'read', 1],
    );
    expect(checkLinearizable(twice, registerModel()).verdict).toBe('not-linearizable');
  });

  it('honours cas and the initial value', () => {
    const hist = h([0, 'invoke', 'cas', [5, 6]], [0, 'ok', 'cas', [5, 6]], [0, 'invoke', 'read', null], [0, 'ok', 'read', 6]);
    expect(checkLinearizable(hist, casRegisterModel(5)).verdict).toBe('linearizable');
    expect(checkLinearizable(hist, casRegisterModel()).verdict).toBe('not-linearizable');
  });
});

describe('bad input', () => {
  it('reports an operation the model does not know, and events that do not pair', () => {
    const cas = h([0, 'invoke', 'cas', [1, 2]], [0, 'ok', 'cas', [1, 2]]);
    const r = checkLinearizable(cas, registerModel());
    expect(r).toMatchObject({ verdict: 'invalid', error: { code: 'bad-event', index: 0 } });
    expect(validateHistory(cas, registerModel())?.message).toContain('cas-register');
    expect(validateHistory(h([0, 'ok', 'read', 1]), registerModel())?.code).toBe('orphan-completion');
    expect(validateHistory(cas, casRegisterModel())).toBeUndefined();
  });
});

describe('budgets', () => {
  // 18 concurrent writes, then a read of a value none wrote: proving that illegal means trying every subset.
  const hard: HistoryEvent[] = [];
  for (let p = 0; p < 18; p++) hard.push({ process: p, type: 'invoke', f: 'write', value: p });
  for (let p = 0; p < 18; p++) hard.push({ process: p, type: 'ok', f: 'write', value: p });
  hard.push({ process: 99, type: 'invoke', f: 'read', value: null }, { process: 99, type: 'ok', f: 'read', value: -1 });

  it('answers unknown when the search steps run out, the same way on any machine', () => {
    const r = checkLinearizable(hard, registerModel(), { maxSteps: 5_000 });
    expect(r).toMatchObject({ verdict: 'unknown', reason: 'no answer within the budget of 5,000 search steps' });
  });

  it('answers unknown past an optional wall-clock limit', () => {
    const r = checkLinearizable(hard, registerModel(), { timeoutMs: 0 });
    expect(r.verdict).toBe('unknown');
    expect(r.verdict === 'unknown' && r.reason).toContain('0 ms');
  });

  it('answers unknown when the memo outgrows its memory budget', () => {
    const r = checkLinearizable(hard, registerModel(), { maxMemoBytes: 64 * 1024 });
    expect(r.verdict).toBe('unknown');
    expect(r.verdict === 'unknown' && r.reason).toContain('memory');
  });
});

describe('partitions', () => {
  const ev = (process: number, type: HistoryEvent['type'], f: string, key: string, value: unknown): HistoryEvent => ({
    process,
    type,
    f,
    key,
    value,
  });
  /**
   * Key "hard" is legal but costly: 16 concurrent appends, then a get that saw them in the reverse order, which a
   * depth-first search that tries them in invocation order meets last.
   */
  const hardKey: HistoryEvent[] = [];
  const letters = 'abcdefghijklmnop'.split('');
  letters.forEach((l, p) => hardKey.push(ev(p, 'invoke', 'append', 'hard', l)));
  letters.forEach((l, p) => hardKey.push(ev(p, 'ok', 'append', 'hard', l)));
  hardKey.push(ev(50, 'invoke', 'get', 'hard', null), ev(50, 'ok', 'get', 'hard', [...letters].reverse().join('')));

  it('reports the first key shown illegal, whichever comes first in the history', () => {
    const hist: History = [
      ev(0, 'invoke', 'put', 'a', 'x'),
      ev(0, 'ok', 'put', 'a', 'x'),
      ev(1, 'invoke', 'get', 'b', null),
      ev(1, 'ok', 'get', 'b', 'nope'),
      ev(0, 'invoke', 'get', 'a', null),
      ev(0, 'ok', 'get', 'a', 'y'),
      ev(2, 'invoke', 'append', 'c', 'z'),
      ev(2, 'ok', 'append', 'c', 'z'),
      ev(2, 'invoke', 'get', 'c', null),
      ev(2, 'ok', 'get', 'c', 'z'),
    ];
    const r = checkLinearizable(hist, kvModel());
    expect(r.verdict).toBe('not-linearizable');
    expect(r.verdict === 'not-linearizable' && r.counterexample.key).toBe('a');
    expect(checkLinearizable(hist.slice(6), kvModel()).verdict).toBe('linearizable');
  });

  it('finds an easy illegal key behind a hard legal one, within a budget the hard key alone would exhaust', () => {
    const easy = [
      ev(60, 'invoke', 'put', 'easy', 'x'),
      ev(60, 'ok', 'put', 'easy', 'x'),
      ev(61, 'invoke', 'get', 'easy', null),
      ev(61, 'ok', 'get', 'easy', ''),
    ];
    expect(checkLinearizable(hardKey, kvModel(), { maxSteps: 200_000 }).verdict).toBe('unknown');
    const r = checkLinearizable([...hardKey, ...easy], kvModel(), { maxSteps: 200_000 });
    expect(r.verdict).toBe('not-linearizable');
    expect(r.verdict === 'not-linearizable' && r.counterexample.key).toBe('easy');
  });

  it('answers unknown only when no key is illegal, naming the undecided ones', () => {
    const fine = [
      ev(60, 'invoke', 'put', 'easy', 'x'),
      ev(60, 'ok', 'put', 'easy', 'x'),
      ev(61, 'invoke', 'get', 'easy', null),
      ev(61, 'ok', 'get', 'easy', 'x'),
    ];
    const r = checkLinearizable([...fine, ...hardKey], kvModel(), { maxSteps: 200_000 });
    expect(r).toMatchObject({ verdict: 'unknown', reason: 'no answer within the budget of 200,000 search steps on key "hard"' });
  });
});

describe('models of the exercises', () => {
  const counter = defineModel({
    name: 'counter',
    init: () => 0,
    step: (n, op, out) => (op.f === 'inc' ? n + 1 : out === undefined || out === n ? n : undefined),
  });

  it('checks a model defined in a few lines', () => {
    const ok = h([0, 'invoke', 'inc', null], [1, 'invoke', 'get', null], [1, 'ok', 'get', 1], [0, 'ok', 'inc', null]);
    expect(checkLinearizable(ok, counter).verdict).toBe('linearizable');
    const bad = h([0, 'invoke', 'inc', null], [0, 'ok', 'inc', null], [1, 'invoke', 'get', null], [1, 'ok', 'get', 0]);
    const r = checkLinearizable(bad, counter);
    expect(r.verdict).toBe('not-linearizable');
    expect(r.verdict === 'not-linearizable' && r.counterexample.ops.map((o) => o.description)).toEqual(['inc()', 'get() -> 0']);
  });

  it('takes structured states through key()', () => {
    type Queue = readonly number[];
    const queue = defineModel<Queue, { f: string; value: unknown }, unknown>({
      name: 'queue',
      init: () => [],
      decode: (op) => ({ input: { f: op.f, value: op.value }, output: op.status === 'ok' ? op.result : undefined }),
      step(q, op, out) {
        if (op.f === 'enqueue') return [...q, op.value as number];
        if (q.length === 0) return out === undefined || out === null ? q : undefined;
        return out === undefined || out === q[0] ? q.slice(1) : undefined;
      },
      key: (q) => q.join(','),
    });
    const fifo = h(
      [0, 'invoke', 'enqueue', 1],
      [0, 'ok', 'enqueue', 1],
      [0, 'invoke', 'enqueue', 2],
      [0, 'ok', 'enqueue', 2],
      [1, 'invoke', 'dequeue', null],
      [1, 'ok', 'dequeue', 2],
    );
    expect(checkLinearizable(fifo, queue).verdict).toBe('not-linearizable');
  });
});

describe('counterexample', () => {
  const stale: History = [
    { process: 0, type: 'invoke', f: 'write', value: 1, time: 0 },
    { process: 0, type: 'ok', f: 'write', value: 1, time: 3 },
    { process: 1, type: 'invoke', f: 'write', value: 2, time: 4 },
    { process: 2, type: 'invoke', f: 'read', value: null, time: 5 },
    { process: 2, type: 'ok', f: 'read', value: 2, time: 6 },
    { process: 1, type: 'ok', f: 'write', value: 2, time: 8 },
    { process: 3, type: 'invoke', f: 'read', value: null, time: 9 },
    { process: 3, type: 'ok', f: 'read', value: 1, time: 12 },
  ];

  it('is the smallest illegal part, rendered as a timeline that marks the culprit', () => {
    const r = checkLinearizable(stale, registerModel());
    expect(r.verdict).toBe('not-linearizable');
    if (r.verdict !== 'not-linearizable') return;
    // write(2) may have taken effect at any moment after it was invoked: it cannot explain reading 1 again.
    expect(r.counterexample).toMatchObject({ model: 'register', culprit: 2, others: 1, truncated: false });
    expect(r.rendered).toBe(
      [
        'not linearizable: these 3 operations have no order legal for register that respects real time.',
        "The history is linearizable up to the completion of p3's read() -> 1, which cannot be placed.",
        'The 1 other operation invoked by then cannot help, whatever its outcome and whenever after its invocation it took effect (or not at all).',
        '',
        '  p0  [ write(1) ]',
        '  p2               [ read() -> 2 ]',
        '  p3                               [ read() -> 1 ]  <-- cannot be linearized',
        '',
        '  p0  write(1)     invoked at 0 ms, completed at 3 ms',
        '  p2  read() -> 2  invoked at 5 ms, completed at 6 ms',
        '  p3  read() -> 1  invoked at 9 ms, completed at 12 ms  <-- cannot be linearized',
      ].join('\n'),
    );
  });
});

describe('assertLinearizable', () => {
  it('returns the result when linearizable and throws a PropertyFailure that explains otherwise', () => {
    const ok = h([0, 'invoke', 'write', 1], [0, 'ok', 'write', 1]);
    expect(assertLinearizable(ok, registerModel()).verdict).toBe('linearizable');
    const bad = h([0, 'invoke', 'read', null], [0, 'ok', 'read', 3]);
    let thrown: unknown;
    try {
      assertLinearizable(bad, registerModel(), { seed: 42, replay: 'dlab replay 05-x/01-y --seed 42' });
    } catch (e) {
      thrown = e;
    }
    expect(thrown).toBeInstanceOf(PropertyFailure);
    const failure = thrown as PropertyFailure;
    expect(failure.message).toContain('<-- cannot be linearized');
    expect(failure.message).toContain('seed: 42');
    expect(failure.dlab).toMatchObject({ seed: 42, replay: 'dlab replay 05-x/01-y --seed 42' });
    expect(failure.dlab.property).toMatch(/instant/);
  });
});
