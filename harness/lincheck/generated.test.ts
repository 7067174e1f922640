// Property tests on generated histories: built-to-be-linearizable ones pass, provably illegal mutations fail,
// and on small random histories the checker agrees with a brute-force search written independently of it.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pairOperations } from '../history/operations.ts';
import type { HistoryEvent } from '../history/types.ts';
import { bruteLinearizable, kvStep, refOps, registerStep, type RefOp, type RefStep, type RefValue as Val } from './brute-force.ts';
import { checkLinearizable, type CheckOptions, type CheckResult } from './checker.ts';
import { casRegisterModel, kvModel } from './models.ts';
type RegOp = { f: 'read'; value: null } | { f: 'write'; value: number } | { f: 'cas'; value: [number, number] };

const regOp = (values: number): fc.Arbitrary<RegOp> =>
  fc.oneof(
    fc.constant<RegOp>({ f: 'read', value: null }),
    fc.nat(values - 1).map((v): RegOp => ({ f: 'write', value: v })),
    fc.tuple(fc.nat(values - 1), fc.nat(values - 1)).map(([a, b]): RegOp => ({ f: 'cas', value: [a, b] })),
  );

/**
 * Runs clients against a sequential cas-register: each operation takes effect at a chosen moment between its
 * invocation and its completion, so the recorded history is linearizable by construction. Some operations
 * time out (`info`) before or after taking effect, some never complete; a cas whose compare fails is `fail`.
 */
function linearizableHistory(processes: number, steps: readonly [number, RegOp][]) {
  type Slot = { phase: 'idle' } | { phase: 'invoked'; op: RegOp } | { phase: 'applied'; op: RegOp; result: unknown; took: boolean };
  const slots: Slot[] = Array.from({ length: processes }, () => ({ phase: 'idle' }));
  let state: Val = null;
  const history: HistoryEvent[] = [];
  const mayWrite = new Set<Val>(); // values some unfinished or timed-out operation may still write
  const pid = new Array<number>(processes).fill(0).map((_, i) => i);
  for (const [choice, op] of steps) {
    const actions: [number, string][] = [];
    slots.forEach((s, p) => {
      if (s.phase === 'idle') actions.push([p, 'invoke']);
      else if (s.phase === 'invoked') actions.push([p, 'apply'], [p, 'apply'], [p, 'info-early']);
      else actions.push([p, 'complete'], [p, 'complete'], [p, 'complete'], [p, 'info-late']);
    });
    const [p, action] = actions[choice % actions.length]!;
    const s = slots[p]!;
    const proc = pid[p]!;
    if (action === 'invoke') {
      history.push({ process: proc, type: 'invoke', f: op.f, value: op.value });
      slots[p] = { phase: 'invoked', op };
    } else if (s.phase === 'invoked' && action === 'apply') {
      const o = s.op;
      if (o.f === 'read') slots[p] = { phase: 'applied', op: o, result: state, took: true };
      else if (o.f === 'write') {
        state = o.value;
        slots[p] = { phase: 'applied', op: o, result: o.value, took: true };
      } else {
        const took = state === o.value[0];
        if (took) state = o.value[1];
        slots[p] = { phase: 'applied', op: o, result: o.value, took };
      }
    } else if (s.phase === 'invoked' && action === 'info-early') {
      // Timed out without taking effect (yet): it may still, at any later moment.
      history.push({ process: proc, type: 'info', f: s.op.f, value: ':timed-out' });
      if (s.op.f === 'write') mayWrite.add(s.op.value);
      if (s.op.f === 'cas') mayWrite.add(s.op.value[1]);
      slots[p] = { phase: 'idle' };
      pid[p]! += processes;
    } else if (s.phase === 'applied') {
      const type = action === 'info-late' ? 'info' : s.took ? 'ok' : 'fail';
      history.push({ process: proc, type, f: s.op.f, value: type === 'info' ? ':timed-out' : s.result });
      slots[p] = { phase: 'idle' };
      if (type === 'info') {
        // The checker cannot know it already took effect: as far as it knows, it may still.
        if (s.op.f === 'write') mayWrite.add(s.op.value);
        if (s.op.f === 'cas') mayWrite.add(s.op.value[1]);
        pid[p]! += processes;
      }
    }
  }
  for (const s of slots) {
    if (s.phase === 'idle') continue;
    if (s.op.f === 'write') mayWrite.add(s.op.value);
    if (s.op.f === 'cas') mayWrite.add(s.op.value[1]);
  }
  return { history, state, mayWrite, nextProcess: Math.max(...pid) + 1 };
}

const histories = fc
  .record({
    processes: fc.integer({ min: 1, max: 5 }),
    steps: fc.array(fc.tuple(fc.nat(), regOp(4)), { minLength: 1, maxLength: 120, size: 'max' }),
  })
  .map(({ processes, steps }) => linearizableHistory(processes, steps));

describe('generated cas-register histories', () => {
  it('accepts every history built from a sequential execution', () => {
    fc.assert(
      fc.property(histories, ({ history }) => {
        expect(checkLinearizable(history, casRegisterModel()).verdict).toBe('linearizable');
      }),
      { seed: 1, numRuns: 300 },
    );
  });

  it('rejects a completed read of a value nobody wrote', () => {
    fc.assert(
      fc.property(histories, fc.nat(), ({ history, nextProcess }, pick) => {
        const reads = history.flatMap((e, i) => (e.type === 'ok' && e.f === 'read' ? [i] : []));
        const mutated = [...history];
        if (reads.length > 0) {
          const i = reads[pick % reads.length]!;
          mutated[i] = { ...mutated[i]!, value: 99 };
        } else {
          mutated.push({ process: nextProcess, type: 'invoke', f: 'read', value: null });
          mutated.push({ process: nextProcess, type: 'ok', f: 'read', value: 99 });
        }
        const r = checkLinearizable(mutated, casRegisterModel());
        expect(r.verdict).toBe('not-linearizable');
        if (r.verdict === 'not-linearizable') {
          const culprit = r.counterexample.ops[r.counterexample.culprit]!;
          expect(culprit).toMatchObject({ f: 'read', result: 99 });
        }
      }),
      { seed: 2, numRuns: 200 },
    );
  });

  it('rejects a read that returns an older value after a write completed, with no writer in between', () => {
    fc.assert(
      fc.property(histories, ({ history, state, mayWrite, nextProcess }) => {
        // Any value no unfinished operation can still produce: the last one before the write, else nil.
        const stale = [state, null].find((v) => v !== 7 && !mayWrite.has(v)) ?? null;
        const a = nextProcess;
        const b = nextProcess + 1;
        const mutated: HistoryEvent[] = [
          ...history,
          { process: a, type: 'invoke', f: 'write', value: 7 },
          { process: a, type: 'ok', f: 'write', value: 7 },
          { process: b, type: 'invoke', f: 'read', value: null },
          { process: b, type: 'ok', f: 'read', value: stale },
        ];
        const r = checkLinearizable(mutated, casRegisterModel());
        expect(r.verdict).toBe('not-linearizable');
        if (r.verdict === 'not-linearizable') {
          const cx = r.counterexample;
          expect(cx.ops[cx.culprit]).toMatchObject({ process: b, f: 'read' });
          expect(cx.ops.some((o) => o.process === a && o.f === 'write')).toBe(true);
        }
      }),
      { seed: 3, numRuns: 200 },
    );
  });
});

/** Small histories with arbitrary (mostly wrong) results, few values so that equal inputs are common. */
const randomHistories = fc
  .record({
    processes: fc.integer({ min: 1, max: 4 }),
    steps: fc.array(
      fc.tuple(fc.nat(), regOp(2), fc.constantFrom<Val>(null, 0, 1), fc.constantFrom('ok', 'ok', 'ok', 'info', 'fail')),
      { maxLength: 18, size: 'max' },
    ),
  })
  .map(({ processes, steps }) => {
    const inFlight: (RegOp | undefined)[] = new Array(processes).fill(undefined);
    const pid = Array.from({ length: processes }, (_, i) => i);
    const history: HistoryEvent[] = [];
    let invoked = 0;
    for (const [choice, op, read, type] of steps) {
      const p = choice % processes;
      const o = inFlight[p];
      if (o === undefined) {
        if (invoked === 7) continue;
        invoked++;
        history.push({ process: pid[p]!, type: 'invoke', f: op.f, value: op.value });
        inFlight[p] = op;
      } else {
        const value = type !== 'ok' ? null : o.f === 'read' ? read : o.value;
        history.push({ process: pid[p]!, type: type as 'ok' | 'info' | 'fail', f: o.f, value });
        inFlight[p] = undefined;
        if (type === 'info') pid[p]! += processes;
      }
    }
    return history;
  });

/**
 * Checks a `not-linearizable` result's claims with the oracle: the witness alone (every other operation of its
 * key invoked by then free to do anything, or nothing) is illegal, and just before the culprit completes the key's
 * history is linearizable.
 */
function expectExplained<S>(history: readonly HistoryEvent[], r: CheckResult, init: S, step: RefStep<S>): void {
  if (r.verdict !== 'not-linearizable') throw new Error(`expected not-linearizable, got ${r.verdict}`);
  const cx = r.counterexample;
  const culprit = cx.ops[cx.culprit]!;
  const cut = culprit.completeIndex!;
  expect(culprit.status).toBe('ok');
  expect(cx.ops.every((o) => o.completeIndex !== null && o.completeIndex <= cut)).toBe(true);
  const paired = pairOperations(history);
  if (!paired.ok) throw new Error(paired.error.message);
  const live = paired.operations.filter((o) => o.status !== 'fail' && o.invoke <= cut && (cx.key === undefined || o.key === cx.key));
  const inWitness = (o: { invoke: number }) => cx.ops.some((w) => w.invokeIndex === o.invoke);
  const asRef = (o: (typeof live)[number], known: boolean): RefOp => ({
    f: o.f,
    key: o.key,
    value: o.value,
    result: o.result,
    known,
    call: o.invoke,
    ret: known ? o.complete : Infinity,
  });
  const witness = live.map((o) => asRef(o, o.status === 'ok' && inWitness(o)));
  expect(bruteLinearizable(witness, init, step)).toBe(false);
  const before = live.filter((o) => o.invoke < cut).map((o) => asRef(o, o.status === 'ok' && o.complete < cut));
  expect(bruteLinearizable(before, init, step)).toBe(true);
  expect(cx.others).toBe(live.length - cx.ops.length);
}

const verdictOf = (linearizable: boolean) => (linearizable ? 'linearizable' : 'not-linearizable');

describe('agreement with a brute-force search', () => {
  const readings = ['value', 'unknown'] as const;

  it('gives the same verdict on small random histories, under either reading of a read of nil', () => {
    for (const nilRead of readings) {
      fc.assert(
        fc.property(randomHistories, (history) => {
          const expected = bruteLinearizable(refOps(history), null, registerStep(nilRead === 'unknown'));
          expect(checkLinearizable(history, casRegisterModel(null, { nilRead })).verdict).toBe(verdictOf(expected));
        }),
        { seed: 4, numRuns: 1500 },
      );
    }
  });

  it('explains with a witness that is illegal on its own, after a prefix that is linearizable', () => {
    fc.assert(
      fc.property(randomHistories, (history) => {
        const r = checkLinearizable(history, casRegisterModel());
        if (r.verdict === 'not-linearizable') expectExplained(history, r, null, registerStep());
      }),
      { seed: 5, numRuns: 1000 },
    );
  });

  it('rejects exactly the histories that changing one result made illegal', () => {
    // Small runs of the sequential register, then one completion changed: a read returns another value, a cas
    // that swapped is reported failed or one that failed is reported swapped, a write is reported failed. The
    // oracle decides whether some order still fits; the checker must say the same, and explain the illegal ones.
    const small = fc
      .record({
        processes: fc.integer({ min: 1, max: 4 }),
        steps: fc.array(fc.tuple(fc.nat(), regOp(3)), { minLength: 1, maxLength: 24, size: 'max' }),
      })
      .map(({ processes, steps }) => linearizableHistory(processes, steps).history)
      .filter((history) => history.filter((e) => e.type === 'invoke').length <= 8);
    let illegal = 0;
    let runs = 0;
    fc.assert(
      fc.property(small, fc.nat(), fc.constantFrom<Val>(null, 0, 1, 2), (history, pick, other) => {
        const changeable = history.flatMap((e, i) => (e.type !== 'invoke' && e.type !== 'info' ? [i] : []));
        if (changeable.length === 0) return;
        const i = changeable[pick % changeable.length]!;
        const e = history[i]!;
        const mutated = [...history];
        if (e.f === 'read') {
          if (e.value === other) return;
          mutated[i] = { ...e, value: other };
        } else {
          mutated[i] = { ...e, type: e.type === 'ok' ? 'fail' : 'ok' };
        }
        runs++;
        const legal = bruteLinearizable(refOps(mutated), null, registerStep());
        const r = checkLinearizable(mutated, casRegisterModel());
        expect(r.verdict).toBe(verdictOf(legal));
        if (!legal) {
          illegal++;
          expectExplained(mutated, r, null, registerStep());
        }
      }),
      { seed: 7, numRuns: 1500 },
    );
    // Enough of both kinds for the agreement to mean something.
    expect(illegal).toBeGreaterThan(runs / 5);
    expect(runs - illegal).toBeGreaterThan(runs / 5);
  });
});

describe('kv histories against a brute-force search of the whole store', () => {
  type KvOp = { f: 'get'; key: string } | { f: 'put' | 'append'; key: string; value: string };
  const keys = ['a', 'b', 'c'];
  const smallKvOp = fc.oneof(
    fc.constantFrom(...keys).map((key): KvOp => ({ f: 'get', key })),
    fc
      .tuple(fc.constantFrom<'put' | 'append'>('put', 'append'), fc.constantFrom(...keys), fc.constantFrom('x', 'y'))
      .map(([f, key, value]): KvOp => ({ f, key, value })),
  );

  /** Up to seven operations over three keys, with arbitrary (often wrong) results of gets. */
  const smallKv = fc
    .record({
      processes: fc.integer({ min: 1, max: 4 }),
      steps: fc.array(
        fc.tuple(fc.nat(), smallKvOp, fc.constantFrom('', 'x', 'y', 'xy', 'yx'), fc.constantFrom('ok', 'ok', 'ok', 'info', 'fail')),
        { maxLength: 16, size: 'max' },
      ),
    })
    .map(({ processes, steps }) => {
      const inFlight: (KvOp | undefined)[] = new Array(processes).fill(undefined);
      const pid = Array.from({ length: processes }, (_, i) => i);
      const history: HistoryEvent[] = [];
      let invoked = 0;
      for (const [choice, op, got, type] of steps) {
        const p = choice % processes;
        const o = inFlight[p];
        if (o === undefined) {
          if (invoked === 7) continue;
          invoked++;
          history.push({ process: pid[p]!, type: 'invoke', f: op.f, key: op.key, value: op.f === 'get' ? null : op.value });
          inFlight[p] = op;
        } else {
          const value = type !== 'ok' ? null : o.f === 'get' ? got : o.value;
          history.push({ process: pid[p]!, type: type as 'ok' | 'info' | 'fail', f: o.f, key: o.key, value });
          inFlight[p] = undefined;
          if (type === 'info') pid[p]! += processes;
        }
      }
      return history;
    });

  /** Keys named in an `unknown` verdict's reason. */
  const undecidedKeys = (reason: string): string[] => [...reason.replace(/^.* on keys? /, '').matchAll(/"([^"]*)"/g)].map((m) => m[1]!);

  it('gives the same verdict, and under tight step budgets never a wrong one', () => {
    fc.assert(
      fc.property(smallKv, fc.integer({ min: 1, max: 60 }), (history, maxSteps) => {
        const legal = bruteLinearizable(refOps(history), {}, kvStep);
        const r = checkLinearizable(history, kvModel());
        expect(r.verdict).toBe(verdictOf(legal));
        if (r.verdict === 'not-linearizable') expectExplained(history, r, {}, kvStep);

        const options: CheckOptions = { maxSteps };
        const tight = checkLinearizable(history, kvModel(), options);
        const keyLegal = (key: string) =>
          bruteLinearizable(
            refOps(history).filter((o) => o.key === key),
            {},
            kvStep,
          );
        if (tight.verdict === 'unknown') {
          // Unknown only when no key was shown illegal: every key the reason leaves out was shown linearizable.
          const open = undecidedKeys(tight.reason);
          expect(open.length).toBeGreaterThan(0);
          for (const key of keys) if (!open.includes(key) && history.some((e) => e.key === key)) expect(keyLegal(key)).toBe(true);
        } else {
          expect(tight.verdict).toBe(verdictOf(legal));
          if (tight.verdict === 'not-linearizable') expect(keyLegal(tight.counterexample.key!)).toBe(false);
        }
        // Steps, not time: the same history and budget give the same answer every time.
        const { durationMs: _a, ...first } = tight;
        const { durationMs: _b, ...again } = checkLinearizable(history, kvModel(), options);
        expect(again).toEqual(first);
      }),
      { seed: 8, numRuns: 1500 },
    );
  });
});

describe('generated kv histories', () => {
  type KvOp = { f: 'get'; key: string } | { f: 'put' | 'append'; key: string; value: string };
  const kvOp = fc.oneof(
    fc.constantFrom('a', 'b', 'c').map((key): KvOp => ({ f: 'get', key })),
    fc.tuple(fc.constantFrom('put', 'append') as fc.Arbitrary<'put' | 'append'>, fc.constantFrom('a', 'b', 'c'), fc.constantFrom('x', 'y', 'z')).map(
      ([f, key, value]): KvOp => ({ f, key, value }),
    ),
  );

  /** Clients of a sequential store; every operation takes effect between its invocation and completion. */
  const kvHistories = fc
    .record({ processes: fc.integer({ min: 1, max: 4 }), steps: fc.array(fc.tuple(fc.nat(), fc.boolean(), kvOp), { maxLength: 120, size: 'max' }) })
    .map(({ processes, steps }) => {
      const store = new Map<string, string>();
      const slots: ({ op: KvOp; result?: string } | undefined)[] = new Array(processes).fill(undefined);
      const history: HistoryEvent[] = [];
      for (const [choice, advance, op] of steps) {
        const p = choice % processes;
        const s = slots[p];
        if (s === undefined) {
          history.push({ process: p, type: 'invoke', f: op.f, key: op.key, value: op.f === 'get' ? null : op.value });
          slots[p] = { op };
        } else if (s.result === undefined && advance) {
          const cur = store.get(s.op.key) ?? '';
          if (s.op.f === 'get') s.result = cur;
          else {
            store.set(s.op.key, s.op.f === 'put' ? s.op.value : cur + s.op.value);
            s.result = s.op.value;
          }
        } else if (s.result !== undefined) {
          history.push({ process: p, type: 'ok', f: s.op.f, key: s.op.key, value: s.result });
          slots[p] = undefined;
        }
      }
      return { history, processes };
    });

  it('accepts histories built from a sequential store, and rejects a get of a string never stored', () => {
    fc.assert(
      fc.property(kvHistories, ({ history, processes }) => {
        expect(checkLinearizable(history, kvModel()).verdict).toBe('linearizable');
        const p = processes + 1;
        const bad: HistoryEvent[] = [
          ...history,
          { process: p, type: 'invoke', f: 'get', key: 'b', value: null },
          { process: p, type: 'ok', f: 'get', key: 'b', value: 'never' },
        ];
        const r = checkLinearizable(bad, kvModel());
        expect(r.verdict).toBe('not-linearizable');
        expect(r.verdict === 'not-linearizable' && r.counterexample.key).toBe('b');
      }),
      { seed: 6, numRuns: 200 },
    );
  });
});
