// Hidden tests for 01-foundations/00-network-lies: every payload arrives exactly once, in order, whatever the
// network does; the link retransmits at least every 100 ms, never storms, and goes quiet when done.
import { describe, it } from 'vitest';
import { metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, FrameBudget, Rng, runCase, simProperty, type FaultEvent, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { ReliableLink } from '@impl/01-foundations/00-network-lies';

const NODES = ['a', 'b', 'c'];
/** Payloads each node sends to each other node in the main world. */
const PER_LINK = 8;
/** Faults (and sends) happen in [0, HORIZON); then the network heals. */
const HORIZON = 1000;
/** 20× the longest retransmit interval the lesson allows. */
const SETTLE = 2000;
/**
 * After the heal in the retransmission world: 32 payloads may wait for b, and a link that resends one frame per
 * 100 ms needs 3.3 s to catch up; then the last half of the window must be quiet.
 */
const SETTLE_ONE_WAY = 7000;
/** The lesson's rule: while a peer has not received everything, send it something at least this often. */
const RETRANSMIT_MS = 100;
/**
 * The lesson's storm bound: every frame to a peer is paid for by a payload handed over for it (once each), by
 * a frame received from it in the last RATE_WINDOW_MS (once each), or from an allowance of EXTRA frames per
 * RATE_WINDOW_MS.
 */
const RATE_WINDOW_MS = 100;
const EXTRA = 8;
/** Payloads `a` hands to `b` at one instant in the retransmission world (a backlog a storm multiplies). */
const BURST = 24;

type Link = ReliableLink<unknown>;
type Pair = string; // "a→b"

/** Filled by the worlds when `dlab compare` asks for behaviour metrics. */
interface Latencies {
  total: number;
  count: number;
}

/** A payload as a learner reads it in a report. */
const fmt = (p: unknown): string => (p === undefined ? 'undefined' : JSON.stringify(p));

/**
 * The k-th payload (from 1) on a link. Mostly distinct strings, but also values a link must carry as they are:
 * '' and 0 and null and undefined, and a value equal to the one before it (a link never looks inside).
 */
function payloadOf(from: string, to: string, k: number): unknown {
  switch (k % 8) {
    case 2:
      return '';
    case 4:
      return null;
    case 6:
      return `${from}${to}${k - 1}`; // the same value as payload k-1
    case 7:
      return undefined;
    case 0:
      return 0;
    default:
      return `${from}${to}${k}`;
  }
}

interface WorldOptions {
  /** Calm after the heal; the last half of it must be quiet. */
  readonly settle: number;
  /** Who sends: every node to every other (the main world), or only `a`, so that b and c only answer. */
  readonly senders: readonly string[];
  readonly perLink: number;
  /** Add a burst of BURST payloads from a to b at one instant in [0, 300). */
  readonly burst: boolean;
  /** Check the retransmission rules (every 100 ms; no storm) at every step. */
  readonly rules: boolean;
  /** On a perfect network: every payload is delivered within this many ms of its hand-over. */
  readonly deliverWithinMs?: number;
}

const MAIN: WorldOptions = { settle: SETTLE, senders: NODES, perLink: PER_LINK, burst: false, rules: false };
/** The lesson's bound on a perfect network: one latency is at most 5 ms, and a link adds no wait of its own. */
const DELIVER_WITHIN_MS = 10;

const ONE_WAY: WorldOptions = { settle: SETTLE_ONE_WAY, senders: ['a'], perLink: PER_LINK, burst: true, rules: true };

/**
 * A world where the senders hand payloads to their links at random moments (often several at the same
 * instant). The test keeps its own record of what was handed over and delivered, and reads the network
 * trace only to count and time frames; it never looks at a frame's contents.
 */
function world(c: SimCase, o: WorldOptions, latencies?: Latencies): World<Link> {
  const handed = new Map<Pair, { p: unknown; at: number }[]>();
  const got = new Map<Pair, number>();
  const list = (k: Pair) => {
    let l = handed.get(k);
    if (l === undefined) handed.set(k, (l = []));
    return l;
  };
  let broken: string | undefined;
  let sentAtQuietStart = -1;
  let lastDelivery = 0;
  let sim: Sim<Link> | undefined;

  const rng = new Rng(c.seed).split('workload');
  const plan: { t: number; from: string; to: string }[] = [];
  for (const from of o.senders) {
    for (const to of NODES) {
      if (from === to) continue;
      let t = 0;
      let run = 0;
      for (let i = 0; i < o.perLink; i++) {
        // One in four goes out at the same instant as the one before it (at most three at once).
        if (i === 0 || run === 3 || !rng.chance(0.25)) {
          t = rng.int(0, HORIZON - 1);
          run = 0;
        }
        run++;
        plan.push({ t, from, to });
      }
    }
  }
  if (o.burst) {
    const t = rng.int(0, 299);
    for (let i = 0; i < BURST; i++) plan.push({ t, from: 'a', to: 'b' });
  }
  plan.sort((x, y) => x.t - y.t);

  const onDeliver = (to: string) => (from: string, p: unknown) => {
    const key = `${from}→${to}`;
    const s = handed.get(key) ?? [];
    const k = got.get(key) ?? 0;
    got.set(key, k + 1);
    if (broken !== undefined || sim === undefined) return;
    lastDelivery = sim.now;
    if (k >= s.length) {
      broken = `${to} delivered ${fmt(p)} from ${from}, but ${from} had handed ${to} only ${s.length} payload${s.length === 1 ? '' : 's'}, all delivered already: a duplicate (or a payload nobody sent)`;
    } else if (!Object.is(p, s[k]!.p)) {
      const earlier = s.slice(0, k).some((x) => Object.is(x.p, p));
      const later = s.slice(k + 1).some((x) => Object.is(x.p, p));
      broken =
        `${to}'s delivery #${k + 1} from ${from} is ${fmt(p)}, but ${from}'s payload #${k + 1} for ${to} was ${fmt(s[k]!.p)} ` +
        (later
          ? `(handed at t=${s[k]!.at} ms): ${fmt(p)} was handed over after it, so #${k + 1} was skipped or overtaken`
          : earlier
            ? `: ${fmt(p)} was delivered already, so this is a duplicate (or #${k + 1} was skipped)`
            : `: ${from} never handed ${to} ${fmt(p)}`);
    }
    if (latencies !== undefined && k < s.length) {
      latencies.total += sim.now - s[k]!.at;
      latencies.count++;
    }
  };

  // ---- the retransmission rules, from the trace (times of frames only) ----
  // Every frame x sends y is paid for: first by a frame x received from y in the last 100 ms (an answer),
  // else by the allowance (EXTRA per 100 ms), else by a payload handed over for y (once each, at any time
  // later: a link may queue payloads behind a window). A frame nothing pays for is a storm.
  const budget = new FrameBudget(RATE_WINDOW_MS, EXTRA);
  const lastSend = new Map<Pair, number>();
  const deadline = new Map<Pair, number>();
  let scanned = 0;
  const rules = (s: Sim<Link>): string | undefined => {
    const now = s.now;
    // Every 100 ms: a peer that was still missing a payload at the last step must have been sent something
    // within 100 ms of the last frame (or of the payload's hand-over).
    for (const [key, d] of deadline) {
      if (now > d + 1e-6) {
        const [from, to] = key.split('→') as [string, string];
        const k = got.get(key) ?? 0;
        const oldest = handed.get(key)![k]!;
        const since = Math.max(oldest.at, lastSend.get(key) ?? -Infinity);
        return (
          `${from} sent ${to} nothing from t=${since} ms to t=${now} ms (more than ${RETRANSMIT_MS} ms) while ${to} still had not received ` +
          `${from}'s payload #${k + 1} (${fmt(oldest.p)}, handed at t=${oldest.at} ms): while a peer has not acknowledged everything, retransmit at least every ${RETRANSMIT_MS} ms`
        );
      }
    }
    const end = s.trace.length;
    for (let i = Math.max(scanned, s.trace.first); i < end; i++) {
      const e = s.trace.at(i);
      if (e === undefined || e.node === undefined || e.peer === undefined) continue;
      if (e.kind === 'deliver') budget.delivered(e.node, e.peer, e.time);
      if (e.kind !== 'send') continue;
      const key = `${e.node}→${e.peer}`;
      lastSend.set(key, e.time);
      const h = handed.get(key)?.length ?? 0;
      if (budget.sent(e.node, e.peer, e.time, h)) continue;
      const n = budget.count(e.node, e.peer, e.time);
      return (
        `${e.node} sent ${e.peer} ${n.recent} frames in the ${RATE_WINDOW_MS} ms up to t=${e.time} ms, and ${n.all} in all for the ${h} payload${h === 1 ? '' : 's'} handed over for ${e.peer}: ` +
        `more than one per payload, one per frame received from ${e.peer} in the last ${RATE_WINDOW_MS} ms, and ${EXTRA} more per ${RATE_WINDOW_MS} ms. ` +
        `That is a retransmission storm: resend the oldest unacknowledged frame (or a few), not the whole backlog, and not in answer to every ack`
      );
    }
    scanned = end;
    for (const key of handed.keys()) {
      const k = got.get(key) ?? 0;
      const l = handed.get(key)!;
      if (k < l.length) deadline.set(key, Math.max(l[k]!.at, lastSend.get(key) ?? -Infinity) + RETRANSMIT_MS);
      else deadline.delete(key);
    }
    return undefined;
  };

  /** On a perfect network nothing needs resending: a payload is late only if the link itself made it wait. */
  const prompt = (s: Sim<Link>, within: number): string | undefined => {
    for (const [key, l] of handed) {
      const k = got.get(key) ?? 0;
      const oldest = l[k];
      if (oldest !== undefined && s.now > oldest.at + within + 1e-6) {
        const [from, to] = key.split('→');
        return (
          `on a network without faults, ${from}'s payload #${k + 1} for ${to} (${fmt(oldest.p)}, handed over at t=${oldest.at} ms) was still not delivered at t=${s.now} ms: ` +
          `a frame takes at most 5 ms, so nothing should wait more than ${within} ms (is a frame that arrived early stuck in the buffer, or held back before sending?)`
        );
      }
    }
    return undefined;
  };

  return {
    nodes: NODES,
    proc: (id) => new ReliableLink<unknown>(onDeliver(id)),
    workload: (s: Sim<Link>) => {
      sim = s;
      for (const { t, from, to } of plan) {
        s.at(t, () => {
          const l = list(`${from}→${to}`);
          const p = payloadOf(from, to, l.length + 1);
          l.push({ p, at: s.now });
          s.asNode(from, (node) => node.sendReliable(to, p));
        });
      }
      s.at(HORIZON + o.settle / 2, () => {
        sentAtQuietStart = s.stats.sent;
      });
    },
    // Safety: nothing delivered twice, out of order, or that nobody sent.
    invariant: () => broken,
    // Bounds, not safety: the retransmission rules and, on a perfect network, the delivery deadline.
    bound: (s) => (o.rules ? rules(s) : undefined) ?? (o.deliverWithinMs !== undefined ? prompt(s, o.deliverWithinMs) : undefined),
    check: (s) => {
      for (const [key, l] of handed) {
        const k = got.get(key) ?? 0;
        if (k < l.length) {
          const [from, to] = key.split('→');
          return `${to} delivered only ${k} of the ${l.length} payloads ${from} handed it; payload #${k + 1} (${fmt(l[k]!.p)}, handed at t=${l[k]!.at} ms) never arrived`;
        }
      }
      const late = s.stats.sent - sentAtQuietStart;
      const quietFrom = HORIZON + o.settle / 2;
      if (late > 0 && lastDelivery > quietFrom) {
        return (
          `the last payload was delivered only at t=${lastDelivery} ms, ${Math.round(lastDelivery - HORIZON)} ms after the heal, and the links were still sending ` +
          `in the last ${o.settle / 2} ms: everything must be delivered and acknowledged by t=${quietFrom} ms (does the link resend at least every ${RETRANSMIT_MS} ms?)`
        );
      }
      if (late > 0) {
        return `every payload was delivered, yet the nodes sent ${late} more frames in the last ${o.settle / 2} ms: once everything is acknowledged, a link should go quiet`;
      }
      return undefined;
    },
  };
}

/** The network faults this exercise names, each on its own: L, D, R, P, AP. */
const KILLERS: SimCase[] = [
  // Reordering alone: delivering frames as they arrive breaks the order.
  { seed: 1, schedule: [{ at: 0, code: 'R', pct: 50, maxMs: 50 }] },
  // Late duplicates: an old frame arriving again after newer ones were delivered.
  { seed: 2, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 50 }] },
  // Heavy loss: a retransmission can be lost too.
  { seed: 3, schedule: [{ at: 0, code: 'L', pct: 40 }] },
  // A flapping partition.
  {
    seed: 4,
    schedule: [
      { at: 100, code: 'P', groups: [['a']] },
      { at: 300, code: 'H' },
      { at: 400, code: 'P', groups: [['b']] },
      { at: 600, code: 'H' },
    ],
  },
  // One way: every ack from b to a is lost, so a keeps resending what b already delivered.
  { seed: 5, schedule: [{ at: 0, code: 'AP', from: 'b', to: 'a' }] },
];

/** a is cut off while a backlog waits for b, then 20 % loss: a storm multiplies the backlog by every tick. */
const STORM: FaultEvent[] = [
  { at: 0, code: 'P', groups: [['a']] },
  { at: 600, code: 'H' },
  { at: 600, code: 'L', pct: 20 },
];

describe('01-foundations/00-network-lies', () => {
  it('on a perfect network delivers every payload once, in order, within 10 ms, with at most 6 frames per payload', async () => {
    const payloads = NODES.length * (NODES.length - 1) * PER_LINK;
    await simProperty({
      property:
        `on a perfect network every payload is delivered exactly once, in order, within ${DELIVER_WITHIN_MS} ms of its hand-over, and the links send at most ${6 * payloads} frames ` +
        `for ${payloads} payloads (3× the reference, which sends 2 per payload: the data and its ack)`,
      seed: 1003,
      world: (c): World<Link> => {
        const w = world(c, { ...MAIN, deliverWithinMs: DELIVER_WITHIN_MS });
        return {
          ...w,
          check: (sim) => w.check?.(sim) ?? (sim.stats.sent > 6 * payloads ? `the links sent ${sim.stats.sent} frames for ${payloads} payloads` : undefined),
        };
      },
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 20,
    });
  });

  it('delivers every payload exactly once and in order, through loss, duplication, reordering and partitions', async () => {
    await simProperty({
      property: 'every payload a node hands its link for a peer is delivered to that peer exactly once, in the order it was handed over, and the link goes quiet after the network heals',
      seed: 1001,
      world: (c) => world(c, MAIN),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 100,
      faults: faultSchedule({
        nodes: NODES,
        codes: ['L', 'D', 'R', 'P', 'AP', 'H'],
        horizonMs: HORIZON,
        maxEvents: 6,
        bounds: { lossPct: 40, dupPct: 30, reorderPct: 50, reorderMs: 50 },
      }),
      killers: KILLERS,
    });
  });

  it('retransmits at least every 100 ms while something is unacknowledged, and never storms', async () => {
    await simProperty({
      property:
        `while a peer has not received everything, the link sends it a frame at least every ${RETRANSMIT_MS} ms; and every frame it sends a peer is paid for ` +
        `by a payload handed over for that peer (once each), by a frame received from it in the last ${RATE_WINDOW_MS} ms (once each), ` +
        `or from an allowance of ${EXTRA} frames per ${RATE_WINDOW_MS} ms (no retransmission storm)`,
      seed: 1002,
      world: (c) => world(c, ONE_WAY),
      horizonMs: HORIZON,
      settleMs: SETTLE_ONE_WAY,
      runs: 60,
      faults: faultSchedule({
        nodes: NODES,
        codes: ['L', 'D', 'R', 'P', 'AP', 'H'],
        horizonMs: HORIZON,
        maxEvents: 5,
        bounds: { lossPct: 40, dupPct: 30, reorderPct: 50, reorderMs: 50 },
      }),
      killers: [
        { seed: 11, schedule: STORM },
        // Loss: a frame that was lost must go out again within 100 ms.
        { seed: 12, schedule: [{ at: 0, code: 'L', pct: 40 }] },
        // a → b cut one way: b hears nothing, and a must neither stop nor flood.
        { seed: 13, schedule: [{ at: 0, code: 'AP', from: 'a', to: 'b' }] },
        // Duplicated and reordered acks: resending on every ack multiplies them.
        { seed: 14, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 50 }, { at: 0, code: 'L', pct: 10 }] },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    const payloads = NODES.length * (NODES.length - 1) * PER_LINK;
    for (const [label, loss] of [['a perfect network', 0], ['20% loss', 20]] as const) {
      const lat: Latencies = { total: 0, count: 0 };
      let frames = 0;
      for (let seed = 1; seed <= 10; seed++) {
        const out = await runCase(
          { property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => world(c, MAIN, lat) },
          { seed, schedule: loss > 0 ? [{ at: 0, code: 'L', pct: loss }] : [] },
        );
        frames += out.sim.stats.sent;
      }
      recordMetric({ name: `frames per payload, ${label}`, value: frames / (10 * payloads), unit: 'frames', better: 'lower' });
      recordMetric({ name: `ms from send to delivery, ${label}`, value: lat.total / Math.max(1, lat.count), unit: 'ms', better: 'lower' });
    }
    let frames = 0;
    for (let seed = 1; seed <= 10; seed++) {
      frames += (await runCase({ property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE_ONE_WAY, world: (c) => world(c, ONE_WAY) }, { seed, schedule: STORM })).sim.stats.sent;
    }
    recordMetric({ name: `frames per run, ${BURST} payloads waiting behind a 600 ms partition`, value: frames / 10, unit: 'frames', better: 'lower' });
  });
});
