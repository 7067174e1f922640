import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DEFAULT_BOUNDS, faultEvent, faultSchedule } from './fault-arbitraries.ts';
import { FAULT_CODES, describeFault, describeSchedule, nodesNamed, sortSchedule, type FaultEvent } from './faults.ts';

const NODES = ['a', 'b', 'c'];

describe('fault schedules', () => {
  it('describe every code in words', () => {
    const samples = FAULT_CODES.map((code) => fc.sample(faultEvent(code, { nodes: NODES, horizonMs: 100 }), { seed: 1, numRuns: 1 })[0] as FaultEvent);
    expect(new Set(samples.map((f) => f.code))).toEqual(new Set(FAULT_CODES));
    for (const f of samples) expect(describeFault(f).length).toBeGreaterThan(5);
    expect(describeFault({ code: 'P', groups: [['a'], ['b', 'c']] })).toBe('partition {a} | {b, c} | everyone else');
    expect(describeFault({ code: 'ST', node: 'a', deltaMs: -500 })).toBe("step a's wall clock by -500 ms");
    expect(describeSchedule([])).toBe('  (no faults)');
  });

  it('sort by time, keeping the written order of ties, and list the nodes they name', () => {
    const s: FaultEvent[] = [
      { at: 5, code: 'H' },
      { at: 1, code: 'L', pct: 10 },
      { at: 5, code: 'C', node: 'b', downMs: 3 },
    ];
    expect(sortSchedule(s).map((e) => e.code)).toEqual(['L', 'H', 'C']);
    expect(describeSchedule(s)).toBe(['  t=1 ms  L   lose 10% of messages', '  t=5 ms  H   heal: every fault off', '  t=5 ms  C   crash b, restart after 3 ms'].join('\n'));
    expect(nodesNamed({ code: 'AP', from: 'a', to: 'c' })).toEqual(['a', 'c']);
    expect(nodesNamed({ code: 'L', pct: 1 })).toEqual([]);
  });

  it('generate only the asked codes, within the horizon and the bounds', () => {
    fc.assert(
      fc.property(faultSchedule({ nodes: NODES, codes: ['L', 'C', 'P', 'AP', 'SK'], horizonMs: 500, maxEvents: 5, bounds: { lossPct: 20 } }), (s) => {
        expect(s.length).toBeLessThanOrEqual(5);
        for (const f of s) {
          expect(['L', 'C', 'P', 'AP', 'SK']).toContain(f.code);
          expect(f.at >= 0 && f.at < 500).toBe(true);
          if (f.code === 'L') expect(f.pct >= 1 && f.pct <= 20).toBe(true);
          if (f.code === 'C') expect(f.downMs >= 1 && f.downMs <= DEFAULT_BOUNDS.downMs).toBe(true);
          if (f.code === 'P') expect(f.groups[0]?.length).toBeLessThan(NODES.length);
          if (f.code === 'AP') expect(f.from).not.toBe(f.to);
          if (f.code === 'SK') expect(Math.abs(f.offsetMs)).toBeLessThanOrEqual(DEFAULT_BOUNDS.skewMs);
          for (const n of nodesNamed(f)) expect(NODES).toContain(n);
        }
      }),
      { seed: 5, numRuns: 200 },
    );
  });

  it('can shrink a hand-written schedule (a killer passed as an example)', () => {
    const arb = faultSchedule({ nodes: NODES, codes: FAULT_CODES, horizonMs: 1000 });
    const killer: FaultEvent[] = [
      { at: 10, code: 'L', pct: 30 },
      { at: 20, code: 'P', groups: [['a']] },
      { at: 30, code: 'C', node: 'b', downMs: 100 },
      { at: 40, code: 'H' },
    ];
    expect(arb.canShrinkWithoutContext(killer)).toBe(true);
    expect(fc.sample(faultSchedule({ nodes: ['a'], codes: ['P', 'AP'], horizonMs: 10 }), { seed: 1, numRuns: 3 })).toEqual([[], [], []]);
  });
});
