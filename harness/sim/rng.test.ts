import { describe, expect, it } from 'vitest';
import { Rng, hashString } from './rng.ts';

const take = (r: Rng, n: number): number[] => Array.from({ length: n }, () => r.next());

describe('Rng', () => {
  it('is deterministic for a seed and differs between seeds', () => {
    expect(take(new Rng(42), 20)).toEqual(take(new Rng(42), 20));
    expect(take(new Rng(42), 20)).not.toEqual(take(new Rng(43), 20));
    expect(take(new Rng(1), 5)).not.toEqual(take(new Rng(2 ** 32 + 1), 5));
  });

  it('derives split streams from the key and label only, not from how far the parent was read', () => {
    const a = new Rng(7);
    const b = new Rng(7);
    take(b, 100);
    expect(take(a.split('node:a'), 10)).toEqual(take(b.split('node:a'), 10));
    expect(take(a.split('node:a'), 10)).not.toEqual(take(a.split('node:b'), 10));
    expect(take(a.split('x').split('y'), 5)).not.toEqual(take(a.split('y').split('x'), 5));
  });

  it('keeps float, int and chance within their ranges', () => {
    const r = new Rng(3);
    const fs = Array.from({ length: 10_000 }, () => r.float());
    const ns = new Set(Array.from({ length: 1000 }, () => r.int(-2, 2)));
    expect(Math.min(...fs)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...fs)).toBeLessThan(1);
    expect([...ns].sort()).toEqual([-1, -2, 0, 1, 2]);
    const sum = fs.reduce((a, b) => a + b, 0);
    expect(sum / 10_000).toBeGreaterThan(0.48);
    expect(sum / 10_000).toBeLessThan(0.52);
    expect(r.chance(0)).toBe(false);
    expect(Array.from({ length: 100 }, () => r.chance(1)).every(Boolean)).toBe(true);
    expect(['x', 'y']).toContain(r.pick(['x', 'y']));
    expect(r.exponential(10)).toBeGreaterThanOrEqual(0);
  });

  it('hashes labels stably', () => {
    expect(hashString('network')).toBe(hashString('network'));
    expect(hashString('a')).not.toBe(hashString('b'));
    expect(hashString('')).toBe(0x811c9dc5);
  });
});
