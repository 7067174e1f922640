// fast-check arbitraries for nemesis schedules: a failing schedule shrinks to the few faults that matter.
import fc from 'fast-check';
import type { FaultCode, FaultEvent } from './faults.ts';
import type { NodeId } from './types.ts';

/** Upper bounds for generated faults. */
export interface FaultBounds {
  /** L: lose 1..lossPct % (default 40). */
  readonly lossPct: number;
  /** D: duplicate 1..dupPct % (default 30). */
  readonly dupPct: number;
  /** R: delay 1..reorderPct % of messages (default 50) ... */
  readonly reorderPct: number;
  /** ... by up to 1..reorderMs extra (default 200). */
  readonly reorderMs: number;
  /** C, T, CD: down for 1..downMs (default 500). */
  readonly downMs: number;
  /** CD: the crash comes right after the 1..diskOps-th disk operation (default 6). */
  readonly diskOps: number;
  /**
   * C, T, CD: with lateMs > 0, a crash may also draw `late` in 0..lateMs (absent or 0: off), and the messages in
   * flight to the node then arrive up to `late` ms after its restart. Default 0: never (in-flight messages are lost).
   */
  readonly lateMs: number;
  /** G: paused for 1..pauseMs (default 300). */
  readonly pauseMs: number;
  /** SK: wall clock set within ±skewMs of true time (default 10 000). */
  readonly skewMs: number;
  /** DR: drift within ±driftPpm (default 50 000, that is 5 %). */
  readonly driftPpm: number;
  /** ST: wall clock stepped within ±stepMs (default 5 000). */
  readonly stepMs: number;
  /** SD: fsync takes 1..fsyncMs (default 50). */
  readonly fsyncMs: number;
}

export const DEFAULT_BOUNDS: FaultBounds = {
  lossPct: 40,
  dupPct: 30,
  reorderPct: 50,
  reorderMs: 200,
  downMs: 500,
  diskOps: 6,
  lateMs: 0,
  pauseMs: 300,
  skewMs: 10_000,
  driftPpm: 50_000,
  stepMs: 5_000,
  fsyncMs: 50,
};

export interface ScheduleOptions {
  /** The nodes faults may name. */
  readonly nodes: readonly NodeId[];
  /** Which faults to generate. */
  readonly codes: readonly FaultCode[];
  /** Faults happen at integer times in [0, horizonMs). */
  readonly horizonMs: number;
  /** At most this many events (default 6). */
  readonly maxEvents?: number;
  /** At least this many events (default 0). */
  readonly minEvents?: number;
  readonly bounds?: Partial<FaultBounds>;
}

/**
 * One fault event with the given code. Built only from records, constants, integers and subarrays, so
 * fast-check can also shrink a hand-written (killer) schedule passed as an example.
 */
export function faultEvent(code: FaultCode, opts: Omit<ScheduleOptions, 'codes'>): fc.Arbitrary<FaultEvent> {
  const b: FaultBounds = { ...DEFAULT_BOUNDS, ...opts.bounds };
  const at = fc.integer({ min: 0, max: Math.max(0, opts.horizonMs - 1) });
  const node = fc.constantFrom(...opts.nodes);
  const pos = (max: number) => fc.integer({ min: 1, max: Math.max(1, max) });
  const sym = (max: number) => fc.integer({ min: -max, max });
  let arb: fc.Arbitrary<unknown>;
  switch (code) {
    case 'L':
      arb = fc.record({ at, code: fc.constant(code), pct: pos(b.lossPct) });
      break;
    case 'D':
      arb = fc.record({ at, code: fc.constant(code), pct: pos(b.dupPct) });
      break;
    case 'R':
      arb = fc.record({ at, code: fc.constant(code), pct: pos(b.reorderPct), maxMs: pos(b.reorderMs) });
      break;
    case 'P':
      arb = fc.record({ at, code: fc.constant(code), groups: fc.tuple(fc.subarray([...opts.nodes], { minLength: 1, maxLength: Math.max(1, opts.nodes.length - 1) })) });
      break;
    case 'AP':
      arb = fc.record({ at, code: fc.constant(code), from: node, to: node }).filter((f) => f.from !== f.to);
      break;
    case 'C':
    case 'T': {
      const base = { at, code: fc.constant(code), node, downMs: pos(b.downMs) };
      // `late` only where the exercise asks for it, so that other exercises draw the very same schedules. It is an
      // optional key, so that a hand-written crash without it still shrinks (and a drawn one shrinks to without).
      arb =
        b.lateMs > 0
          ? fc.record({ ...base, late: fc.integer({ min: 0, max: b.lateMs }) }, { requiredKeys: ['at', 'code', 'node', 'downMs'] })
          : fc.record(base);
      break;
    }
    case 'CD': {
      const base = { at, code: fc.constant(code), node, op: pos(b.diskOps), downMs: pos(b.downMs), torn: fc.boolean() };
      const required: ('at' | 'code' | 'node' | 'op' | 'downMs')[] = ['at', 'code', 'node', 'op', 'downMs'];
      arb =
        b.lateMs > 0
          ? fc.record({ ...base, late: fc.integer({ min: 0, max: b.lateMs }) }, { requiredKeys: required })
          : fc.record(base, { requiredKeys: required });
      break;
    }
    case 'G':
      arb = fc.record({ at, code: fc.constant(code), node, ms: pos(b.pauseMs) });
      break;
    case 'SK':
      arb = fc.record({ at, code: fc.constant(code), node, offsetMs: sym(b.skewMs) });
      break;
    case 'DR':
      arb = fc.record({ at, code: fc.constant(code), node, ppm: sym(b.driftPpm) });
      break;
    case 'ST':
      arb = fc.record({ at, code: fc.constant(code), node, deltaMs: sym(b.stepMs) });
      break;
    case 'SD':
      arb = fc.record({ at, code: fc.constant(code), node, fsyncMs: pos(b.fsyncMs) });
      break;
    case 'H':
      arb = fc.record({ at, code: fc.constant(code) });
      break;
  }
  return arb as fc.Arbitrary<FaultEvent>;
}

/** A schedule of up to `maxEvents` faults drawn from `codes`. It shrinks by dropping events, then by making them milder. */
export function faultSchedule(opts: ScheduleOptions): fc.Arbitrary<FaultEvent[]> {
  const usable = opts.codes.filter((c) => opts.nodes.length >= 2 || (c !== 'P' && c !== 'AP'));
  if (usable.length === 0) return fc.constant([]);
  const one = fc.oneof(...usable.map((c) => faultEvent(c, opts)));
  return fc.array(one, { minLength: opts.minEvents ?? 0, maxLength: opts.maxEvents ?? 6 });
}
