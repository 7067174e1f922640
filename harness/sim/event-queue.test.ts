import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { EventQueue } from './event-queue.ts';

interface E {
  time: number;
  seq: number;
  name: number;
}

describe('EventQueue', () => {
  it('pops by time, and in insertion order among equal times', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 20 }), { maxLength: 200 }), (times) => {
        const q = new EventQueue<E>();
        times.forEach((time, name) => q.push({ time, seq: 0, name }));
        expect(q.size).toBe(times.length);
        const out: E[] = [];
        for (let e = q.pop(); e !== undefined; e = q.pop()) out.push(e);
        const want = times.map((time, name) => ({ time, name })).sort((a, b) => a.time - b.time || a.name - b.name);
        expect(out.map((e) => [e.time, e.name])).toEqual(want.map((e) => [e.time, e.name]));
      }),
      { seed: 11, numRuns: 200 },
    );
  });

  it('interleaves pushes and pops correctly', () => {
    const q = new EventQueue<E>();
    q.push({ time: 5, seq: 0, name: 1 });
    q.push({ time: 1, seq: 0, name: 2 });
    expect(q.peek()?.name).toBe(2);
    expect(q.pop()?.name).toBe(2);
    q.push({ time: 5, seq: 0, name: 3 });
    q.push({ time: 0, seq: 0, name: 4 });
    expect([q.pop()?.name, q.pop()?.name, q.pop()?.name, q.pop()]).toEqual([4, 1, 3, undefined]);
  });
});
