// Hidden tests for 03-time-and-causality/01-vector-clocks: properties of clocks, judged by the test's own oracle.
import fc from 'fast-check';
import { describe, it } from 'vitest';
import { checkProperty, metricsWanted, recordMetric } from '@dlab/harness';
import { stampTrace, vcCompare, vcMerge, vcTick, type TraceEvent, type VC } from '@impl/03-time-and-causality/01-vector-clocks';

const NODES = ['a', 'b', 'c', 'd'] as const;
type Order = 'before' | 'after' | 'equal' | 'concurrent';

const at = (v: VC, n: string): number => v[n] ?? 0;
const show = (v: VC): string => `{${Object.keys(v).sort().map((k) => `${k}:${v[k]}`).join(', ')}}`;

/** The oracle: the happens-before order on clocks, a missing entry counting as 0. */
function oracle(a: VC, b: VC): Order {
  let lt = false;
  let gt = false;
  for (const n of new Set([...Object.keys(a), ...Object.keys(b)])) {
    if (at(a, n) < at(b, n)) lt = true;
    if (at(a, n) > at(b, n)) gt = true;
  }
  return lt && gt ? 'concurrent' : lt ? 'before' : gt ? 'after' : 'equal';
}

/** The edges of 32-bit integers and of exact doubles: counters are plain numbers, however large. */
const BIG = [2 ** 31 - 1, 2 ** 31, 2 ** 32, Number.MAX_SAFE_INTEGER - 1] as const;
/** Counters: mostly small (so that equal entries are common), sometimes at the edges above. */
const counterArb = fc.oneof({ weight: 5, arbitrary: fc.nat({ max: 4 }) }, { weight: 1, arbitrary: fc.constantFrom(...BIG) });

/** Clocks over a few nodes; some entries missing, some present as an explicit 0. */
const vcArb: fc.Arbitrary<VC> = fc
  .dictionary(fc.constantFrom(...NODES), counterArb, { maxKeys: NODES.length })
  .map((v) => Object.freeze({ ...v }));

/** Pairs that are often related (b grown from a), so every order shows up. */
const pairArb: fc.Arbitrary<[VC, VC]> = fc.oneof(
  fc.tuple(vcArb, vcArb),
  fc.tuple(vcArb, fc.dictionary(fc.constantFrom(...NODES), fc.integer({ min: -1, max: 2 }), { maxKeys: 2 })).map(([a, d]): [VC, VC] => {
    const b: Record<string, number> = { ...a };
    for (const [n, delta] of Object.entries(d)) b[n] = Math.max(0, at(a, n) + delta);
    return [a, Object.freeze(b)];
  }),
);

function expectOrder(got: unknown, want: Order, what: string): void {
  if (got !== want) throw new Error(`${what}: got ${typeof got === 'string' ? `'${got}'` : JSON.stringify(got)}, expected '${want}'`);
}

describe('vector clocks', () => {
  it('vcTick adds one to the ticking node and changes nothing else', () => {
    checkProperty(
      'vcTick(v, me) is v with me\'s counter one higher (a missing counter is 0), and v itself is left unchanged',
      [vcArb, fc.constantFrom(...NODES)],
      (v, me) => {
        const t = vcTick(v, me);
        for (const n of new Set([...NODES, ...Object.keys(t)])) {
          const want = n === me ? at(v, n) + 1 : at(v, n);
          if (at(t, n) !== want) throw new Error(`vcTick(${show(v)}, '${me}') = ${show(t)}: counter of ${n} is ${at(t, n)}, expected ${want}`);
        }
      },
      {
        seed: 301,
        examples: [
          [Object.freeze({}), 'a'],
          [Object.freeze({ a: 2, b: 1 }), 'b'],
          [Object.freeze({ a: 2 ** 31 - 1, b: 0 }), 'a'],
          [Object.freeze({ c: Number.MAX_SAFE_INTEGER - 1 }), 'c'],
        ],
      },
    );
  });

  it('vcMerge is the entry-wise maximum (so it is commutative, associative and idempotent)', () => {
    checkProperty(
      'vcMerge(a, b) holds, for every node, the larger of the two counters (a missing counter is 0)',
      [vcArb, vcArb],
      (a, b) => {
        const m = vcMerge(a, b);
        for (const n of new Set([...NODES, ...Object.keys(m)])) {
          const want = Math.max(at(a, n), at(b, n));
          if (at(m, n) !== want) throw new Error(`vcMerge(${show(a)}, ${show(b)}) = ${show(m)}: counter of ${n} is ${at(m, n)}, expected ${want}`);
        }
      },
      {
        seed: 302,
        examples: [
          [Object.freeze({ a: 1 }), Object.freeze({ b: 2 })],
          [Object.freeze({ a: 3, b: 0 }), Object.freeze({ a: 1, b: 2 })],
          [Object.freeze({ a: 2 ** 32, b: 1 }), Object.freeze({ a: 2 ** 31, b: 2 })],
        ],
      },
    );
  });

  it('vcCompare is the happens-before order on clocks, with concurrency', () => {
    checkProperty(
      "vcCompare(a, b) is 'before' when a <= b entry-wise and a != b, 'after' for the reverse, 'equal' when equal, else 'concurrent' (a missing counter is 0)",
      [pairArb],
      ([a, b]) => expectOrder(vcCompare(a, b), oracle(a, b), `vcCompare(${show(a)}, ${show(b)})`),
      {
        seed: 303,
        numRuns: 400,
        examples: [
          [[Object.freeze({ a: 2, b: 0 }), Object.freeze({ a: 0, b: 1 })]],
          [[Object.freeze({ a: 1 }), Object.freeze({ a: 1, b: 0 })]],
          [[Object.freeze({ a: 1 }), Object.freeze({ b: 1 })]],
          [[Object.freeze({ a: 1 }), Object.freeze({ a: 1, b: 1 })]],
          [[Object.freeze({ a: 2 ** 31, b: 1 }), Object.freeze({ a: 2 ** 31 - 1, b: 2 })]],
          [[Object.freeze({ a: Number.MAX_SAFE_INTEGER - 1 }), Object.freeze({ a: Number.MAX_SAFE_INTEGER - 1, b: 0 })]],
        ],
      },
    );
  });

  it('stampTrace: an event is before another exactly when it happened before it', () => {
    checkProperty(
      "for every two events of a trace, their clocks compare 'before' exactly when the first happened before the second " +
        '(same node earlier, or linked by messages), and concurrent when neither happened before the other',
      [traceArb],
      (trace) => {
        const stamps = stampTrace(trace);
        const hb = happensBefore(trace);
        for (let i = 0; i < trace.length; i++) {
          for (let j = 0; j < trace.length; j++) {
            if (i === j) continue;
            const e1 = trace[i]!;
            const e2 = trace[j]!;
            const v1 = stamps.get(e1.id);
            const v2 = stamps.get(e2.id);
            if (v1 === undefined || v2 === undefined) throw new Error(`stampTrace gave no clock for ${v1 === undefined ? e1.id : e2.id}`);
            const want: Order = hb[i]![j] ? 'before' : hb[j]![i] ? 'after' : 'concurrent';
            const got = oracle(v1, v2);
            if (got !== want) {
              throw new Error(
                `${describeEvent(e1)} has clock ${show(v1)} and ${describeEvent(e2)} has clock ${show(v2)}: ` +
                  `they compare '${got}', but ${e1.id} ${want === 'before' ? 'happened before' : want === 'after' ? 'happened after' : 'is concurrent with'} ${e2.id}`,
              );
            }
          }
        }
      },
      { seed: 304, numRuns: 150, examples: [[[send('e1', 'a'), recv('e2', 'b', 'e1')]], [[local('e1', 'a'), send('e2', 'a'), recv('e3', 'b', 'e2'), local('e4', 'b')]]] },
    );
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', () => {
    // Clocks travel on every message, so their size is the cost a real system pays.
    const traces = fc.sample(traceArb, { seed: 305, numRuns: 50 });
    let entries = 0;
    let events = 0;
    for (const t of traces) {
      for (const v of stampTrace(t).values()) entries += Object.keys(v).length;
      events += t.length;
    }
    recordMetric({ name: 'clock entries stored per event', value: entries / events, unit: 'entries', better: 'lower' });
  });
});

const local = (id: string, node: string): TraceEvent => ({ kind: 'local', id, node });
const send = (id: string, node: string): TraceEvent => ({ kind: 'send', id, node });
const recv = (id: string, node: string, s: string): TraceEvent => ({ kind: 'recv', id, node, send: s });

function describeEvent(e: TraceEvent): string {
  return e.kind === 'recv' ? `${e.id} (${e.node} receives ${e.send})` : `${e.id} (${e.kind} on ${e.node})`;
}

/** Random runs: nodes do local steps, send, and receive messages sent earlier (some never arrive). */
const traceArb: fc.Arbitrary<TraceEvent[]> = fc
  .array(fc.record({ node: fc.constantFrom(...NODES), kind: fc.constantFrom('local', 'send', 'recv', 'recv'), pick: fc.nat() }), { minLength: 2, maxLength: 22 })
  .map((steps) => {
    const trace: TraceEvent[] = [];
    const inFlight: string[] = [];
    steps.forEach((s, i) => {
      const id = `e${i + 1}`;
      if (s.kind === 'send') {
        trace.push(send(id, s.node));
        inFlight.push(id);
      } else if (s.kind === 'recv' && inFlight.length > 0) {
        const [m] = inFlight.splice(s.pick % inFlight.length, 1);
        trace.push(recv(id, s.node, m!));
      } else trace.push(local(id, s.node));
    });
    return trace;
  });

/** The oracle's happens-before relation: program order plus send→receive, closed transitively. */
function happensBefore(trace: readonly TraceEvent[]): boolean[][] {
  const n = trace.length;
  const index = new Map(trace.map((e, i) => [e.id, i]));
  const hb = Array.from({ length: n }, () => new Array<boolean>(n).fill(false));
  const last = new Map<string, number>();
  for (let j = 0; j < n; j++) {
    const e = trace[j]!;
    const direct: number[] = [];
    const prev = last.get(e.node);
    if (prev !== undefined) direct.push(prev);
    if (e.kind === 'recv') direct.push(index.get(e.send)!);
    for (const d of direct) {
      hb[d]![j] = true;
      for (let i = 0; i < n; i++) if (hb[i]![d]) hb[i]![j] = true;
    }
    last.set(e.node, j);
  }
  return hb;
}
