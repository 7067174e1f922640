// Hidden tests for 01-foundations/01-lamport-ordering: timestamps respect causality, every node replays the same order, the stable prefix never changes.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkProperty, metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, Rng, runCase, simProperty, type FaultEvent, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { compareTs, EventStoreNode, LamportClock, type StoredEvent, type Ts } from '@impl/01-foundations/01-lamport-ordering';

const NODES = ['a', 'b', 'c'];
const CLIENTS = 3;
const EVENTS_PER_CLIENT = 10;
/** Faults (and appends) happen in [0, HORIZON); then the network heals. */
const HORIZON = 700;
/** 10× the longest heartbeat interval the lesson allows (50 ms). */
const SETTLE = 500;
/** The lesson's rule: every node advertises its clock to every peer at least this often. */
const ADVERT_MS = 50;
/** On a network without faults: one message takes at most 5 ms each way, so an event is stable everywhere this soon. */
const STABLE_WITHIN_MS = ADVERT_MS + 2 * 5;
/** On a network without faults: messages per second of run, all nodes, acks included (3× the reference's ~400). */
const MAX_MSGS_PER_SEC = 1200;

// ---- the grader's own view of timestamps (it never uses the learner's compareTs in the simulations) ----

const isTs = (x: unknown): x is Ts =>
  typeof x === 'object' && x !== null && Number.isFinite((x as Ts).c) && typeof (x as Ts).node === 'string';
const cmp = (a: Ts, b: Ts): number => (a.c !== b.c ? a.c - b.c : a.node < b.node ? -1 : a.node > b.node ? 1 : 0);
const fmt = (ts: unknown): string => (isTs(ts) ? `${ts.c}@${ts.node}` : JSON.stringify(ts));
const nth = (n: number): string => `${n}${n % 10 === 1 && n !== 11 ? 'st' : n % 10 === 2 && n !== 12 ? 'nd' : n % 10 === 3 && n !== 13 ? 'rd' : 'th'}`;

// ---- unit properties of compareTs and LamportClock ----

/** Node ids compare as plain strings (JavaScript's <): 'B' < 'a', 'a' < 'aa', '10' < '9'. */
const NODE_IDS = ['a', 'b', 'c', 'B', 'aa', '10', '9'];
/** Counters: small ones (so that ties are common), and the edges of 32-bit and of exact doubles. */
const counterArb = fc.oneof(
  { weight: 4, arbitrary: fc.nat({ max: 6 }) },
  { weight: 1, arbitrary: fc.constantFrom(2 ** 31 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER - 1, Number.MAX_SAFE_INTEGER) },
);
const tsArb = fc.record({ c: counterArb, node: fc.constantFrom(...NODE_IDS) });

/** A clock's life: local events, sends, and receipts of timestamps from elsewhere. */
type ClockOp = { op: 'tick' } | { op: 'send' } | { op: 'recv'; r: Ts };
const clockOpsArb: fc.Arbitrary<ClockOp[]> = fc.array(
  fc.oneof(
    fc.constant<ClockOp>({ op: 'tick' }),
    fc.constant<ClockOp>({ op: 'send' }),
    fc.record({ op: fc.constant('recv' as const), r: fc.record({ c: fc.nat({ max: 12 }), node: fc.constantFrom('a', 'c') }) }),
  ),
  { minLength: 1, maxLength: 12 },
);
const showOp = (o: ClockOp): string => (o.op === 'recv' ? `recv(${fmt(o.r)})` : `${o.op}()`);

// ---- the simulated event store ----

type Node = EventStoreNode;

/** What the grader saw of one append. */
interface Appended {
  readonly id: string;
  readonly client: string;
  /** Its position in its client's session, from 1. */
  readonly k: number;
  readonly node: string;
  readonly ts: Ts;
  readonly at: number;
  /** Events that happened before it, and why the grader knows. */
  readonly after: readonly { readonly id: string; readonly why: 'node' | 'stored' | 'session' }[];
}

/** Everything a case recorded, for its checks (and for comparing two runs). */
interface Recorded {
  readonly appended: Appended[];
  readonly byId: Map<string, Appended>;
  broken: string | undefined;
  /** Each node's replay() and stableReplay() at the end, as "id ts" strings. */
  final: Map<string, { replay: string[]; stable: string[] }> | undefined;
}

const show = (e: Appended): string => `${e.id} (${e.client}'s ${nth(e.k)} event, appended at ${e.node}, ts ${fmt(e.ts)})`;

/** Reads a node's replay (or stable replay) as ids, or returns what is wrong with it. */
function idsOf(what: string, node: string, list: unknown, rec: Recorded): string[] | string {
  if (!Array.isArray(list)) return `${node}.${what}() returned ${JSON.stringify(list)}, not an array`;
  const ids: string[] = [];
  for (const e of list as unknown[]) {
    const se = e as StoredEvent;
    const id = se?.event?.id;
    const a = typeof id === 'string' ? rec.byId.get(id) : undefined;
    if (a === undefined) return `${node}.${what}() contains ${JSON.stringify(e)}, which no client appended`;
    if (!isTs(se.ts) || cmp(se.ts, a.ts) !== 0) return `${node}.${what}() gives ${show(a)} the timestamp ${fmt(se.ts)}, not the ${fmt(a.ts)} append() returned`;
    ids.push(id as string);
  }
  return ids;
}

/** A world, the grader's record of it, and its end-of-run reading (sync, so each property can add to it). */
interface Made {
  readonly world: World<Node>;
  readonly rec: Recorded;
  /** Reads every node's replay and stable replay into rec.final; returns what is wrong with them, if anything. */
  readonly finish: (sim: Sim<Node>) => string | undefined;
}

/**
 * Worlds whose seed is a multiple of 8 run in lockstep: in each round every client appends at the same
 * instant, each at a different node, so concurrent events with equal counters are the rule, not the exception.
 */
const lockstep = (c: SimCase): boolean => c.seed % 8 === 0;

function makeWorld(c: SimCase, onEnd?: (rec: Recorded) => void): Made {
  const rec: Recorded = { appended: [], byId: new Map(), broken: undefined, final: undefined };
  const rng = new Rng(c.seed).split('workload');
  const rounds = lockstep(c) ? Array.from({ length: EVENTS_PER_CLIENT }, () => rng.int(8, 50)) : undefined;
  const lastAt = new Map<string, Appended>();
  let n = 0;

  const appendOne = (sim: Sim<Node>, client: number, k: number, last: Appended | undefined): Appended | undefined => {
    // Clients reach only nodes that are running: a paused process answers nobody.
    const live = NODES.filter((id) => sim.node(id).up && !sim.node(id).paused);
    if (live.length === 0) return undefined;
    const node = (rounds !== undefined ? live[(client + k) % live.length] : live[rng.int(0, live.length - 1)]) as string;
    const id = `e${++n}`;
    const cl = `c${client}`;
    const before = sim.asNode(node, (p) => p.replay()) ?? [];
    const stored = idsOf('replay', node, before, rec);
    if (typeof stored === 'string') {
      rec.broken ??= stored;
      return undefined;
    }
    const ts = sim.asNode(node, (p) => (last === undefined ? p.append({ id, client: cl, body: `${cl}:${k}` }) : p.append({ id, client: cl, body: `${cl}:${k}` }, last.ts)));
    if (!isTs(ts)) {
      rec.broken ??= `${node}.append(${id}) returned ${JSON.stringify(ts)}, not a timestamp { c, node }`;
      return undefined;
    }
    if (ts.node !== node) {
      rec.broken ??= `${node}.append(${id}) returned the timestamp ${fmt(ts)}: a timestamp names the node that issued it (${node})`;
    }
    const after: Appended['after'][number][] = [];
    const prev = lastAt.get(node);
    if (prev !== undefined) after.push({ id: prev.id, why: 'node' });
    for (const s of stored) if (s !== prev?.id && s !== last?.id) after.push({ id: s, why: 'stored' });
    if (last !== undefined) after.push({ id: last.id, why: 'session' });
    const a: Appended = { id, client: cl, k, node, ts, at: sim.now, after };
    // The clock condition: whatever happened before this event has a smaller timestamp.
    for (const b of after) {
      const e = rec.byId.get(b.id) as Appended;
      if (rec.broken === undefined && cmp(e.ts, ts) >= 0) {
        rec.broken =
          b.why === 'node'
            ? `${show(a)} was appended at ${node} after ${show(e)}, at the same node, but its timestamp is not greater: a node's clock must only move forward`
            : b.why === 'stored'
              ? `${show(a)} was appended at ${node} after ${node} had stored ${show(e)}, but its timestamp is not greater: receiving an event must move the clock past its timestamp`
              : `${show(a)} was appended by ${cl} after its ${show(e)}, and ${cl} passed that timestamp along, but the new timestamp is not greater`;
      }
    }
    rec.appended.push(a);
    rec.byId.set(id, a);
    lastAt.set(node, a);
    return a;
  };

  const finish = (sim: Sim<Node>): string | undefined => {
    // Every node's replay at the end, read once.
    const final = new Map<string, { replay: string[]; stable: string[] }>();
    for (const node of NODES) {
      const r = idsOf('replay', node, sim.asNode(node, (p) => p.replay()), rec);
      if (typeof r === 'string') return r;
      const s = idsOf('stableReplay', node, sim.asNode(node, (p) => p.stableReplay()), rec);
      if (typeof s === 'string') return s;
      final.set(node, { replay: r, stable: s });
    }
    rec.final = final;
    onEnd?.(rec);
    return undefined;
  };

  const world: World<Node> = {
    nodes: NODES,
    clients: CLIENTS,
    proc: () => new EventStoreNode(),
    workload: async (sim: Sim<Node>) => {
      const sessions = Array.from({ length: CLIENTS }, async (_, i) => {
        const cl = sim.clients[i]!;
        let last: Appended | undefined;
        for (let k = 1; k <= EVENTS_PER_CLIENT; k++) {
          await cl.sleep(rounds !== undefined ? (rounds[k - 1] ?? 8) : rng.int(8, 50));
          let a: Appended | undefined;
          await cl.invoke({ f: 'append', value: `${cl.id}:${k}` }, () => {
            a = appendOne(sim, i, k, last);
            return a === undefined ? { type: 'fail' } : { type: 'ok', value: `${a.id} ${fmt(a.ts)}` };
          });
          if (a === undefined) k--;
          else last = a;
        }
      });
      await Promise.all(sessions);
    },
    invariant: () => rec.broken,
    check: finish,
  };
  return { world, rec, finish };
}

/** Every node replays every event exactly once, all in the same order, and that order respects happened-before. */
function checkReplays(rec: Recorded): string | undefined {
  const final = rec.final as NonNullable<Recorded['final']>;
  for (const node of NODES) {
    const ids = final.get(node)!.replay;
    const seen = new Set<string>();
    for (const id of ids) {
      if (seen.has(id)) return `${node}.replay() contains ${show(rec.byId.get(id)!)} twice`;
      seen.add(id);
    }
    const missing = rec.appended.find((a) => !seen.has(a.id));
    if (missing !== undefined) return `${node}.replay() is missing ${show(missing)}: every node must end up with every event`;
  }
  const [first, ...rest] = NODES as [string, ...string[]];
  const ref = final.get(first)!.replay;
  for (const node of rest) {
    const other = final.get(node)!.replay;
    const i = ref.findIndex((id, j) => other[j] !== id);
    if (i >= 0) {
      return `${first} and ${node} replay different orders: at position ${i + 1}, ${first} has ${show(rec.byId.get(ref[i]!)!)} and ${node} has ${show(rec.byId.get(other[i]!)!)}`;
    }
  }
  const pos = new Map(ref.map((id, i) => [id, i]));
  for (const a of rec.appended) {
    for (const b of a.after) {
      if (pos.get(b.id)! > pos.get(a.id)!) {
        const e = rec.byId.get(b.id)!;
        const why = b.why === 'node' ? `at the same node` : b.why === 'stored' ? `which ${a.node} had already stored` : `by the same client`;
        return `event ${a.id} of client ${a.client} was appended after ${e.id} (${why}) but replays before it: ${show(a)} is at position ${pos.get(a.id)! + 1}, ${show(e)} at ${pos.get(b.id)! + 1}`;
      }
    }
  }
  return undefined;
}

const FAULTS = faultSchedule({
  nodes: NODES,
  codes: ['L', 'D', 'R', 'G', 'SK', 'ST', 'DR'],
  horizonMs: HORIZON,
  maxEvents: 6,
  bounds: { lossPct: 30, dupPct: 30, reorderPct: 50, reorderMs: 150, pauseMs: 300, skewMs: 10_000, stepMs: 5_000, driftPpm: 50_000 },
});

/** Clocks that run 5 % fast on a and 5 % slow on c (timers too). */
const DRIFT: FaultEvent[] = [
  { at: 0, code: 'DR', node: 'a', ppm: 50_000 },
  { at: 0, code: 'DR', node: 'c', ppm: -50_000 },
];

/** Wall-clock skew and a backwards step: timestamps taken from the wall clock come out in the wrong order. */
const SKEWED: FaultEvent[] = [
  { at: 0, code: 'SK', node: 'a', offsetMs: 4000 },
  { at: 0, code: 'SK', node: 'c', offsetMs: -4000 },
  { at: 300, code: 'ST', node: 'b', deltaMs: -3000 },
];

/**
 * The nodes whose stable replay may have changed since trace index `from`: those where something happened (a
 * delivery, a timer, a restart), or every node for an event at no node (a client's append, a fault).
 */
function touchedSince(sim: Sim<Node>, from: number): Set<string> {
  const touched = new Set<string>();
  for (let i = Math.max(from, sim.trace.first); i < sim.trace.length; i++) {
    const e = sim.trace.at(i);
    if (e === undefined || e.kind === 'send' || e.kind === 'drop') continue;
    if (e.node !== undefined && NODES.includes(e.node)) touched.add(e.node);
    else for (const n of NODES) touched.add(n);
  }
  return touched;
}

describe('01-foundations/01-lamport-ordering', () => {
  it('compareTs orders timestamps by counter, then by node id', () => {
    checkProperty(
      "compareTs(a, b) is -1 when a.c < b.c, 1 when a.c > b.c, and for equal counters compares the node ids as strings (JavaScript's <); 0 only for the same counter and node",
      [tsArb, tsArb],
      (a, b) => {
        const want = a.c !== b.c ? (a.c < b.c ? -1 : 1) : a.node === b.node ? 0 : a.node < b.node ? -1 : 1;
        const got = compareTs(a, b);
        if (got !== want) throw new Error(`compareTs(${fmt(a)}, ${fmt(b)}) = ${JSON.stringify(got)}, expected ${want}`);
      },
      {
        seed: 1101,
        examples: [
          [{ c: 1, node: 'b' }, { c: 2, node: 'a' }],
          [{ c: 3, node: 'a' }, { c: 3, node: 'b' }],
          [{ c: 2, node: 'c' }, { c: 2, node: 'c' }],
          [{ c: 4, node: 'a' }, { c: 4, node: 'B' }],
          [{ c: 4, node: '9' }, { c: 4, node: '10' }],
          [{ c: 2 ** 31, node: 'a' }, { c: 2 ** 31 - 1, node: 'b' }],
          [{ c: Number.MAX_SAFE_INTEGER, node: 'a' }, { c: Number.MAX_SAFE_INTEGER - 1, node: 'a' }],
        ],
      },
    );
  });

  it('a LamportClock only moves forward, and a receive lands after what was received', () => {
    checkProperty(
      "every timestamp a clock returns names its node and has a greater counter than every timestamp it returned before, and recv(r) returns a counter greater than r's",
      [clockOpsArb],
      (ops) => {
        const clock = new LamportClock('b');
        let prev: Ts | undefined;
        const done: string[] = [];
        for (const o of ops) {
          const ts = o.op === 'tick' ? clock.tick() : o.op === 'send' ? clock.send() : clock.recv(o.r);
          done.push(`${showOp(o)} → ${fmt(ts)}`);
          const so = `after ${done.join(', ')}`;
          if (!isTs(ts) || ts.node !== 'b') throw new Error(`${so}: a clock of node b must return timestamps { c, node: 'b' }`);
          if (prev !== undefined && ts.c <= prev.c) throw new Error(`${so}: the counter went from ${prev.c} to ${ts.c}; it must always grow`);
          if (o.op === 'recv' && ts.c <= o.r.c) throw new Error(`${so}: the receive got counter ${ts.c}, not greater than the received ${o.r.c}, so the receive does not come after the send`);
          prev = ts;
        }
      },
      {
        seed: 1102,
        numRuns: 300,
        examples: [
          [[{ op: 'recv', r: { c: 5, node: 'a' } }]],
          [[{ op: 'tick' }, { op: 'tick' }, { op: 'tick' }, { op: 'recv', r: { c: 1, node: 'a' } }]],
          [[{ op: 'send' }, { op: 'recv', r: { c: 1, node: 'c' } }, { op: 'tick' }]],
          // Receiving a timestamp equal to our own counter: the receive must still come after it.
          [[{ op: 'tick' }, { op: 'tick' }, { op: 'recv', r: { c: 2, node: 'a' } }]],
          // Past 32 bits, and up to the largest exact integer: no bit tricks, no overflow.
          [[{ op: 'recv', r: { c: 2 ** 31 - 1, node: 'a' } }, { op: 'tick' }, { op: 'send' }]],
          [[{ op: 'recv', r: { c: Number.MAX_SAFE_INTEGER - 3, node: 'c' } }, { op: 'tick' }, { op: 'send' }]],
        ],
      },
    );
  });

  // Cheap and sharp, so these two come before the long properties: a node that chatters or never advertises, or
  // that orders by wall clock, fails here first.
  it('clocks are advertised at least every 50 ms: on a calm network every event is stable everywhere within 60 ms', async () => {
    await simProperty({
      property:
        `on a network without faults, every event is in every node's stableReplay() within ${STABLE_WITHIN_MS} ms of its append ` +
        `(each node advertises its clock to every peer at least every ${ADVERT_MS} ms, and a message takes at most 5 ms), ` +
        `and the nodes send at most ${MAX_MSGS_PER_SEC} messages per second`,
      seed: 1106,
      world: (c): World<Node> => {
        const w = makeWorld(c);
        const stable = new Map<string, Set<string>>(NODES.map((n) => [n, new Set<string>()]));
        /** Appended events not yet stable everywhere, oldest first. */
        let waiting: Appended[] = [];
        let seen = 0;
        let appended = 0;
        return {
          ...w.world,
          invariant: (sim) => {
            if (w.rec.broken !== undefined) return w.rec.broken;
            waiting.push(...w.rec.appended.slice(appended));
            appended = w.rec.appended.length;
            const touched = touchedSince(sim, seen);
            seen = sim.trace.length;
            for (const node of touched) {
              const got = sim.asNode(node, (p) => p.stableReplay());
              const set = stable.get(node)!;
              if (!Array.isArray(got) || got.length === set.size) continue;
              for (const e of got as StoredEvent[]) if (typeof e?.event?.id === 'string') set.add(e.event.id);
            }
            waiting = waiting.filter((a) => NODES.some((n) => !stable.get(n)!.has(a.id)));
            const late = waiting[0];
            const budget = MAX_MSGS_PER_SEC * ((HORIZON + SETTLE) / 1000);
            if (sim.stats.sent > budget) {
              return (
                `the nodes sent ${sim.stats.sent} messages by t=${sim.now} ms, more than the ${budget} allowed for the whole run (${MAX_MSGS_PER_SEC} a second, ` +
                `3× the reference, acks included): a clock advert every ${ADVERT_MS} ms is enough`
              );
            }
            if (late !== undefined && sim.now > late.at + STABLE_WITHIN_MS + 1e-6) {
              const where = NODES.filter((n) => !stable.get(n)!.has(late.id));
              return (
                `${show(late)} was appended at t=${late.at} ms, and at t=${sim.now} ms it is still not in ${where.map((n) => `${n}.stableReplay()`).join(' or ')}: ` +
                `on a network without faults every event is stable everywhere within ${STABLE_WITHIN_MS} ms (does every node advertise its clock to every peer at least every ${ADVERT_MS} ms, even when idle?)`
              );
            }
            return undefined;
          },
        };
      },
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 20,
      killers: [
        { seed: 32, schedule: [] },
        { seed: 33, schedule: [] },
      ],
    });
  });

  it('the replay does not depend on the wall clocks', async () => {
    const wall = (f: FaultEvent): boolean => f.code === 'SK' || f.code === 'ST';
    await simProperty({
      property: 'every timestamp and every replay is the same when the run is repeated with the wall clocks skewed and stepped (SK, ST): the order never depends on the wall clock',
      seed: 1105,
      world: (c): World<Node> => {
        const w = makeWorld(c);
        return {
          ...w.world,
          check: async (sim) => {
            const v = w.finish(sim);
            if (v !== undefined) return v;
            // The same case, with every wall-clock fault removed (everything else is drawn from the same seed).
            let base: Recorded | undefined;
            const calm: SimCase = { seed: c.seed, schedule: c.schedule.filter((f) => !wall(f)) };
            const out = await runCase({ property: 'baseline', horizonMs: HORIZON, settleMs: SETTLE, world: (cc) => makeWorld(cc, (r) => (base = r)).world }, calm);
            if (!out.ok || base === undefined) return `the same case without the wall-clock faults failed: ${out.ok ? 'no result' : out.why}`;
            for (const a of w.rec.appended) {
              const b = base.byId.get(a.id);
              if (b === undefined || b.node !== a.node) return `the run went differently without the wall-clock faults (${a.id} went elsewhere): does your node change its behaviour with the wall clock?`;
              if (cmp(a.ts, b.ts) !== 0) {
                return `${a.id} (${a.client}'s ${nth(a.k)} event, at ${a.node}) got the timestamp ${fmt(a.ts)} with the wall clocks skewed and stepped, but ${fmt(b.ts)} with true wall clocks: timestamps must come from the Lamport clock, not the wall clock`;
              }
            }
            for (const node of NODES) {
              const x = w.rec.final!.get(node)!.replay.join(' ');
              const y = base.final!.get(node)!.replay.join(' ');
              if (x !== y) return `${node} replays [${x}] with the wall clocks skewed and stepped, but [${y}] with true wall clocks`;
            }
            return undefined;
          },
        };
      },
      faults: faultSchedule({
        nodes: NODES,
        codes: ['SK', 'ST', 'SK', 'ST', 'L', 'R'],
        horizonMs: HORIZON,
        minEvents: 1,
        maxEvents: 5,
        bounds: { lossPct: 20, reorderPct: 30, reorderMs: 100, skewMs: 10_000, stepMs: 5_000 },
      }),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 30,
      killers: [{ seed: 8, schedule: SKEWED }],
    });
  });

  it('timestamps respect happened-before, and after the heal every node replays all events in one order consistent with it', async () => {
    await simProperty({
      property:
        'every event gets a timestamp greater than every event that happened before it (earlier at the same node, already stored at that node, or earlier in the same client session), ' +
        'and after the network heals every node replays every event exactly once, in the same order, consistent with happened-before',
      seed: 1103,
      world: (c): World<Node> => {
        const w = makeWorld(c);
        return { ...w.world, check: (sim) => w.finish(sim) ?? checkReplays(w.rec) };
      },
      faults: FAULTS,
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 100,
      killers: [
        // No fault at all: clients move between nodes, events cross on the wire.
        { seed: 1, schedule: [] },
        // Wall clocks that disagree, and one that steps back.
        { seed: 2, schedule: SKEWED },
        // b hears nobody: its clock falls behind, and clients move from nodes that are ahead to b.
        { seed: 3, schedule: [{ at: 0, code: 'AP', from: 'a', to: 'b' }, { at: 0, code: 'AP', from: 'c', to: 'b' }] },
        // A long pause: a node falls far behind the others' clocks, then catches up.
        { seed: 4, schedule: [{ at: 100, code: 'G', node: 'a', ms: 300 }] },
        // Lockstep: every client appends at the same instant at another node; counters tie all the time.
        { seed: 16, schedule: [] },
        // Loss, duplication, and clocks running 5 % fast and slow.
        { seed: 17, schedule: [{ at: 0, code: 'L', pct: 30 }] },
        { seed: 18, schedule: [{ at: 0, code: 'D', pct: 30 }] },
        { seed: 19, schedule: DRIFT },
      ],
    });
  });

  it('stableReplay() only ever grows at its end, and after the heal holds every event', async () => {
    await simProperty({
      property: "each node's stableReplay() only ever grows at its end (an event it has returned keeps its place forever), and after the network heals it holds every event, in replay() order",
      seed: 1104,
      world: (c): World<Node> => {
        const w = makeWorld(c);
        const prev = new Map<string, { ids: string[]; at: number }>();
        let seen = 0;
        return {
          ...w.world,
          invariant: (sim) => {
            if (w.rec.broken !== undefined) return w.rec.broken;
            // A node's stable replay can only change when something happens at that node (a message, a
            // timer, a restart) or a client appends: look at the nodes this step touched.
            const touched = touchedSince(sim, seen);
            seen = sim.trace.length;
            for (const node of touched) {
              const got = sim.asNode(node, (p) => p.stableReplay());
              if (got === undefined) continue;
              const before = prev.get(node);
              // Cheap when nothing changed: the same length and the same last event.
              if (before !== undefined && Array.isArray(got) && got.length === before.ids.length && (got.length === 0 || (got[got.length - 1] as StoredEvent)?.event?.id === before.ids[before.ids.length - 1])) {
                let same = true;
                for (let i = 0; i < got.length; i++) if ((got[i] as StoredEvent)?.event?.id !== before.ids[i]) same = false;
                if (same) continue;
              }
              const ids = idsOf('stableReplay', node, got, w.rec);
              if (typeof ids === 'string') return ids;
              if (before !== undefined) {
                const i = before.ids.findIndex((id, j) => ids[j] !== id);
                if (i >= 0) {
                  const was = w.rec.byId.get(before.ids[i]!)!;
                  if (ids[i] === undefined) return `${node}.stableReplay() returned ${before.ids.length} events at t=${before.at} ms, but only ${ids.length} now: a stable event never disappears`;
                  const now = w.rec.byId.get(ids[i]!)!;
                  return (
                    `${node}.stableReplay() had already returned ${show(was)} at position ${i + 1} (t=${before.at} ms), ` +
                    `but now puts ${show(now)} there: event ${now.id} of client ${now.client} arrived after ${was.id} was declared stable and replays before it`
                  );
                }
              }
              prev.set(node, { ids, at: sim.now });
            }
            return undefined;
          },
          check: (sim) => {
            const v = w.finish(sim);
            if (v !== undefined) return v;
            for (const node of NODES) {
              const { replay, stable } = w.rec.final!.get(node)!;
              if (stable.length < replay.length) {
                return `${node}.stableReplay() holds ${stable.length} of the ${replay.length} events; ${show(w.rec.byId.get(replay[stable.length]!)!)} never became stable (do the nodes keep advertising their clocks when idle?)`;
              }
              const i = stable.findIndex((id, j) => replay[j] !== id);
              if (i >= 0) return `${node}.stableReplay() and ${node}.replay() differ at position ${i + 1}: ${stable[i]} vs ${replay[i]}`;
            }
            return undefined;
          },
        };
      },
      faults: FAULTS,
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 100,
      killers: [
        // Reordering: an event is still on the wire when a later one from another node arrives.
        { seed: 5, schedule: [{ at: 0, code: 'R', pct: 50, maxMs: 150 }] },
        { seed: 6, schedule: [] },
        // A paused node says nothing for a while: nobody may call anything stable past its silence.
        { seed: 7, schedule: [{ at: 200, code: 'G', node: 'b', ms: 250 }] },
        // a never hears from b until the heal: a peer that has said nothing yet holds everything back.
        { seed: 9, schedule: [{ at: 0, code: 'AP', from: 'b', to: 'a' }] },
        { seed: 24, schedule: [] },
        { seed: 25, schedule: [{ at: 0, code: 'L', pct: 30 }] },
        { seed: 26, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 150 }] },
        { seed: 27, schedule: DRIFT },
      ],
    });
  });


  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    let msgs = 0;
    let events = 0;
    let lag = 0;
    let lagged = 0;
    for (let seed = 1; seed <= 10; seed++) {
      // When each event first shows up in every node's stable replay.
      const firstStable = new Map<string, number>();
      let w: Made | undefined;
      const out = await runCase(
        {
          property: 'metrics',
          horizonMs: HORIZON,
          settleMs: SETTLE,
          world: (c): World<Node> => {
            w = makeWorld(c);
            return {
              ...w.world,
              invariant: (sim) => {
                for (const node of NODES) {
                  const s = sim.asNode(node, (p) => p.stableReplay()) ?? [];
                  for (const e of s) if (!firstStable.has(`${node} ${e.event.id}`)) firstStable.set(`${node} ${e.event.id}`, sim.now);
                }
                return undefined;
              },
            };
          },
        },
        { seed, schedule: [] },
      );
      msgs += out.sim.stats.sent;
      for (const a of w!.rec.appended) {
        events++;
        const t = Math.max(...NODES.map((n) => firstStable.get(`${n} ${a.id}`) ?? Infinity));
        if (Number.isFinite(t)) {
          lag += t - a.at;
          lagged++;
        }
      }
    }
    recordMetric({ name: 'messages sent per second of run, 3 nodes (events, clock adverts, acks)', value: msgs / (10 * ((HORIZON + SETTLE) / 1000)), unit: 'msgs', better: 'lower' });
    recordMetric({ name: 'ms from append until stable on every node', value: lag / Math.max(1, lagged), unit: 'ms', better: 'lower' });
    recordMetric({ name: 'messages sent per appended event (clock adverts and acks included)', value: msgs / Math.max(1, events), unit: 'msgs', better: 'lower' });
  });
});
