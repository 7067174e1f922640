// Hidden tests for 03-time-and-causality/03-hybrid-logical-clock: every timestamp judged against the HLC rules, alone and in a skewed cluster.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkProperty, metricsWanted, recordMetric } from '@dlab/harness';
import { runCase, simProperty, type Ctx, type FaultEvent, type Proc, type World } from '@dlab/harness/sim';
import { ClockOffsetError, HybridClock, hlcCompare, type HLC } from '@impl/03-time-and-causality/03-hybrid-logical-clock';

// ---- the grader's own view of timestamps (it never uses the learner's hlcCompare outside its own test) ----

const cmp = (a: HLC, b: HLC): number => (a.l !== b.l ? (a.l < b.l ? -1 : 1) : a.c !== b.c ? (a.c < b.c ? -1 : 1) : 0);
const fmt = (t: HLC): string => `(${t.l}, ${t.c})`;
const isHlc = (x: unknown): x is HLC =>
  typeof x === 'object' && x !== null && Number.isFinite((x as HLC).l) && Number.isSafeInteger((x as HLC).c) && (x as HLC).c >= 0;
const show = (x: unknown): string => (isHlc(x) ? fmt(x) : typeof x === 'object' && x !== null ? JSON.stringify(x) : String(x));
const thrown = (e: unknown): string => (e instanceof Error ? `${e.name}: ${e.message}` : JSON.stringify(e));
const signed = (n: number): string => (n >= 0 ? `+${n}` : `${n}`);

/** What one call of the learner's clock did. */
type Outcome = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly error: unknown };
function call(f: () => unknown): Outcome {
  try {
    return { ok: true, value: f() };
  } catch (error) {
    return { ok: false, error };
  }
}

/** An event the grader accepted: its timestamp (a copy), the object the clock returned, and its same-l chain. */
interface Issued {
  readonly ts: HLC;
  readonly obj: unknown;
  /**
   * The length of the longest chain of events, each happening before the next and before this one, that all have
   * this event's l (Kulkarni et al. 2014, Theorem 4): c may not exceed it.
   */
  readonly chain: number;
}

/**
 * Judges every timestamp one clock issues against the HLC rules, given what the clock read (pt) and what it was told
 * (remote timestamps). `reads` are the values pt() gave during the call, in order: all equal unless the physical
 * clock was stepped between two reads of one call, and then any of them may be the one the clock went by. Returns
 * what is wrong, in words, or the accepted event.
 */
class Judge {
  private last: Issued | undefined;
  private ptHigh = -Infinity;
  /** The last remote timestamp the clock (rightly) rejected, and the pt it read then, to explain a clock that moved to either. */
  private rejected: { readonly remote: HLC; readonly what: string; readonly pt: number } | undefined;
  issued = 0;
  maxC = 0;

  constructor(
    private readonly maxOffset: number,
    /** How the clock is named in messages: 'the clock', "b's clock". */
    private readonly name: string,
  ) {}

  now(reads: readonly number[], out: Outcome): string | Issued {
    return this.judge('now()', reads, undefined, 0, out) as string | Issued;
  }

  /** `from`: where the remote timestamp came from, for the messages (' from d'), or ''. */
  update(reads: readonly number[], remote: HLC, remoteChain: number, out: Outcome, from = ''): string | Issued | 'rejected' {
    return this.judge(`update(${fmt(remote)})${from}`, reads, remote, remoteChain, out);
  }

  private judge(what: string, reads: readonly number[], remote: HLC | undefined, remoteChain: number, out: Outcome): string | Issued | 'rejected' {
    const name = this.name;
    const lo = Math.min(...reads);
    const hi = Math.max(...reads);
    const pt = reads[0]!;
    const wobbled = lo !== hi;
    const shownReads = reads.filter((v, i) => i === 0 || v !== reads[i - 1]);
    const at = `${name}: ${what} at pt=${shownReads.join(' then ')}`;
    const last = this.last;
    // A timestamp handed out earlier is a value: the clock moving on must not change it.
    if (last !== undefined && isHlc(last.obj) && (last.obj.l !== last.ts.l || last.obj.c !== last.ts.c)) {
      return `${at}: the timestamp ${fmt(last.ts)} it returned before has changed to ${fmt(last.obj)} since: never change a timestamp once returned (return a fresh object, or a frozen one)`;
    }
    const stepped = last !== undefined && !wobbled && pt < this.ptHigh ? ` (the physical clock stepped back: pt=${pt} is below the ${this.ptHigh} it showed before)` : '';
    const twice = wobbled
      ? ` (the physical clock was stepped between two reads of pt in this one call, from ${shownReads.join(' to ')}: read pt once per event and use that one value)`
      : '';
    this.ptHigh = Math.max(this.ptHigh, hi);
    if (remote !== undefined) {
      const ahead = remote.l - lo;
      // Any of the reads may be the one the clock checked against: it may reject when one says too far, it must when all do.
      const mayReject = remote.l - lo > this.maxOffset;
      const mustReject = remote.l - hi > this.maxOffset;
      if (!out.ok) {
        const e = out.error;
        if (e instanceof TypeError && /read.only|frozen|not extensible|cannot (assign|add|delete|define|redefine)/i.test(e.message)) {
          return `${at} threw ${thrown(e)}: update modified its argument; the remote timestamp belongs to the message, and update must never change it`;
        }
        if (!(e instanceof ClockOffsetError)) {
          return `${at} threw ${thrown(e)}${mustReject ? ': a timestamp too far ahead must be rejected with a ClockOffsetError' : ''}`;
        }
        if (!mayReject) {
          return `${at} threw ClockOffsetError, but the remote l is ${ahead > 0 ? `only ${ahead} ms ahead of` : ahead === 0 ? 'equal to' : `${-ahead} ms behind`} the physical clock: only an l more than maxOffsetMs = ${this.maxOffset} ms ahead of pt is rejected`;
        }
        const bad = [
          ...(isHlc(e.remote) && e.remote.l === remote.l && e.remote.c === remote.c ? [] : [`remote = ${show(e.remote)} where the rejected timestamp is ${fmt(remote)}`]),
          ...(reads.includes(e.pt) ? [] : [`pt = ${show(e.pt)} where the physical clock read ${shownReads.join(' then ')}`]),
          ...(e.maxOffsetMs === this.maxOffset ? [] : [`maxOffsetMs = ${show(e.maxOffsetMs)} where the clock's limit is ${this.maxOffset}`]),
        ];
        if (bad.length > 0) {
          return `${at} threw a ClockOffsetError with ${bad.join(', ')}: its fields are the rejected remote timestamp, the pt it was checked against and the limit, new ClockOffsetError(remote, pt, maxOffsetMs)`;
        }
        this.rejected = { remote, what, pt: hi };
        return 'rejected';
      }
      if (mustReject) {
        return `${at} returned ${show(out.value)}: it accepted a remote timestamp ${remote.l - hi} ms ahead of the physical clock; with maxOffsetMs = ${this.maxOffset} it must throw ClockOffsetError and leave the clock unchanged`;
      }
    } else if (!out.ok) {
      return `${at} threw ${thrown(out.error)}`;
    }
    const got = out.value;
    if (!isHlc(got)) return `${at} returned ${show(got)}: a timestamp is { l: number, c: a whole number >= 0 }`;
    const ts: HLC = { l: got.l, c: got.c };
    const wrong = (why: string): string => `${at} returned ${fmt(ts)}: ${why}`;
    // A clock that moved to a time it only saw in a rejected update: name that update.
    const rj = this.rejected;
    const wasRejected =
      rj === undefined
        ? ''
        : ts.l === rj.remote.l
          ? ` (it is the l of the timestamp it rejected in ${rj.what}: a rejected update must leave the clock unchanged)`
          : ts.l === rj.pt && ts.l > hi && ts.l > (last?.ts.l ?? -Infinity)
            ? ` (it is the pt=${rj.pt} the clock read in ${rj.what}, which it rejected: a rejected update must leave the clock exactly as it was)`
            : '';
    if (last !== undefined && cmp(ts, last.ts) <= 0) {
      const how = ts.l < last.ts.l ? `l fell back below its last l=${last.ts.l}` : `the same l with c=${ts.c}, not above its last c=${last.ts.c}`;
      return wrong(`not greater than the ${fmt(last.ts)} it returned before (${how}): a clock's timestamps must strictly increase${stepped}${twice}`);
    }
    if (remote !== undefined && cmp(ts, remote) <= 0) {
      return wrong(`not greater than the remote ${fmt(remote)}: the receive must come after the send${twice}`);
    }
    if (last === undefined && remote === undefined && (!reads.includes(ts.l) || ts.c !== 0)) {
      return wrong(`a fresh clock knows nothing but pt, so its first timestamp is (${pt}, 0)${wasRejected}`);
    }
    if (ts.l < lo) return wrong(`l is below the physical clock pt=${lo}: l is the largest physical time the clock knows, its own pt included`);
    const known = Math.max(last?.ts.l ?? -Infinity, remote?.l ?? -Infinity, hi);
    if (ts.l - this.ptHigh > this.maxOffset) {
      return wrong(`l is ${ts.l - this.ptHigh} ms ahead of the highest physical time this clock has read (${this.ptHigh}); no timestamp may run more than maxOffsetMs = ${this.maxOffset} ms ahead of it${wasRejected}`);
    }
    if (ts.l > known) {
      const sources = [`pt=${shownReads.join(' then ')}`, ...(last !== undefined ? [`its last timestamp's l=${last.ts.l}`] : []), ...(remote !== undefined ? [`the remote l=${remote.l}`] : [])];
      return wrong(`l is ahead of every time the clock knows (${sources.join(', ')}): l must be the largest of them${wasRejected}`);
    }
    if (ts.l > (last?.ts.l ?? -Infinity) && ts.l > (remote?.l ?? -Infinity) && !reads.includes(ts.l)) {
      return wrong(`l is none of the times the clock knows: it is above its last l and the remote l, and no read of pt gave ${ts.l}${twice}`);
    }
    if (ts.l > (last?.ts.l ?? -Infinity) && ts.l > (remote?.l ?? -Infinity) && ts.c !== 0) {
      const knew = [...(last !== undefined ? [`its last l=${last.ts.l}`] : []), ...(remote !== undefined ? [`the remote l=${remote.l}`] : [])];
      return wrong(`pt moved past everything the clock knew (${knew.join(', ')}), so c must restart at 0`);
    }
    // The same-l chain: the previous event of this clock and the remote send, when they share this l.
    const chain = Math.max(last !== undefined && last.ts.l === ts.l ? last.chain + 1 : 0, remote !== undefined && remote.l === ts.l ? remoteChain + 1 : 0);
    if (ts.c > chain) {
      const parts = [
        ...(last !== undefined && last.ts.l === ts.l ? [`its last timestamp ${fmt(last.ts)}`] : []),
        ...(remote !== undefined && remote.l === ts.l ? [`the remote ${fmt(remote)}`] : []),
      ];
      return wrong(
        `c=${ts.c}, but the longest chain of causally ordered events with l=${ts.l} before it has ${chain} event${chain === 1 ? '' : 's'}` +
          (parts.length > 0 ? ` (through ${parts.join(' and ')})` : ` (none: nothing it knows has this l)`) +
          `; c may never exceed it (Kulkarni et al. 2014, Theorem 4)`,
      );
    }
    this.last = { ts, obj: got, chain };
    this.issued++;
    this.maxC = Math.max(this.maxC, ts.c);
    return this.last;
  }
}

// ---- event sequences for one clock ----

/** A clock's life: its physical clock moves (forwards, not at all, or backwards), it issues, it receives. */
type Step =
  | { readonly op: 'tick'; readonly dt: number }
  /**
   * 1 ms passes, and the physical clock is stepped by dt during the next call: the call's first read of pt gives
   * the old pt + 1, every later read the stepped value (NTP stepping the clock between two reads).
   */
  | { readonly op: 'stepDuring'; readonly dt: number }
  | { readonly op: 'now' }
  /** A remote timestamp relative to the clock's pt or to its last l; 'M' is maxOffsetMs. */
  | { readonly op: 'recv'; readonly base: 'pt' | 'l'; readonly dl: number | 'M-1' | 'M' | 'M+1'; readonly c: number };

const HOUR = 3_600_000;
const dtArb = fc.oneof(
  { weight: 3, arbitrary: fc.constant(0) },
  { weight: 3, arbitrary: fc.integer({ min: 1, max: 3 }) },
  { weight: 2, arbitrary: fc.constantFrom(-1, -2, -700, -5000, 600, 1500) },
);
const clockArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('tick' as const), dt: dtArb }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('stepDuring' as const), dt: fc.constantFrom(-2, -700, 600) }) },
);
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  clockArb,
  fc.constant<Step>({ op: 'now' }),
  fc.constant<Step>({ op: 'now' }),
  fc.record({
    op: fc.constant('recv' as const),
    base: fc.constantFrom('pt' as const, 'l' as const),
    dl: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom(0, 0, 1, -1, 2) },
      { weight: 2, arbitrary: fc.integer({ min: -40, max: 40 }) },
      { weight: 2, arbitrary: fc.constantFrom<number | 'M-1' | 'M' | 'M+1'>('M-1', 'M', 'M+1', -5000, HOUR) },
    ),
    c: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 0, max: 3 }) }, { weight: 1, arbitrary: fc.constantFrom(7, 40, 1000) }),
  }),
);
const nowOnlyArb: fc.Arbitrary<Step[]> = fc.array(fc.oneof(clockArb, fc.constant<Step>({ op: 'now' }), fc.constant<Step>({ op: 'now' })), {
  minLength: 1,
  maxLength: 20,
});
const stepsArb: fc.Arbitrary<Step[]> = fc.array(stepArb, { minLength: 1, maxLength: 25 });
/** Small physical times read best; the epoch-scale one catches arithmetic that loses precision on real dates. */
const pt0Arb = fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 10_000, max: 10_005 }) }, { weight: 1, arbitrary: fc.constant(1_704_067_200_000) });
const maxOffsetArb = fc.constantFrom(500, 1000, 20);

/**
 * Runs the steps against a fresh clock; throws what is wrong, with the steps that led there. `inBound`: every
 * remote timestamp is capped at pt + maxOffsetMs (for the lowest pt the call can read), so none may be rejected.
 */
function runSteps(pt0: number, maxOffset: number, steps: readonly Step[], inBound = false): void {
  let pt = pt0;
  /** The value later reads give within the next call, when the clock is stepped during it. */
  let later: number | undefined;
  let reads: number[] = [];
  const read = (): number => {
    const v = later !== undefined && reads.length > 0 ? later : pt;
    reads.push(v);
    return v;
  };
  /** Calls the clock; returns what it did and the values pt() gave meanwhile (the current pt when it read none). */
  const run = (f: () => unknown): [Outcome, number[]] => {
    reads = [];
    const out = call(f);
    const got = reads.length > 0 ? reads : [pt];
    if (later !== undefined) {
      pt = later;
      later = undefined;
    }
    return [out, got];
  };
  const log: string[] = [`new HybridClock(pt, ${maxOffset}) at pt=${pt}`];
  const fail = (why: string): never => {
    const shown = log.length > 12 ? ['…', ...log.slice(-12)] : log;
    throw new Error(`${why}\n  steps: ${shown.join('; ')}`);
  };
  let clock: HybridClock;
  try {
    clock = new HybridClock(read, maxOffset);
  } catch (e) {
    return fail(`new HybridClock(pt, ${maxOffset}) threw ${thrown(e)}`);
  }
  const judge = new Judge(maxOffset, 'the clock');
  let lastL: number | undefined;
  for (const s of steps) {
    if (later !== undefined && (s.op === 'tick' || s.op === 'stepDuring')) {
      // No call read pt between the two steps: the first one is simply done.
      pt = later;
      later = undefined;
    }
    if (s.op === 'tick') {
      pt = Math.max(1, pt + s.dt);
      log.push(`pt ${signed(s.dt)} = ${pt}`);
      continue;
    }
    if (s.op === 'stepDuring') {
      pt += 1;
      later = Math.max(1, pt + s.dt);
      log.push(`pt +1 = ${pt}, stepped ${signed(s.dt)} = ${later} after the next call's first read`);
      continue;
    }
    if (s.op === 'now') {
      const [out, got] = run(() => clock.now());
      log.push(`now() → ${out.ok ? show(out.value) : 'throws'}`);
      const r = judge.now(got, out);
      if (typeof r === 'string') fail(r);
      lastL = (r as Issued).ts.l;
      continue;
    }
    const dl = s.dl === 'M-1' ? maxOffset - 1 : s.dl === 'M' ? maxOffset : s.dl === 'M+1' ? maxOffset + 1 : s.dl;
    const l = Math.max(0, (s.base === 'l' ? (lastL ?? pt) : pt) + dl);
    const remote: HLC = Object.freeze({ l: inBound ? Math.min(l, Math.min(pt, later ?? pt) + maxOffset) : l, c: s.c });
    const [out, got] = run(() => clock.update(remote));
    log.push(`update(${fmt(remote)}) → ${out.ok ? show(out.value) : out.error instanceof ClockOffsetError ? 'ClockOffsetError' : 'throws'}`);
    const r = judge.update(got, remote, remote.c, out);
    if (typeof r === 'string' && r !== 'rejected') fail(r);
    if (typeof r === 'object') lastL = r.ts.l;
  }
}

const NOW = (): Step => ({ op: 'now' });
const TICK = (dt: number): Step => ({ op: 'tick', dt });
const STEP_DURING = (dt: number): Step => ({ op: 'stepDuring', dt });
const RECV = (base: 'pt' | 'l', dl: number | 'M-1' | 'M' | 'M+1', c: number): Step => ({ op: 'recv', base, dl, c });

// ---- the simulated cluster ----

const NODES = ['a', 'b', 'c', 'd'];
/** d's wall clock runs an hour ahead for the whole run: its timestamps must be rejected, never adopted. */
const FAST = 'd';
const IN_BOUND = ['a', 'b', 'c'];
/** The sim's clocks start within ±500 ms of true time, so two in-bound clocks are at most 1000 ms apart. */
const SKEW_MS = 500;
const DRIFT_PPM = 200;
const MAX_OFFSET_MS = 2 * SKEW_MS;
/** Nodes issue timestamps until this virtual time; clock faults fall before it. */
const HORIZON = 300;
const SETTLE = 40;

interface Msg {
  readonly ts: HLC;
  readonly chain: number;
}

interface ClusterState {
  broken: string | undefined;
  readonly judges: Map<string, Judge>;
}

/** The grader's node: its events are local steps, sends to a random peer and receives, stamped by the learner's clock. */
class ClockNode implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private clock: HybridClock | undefined;
  private judge!: Judge;
  private stopAt = 0;

  constructor(private readonly s: ClusterState) {}

  private pt(): number {
    // Whole milliseconds, as Date.now() gives them: several events share one, so c matters.
    return Math.floor(this.ctx.wallNow());
  }

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    this.judge = new Judge(MAX_OFFSET_MS, `${ctx.id}'s clock`);
    this.s.judges.set(ctx.id, this.judge);
    this.stopAt = ctx.monoNow() + HORIZON;
    try {
      this.clock = new HybridClock(() => this.pt(), MAX_OFFSET_MS);
    } catch (e) {
      this.s.broken ??= `new HybridClock(pt, ${MAX_OFFSET_MS}) threw ${thrown(e)}`;
      return;
    }
    ctx.setTimer(this.gap(), 'tick');
  }

  private gap(): number {
    return 0.3 + 2.7 * this.ctx.rand();
  }

  onTimer(): void {
    const clock = this.clock;
    if (clock === undefined || this.s.broken !== undefined) return;
    const sendTo = this.ctx.rand() < 0.5 ? this.ctx.peers[Math.floor(this.ctx.rand() * this.ctx.peers.length)] : undefined;
    const pt = this.pt();
    const r = this.judge.now([pt], call(() => clock.now()));
    if (typeof r === 'string') {
      this.s.broken ??= r;
      return;
    }
    if (sendTo !== undefined) this.ctx.send(sendTo, { ts: r.ts, chain: r.chain });
    else this.ctx.trace({ local: fmt(r.ts) });
    if (this.ctx.monoNow() < this.stopAt) this.ctx.setTimer(this.gap(), 'tick');
  }

  onMessage(from: string, msg: Msg): void {
    const clock = this.clock;
    if (clock === undefined || this.s.broken !== undefined) return;
    const remote: HLC = Object.freeze({ l: msg.ts.l, c: msg.ts.c });
    const pt = this.pt();
    const r = this.judge.update([pt], remote, msg.chain, call(() => clock.update(remote)), ` from ${from}`);
    if (r === 'rejected') {
      this.ctx.trace({ rejected: fmt(remote), from, aheadMs: remote.l - pt });
    } else if (typeof r === 'string') {
      this.s.broken ??=
        from === FAST && remote.l - pt > MAX_OFFSET_MS && !r.includes('threw')
          ? `${r} (${FAST}'s wall clock is an hour ahead: its timestamps must never be adopted)`
          : r;
    }
  }
}

function cluster(onEnd?: (s: ClusterState) => void): World<ClockNode> {
  const s: ClusterState = { broken: undefined, judges: new Map() };
  return {
    nodes: NODES,
    proc: () => new ClockNode(s),
    network: { latency: { dist: 'uniform', min: 1, max: 15 } },
    clocks: { skewMs: SKEW_MS, driftPpm: DRIFT_PPM },
    workload: (sim) => {
      sim.fault({ code: 'SK', node: FAST, offsetMs: HOUR });
    },
    invariant: () => s.broken,
    check: () => {
      if (s.broken !== undefined) return s.broken;
      for (const n of NODES) {
        if ((s.judges.get(n)?.issued ?? 0) === 0) return `${n}'s clock issued no timestamp at all`;
      }
      onEnd?.(s);
      return undefined;
    },
  };
}

/** Clock faults on the in-bound nodes: offsets within ±500 ms, drift within ±200 ppm, steps backwards. */
const at = fc.integer({ min: 0, max: HORIZON - 1 });
const node = fc.constantFrom(...IN_BOUND);
const clockFaults: fc.Arbitrary<FaultEvent[]> = fc.array(
  fc.oneof(
    fc.record({ at, code: fc.constant('SK' as const), node, offsetMs: fc.integer({ min: -SKEW_MS, max: SKEW_MS }) }),
    fc.record({ at, code: fc.constant('DR' as const), node, ppm: fc.integer({ min: -DRIFT_PPM, max: DRIFT_PPM }) }),
    fc.record({ at, code: fc.constant('ST' as const), node, deltaMs: fc.integer({ min: -2500, max: -1 }) }),
  ),
  { maxLength: 4 },
);

describe('03-time-and-causality/03-hybrid-logical-clock', () => {
  it('hlcCompare orders by l, then by c', () => {
    const lArb = fc.oneof(fc.integer({ min: 5, max: 7 }), fc.constantFrom(1_704_067_200_000, 1_704_067_200_001));
    const tsArb = fc.record({ l: lArb, c: fc.oneof(fc.integer({ min: 0, max: 3 }), fc.constant(1000)) });
    checkProperty(
      'hlcCompare(a, b) is -1 when a.l < b.l, 1 when a.l > b.l, and for equal l compares c the same way; 0 only when both are equal',
      [tsArb, tsArb],
      (a, b) => {
        const want = cmp(a, b);
        const got = hlcCompare(Object.freeze({ ...a }), Object.freeze({ ...b }));
        if (got !== want) throw new Error(`hlcCompare(${fmt(a)}, ${fmt(b)}) = ${JSON.stringify(got)}, expected ${want}`);
      },
      {
        seed: 3301,
        examples: [
          [{ l: 5, c: 1 }, { l: 5, c: 2 }],
          [{ l: 5, c: 2 }, { l: 5, c: 1 }],
          [{ l: 5, c: 0 }, { l: 6, c: 0 }],
          [{ l: 6, c: 0 }, { l: 5, c: 1000 }],
          [{ l: 7, c: 3 }, { l: 7, c: 3 }],
          [{ l: 1_704_067_200_001, c: 0 }, { l: 1_704_067_200_000, c: 1000 }],
        ],
      },
    );
  });

  it('now() only moves forward, tracks the physical clock, and restarts c when pt moves on', () => {
    checkProperty(
      'now() is (pt, 0) when pt is past its last l (or the clock is fresh), else (last l, last c + 1)',
      [pt0Arb, maxOffsetArb, nowOnlyArb],
      (pt0, maxOffset, steps) => runSteps(pt0, maxOffset, steps),
      {
        seed: 3302,
        numRuns: 150,
        examples: [
          // Two events in one millisecond, then the millisecond moves on: c counts, then restarts at 0.
          [10_000, 500, [NOW(), NOW(), TICK(1), NOW()]],
          // The physical clock steps back 700 ms: l stays, c counts up.
          [10_000, 500, [NOW(), TICK(-700), NOW(), NOW(), TICK(1), NOW()]],
          // Real dates: timestamps around 1.7e12 ms.
          [1_704_067_200_000, 500, [NOW(), NOW(), TICK(1), NOW(), TICK(-2), NOW()]],
          // The clock is stepped back between two reads of pt in one call (10001, then 9999): a clock that reads pt
          // once per event, or uses each reading consistently, still moves forward.
          [10_000, 500, [NOW(), STEP_DURING(-2), NOW(), NOW()]],
        ],
      },
    );
  });

  it('update() of a remote within the offset bound lands after the remote timestamp and after the clock', () => {
    checkProperty(
      'update(r) with r.l ≤ pt + maxOffsetMs is (l, c) with l = max(pt, last l, r.l), c = 0 when pt alone is that max, ' +
        'else 1 + the largest c among the last timestamp and r that have that l',
      [pt0Arb, maxOffsetArb, stepsArb],
      (pt0, maxOffset, steps) => runSteps(pt0, maxOffset, steps, true),
      {
        seed: 3303,
        numRuns: 150,
        examples: [
          // A peer 300 ms ahead: adopt its l, then a message from a peer behind must not pull l back.
          [10_000, 500, [RECV('pt', 300, 0), NOW(), RECV('pt', 0, 0), NOW()]],
          // Our l (adopted) wins over a remote with a lower l and a big counter: that counter is not ours to add to.
          [10_000, 500, [RECV('pt', 300, 0), NOW(), NOW(), RECV('pt', 0, 40)]],
          // Equal l on both sides: c passes the larger counter.
          [10_000, 500, [NOW(), NOW(), RECV('l', 0, 7), RECV('l', 0, 1)]],
          // A remote far behind is harmless: accepted.
          [10_000, 500, [NOW(), RECV('pt', -5000, 3), NOW()]],
          // The physical clock steps back, then a message arrives.
          [10_000, 500, [NOW(), TICK(-700), RECV('pt', 0, 2), NOW(), TICK(701), NOW()]],
          // pt moves past the remote and the clock: c restarts at 0.
          [10_000, 500, [NOW(), NOW(), TICK(2), RECV('pt', -1, 5)]],
          // The clock is stepped back between two reads of pt in one receive.
          [10_000, 500, [NOW(), STEP_DURING(-2), RECV('pt', -5, 0), NOW()]],
        ],
      },
    );
  });

  it('update() rejects a remote too far ahead with a ClockOffsetError, and the clock carries on unchanged', () => {
    checkProperty(
      'update(r) throws ClockOffsetError(r, pt, maxOffsetMs) exactly when r.l > pt + maxOffsetMs, and leaves the clock as if r had never arrived',
      [pt0Arb, maxOffsetArb, stepsArb],
      (pt0, maxOffset, steps) => runSteps(pt0, maxOffset, steps),
      {
        seed: 3305,
        numRuns: 200,
        examples: [
          // An hour ahead: rejected, and the clock carries on as if it had never been seen.
          [10_000, 500, [NOW(), RECV('pt', HOUR, 0), NOW()]],
          // Exactly maxOffsetMs ahead is still accepted; one ms more is not.
          [10_000, 500, [NOW(), RECV('pt', 'M', 0), RECV('pt', 'M+1', 0), NOW()]],
          // A rejection on a fresh clock, then pt steps back: the first timestamp is still (pt, 0).
          [10_000, 500, [RECV('pt', HOUR, 7), TICK(-1), NOW()]],
          // A rejection while pt is past the clock's l, then pt steps back: the clock must not have taken that pt.
          [10_000, 500, [NOW(), TICK(1), RECV('pt', HOUR, 0), TICK(-1), NOW()]],
          [10_000, 500, [NOW(), TICK(1), RECV('pt', HOUR, 0), TICK(-1), RECV('pt', 0, 0)]],
        ],
      },
    );
  });

  it('in a cluster with skewed, drifting and stepping clocks, timestamps respect causality and the bounds, and the node an hour ahead is never followed', async () => {
    await simProperty({
      property:
        `a cluster of four (maxOffsetMs = ${MAX_OFFSET_MS}, pt = the wall clock in whole ms, ${FAST}'s an hour ahead): every timestamp ` +
        `follows the HLC rules, and every remote more than maxOffsetMs ahead of pt is rejected`,
      seed: 3304,
      world: (): World<ClockNode> => cluster(),
      faults: clockFaults,
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 24,
      killers: [
        // Only the initial skew (±500 ms) and drift (±200 ppm), and d an hour ahead.
        { seed: 1, schedule: [] },
        // a and b as far apart as the bound allows: b adopts a's l and counts c up for hundreds of ms.
        {
          seed: 2,
          schedule: [
            { at: 0, code: 'SK', node: 'a', offsetMs: SKEW_MS },
            { at: 0, code: 'SK', node: 'b', offsetMs: -SKEW_MS },
            { at: 0, code: 'SK', node: 'c', offsetMs: 0 },
          ],
        },
        // b's wall clock steps back 2 s: its timestamps keep increasing, and it now rejects the others for a while.
        { seed: 3, schedule: [{ at: 100, code: 'ST', node: 'b', deltaMs: -2000 }] },
        // Drift both ways and a small step back on a fast clock.
        {
          seed: 4,
          schedule: [
            { at: 0, code: 'DR', node: 'a', ppm: DRIFT_PPM },
            { at: 0, code: 'DR', node: 'c', ppm: -DRIFT_PPM },
            { at: 0, code: 'SK', node: 'a', offsetMs: 400 },
            { at: 150, code: 'ST', node: 'a', deltaMs: -300 },
          ],
        },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    // Any correct clock gives the same figure: the counter is fixed by the rules. A larger one is a bound broken.
    let maxC = 0;
    const world = (): World<ClockNode> =>
      cluster((s) => {
        for (const j of s.judges.values()) maxC = Math.max(maxC, j.maxC);
      });
    const schedule: FaultEvent[] = [
      { at: 0, code: 'SK', node: 'a', offsetMs: SKEW_MS },
      { at: 0, code: 'SK', node: 'b', offsetMs: -SKEW_MS },
    ];
    await runCase({ property: 'metrics', world, horizonMs: HORIZON, settleMs: SETTLE }, { seed: 2, schedule });
    recordMetric({ name: 'largest counter c issued (a and b 1000 ms apart)', value: maxC, unit: 'events', better: 'lower' });
  });
});
