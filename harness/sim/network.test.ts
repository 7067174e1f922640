import { describe, expect, it } from 'vitest';
import { Network, sampleLatency } from './network.ts';
import { Rng } from './rng.ts';

const NAMES = ['a', 'b', 'c', 'c0'];

describe('Network', () => {
  it('samples latencies within their bounds', () => {
    const r = new Rng(1);
    for (let i = 0; i < 1000; i++) {
      const u = sampleLatency({ dist: 'uniform', min: 2, max: 4 }, r);
      expect(u >= 2 && u <= 4).toBe(true);
      expect(sampleLatency({ dist: 'exponential', min: 1, mean: 5 }, r)).toBeGreaterThanOrEqual(1);
      const p = sampleLatency({ dist: 'pareto', min: 1, alpha: 1.5, max: 50 }, r);
      expect(p >= 1 && p <= 50).toBe(true);
    }
    expect(sampleLatency({ dist: 'fixed', ms: 7 }, r)).toBe(7);
  });

  it('partitions into groups, everyone unlisted together, and heals', () => {
    const n = new Network(NAMES, {}, new Rng(1));
    n.partition([['a']]);
    expect(n.isBlocked(0, 1)).toBe(true);
    expect(n.isBlocked(1, 0)).toBe(true);
    expect(n.isBlocked(1, 2)).toBe(false);
    expect(n.isBlocked(3, 1)).toBe(false);
    expect(n.isBlocked(0, 0)).toBe(false);
    n.heal();
    expect(n.isBlocked(0, 1)).toBe(false);
  });

  it('blocks one direction only for AP, cumulatively, until heal', () => {
    const n = new Network(NAMES, {}, new Rng(1));
    n.blockOneWay('a', 'b');
    n.blockOneWay('c', 'a');
    expect([n.isBlocked(0, 1), n.isBlocked(1, 0), n.isBlocked(2, 0)]).toEqual([true, false, true]);
    n.partition([]);
    expect(n.isBlocked(0, 1)).toBe(true);
    n.heal();
    expect(n.isBlocked(0, 1)).toBe(false);
  });

  it('loses and duplicates at about the configured rates, per link and under faults', () => {
    const n = new Network(NAMES, { links: [{ from: 'a', to: 'b', loss: 0.5 }] }, new Rng(2));
    const rate = (f: () => boolean) => Array.from({ length: 4000 }, f).filter(Boolean).length / 4000;
    expect(rate(() => n.isLost(0, 1))).toBeCloseTo(0.5, 1);
    expect(rate(() => n.isLost(1, 0))).toBe(0);
    n.setLoss(40);
    n.setDup(30);
    expect(rate(() => n.isLost(1, 0))).toBeCloseTo(0.4, 1);
    expect(rate(() => n.isLost(0, 1))).toBeCloseTo(0.7, 1);
    expect(rate(() => n.isDuplicated(2, 0))).toBeCloseTo(0.3, 1);
    n.heal();
    expect(rate(() => n.isLost(1, 0))).toBe(0);
  });

  it('adds a heavy-tailed delay under R, capped', () => {
    const n = new Network(NAMES, { latency: { dist: 'fixed', ms: 1 } }, new Rng(3));
    expect(n.delay(0, 1)).toBe(1);
    n.setReorder(100, 50);
    const ds = Array.from({ length: 2000 }, () => n.delay(0, 1));
    expect(Math.max(...ds)).toBeLessThanOrEqual(51);
    expect(ds.filter((d) => d > 10).length).toBeGreaterThan(20);
    expect(() => new Network(NAMES, { links: [{ from: 'zz' }] }, new Rng(1))).toThrow(/unknown node/);
  });
});
