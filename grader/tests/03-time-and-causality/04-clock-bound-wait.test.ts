// Hidden tests for 03-time-and-causality/04-clock-bound-wait: NTP's offset bound, an interval clock that widens with drift, and commit wait across skewed nodes.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkProperty, metricsWanted, recordMetric } from '@dlab/harness';
import { checkLinearizable, defineModel } from '@dlab/harness/lincheck';
import { Rng, runCase, simProperty, TimeServer, WALL_EPOCH, type Ctx, type FaultEvent, type LinkSpec, type NodeId, type Proc, type Schedule, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { CommitWaitKV, estimateOffset, IntervalClock } from '@impl/03-time-and-causality/04-clock-bound-wait';

const ID = '03-time-and-causality/04-clock-bound-wait';
/** Rounding slack for comparisons, in ms (values near 1.7e12 carry about 0.25 µs of float precision). */
const TOL = 0.001;
/** JSON, with the numbers JSON cannot write (Infinity, NaN) written as themselves. */
const q = (v: unknown): string =>
  JSON.stringify(v, (_k, x: unknown) => (typeof x === 'number' && !Number.isFinite(x) ? `\u0000${x}` : x))?.replace(/"\\u0000([^"]*)"/g, '$1') ?? String(v);
const f3 = (x: number): string => (Number.isFinite(x) ? String(Math.round(x * 1000) / 1000) : String(x));
/** A number relative to a reference, as "ref + 3.2 ms". */
const rel = (x: number, ref: number, name: string): string => {
  if (!Number.isFinite(x)) return String(x);
  const d = x - ref;
  return `${name} ${d >= 0 ? '+' : '−'} ${f3(Math.abs(d))} ms`;
};

// ---------------------------------------------------------------------------------------------------------------
// estimateOffset: RFC 5905's on-wire calculation, judged against the true offset of generated exchanges.
// ---------------------------------------------------------------------------------------------------------------

interface Sample {
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
}
/** One exchange as it really happened: request in flight d1, held at the server, answer in flight d2 (client ms). */
interface Leg {
  readonly gap: number;
  readonly d1: number;
  readonly hold: number;
  readonly d2: number;
}
interface OffsetCase {
  /** Server clock minus client clock: what the estimate must bound. */
  readonly trueOffset: number;
  readonly samples: readonly Sample[];
}

function exchanges(trueOffset: number, mono0: number, legs: readonly Leg[]): OffsetCase {
  const samples: Sample[] = [];
  let t = mono0;
  for (const l of legs) {
    const t0 = t + l.gap;
    const t1 = t0 + l.d1 + trueOffset;
    const t2 = t1 + l.hold;
    const t3 = t0 + l.d1 + l.hold + l.d2;
    samples.push(Object.freeze({ t0, t1, t2, t3 }));
    t = t3;
  }
  return { trueOffset, samples: Object.freeze(samples) };
}

/** Multiples of 1/64 ms, so the formulas are exact in floating point whatever order they are computed in. */
const q64 = (min: number, max: number): fc.Arbitrary<number> => fc.integer({ min: Math.round(min * 64), max: Math.round(max * 64) }).map((x) => x / 64);
/** A one-way delay: often exactly 0 (the true offset then sits on the edge of the interval), often lopsided. */
const oneWay = fc.oneof({ weight: 1, arbitrary: fc.constant(0) }, { weight: 3, arbitrary: q64(0, 3) }, { weight: 3, arbitrary: q64(0, 80) });
const legArb: fc.Arbitrary<Leg> = fc.record({
  gap: fc.oneof(fc.constant(0), q64(0, 2000)),
  d1: oneWay,
  hold: fc.oneof(fc.constant(0), q64(0, 5), q64(0, 60)),
  d2: oneWay,
});
const offsetCaseArb: fc.Arbitrary<OffsetCase> = fc
  .record({
    mono0: q64(1000, 1_000_000),
    // Small offsets, and the real thing: a monotonic client clock against a server's wall clock (ms since 1970).
    trueOffset: fc.oneof(q64(-5000, 5000), q64(0, 1e8).map((x) => WALL_EPOCH + x - 500_000)),
    legs: fc.array(legArb, { minLength: 1, maxLength: 8 }),
  })
  .map((c) => exchanges(c.trueOffset, c.mono0, c.legs));

const delayOf = (s: Sample): number => s.t3 - s.t0 - (s.t2 - s.t1);
const showSamples = (ss: readonly Sample[]): string =>
  '[' + ss.map((s) => `{t0:${s.t0}, t1:${s.t1}, t2:${s.t2}, t3:${s.t3}} (delay ${f3(delayOf(s))})`).join(', ') + ']';

function callEstimate(samples: readonly Sample[]): { offset: number; error: number } {
  const r = estimateOffset(samples) as unknown;
  const o = r as { offset?: unknown; error?: unknown } | null;
  if (typeof r !== 'object' || o === null || typeof o.offset !== 'number' || typeof o.error !== 'number' || !Number.isFinite(o.offset) || !Number.isFinite(o.error)) {
    throw new Error(`estimateOffset(${showSamples(samples)}) returned ${q(r)}, not { offset: number, error: number } with finite numbers`);
  }
  if (o.error < 0) throw new Error(`estimateOffset(${showSamples(samples)}) returned error ${o.error}: an error bound is never negative`);
  return { offset: o.offset, error: o.error };
}

// ---------------------------------------------------------------------------------------------------------------
// IntervalClock: the error grows by the drift bound times the local time since the sync.
// ---------------------------------------------------------------------------------------------------------------

interface ClockStep {
  /** A new sync before this step: the true offset lies at `e` (−1..1) of its error from the estimate. */
  readonly resync: { readonly error: number; readonly e: number } | null;
  /** Local (monotonic) ms that pass in this step. */
  readonly advance: number;
  /** How the clock really drifted in it, as a fraction (−1..1) of the drift bound (−1: the local clock ran fast). */
  readonly u: number;
}
interface ClockCase {
  readonly ppm: number;
  readonly mono0: number;
  readonly trueOffset: number;
  readonly steps: readonly ClockStep[];
}
const clockCaseArb: fc.Arbitrary<ClockCase> = fc.record({
  ppm: fc.oneof(fc.constantFrom(100, 200), fc.integer({ min: 1, max: 1000 })),
  mono0: q64(1000, 1_000_000),
  trueOffset: fc.oneof(q64(-5000, 5000), q64(0, 1e8).map((x) => WALL_EPOCH + x)),
  steps: fc.array(
    fc.record({
      resync: fc.option(fc.record({ error: fc.oneof(fc.constant(0), q64(0, 50)), e: fc.oneof(fc.constantFrom(-1, 1), fc.double({ min: -1, max: 1, noNaN: true })) }), { freq: 2 }),
      advance: fc.oneof(fc.constant(0), q64(0, 100), q64(0, 120_000)),
      u: fc.oneof(fc.constantFrom(-1, 1), fc.double({ min: -1, max: 1, noNaN: true })),
    }),
    { minLength: 1, maxLength: 6 },
  ),
});

function checkClockCase(c: ClockCase): void {
  const rho = c.ppm / 1e6;
  let mono = c.mono0;
  let truth = c.mono0 + c.trueOffset;
  let sync: { offset: number; error: number; atMono: number } | undefined;
  const clock = new IntervalClock(() => mono, () => sync, c.ppm);
  const story: string[] = [];
  for (const st of c.steps) {
    if (st.resync !== null) {
      // The sync's estimate, placed so that the truth sits at e·error from it.
      sync = Object.freeze({ offset: truth - mono - st.resync.e * st.resync.error, error: st.resync.error, atMono: mono });
      story.push(`sync {offset: ${sync.offset}, error: ${sync.error}, atMono: ${sync.atMono}}`);
    }
    mono += st.advance;
    truth += st.advance * (1 - st.u * rho);
    story.push(`mono() = ${mono}`);
    const r = clock.now() as unknown;
    const o = r as { earliest?: unknown; latest?: unknown } | null;
    const where = () => `IntervalClock(mono, lastSync, ${c.ppm}) after ${story.join(', ')}: now() = ${q(r)}`;
    if (typeof r !== 'object' || o === null || typeof o.earliest !== 'number' || typeof o.latest !== 'number') {
      throw new Error(`${where()}, not { earliest: number, latest: number }`);
    }
    const { earliest, latest } = o as { earliest: number; latest: number };
    if (sync === undefined) {
      if (earliest !== -Infinity || latest !== Infinity) {
        throw new Error(`${where()}: before the first sync nothing is known, so now() must be { earliest: -Infinity, latest: Infinity }`);
      }
      continue;
    }
    const elapsed = Math.abs(mono - sync.atMono);
    const mid = mono + sync.offset;
    if (!(earliest - TOL <= truth && truth <= latest + TOL)) {
      throw new Error(
        `${where()} (${rel(earliest, truth, 'true time')} .. ${rel(latest, truth, 'true time')}), but the true time is ${truth}, outside it. ` +
          `${f3(elapsed)} local ms after a sync with error ${sync.error}, a clock that drifts up to ${c.ppm} ppm may be ${f3(rho * elapsed)} ms further off: ` +
          `the error must be ${sync.error} + ${c.ppm}/10⁶ × ${f3(elapsed)} = ${f3(sync.error + rho * elapsed)} ms`,
      );
    }
    const slack = sync.error + (rho * elapsed) / (1 - rho) + TOL;
    if (earliest < mid - slack || latest > mid + slack) {
      throw new Error(
        `${where()}: wider than it need be. With offset ${sync.offset} the estimate is ${mid}, and ${f3(elapsed)} local ms after a sync with error ${sync.error} ` +
          `the error is at most ${sync.error} + ${c.ppm}/10⁶ × ${f3(elapsed)} = ${f3(sync.error + rho * elapsed)} ms (a little more if you divide by 1 − ρ), ` +
          `so the interval lies within ${f3(mid)} ± ${f3(slack - TOL)}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------------
// The simulation: three CommitWaitKV nodes, a time server, a shared versioned store, skewed and drifting clocks.
// ---------------------------------------------------------------------------------------------------------------

const KV = ['n1', 'n2', 'n3'] as const;
const NTP = 'ntp';
const STORE = 'store';
const NODES: readonly NodeId[] = [...KV, STORE, NTP];
const KEYS = ['x', 'y'] as const;
/** Faults fall in [0, HORIZON); then everything heals. */
const HORIZON = 65_000;
const SETTLE = 2_500;
/** Clocks drift by at most this much (the nodes assume DRIFT_PPM, at least this). */
const DRIFT_MAX_PPM = 100;
/** Wall clocks are set up to this far from true time (they are not to be trusted; nothing should read them). */
const SKEW_MAX_MS = 1_000;
/** The time server holds a request up to this long before it answers. */
const HOLD_MAX = 2;
/** The store's worst round trip from any node, without delay faults (both directions up to 4 ms). */
const STORE_RTT = 8;
/** Operations run in these windows of virtual time (the third one ends a 60 s outage of the time server). */
const BURSTS: readonly (readonly [number, number])[] = [
  [0, 500],
  [61_700, 62_200],
  [HORIZON + 300, HORIZON + 700],
];
/** Nodes ask the time server at least this often. */
const SYNC_MAX_MS = 2_000;
/** After this long with the time server reachable and no delay fault, a node's interval must be narrow again. */
const CALM_MS = 2 * SYNC_MAX_MS;
/** How much wider than its worst round trip to the time server a node's interval may be, once calm. */
const WIDTH_SLACK = 10;
/** Time requests per node per second, and store requests per operation, on average over the run. */
const TIME_REQ_PER_S = 10;
const STORE_REQ_PER_OP = 3;
/**
 * The rate the grader allows: 5 % over TIME_REQ_PER_S, so that a node polling exactly 10 times a second passes
 * although it also asks at t = 0 and its clock may run 100 ppm fast.
 */
const TIME_REQ_ALLOWED = TIME_REQ_PER_S * 1.05;
/** The grader looks at every node's interval at least this often (besides after every event). */
const PROBE_MS = 1_000;
/**
 * Without a delay fault an operation settles within 2·(max(w, R) + STORE_RTT) + this, where w is its node's interval
 * width when it was called (or at the node's first sync) and R the node's worst round trip to the time server (a
 * new sync may widen the interval up to about that).
 */
const OP_SLACK = 10;
/** With a delay fault in force at some point of its life, within this. */
const OP_MAX_FAULTY = 2_000;

/** One node's links to the time server: latency of the request (out) and of the answer (back), in ms. */
interface Path {
  readonly out: readonly [number, number];
  readonly back: readonly [number, number];
}
type Node = (typeof KV)[number];
type Net = Readonly<Record<Node, Path>>;

const FAST: readonly [number, number] = [0.3, 1.5];
/** Hand-written networks, by world seed: lopsided paths, so that the NTP midpoint is off by several ms. */
const NETS: Readonly<Record<number, Net>> = {
  1: { n1: { out: [15, 20], back: [0.3, 1] }, n2: { out: FAST, back: FAST }, n3: { out: [0.3, 1], back: [15, 20] } },
  2: { n1: { out: [8, 12], back: [0.3, 0.8] }, n2: { out: [0.3, 0.8], back: [8, 12] }, n3: { out: FAST, back: FAST } },
  3: { n1: { out: [20, 25], back: [0.3, 1] }, n2: { out: [0.3, 1], back: [0.3, 1] }, n3: { out: [0.3, 1], back: [4, 6] } },
};

function randomNet(rng: Rng): Net {
  const path = (): Path => {
    const lo = 0.3 + rng.float() * 20;
    const slow: readonly [number, number] = [lo, lo + rng.float() * 8];
    const r = rng.float();
    return r < 0.4 ? { out: slow, back: FAST } : r < 0.8 ? { out: FAST, back: slow } : { out: FAST, back: FAST };
  };
  return { n1: path(), n2: path(), n3: path() };
}

/** A node's worst round trip to the time server (both legs at their maximum, the longest hold). */
const rttMax = (p: Path): number => p.out[1] + p.back[1] + HOLD_MAX;

interface Version {
  readonly ts: number;
  readonly value: string;
}
type StoreMsg = { kind: string; key?: unknown; ts?: unknown; value?: unknown; id?: unknown; version?: unknown };

/**
 * The provided shared store: every version of every key, ordered by (timestamp, value). A request it cannot
 * serve goes to `onBad` (the run fails with that one line) and is ignored.
 */
class VersionedStore implements Proc<StoreMsg> {
  private ctx!: Ctx<StoreMsg>;
  readonly versions = new Map<string, Version[]>();
  constructor(private readonly onBad: (why: string) => void) {}
  init(ctx: Ctx<StoreMsg>): void {
    this.ctx = ctx;
  }
  onMessage(from: NodeId, m: StoreMsg, reply?: (r: StoreMsg) => void): void {
    const why = this.problem(m);
    if (why !== undefined) return this.onBad(`the store got ${q(m)} from ${from}: ${why}`);
    const key = m.key as string;
    const ts = m.ts as number;
    const vs = this.versions.get(key) ?? [];
    const echo = m.id === undefined ? {} : { id: m.id };
    let res: StoreMsg;
    if (m.kind === 'write') {
      const value = m.value as string;
      let i = vs.length;
      while (i > 0 && (vs[i - 1]!.ts > ts || (vs[i - 1]!.ts === ts && vs[i - 1]!.value > value))) i--;
      // Writing a version that is already stored (a retry) changes nothing.
      if (!(i > 0 && vs[i - 1]!.ts === ts && vs[i - 1]!.value === value)) vs.splice(i, 0, { ts, value });
      this.versions.set(key, vs);
      res = { kind: 'written', key, ts, ...echo };
    } else {
      let v: Version | null = null;
      for (let i = vs.length - 1; i >= 0; i--) {
        if (vs[i]!.ts <= ts) {
          v = vs[i]!;
          break;
        }
      }
      res = { kind: 'version', key, ts, version: v === null ? null : { ts: v.ts, value: v.value }, ...echo };
    }
    if (reply !== undefined) reply(res);
    else this.ctx.send(from, res);
  }
  /** What is wrong with a request, or undefined. */
  private problem(m: StoreMsg): string | undefined {
    const kinds = `it answers { kind: 'write', key, ts, value } and { kind: 'read', key, ts }`;
    if (typeof m !== 'object' || m === null || (m.kind !== 'write' && m.kind !== 'read')) return kinds;
    if (typeof m.key !== 'string') return 'the key must be a string';
    if (typeof m.ts !== 'number' || Number.isNaN(m.ts)) return 'the timestamp must be a number';
    if (m.kind === 'write' && typeof m.value !== 'string') return 'the value must be a string';
    if (m.kind === 'write' && !Number.isFinite(m.ts)) return 'a version needs a finite timestamp (was it taken before the first sync?)';
    return undefined;
  }
}

type AnyNode = CommitWaitKV | VersionedStore | TimeServer;
const NOW = (p: AnyNode): unknown => (p as CommitWaitKV).now();

/** One operation the grader called, and what became of it. */
interface OpRec {
  readonly id: number;
  readonly node: string;
  readonly kind: 'put' | 'get';
  readonly key: string;
  readonly value: string | undefined;
  readonly at: number;
  /** The node's interval width when the op was called (Infinity before its first sync). */
  width: number;
  deadline: number;
  /** The completed put with the largest timestamp when this put was called: its own must be larger. */
  readonly mustExceed: OpRec | undefined;
  ts: number;
  end: number;
  result: string | undefined;
  done: boolean;
}

const describeOp = (o: OpRec): string => (o.kind === 'put' ? `put(${q(o.key)}, ${q(o.value)}) on ${o.node}` : `get(${q(o.key)}) on ${o.node}`);

/** A kv model whose never-written key reads as null (the history records a get of undefined as null). */
const kvModel = defineModel<string | null, { f: string; value: unknown }, unknown>({
  name: 'kv',
  init: () => null,
  decode: (op) => ({ input: { f: op.f, value: op.value }, output: op.status === 'ok' ? op.result : undefined }),
  step: (state, input, output) => {
    if (input.f === 'put') return input.value as string;
    return output === undefined || output === state ? state : undefined;
  },
  partition: (op) => op.key ?? '',
  describe: (op) => (op.f === 'put' ? `put(${q(op.value)})${op.status === 'ok' ? '' : ' -> ?'}` : `get() -> ${op.status === 'ok' ? q(op.result) : '?'}`),
});

/** Fault windows of the schedule that matter to the checks: the time server cut off, delay faults. */
interface Windows {
  /** [from, to) intervals when the time server was unreachable or R was in force. */
  readonly unquiet: [number, number][];
  /**
   * [from, to) intervals when R was in force, or a message it delayed may still be on its way (an exchange started
   * just before R ended can finish 2 × maxMs late, and a node may install the slow sample it gave).
   */
  readonly delayed: [number, number][];
}
function windowsOf(s: Schedule): Windows {
  const unquiet: [number, number][] = [];
  const delayed: [number, number][] = [];
  let cutSince: number | undefined;
  let rSince: number | undefined;
  let rTail = 0;
  const sorted = [...s, { at: HORIZON, code: 'H' } as FaultEvent].sort((a, b) => a.at - b.at);
  for (const f of sorted) {
    if (f.code === 'P') {
      const cut = f.groups.some((g) => g.includes(NTP));
      if (cut && cutSince === undefined) cutSince = f.at;
      if (!cut && cutSince !== undefined) {
        unquiet.push([cutSince, f.at]);
        cutSince = undefined;
      }
    } else if (f.code === 'R') {
      if (f.pct > 0) {
        rSince ??= f.at;
        rTail = Math.max(rTail, 2 * f.maxMs + 50);
      }
      if (f.pct === 0 && rSince !== undefined) {
        delayed.push([rSince, f.at + rTail]);
        unquiet.push([rSince, f.at + rTail]);
        rSince = undefined;
        rTail = 0;
      }
    } else if (f.code === 'H') {
      if (cutSince !== undefined) unquiet.push([cutSince, f.at]);
      if (rSince !== undefined) {
        delayed.push([rSince, f.at + rTail]);
        unquiet.push([rSince, f.at + rTail]);
      }
      cutSince = rSince = undefined;
      rTail = 0;
    }
  }
  return { unquiet, delayed };
}
const overlaps = (ws: readonly [number, number][], from: number, to: number): boolean => ws.some(([a, b]) => a <= to && from < b);

interface Outcome {
  readonly ops: readonly OpRec[];
  readonly timeRequests: number;
}

function makeWorld(c: SimCase, out?: (o: Outcome) => void): World<AnyNode> {
  const rng = new Rng(c.seed);
  const net = NETS[c.seed] ?? randomNet(rng.split('net'));
  const wl = rng.split('workload');
  const links: LinkSpec[] = [];
  for (const x of KV) {
    const p = net[x];
    links.push({ from: x, to: NTP, latency: { dist: 'uniform', min: p.out[0], max: p.out[1] } });
    links.push({ from: NTP, to: x, latency: { dist: 'uniform', min: p.back[0], max: p.back[1] } });
  }
  links.push({ from: STORE, latency: { dist: 'uniform', min: 0.3, max: STORE_RTT / 2 } });
  links.push({ to: STORE, latency: { dist: 'uniform', min: 0.3, max: STORE_RTT / 2 } });
  const win = windowsOf(c.schedule);
  let store: VersionedStore | undefined;
  let broken: string | undefined;
  const fail = (why: string): void => {
    broken ??= why;
  };
  const ops: OpRec[] = [];
  const pending = new Set<OpRec>();
  let lastPut: OpRec | undefined;
  let nextId = 0;
  /** When the time server last sent each node an answer (virtual time). */
  const lastAnswer = new Map<string, number>();
  let timeRequests = 0;
  let storeRequests = 0;
  let traceCursor = 0;
  const truthAt = (t: number): number => WALL_EPOCH + t;
  /** When an operation on `x` called (or first able to start) at `from` with the interval `width` wide must have settled. */
  const deadlineFor = (x: string, width: number, from: number): number => from + 2 * (Math.max(width, rttMax(net[x as Node])) + STORE_RTT) + OP_SLACK;
  /** Counts the requests sent since the last count (only who sent to whom: never what they say). */
  const countRequests = (sim: Sim<AnyNode>): void => {
    const tr = sim.trace;
    for (let i = Math.max(traceCursor, tr.first); i < tr.length; i++) {
      const ev = tr.at(i)!;
      if (ev.kind !== 'send' || ev.node === undefined || ev.node === NTP || ev.node === STORE) continue;
      if (ev.peer === NTP) timeRequests++;
      else if (ev.peer === STORE) storeRequests++;
    }
    traceCursor = tr.length;
  };
  /** Calm since: the end of the last unquiet window before t, or 0. */
  const calmSince = (t: number): number | undefined => {
    let since = 0;
    for (const [a, b] of win.unquiet) {
      if (a <= t && t < b) return undefined;
      if (b <= t) since = Math.max(since, b);
    }
    return since;
  };

  const readInterval = (sim: Sim<AnyNode>, x: string): { earliest: number; latest: number } | undefined => {
    if (!sim.node(x).up) return undefined;
    let r: unknown;
    try {
      r = sim.asNode(x, NOW);
    } catch (e) {
      fail(`${x}.now() threw at t=${f3(sim.now)} ms: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
    const o = r as { earliest?: unknown; latest?: unknown } | null;
    if (typeof r !== 'object' || o === null || typeof o.earliest !== 'number' || typeof o.latest !== 'number' || Number.isNaN(o.earliest) || Number.isNaN(o.latest)) {
      fail(`${x}.now() returned ${q(r)} at t=${f3(sim.now)} ms, not { earliest: number, latest: number }`);
      return undefined;
    }
    return o as { earliest: number; latest: number };
  };

  const settle = (sim: Sim<AnyNode>, o: OpRec, result: unknown): void => {
    if (o.done) return;
    o.done = true;
    o.end = sim.now;
    pending.delete(o);
    const truth = truthAt(sim.now);
    if (o.kind === 'get') {
      if (result !== undefined && typeof result !== 'string') {
        fail(`${describeOp(o)} resolved to ${q(result)} at t=${f3(sim.now)} ms: a get resolves to a value some put stored, or undefined`);
        return;
      }
      o.result = result;
      return;
    }
    if (typeof result !== 'number' || !Number.isFinite(result)) {
      fail(`${describeOp(o)} resolved to ${q(result)} at t=${f3(sim.now)} ms, not a finite timestamp (its version's timestamp, on the time server's scale)`);
      return;
    }
    o.ts = result;
    const stored = store?.versions.get(o.key)?.some((v) => v.ts === result && v.value === o.value);
    if (!stored) {
      fail(
        `${describeOp(o)} resolved at t=${f3(sim.now)} ms with timestamp ${result} (${rel(result, truth, 'true time')}), but the store holds no version of ${q(o.key)} ` +
          `with that timestamp and value: a put resolves only once its version is stored, and with that version's timestamp`,
      );
      return;
    }
    const a = o.mustExceed;
    if (a !== undefined && !(result > a.ts)) {
      fail(
        `external consistency: ${describeOp(a)} returned at t=${f3(a.end)} ms with timestamp ${rel(a.ts, truthAt(a.end), 'the true time then')}, ` +
          `and ${describeOp(o)}, called after that (at t=${f3(o.at)} ms), returned timestamp ${rel(result, truthAt(o.at), 'the true time at its call')}, not larger. ` +
          `A put that returns before another starts must have the smaller timestamp, whichever nodes ran them: ` +
          (a.ts >= truthAt(a.end)
            ? `${a.node} acknowledged before the true time had reached its timestamp (commit wait: wait until now().earliest > ts)`
            : `${o.node}'s timestamp was earlier than the true time when it was called (take ts = now().latest, and keep the interval around the true time)`),
      );
      return;
    }
    if (lastPut === undefined || result > lastPut.ts) lastPut = o;
  };

  /** Linearizability per key of the history so far; what is wrong, in words, or undefined. */
  const linearizable = (sim: Sim<AnyNode>): string | undefined => {
    const r = checkLinearizable(sim.history, kvModel);
    if (r.verdict === 'linearizable') return undefined;
    if (r.verdict !== 'not-linearizable') return `the history could not be checked: ${r.verdict === 'unknown' ? r.reason : r.error.message}`;
    const key = r.counterexample.key;
    const values = new Set<unknown>();
    for (const o of r.counterexample.ops) values.add(o.f === 'put' ? o.value : o.result);
    const puts = ops.filter((o) => o.kind === 'put' && o.key === key && values.has(o.value) && o.done);
    return (
      'a get missed a put that had returned before the get was called, or gets saw values in an order no single history allows ' +
      '(a get reads at a timestamp no earlier than its call, and returns only once that timestamp has passed):\n' +
      r.rendered +
      (puts.length === 0
        ? ''
        : '\n\nThe timestamps of those puts:\n' +
          puts.map((o) => `  ${describeOp(o)}, called at t=${f3(o.at)} ms, returned at t=${f3(o.end)} ms: ts = ${rel(o.ts, truthAt(o.at), 'true time at its call')}`).join('\n'))
    );
  };

  const call = async (sim: Sim<AnyNode>, ci: number, node: string, kind: 'put' | 'get', key: string, value: string | undefined): Promise<void> => {
    const client = sim.clients[ci]!;
    const iv = readInterval(sim, node);
    const width = iv === undefined ? Infinity : iv.latest - iv.earliest;
    const o: OpRec = {
      id: nextId++,
      node,
      kind,
      key,
      value,
      at: sim.now,
      width,
      deadline: Number.isFinite(width) ? deadlineFor(node, width, sim.now) : Infinity,
      mustExceed: kind === 'put' ? lastPut : undefined,
      ts: NaN,
      end: NaN,
      result: undefined,
      done: false,
    };
    ops.push(o);
    pending.add(o);
    await client.invoke(
      kind === 'put' ? { f: 'put', key, value } : { f: 'get', key },
      async () => {
        const p = sim.asNode(node, (kv) => (kind === 'put' ? (kv as CommitWaitKV).put(key, value!) : (kv as CommitWaitKV).get(key)));
        const r: unknown = await p;
        settle(sim, o, r);
        return { type: 'ok', value: kind === 'put' ? r : (r ?? null) };
      },
      { timeoutMs: 5_000 },
    );
  };

  const workload = async (sim: Sim<AnyNode>): Promise<void> => {
    store = sim.node(STORE).proc as VersionedStore;
    // A look at every node each second, even if the nodes fall silent.
    for (let t = PROBE_MS; t <= HORIZON + SETTLE; t += PROBE_MS) sim.at(t, () => undefined);
    let counter = 0;
    const values: string[] = [];
    const runClient = async (ci: number, end: number): Promise<void> => {
      while (sim.now < end) {
        const node = KV[wl.int(0, KV.length - 1)]!;
        const key = KEYS[wl.int(0, KEYS.length - 1)]!;
        if (wl.float() < 0.5) {
          // Mostly fresh values; now and then the empty string, or a value written before (equal values collide).
          const r = wl.float();
          const value = r < 0.08 ? '' : r < 0.16 && values.length > 0 ? values[wl.int(0, values.length - 1)]! : `v${++counter}`;
          values.push(value);
          await call(sim, ci, node, 'put', key, value);
        } else {
          await call(sim, ci, node, 'get', key, undefined);
        }
        // Often (30 %) the next operation starts at the very instant the last one returned, on another node.
        if (wl.float() < 0.7) await sim.sleep(wl.float() * 40);
      }
    };
    for (const [from, to] of BURSTS) {
      if (sim.now < from) await sim.sleep(from - sim.now);
      await Promise.all([0, 1, 2].map((ci) => runClient(ci, to)));
      // Checked after every burst, so the diagram of a failure shows the operations that broke it.
      const lin = linearizable(sim);
      if (lin !== undefined) fail(lin);
    }
  };

  return {
    nodes: NODES,
    clients: 3,
    network: { links },
    proc: (id): AnyNode =>
      id === NTP
        ? new TimeServer({ holdMaxMs: HOLD_MAX, onAnswer: (to, _t1, t2) => lastAnswer.set(to, t2 - WALL_EPOCH), onBadRequest: (_from, why) => fail(why) })
        : id === STORE
          ? new VersionedStore(fail)
          : new CommitWaitKV(),
    workload,
    invariant: (sim) => {
      if (broken !== undefined) return broken;
      const now = sim.now;
      const truth = truthAt(now);
      if (sim.trace.length - traceCursor > 2_000) countRequests(sim);
      const calm = calmSince(now);
      for (const x of KV) {
        const iv = readInterval(sim, x);
        if (broken !== undefined) return broken;
        if (iv === undefined) continue;
        if (iv.earliest > iv.latest) return `${x}.now() at t=${f3(now)} ms is ${q(iv)}: earliest is after latest`;
        if (!(iv.earliest - TOL <= truth && truth <= iv.latest + TOL)) {
          const last = lastAnswer.get(x);
          // The first line is the same whichever side was missed and whatever the cause (it names the classic mistake).
          return (
            `${x}'s interval at t=${f3(now)} ms misses the true time (the time server's clock) by ${f3(truth < iv.earliest ? iv.earliest - truth : truth - iv.latest)} ms.\n` +
            `${x}.now() = [${rel(iv.earliest, truth, 'true time')}, ${rel(iv.latest, truth, 'true time')}]. ` +
            (last === undefined ? `The time server has not answered ${x} yet. ` : `The time server last answered ${x} at t=${f3(last)} ms, ${f3((now - last) / 1000)} s ago. `) +
            `An interval must always hold the true time: half the round-trip delay of the sample it came from (the paths may be lopsided), ` +
            `plus the drift bound (at least the clocks' real drift) times the local (monotonic) time since that sample's t0`
          );
        }
        const w = iv.latest - iv.earliest;
        if (Number.isFinite(w)) {
          for (const o of pending) {
            if (o.node !== x || o.deadline !== Infinity) continue;
            // Called before the node's first sync: the clock starts now.
            o.width = w;
            o.deadline = deadlineFor(x, w, now);
          }
        }
        if (calm !== undefined && now >= CALM_MS && now - calm >= CALM_MS) {
          const bound = rttMax(net[x]) + WIDTH_SLACK;
          if (!(w <= bound)) {
            return (
              `${x}'s interval at t=${f3(now)} ms is ${f3(w)} ms wide, but the time server has been reachable with no delay fault for ${f3((now - calm) / 1000)} s, ` +
              `and its round trip to ${x} takes at most ${f3(rttMax(net[x]))} ms: after ${CALM_MS / 1000} s of calm an interval is at most that + ${WIDTH_SLACK} ms wide ` +
              `(ask the time server at least every ${SYNC_MAX_MS / 1000} s, keep the best recent sample, and assume a drift bound of at most 1000 ppm)`
            );
          }
        }
      }
      for (const o of pending) {
        const limit = overlaps(win.delayed, o.at, now) ? o.at + OP_MAX_FAULTY : o.deadline;
        if (now > limit) {
          return (
            `${describeOp(o)}, called at t=${f3(o.at)} ms, has not settled at t=${f3(now)} ms: ` +
            (overlaps(win.delayed, o.at, now)
              ? `with delay faults, every operation settles within ${OP_MAX_FAULTY} ms`
              : `${o.node}'s interval was ${f3(o.width)} ms wide when it was called (or at its first sync, if later), and a new sync can make it up to ` +
                `${f3(rttMax(net[o.node as Node]))} ms wide (its worst round trip to the time server); the commit wait needs about that long, and the store answers within ` +
                `${STORE_RTT} ms, so an operation settles within 2 × (the larger width + ${STORE_RTT}) + ${OP_SLACK} ms, here by t=${f3(o.deadline)} ms`)
          );
        }
      }
      return undefined;
    },
    check: (sim) => {
      countRequests(sim);
      out?.({ ops, timeRequests });
      if (pending.size > 0) {
        const o = [...pending][0]!;
        return `${describeOp(o)}, called at t=${f3(o.at)} ms, never settled`;
      }
      const lin = linearizable(sim);
      if (lin !== undefined) return lin;
      const seconds = (HORIZON + SETTLE) / 1000;
      const perNode = timeRequests / KV.length / seconds;
      if (perNode > TIME_REQ_ALLOWED) {
        return (
          `the nodes sent the time server ${timeRequests} requests in ${seconds} s, ${f3(perNode)} per node per second: at most ${TIME_REQ_PER_S} on average ` +
          `(${TIME_REQ_ALLOWED} allowed, for the first request and clocks that run fast; the reference sends 1)`
        );
      }
      const perOp = storeRequests / Math.max(1, ops.length);
      if (perOp > STORE_REQ_PER_OP) {
        return `the nodes sent the store ${storeRequests} requests for ${ops.length} operations, ${f3(perOp)} each: at most ${STORE_REQ_PER_OP} on average (the reference sends 1)`;
      }
      return undefined;
    },
  };
}

const ppmArb = fc.oneof(fc.constantFrom(-DRIFT_MAX_PPM, DRIFT_MAX_PPM), fc.integer({ min: -DRIFT_MAX_PPM, max: DRIFT_MAX_PPM }));
/** Drift on every node from the start, maybe a long outage of the time server, maybe a spell of delays, a few wall-clock skews. */
const scheduleArb: fc.Arbitrary<Schedule> = fc
  .record({
    drift: fc.tuple(ppmArb, ppmArb, ppmArb),
    outage: fc.option(fc.record({ at: fc.integer({ min: 200, max: 5_000 }), len: fc.oneof(fc.constant(60_000), fc.integer({ min: 1_000, max: 60_000 })) }), { freq: 4 }),
    delay: fc.option(
      fc.record({ at: fc.integer({ min: 0, max: 63_000 }), len: fc.integer({ min: 100, max: 4_000 }), pct: fc.integer({ min: 10, max: 50 }), maxMs: fc.integer({ min: 10, max: 100 }) }),
      { freq: 2 },
    ),
    skews: fc.array(fc.record({ at: fc.integer({ min: 0, max: HORIZON - 1 }), node: fc.constantFrom(...KV), offsetMs: fc.integer({ min: -SKEW_MAX_MS, max: SKEW_MAX_MS }) }), { maxLength: 3 }),
  })
  .map(({ drift, outage, delay, skews }) => {
    const s: FaultEvent[] = [];
    drift.forEach((ppm, i) => {
      if (ppm !== 0) s.push({ at: 0, code: 'DR', node: KV[i]!, ppm });
    });
    if (outage !== null) {
      s.push({ at: outage.at, code: 'P', groups: [[NTP]] });
      if (outage.at + outage.len < HORIZON) s.push({ at: outage.at + outage.len, code: 'P', groups: [] });
    }
    if (delay !== null) {
      s.push({ at: delay.at, code: 'R', pct: delay.pct, maxMs: delay.maxMs });
      if (delay.at + delay.len < HORIZON) s.push({ at: delay.at + delay.len, code: 'R', pct: 0, maxMs: 0 });
    }
    for (const k of skews) s.push({ at: k.at, code: 'SK', node: k.node, offsetMs: k.offsetMs });
    return s.sort((a, b) => a.at - b.at);
  });

const DRIFT_APART: FaultEvent[] = [
  { at: 0, code: 'DR', node: 'n1', ppm: DRIFT_MAX_PPM },
  { at: 0, code: 'DR', node: 'n2', ppm: -DRIFT_MAX_PPM },
  { at: 0, code: 'DR', node: 'n3', ppm: DRIFT_MAX_PPM },
];
/** The time server is cut off for 60 s, from t=2 s to t=62 s. */
const OUTAGE: FaultEvent[] = [
  { at: 2_000, code: 'P', groups: [[NTP]] },
  { at: 62_000, code: 'P', groups: [] },
];

describe(ID, () => {
  it('estimateOffset: the true offset lies within offset ± error, from the minimum-delay sample', () => {
    checkProperty(
      'estimateOffset(samples) returns an interval offset ± error that holds the true offset (server clock − client clock) however lopsided the paths, ' +
        'computed from the sample with the smallest round-trip delay (t3 − t0) − (t2 − t1), as RFC 5905 does',
      [offsetCaseArb],
      ({ trueOffset, samples }) => {
        const { offset, error } = callEstimate(samples);
        const call = `estimateOffset(${showSamples(samples)}) = { offset: ${offset}, error: ${error} }`;
        if (!(offset - error - TOL <= trueOffset && trueOffset <= offset + error + TOL)) {
          throw new Error(
            `${call}, but the true offset is ${trueOffset}, ${f3(Math.abs(trueOffset - offset))} ms from the estimate: outside ± error. ` +
              `The request and the answer may take very different times, so the offset formula can be off by up to half the round-trip delay`,
          );
        }
        const min = Math.min(...samples.map(delayOf));
        const fits = samples.some((s) => {
          if (delayOf(s) !== min) return false;
          const mid = (s.t1 - s.t0 + (s.t2 - s.t3)) / 2;
          return offset - error >= mid - min / 2 - TOL && offset + error <= mid + min / 2 + TOL;
        });
        if (!fits) {
          const s = samples.find((x) => delayOf(x) === min)!;
          const mid = (s.t1 - s.t0 + (s.t2 - s.t3)) / 2;
          throw new Error(
            `${call}: [${f3(offset - error)}, ${f3(offset + error)}] is not within what the minimum-delay sample {t0:${s.t0}, t1:${s.t1}, t2:${s.t2}, t3:${s.t3}} gives, ` +
              `${f3(mid)} ± ${f3(min / 2)} (delay ${f3(min)}: the round trip minus the time the server held the request). ` +
              `The sample with the smallest delay has the smallest error: use it`,
          );
        }
      },
      {
        seed: 3401,
        numRuns: 200,
        examples: [
          // The request takes 20 ms, the answer none: the formula is 10 ms off, exactly the error.
          [exchanges(250, 5_000, [{ gap: 0, d1: 20, hold: 0, d2: 0 }])],
          [exchanges(-1_250.5, 80_000, [{ gap: 0, d1: 0, hold: 1, d2: 30 }])],
          // A client's monotonic clock against the server's wall clock, symmetric paths.
          [exchanges(WALL_EPOCH - 12_345, 12_345, [{ gap: 0, d1: 3, hold: 0.5, d2: 3 }])],
          // The middle sample is the fastest; the first and the last are lopsided.
          [exchanges(40, 10_000, [{ gap: 0, d1: 30, hold: 0, d2: 2 }, { gap: 5, d1: 1, hold: 0, d2: 2 }, { gap: 5, d1: 2, hold: 0, d2: 25 }])],
          // The server held the first request 40 ms: its delay is 2, not 42.
          [exchanges(WALL_EPOCH, 2_000, [{ gap: 0, d1: 1, hold: 40, d2: 1 }, { gap: 10, d1: 3, hold: 0, d2: 3 }])],
          // Equal delays, and a sample with no delay at all.
          [exchanges(7, 3_000, [{ gap: 0, d1: 4, hold: 0, d2: 0 }, { gap: 1, d1: 0, hold: 0, d2: 4 }])],
          [exchanges(7, 3_000, [{ gap: 0, d1: 4, hold: 0, d2: 4 }, { gap: 1, d1: 0, hold: 9, d2: 0 }])],
        ],
      },
    );
  });

  it('IntervalClock: the interval holds the true time, and widens by the drift bound since the sync', () => {
    checkProperty(
      'IntervalClock(mono, lastSync, driftPpm).now() holds the true time when the clock drifts by up to driftPpm: ' +
        'estimate = mono() + offset, error = sync error + driftPpm/10⁶ × (mono() − atMono), no wider; { -Infinity, Infinity } before the first sync',
      [clockCaseArb],
      (c) => checkClockCase(c),
      {
        seed: 3402,
        numRuns: 200,
        examples: [
          // A 60 s outage: the local clock ran 100 ppm fast, and the truth sat at the low edge of the sync's interval.
          [{ ppm: 100, mono0: 5_000, trueOffset: WALL_EPOCH, steps: [{ resync: { error: 2, e: -1 }, advance: 60_000, u: 1 }] }],
          [{ ppm: 200, mono0: 5_000, trueOffset: 1_000, steps: [{ resync: { error: 0, e: 0 }, advance: 10_000, u: -1 }] }],
          // No sync yet, then one; then another replaces it (read lastSync() on every call).
          [
            {
              ppm: 200,
              mono0: 1_000,
              trueOffset: WALL_EPOCH + 17,
              steps: [
                { resync: null, advance: 10, u: 0 },
                { resync: { error: 5, e: 1 }, advance: 0, u: 0 },
                { resync: null, advance: 30_000, u: -1 },
                { resync: { error: 0.5, e: -1 }, advance: 20_000, u: 1 },
              ],
            },
          ],
        ],
      },
    );
  });

  it('commit wait: timestamps follow real time across nodes, gets see every put that finished before them, intervals hold the true time', async () => {
    await simProperty({
      property:
        "every node's interval (now()) holds the true time; a put that returns before another starts has the smaller timestamp; " +
        'gets and puts are linearizable per key; every operation settles in time; intervals narrow again once the time server is back',
      seed: 3403,
      world: (c) => makeWorld(c),
      faults: scheduleArb,
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 10,
      maxShrinks: 40,
      killers: [
        // Lopsided paths: n1's requests are slow, n3's answers are slow; the NTP midpoint is off by ~8 ms on both.
        { seed: 1, schedule: [] },
        // Clocks drift apart while the time server is cut off for 60 s.
        { seed: 2, schedule: [...DRIFT_APART, ...OUTAGE] },
        // Very lopsided n1, with drift and the outage.
        { seed: 3, schedule: [...DRIFT_APART, ...OUTAGE] },
        // Wall clocks set far off during the run, and heavy delays at the start (replies overtake each other).
        {
          seed: 4,
          schedule: [
            { at: 0, code: 'R', pct: 50, maxMs: 100 },
            { at: 3_000, code: 'R', pct: 0, maxMs: 0 },
            { at: 5_000, code: 'SK', node: 'n1', offsetMs: 800 },
            { at: 10_000, code: 'SK', node: 'n2', offsetMs: -900 },
            { at: 20_000, code: 'SK', node: 'n3', offsetMs: 1_000 },
            ...DRIFT_APART,
          ],
        },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    let putMs = 0;
    let puts = 0;
    let getMs = 0;
    let gets = 0;
    let reqs = 0;
    for (let seed = 1; seed <= 3; seed++) {
      let o: Outcome | undefined;
      await runCase({ property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => makeWorld(c, (x) => (o = x)) }, { seed, schedule: seed === 1 ? [] : [...DRIFT_APART, ...OUTAGE] });
      for (const op of o?.ops ?? []) {
        if (op.kind === 'put') {
          putMs += op.end - op.at;
          puts++;
        } else {
          getMs += op.end - op.at;
          gets++;
        }
      }
      reqs += o?.timeRequests ?? 0;
    }
    recordMetric({ name: 'mean put latency (commit wait included)', value: putMs / Math.max(1, puts), unit: 'ms', better: 'lower' });
    recordMetric({ name: 'mean get latency', value: getMs / Math.max(1, gets), unit: 'ms', better: 'lower' });
    recordMetric({ name: 'time requests per node per second', value: reqs / 3 / 3 / ((HORIZON + SETTLE) / 1000), unit: 'msgs', better: 'lower' });
  });
});
