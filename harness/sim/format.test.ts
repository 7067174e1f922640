import { describe, expect, it } from 'vitest';
import { brief, ms } from './format.ts';

class Frame {
  constructor(readonly seq: number) {}
}

describe('brief', () => {
  it('renders values compactly and deterministically', () => {
    expect(brief({ kind: 'data', seq: 1, payload: 'x' })).toBe('{kind:"data",seq:1,payload:"x"}');
    expect(brief([1, 'a', null, undefined, true, 2n])).toBe('[1,"a",null,undefined,true,2n]');
    expect(brief(new Map([['k', new Set([1])]]))).toBe('Map{"k"=>Set{1}}');
    expect(brief({ 'a-b': new Uint8Array(3), f: () => 1 })).toBe('{"a-b":bytes(3),f:fn f}');
    expect(brief(new Frame(2))).toBe('Frame{seq:2}');
    expect(brief(new Error('boom'))).toBe('Error("boom")');
  });

  it('cuts cycles, depth and length', () => {
    const o: Record<string, unknown> = { a: 1 };
    o['self'] = o;
    expect(brief(o)).toBe('{a:1,self:…}');
    expect(brief({ a: { b: { c: { d: { e: 1 } } } } })).toBe('{a:{b:{c:{d:{…}}}}}');
    expect(brief('x'.repeat(100), 10)).toBe('"xxxxxxxx…');
    // A long payload is cut after its last whole field, never in the middle of one, and its brackets are closed.
    const msg = { kind: 'data', seq: 41, payload: { kind: 'clock', ts: { c: 5, node: 'a' } } };
    expect(brief(msg, 48)).toBe('{kind:"data",seq:41,payload:{kind:"clock",…}}');
    expect(brief(msg, 30)).toBe('{kind:"data",seq:41,…}');
    // A comma inside a string is no field boundary: with no whole field that fits, the cut falls where the room ends.
    expect(brief({ note: 'a, "quoted", b', n: 1 }, 20)).toBe('{note:"a, \\"quoted\\…');
  });

  it('prints times without floating-point dust', () => {
    expect(ms(0.1 + 0.2)).toBe('0.3');
    expect(ms(12)).toBe('12');
    expect(ms(1.23456)).toBe('1.235');
  });
});
