// Shard outcomes merge into the outcome one worker would have given (the runner's tests run real workers).
import { describe, expect, it } from 'vitest';
import type { JobOutcome, TestOutcome } from './protocol.ts';
import { mergeShards } from './shards.ts';

const pass = (name: string): TestOutcome => ({ name, state: 'passed', durationMs: 1, errors: [] });
const fail = (name: string): TestOutcome => ({ name, state: 'failed', durationMs: 1, errors: [{ message: `${name} broke` }] });
const elsewhere = (name: string): TestOutcome => ({ name, state: 'skipped', durationMs: 0, errors: [], otherShard: true });
const notRun = (name: string): TestOutcome => ({ name, state: 'skipped', durationMs: 0, errors: [], notRun: true });
const finished = (tests: TestOutcome[], extra: Partial<Extract<JobOutcome, { kind: 'finished' }>> = {}): JobOutcome => ({ kind: 'finished', tests, loadErrors: [], logs: [], ...extra });

describe('mergeShards', () => {
  it('takes each test from the shard that ran it, in file order', () => {
    const m = mergeShards([finished([pass('t0'), elsewhere('t1'), pass('t2')]), finished([elsewhere('t0'), pass('t1'), elsewhere('t2')])], true);
    expect(m.kind === 'finished' && m.tests).toEqual([pass('t0'), pass('t1'), pass('t2')]);
  });

  it('with bail, hides what ran after the first failure in file order, as one worker would not have run it', () => {
    // Shard 1 failed t1; shard 0 had already run t2 (and failed it) before it heard.
    const m = mergeShards([finished([pass('t0'), elsewhere('t1'), fail('t2'), elsewhere('t3')]), finished([elsewhere('t0'), fail('t1'), elsewhere('t2'), notRun('t3')])], true);
    expect(m.kind === 'finished' && m.tests).toEqual([pass('t0'), fail('t1'), notRun('t2'), notRun('t3')]);
    // Without bail everything that ran is kept.
    const all = mergeShards([finished([pass('t0'), elsewhere('t1'), fail('t2')]), finished([elsewhere('t0'), fail('t1'), elsewhere('t2')])], false);
    expect(all.kind === 'finished' && all.tests.map((t) => t.state)).toEqual(['passed', 'failed', 'failed']);
  });

  it('orders printed lines as one worker would have printed them, and drops those of tests that would not have run', () => {
    const a = finished([pass('t0'), elsewhere('t1'), fail('t2')], { logs: ['load', 'zero', 'two'], logAt: [-1, 0, 2], unhandled: [{ message: 'late', index: 2 }] });
    const b = finished([elsewhere('t0'), pass('t1'), elsewhere('t2'), ], { logs: ['load', 'one'], logAt: [-1, 1], unhandled: [{ message: 'early', index: 1 }] });
    const m = mergeShards([a, b], true);
    expect(m.kind === 'finished' && m.logs).toEqual(['load', 'zero', 'one', 'two']);
    expect(m.kind === 'finished' && m.unhandled?.map((e) => e.message)).toEqual(['late', 'early']);
    const cut = mergeShards([a, finished([elsewhere('t0'), fail('t1'), elsewhere('t2')], { logs: ['load', 'one'], logAt: [-1, 1] })], true);
    expect(cut.kind === 'finished' && cut.logs).toEqual(['load', 'zero', 'one']);
    expect(cut.kind === 'finished' && cut.unhandled).toEqual([]);
  });

  it('reports a time-out when it came first in file order, and hides it when a failure came before it', () => {
    const over: JobOutcome = { kind: 'timed-out', test: 't1', index: 1, limitMs: 5000, reason: 'cpu', tests: [] };
    expect(mergeShards([finished([pass('t0'), elsewhere('t1'), fail('t2')]), over], true)).toBe(over);
    const m = mergeShards([finished([fail('t0'), elsewhere('t1'), notRun('t2')]), over], true);
    expect(m.kind === 'finished' && m.tests.map((t) => t.state)).toEqual(['failed', 'skipped', 'skipped']);
  });

  it('reports code that did not load once, and a crash as it is', () => {
    const unloaded = finished([elsewhere('t0')], { loadErrors: [{ message: 'SyntaxError' }] });
    expect(mergeShards([unloaded, finished([elsewhere('t0')], { loadErrors: [{ message: 'SyntaxError' }] })], true)).toBe(unloaded);
    const crashed: JobOutcome = { kind: 'crashed', message: 'out of memory' };
    expect(mergeShards([finished([pass('t0')]), crashed], true)).toBe(crashed);
  });
});
