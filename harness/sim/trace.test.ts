import { describe, expect, it } from 'vitest';
import { K, Trace } from './trace.ts';

describe('Trace', () => {
  it('reads back what was recorded, with names and flavors', () => {
    const t = new Trace(['a', 'b'], 100);
    t.record(K.send, 1.5, 0, 1, 7, 1, undefined, { x: 1 });
    t.record(K.fault, 2, -1, -1, 0, -1, undefined, { code: 'H' });
    expect(t.length).toBe(2);
    expect(t.at(0)).toEqual({ index: 0, time: 1.5, kind: 'send', node: 'a', peer: 'b', msg: 7, flavor: 'rpc', detail: '', data: { x: 1 } });
    expect(t.at(1)?.node).toBeUndefined();
    expect(t.at(2)).toBeUndefined();
  });

  it('grows up to its limit, then keeps only the last events', () => {
    const t = new Trace(['a'], 3000);
    for (let i = 0; i < 5000; i++) t.record(K.note, i, 0, -1, 0, -1, undefined, i);
    expect(t.length).toBe(5000);
    expect(t.first).toBe(2000);
    expect(t.at(1999)).toBeUndefined();
    expect(t.at(2000)?.data).toBe(2000);
    expect(t.events(4990).map((e) => e.data)).toEqual([4990, 4991, 4992, 4993, 4994, 4995, 4996, 4997, 4998, 4999]);
    expect(t.events().length).toBe(3000);
  });

  it('keeps everything with an infinite limit', () => {
    const t = new Trace(['a'], Infinity);
    for (let i = 0; i < 5000; i++) t.record(K.note, i, 0, -1, 0, -1, undefined, i);
    expect(t.first).toBe(0);
    expect(t.events().length).toBe(5000);
  });
});
