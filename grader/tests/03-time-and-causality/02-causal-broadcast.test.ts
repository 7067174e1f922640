// Hidden tests for 03-time-and-causality/02-causal-broadcast: every correct node delivers every message once, in
// causal order, even when an origin crashes; the hold-back queue empties; retransmission never storms.
import { describe, it } from 'vitest';
import { metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, FrameBudget, Rng, runCase, simProperty, type Ctx, type FaultEvent, type Proc, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { CausalBroadcast } from '@impl/03-time-and-causality/02-causal-broadcast';

const NODES = ['a', 'b', 'c', 'd'];
/** Faults and broadcasts happen in [0, HORIZON); then the network heals. */
const HORIZON = 1000;
/** After the heal: CATCH_UP_MS to deliver everything (ten ticks of a 100 ms resend timer), then QUIET_MS of silence. */
const CATCH_UP_MS = 1000;
const QUIET_MS = 500;
const SETTLE = CATCH_UP_MS + QUIET_MS;
/**
 * The storm rule: every frame x sends y is paid for by a broadcast (once per link), by a frame x received from y in the
 * last RATE_WINDOW_MS (once each), or from an allowance of EXTRA frames per RATE_WINDOW_MS.
 */
const RATE_WINDOW_MS = 100;
const EXTRA = 8;
/** On a perfect network (a message takes at most 5 ms): every message is delivered everywhere this soon after its broadcast. */
const DELIVER_WITHIN_MS = 10;
/** Events one case may take before it fails as a livelock (10× the most any case of the reference takes; an echo of relays never ends). */
const MAX_STEPS = 10_000;
/** On a perfect network, frames per broadcast with four nodes (3× the reference's 18: three first copies, six relays, nine acks). */
const FRAMES_PER_BROADCAST = 54;

/** A node that crashed stays dead: when the simulator restarts it, it comes back as this, which does nothing. */
class Dead implements Proc<unknown> {
  init(_ctx: Ctx<unknown>): void {}
  onMessage(): void {}
  onTimer(): void {}
}

type Bc = CausalBroadcast<unknown>;
type Node = Bc | Dead;

/** A payload as a learner reads it. */
const fmt = (p: unknown): string => (p === undefined ? 'undefined' : JSON.stringify(p));
const nth = (k: number): string => `#${k}`;

/**
 * The k-th payload (from 1) a node broadcasts. Mostly distinct strings, but also values a broadcast must carry as
 * they are: '' and 0 and null and undefined, and a value equal to the one before it (a payload is opaque).
 */
function payloadOf(origin: string, k: number): unknown {
  switch (k % 9) {
    case 3:
      return '';
    case 5:
      return `${origin}${k - 1}`; // the same value as the one before
    case 6:
      return null;
    case 7:
      return undefined;
    case 8:
      return 0;
    default:
      return `${origin}${k}`;
  }
}

/** One broadcast, as the grader saw it. `deps[o]`: how many of o's messages happened before it (its causal past). */
interface Sent {
  readonly origin: string;
  readonly k: number;
  readonly payload: unknown;
  readonly at: number;
  readonly deps: Readonly<Record<string, number>>;
  /** For each node in deps: how the origin came to know of it (for the report). */
  readonly why: Readonly<Record<string, Learnt>>;
}

/** How a node came to know of another node's n-th message: it delivered `via` at time t (the message itself, or a later one). */
interface Learnt {
  readonly via: Sent;
  readonly t: number;
}

const show = (m: Sent): string => `${m.origin}'s ${nth(m.k)} (${fmt(m.payload)}, broadcast at t=${m.at} ms)`;
const because = (l: Learnt | undefined, o2: string): string =>
  l === undefined ? '?' : l.via.origin === o2 ? `delivered ${show(l.via)} at t=${l.t} ms` : `delivered ${show(l.via)} at t=${l.t} ms, which came after it`;

/** What a world does: when and where it broadcasts, and who answers what. */
interface Workload {
  /** Spontaneous broadcasts: at time t, node broadcasts its next payload. */
  readonly plan: readonly { readonly t: number; readonly node: string }[];
  /** When `node` delivers a message from another node: broadcast a reply after this many ms, or not (undefined). */
  readonly reply: (node: string, m: Sent, rng: Rng) => number | undefined;
  /** Replies each node may send at most. */
  readonly replyBudget: number;
}

/** Broadcasts per node in a random world: this many at random times (often two at one instant), and up to REPLIES replies. */
const SPONTANEOUS = 3;
const REPLIES = 3;

/** The random workload: SPONTANEOUS broadcasts per node, and each delivery of another node's message answered with a reply at random (0 to 10 ms later). */
function randomWorkload(seed: number): Workload {
  const rng = new Rng(seed).split('workload');
  const plan: { t: number; node: string }[] = [];
  for (const node of NODES) {
    let t = 0;
    let run = 0;
    for (let i = 0; i < SPONTANEOUS; i++) {
      if (i === 0 || run === 3 || !rng.chance(0.3)) {
        t = rng.int(0, HORIZON - 100);
        run = 0;
      }
      run++;
      plan.push({ t, node });
    }
  }
  plan.sort((x, y) => x.t - y.t);
  const delays = [0, 0, 1, 3, 10];
  return {
    plan,
    replyBudget: REPLIES,
    reply: (_node, _m, r) => (r.chance(0.4) ? (delays[r.int(0, delays.length - 1)] as number) : undefined),
  };
}

interface WorldOptions {
  readonly workload: Workload;
  /** On a perfect network: every message reaches every node this soon, and the nodes send at most FRAMES_PER_BROADCAST per broadcast. */
  readonly deliverWithinMs?: number;
  /** Filled for `dlab compare`: deliveries at other nodes than the origin, their total latency, and broadcasts. */
  readonly metrics?: { latency: number; count: number; broadcasts: number };
  /** Distinct payloads only (the hand-written scenarios, so that reports read well). */
  readonly plainPayloads?: boolean;
  /** Besides safety (causal order, once each, nothing invented), at every step: what this property checks. */
  readonly agreement?: boolean;
  readonly quiet?: boolean;
  readonly storm?: boolean;
  /** When the network heals (default HORIZON): everything must be delivered within CATCH_UP_MS of it. */
  readonly healAt?: number;
}

const crashAt = (schedule: readonly FaultEvent[], node: string): number => schedule.find((f) => f.code === 'C' && f.node === node)?.at ?? NaN;

/** The nodes a schedule crashes: they stay dead (crash-stop), so they are not correct nodes. */
const crashedIn = (schedule: readonly FaultEvent[]): Set<string> => new Set(schedule.flatMap((f) => (f.code === 'C' ? [f.node] : [])));

/**
 * A world: the nodes, the workload, the grader's own record of every broadcast and delivery, and its checks. The
 * grader keeps its own causal past per node (a vector of message counts), never reads a message, and identifies a
 * delivery by its position among its origin's broadcasts (payloads may repeat).
 */
function world(c: SimCase, o: WorldOptions): World<Node> {
  const dead = crashedIn(c.schedule);
  const correct = NODES.filter((n) => !dead.has(n));
  const rng = new Rng(c.seed).split('replies');
  const sent = new Map<string, Sent[]>(NODES.map((n) => [n, []]));
  /** next.get(r)[o]: how many of o's messages r has delivered (its first ones, if all went well). */
  const next = new Map<string, Record<string, number>>(NODES.map((n) => [n, {}]));
  /** The grader's causal past of each node, and how it came to be. */
  const knows = new Map<string, Record<string, number>>(NODES.map((n) => [n, {}]));
  const learnt = new Map<string, Record<string, Learnt>>(NODES.map((n) => [n, {}]));
  const replies = new Map<string, number>();
  let broadcasts = 0;
  let broken: string | undefined;
  let lastDelivery = 0;
  let sim: Sim<Node> | undefined;
  const at = (r: string, orig: string): number => next.get(r)![orig] ?? 0;
  const boots = new Map<string, number>();
  const alive = (s: Sim<Node>, n: string): boolean => s.node(n).up && !(s.node(n).proc instanceof Dead);

  const broadcast = (s: Sim<Node>, node: string): void => {
    if (broken !== undefined || !alive(s, node)) return;
    const list = sent.get(node)!;
    const k = list.length + 1;
    const payload = o.plainPayloads === true ? `${node}${k}` : payloadOf(node, k);
    const past = knows.get(node)!;
    const m: Sent = { origin: node, k, payload, at: s.now, deps: { ...past }, why: { ...learnt.get(node)! } };
    list.push(m);
    broadcasts++;
    if (o.metrics !== undefined) o.metrics.broadcasts++;
    past[node] = k;
    s.asNode(node, (p) => (p as Bc).broadcast(payload));
  };

  const onDeliver = (r: string) => (origin: string, p: unknown) => {
    if (broken !== undefined || sim === undefined) return;
    const s = sim;
    const list = sent.get(origin);
    if (list === undefined) {
      broken = `${r} delivered ${fmt(p)} from ${JSON.stringify(origin)}, which is not a node (the origin passed to deliver must be the node that broadcast the message)`;
      return;
    }
    const k = at(r, origin) + 1;
    const m = list[k - 1];
    if (m === undefined) {
      broken =
        `${r} delivered ${fmt(p)} from ${origin}, but ${origin} had broadcast only ${list.length} message${list.length === 1 ? '' : 's'}, all delivered at ${r} already: ` +
        `a duplicate (or a message nobody broadcast). A message is delivered once, however many copies arrive`;
      return;
    }
    if (!Object.is(m.payload, p)) {
      const later = list.slice(k).find((x) => Object.is(x.payload, p));
      const earlier = list.slice(0, k - 1).find((x) => Object.is(x.payload, p));
      broken = later
        ? `${r} delivered ${show(later)} before ${show(m)}: a gap. Messages from one origin are delivered in the order it broadcast them, and a message waits until the one before it is delivered` +
          (later.at === m.at
            ? ` (${origin} broadcast both at t=${m.at} ms: did it give them the same number, so that one was dropped as a copy of the other? A broadcast counts as delivered at its origin before broadcast() returns)`
            : '')
        : earlier
          ? `${r} delivered ${show(earlier)} a second time (it expected ${show(m)} next): a duplicate`
          : `${r} delivered ${fmt(p)} from ${origin}, which ${origin} never broadcast (it expected ${show(m)} next)`;
      return;
    }
    for (const o2 of NODES) {
      if (o2 === origin || at(r, o2) >= (m.deps[o2] ?? 0)) continue;
      const miss = sent.get(o2)![at(r, o2)]!;
      broken =
        `${r} delivered ${show(m)} before ${show(miss)}, which happened before it: ${origin} broadcast it after it had ${because(m.why[o2], o2)}. ` +
        `Causal order: hold a message back until you have delivered everything its origin had delivered when it broadcast it (one counter per sender, FIFO, is not enough)` +
        (miss.origin === r ? `. And ${r} had broadcast ${show(miss)} itself: a node delivers its own broadcasts too, at once` : '');
      return;
    }
    next.get(r)![origin] = k;
    lastDelivery = s.now;
    if (o.metrics !== undefined && origin !== r) {
      o.metrics.latency += s.now - m.at;
      o.metrics.count++;
    }
    // The grader's causal past of r grows by m and by everything m depends on.
    const past = knows.get(r)!;
    const how = learnt.get(r)!;
    const learn: Learnt = { via: m, t: s.now };
    for (const o2 of NODES) {
      const n = o2 === origin ? k : (m.deps[o2] ?? 0);
      if ((past[o2] ?? 0) >= n) continue;
      past[o2] = n;
      how[o2] = learn;
    }
    if (origin !== r && s.now < HORIZON && (replies.get(r) ?? 0) < o.workload.replyBudget) {
      const delay = o.workload.reply(r, m, rng);
      if (delay !== undefined) {
        replies.set(r, (replies.get(r) ?? 0) + 1);
        s.at(s.now + delay, () => broadcast(s, r));
      }
    }
  };

  // ---- the storm rule and quiet, from the trace (times and endpoints of frames only) ----
  const budget = new FrameBudget(RATE_WINDOW_MS, EXTRA);
  const healAt = o.healAt ?? HORIZON;
  const quietFrom = healAt + CATCH_UP_MS;
  let lateFrames = 0;
  let scanned = 0;
  /** Reads the new trace events: counts frames between correct nodes in the quiet window and, if `rule`, applies the storm rule. */
  const scan = (s: Sim<Node>, rule: boolean): string | undefined => {
    const end = s.trace.length;
    for (let i = Math.max(scanned, s.trace.first); i < end; i++) {
      const e = s.trace.at(i);
      if (e === undefined || e.node === undefined || e.peer === undefined) continue;
      if (e.kind === 'deliver') budget.delivered(e.node, e.peer, e.time);
      if (e.kind !== 'send') continue;
      if (e.time > quietFrom && !dead.has(e.node) && !dead.has(e.peer)) lateFrames++;
      if (!rule || budget.sent(e.node, e.peer, e.time, broadcasts)) continue;
      scanned = end;
      const n = budget.count(e.node, e.peer, e.time);
      return (
        `${e.node} sent ${e.peer} ${n.recent} frames in the ${RATE_WINDOW_MS} ms up to t=${e.time} ms, and ${n.all} in all while ${broadcasts} messages were broadcast: ` +
        `more than one per message, one per frame received from ${e.peer} in the last ${RATE_WINDOW_MS} ms, and ${EXTRA} more per ${RATE_WINDOW_MS} ms. ` +
        `That is a retransmission storm: a peer that is cut off (or dead) must cost a few frames per ${RATE_WINDOW_MS} ms, not one per message it lacks`
      );
    }
    scanned = end;
    return undefined;
  };

  /** On a network that loses and delays nothing: the oldest message each correct node still lacks must be younger than `within` ms. */
  const prompt = (s: Sim<Node>, within: number): string | undefined => {
    for (const r of correct) {
      for (const orig of NODES) {
        const m = sent.get(orig)![at(r, orig)];
        if (m !== undefined && s.now > m.at + within + 1e-6) {
          return (
            `on a network that loses and delays nothing, ${r} had still not delivered ${show(m)} at t=${s.now} ms: a message takes at most 5 ms, ` +
            `so every node should deliver it within ${within} ms (is it held back waiting for something it does not need, or left in the queue after what it waited for ` +
            `was delivered: scan the queue again until nothing moves? Or sent only on a timer?)`
          );
        }
      }
    }
    return undefined;
  };

  return {
    nodes: NODES,
    // Crash-stop: a node's first boot runs your code; if it crashes, it comes back (at the heal) as a Dead node.
    proc: (id) => {
      const n = (boots.get(id) ?? 0) + 1;
      boots.set(id, n);
      return n === 1 && crashAt(c.schedule, id) !== 0 ? new CausalBroadcast<unknown>(onDeliver(id)) : new Dead();
    },
    workload: (s) => {
      sim = s;
      for (const { t, node } of o.workload.plan) s.at(t, () => broadcast(s, node));
    },
    invariant: () => broken,
    // Not safety, but checked at every step too: the storm rule; on a perfect network, the 10 ms deadline and the
    // budget of frames (with every node up).
    bound: (s) => {
      const storm = o.storm === true || o.quiet === true ? scan(s, o.storm === true) : undefined;
      if (storm !== undefined || o.deliverWithinMs === undefined) return storm;
      if (dead.size === 0 && s.stats.sent > FRAMES_PER_BROADCAST * broadcasts) {
        return (
          `on a network that loses, duplicates and delays nothing, the nodes had sent ${s.stats.sent} frames for ${broadcasts} broadcast${broadcasts === 1 ? '' : 's'}: ` +
          `more than ${FRAMES_PER_BROADCAST} per broadcast (3× the reference). Nothing is lost here: does a node resend what was acknowledged, or answer an ack?`
        );
      }
      return prompt(s, o.deliverWithinMs);
    },
    check: (s) => {
      if (o.agreement !== true) return undefined;
      // Validity and agreement: every message of a correct node, and every message some correct node delivered,
      // is delivered by every correct node.
      // Orphans: the crashed node's messages no correct node delivered. All but the first may wait forever.
      const lost = dead.size === 0 ? 0 : [...dead].reduce((n, x) => n + sent.get(x)!.filter((m) => correct.every((y) => at(y, x) < m.k)).length, 0);
      const mayStay = Math.max(0, lost - 1);
      for (const r of correct) {
        // The messages r still owes: per origin, the first one it lacks. Report one whose causal past r has
        // delivered (there is always one): nothing but the message itself keeps r from delivering it.
        const owed: { orig: string; m: Sent; by: string | undefined }[] = [];
        for (const orig of NODES) {
          const list = sent.get(orig)!;
          const by = correct.find((x) => at(x, orig) > at(r, orig));
          const want = dead.has(orig) ? (by === undefined ? 0 : at(by, orig)) : list.length;
          if (at(r, orig) < want) owed.push({ orig, m: list[at(r, orig)]!, by });
        }
        const ready = owed.find((x) => NODES.every((o2) => o2 === x.orig || at(r, o2) >= (x.m.deps[o2] ?? 0)));
        const first = ready ?? owed[0];
        if (first === undefined) continue;
        const { orig, m, by } = first;
        const list = sent.get(orig)!;
        const whose = orig === r ? 'its own' : `${orig}'s`;
        let held: unknown;
        try {
          held = s.asNode(r, (p) => (typeof (p as Bc).pending === 'function' ? (p as Bc).pending() : undefined));
        } catch {
          held = undefined;
        }
        // The messages r lacks that must wait for another it lacks: all its hold-back queue may rightly hold. If
        // pending() is more, a message that is ready sits in the queue: say so rather than "never arrived".
        let blocked = 0;
        for (const o of NODES) {
          for (const x of sent.get(o)!.slice(at(r, o))) {
            if (x.k !== at(r, o) + 1 || NODES.some((o2) => o2 !== o && at(r, o2) < (x.deps[o2] ?? 0))) blocked++;
          }
        }
        const stuck =
          ready !== undefined && typeof held === 'number' && held > blocked
            ? `${r} had delivered everything it depends on, and ${r}.pending() is ${held} while only ${blocked} message${blocked === 1 ? '' : 's'} ${r} lacks ` +
              `${blocked === 1 ? 'has' : 'have'} to wait for another: is it held back, waiting for a message it does not need (a stamp counts only the messages its ` +
              `origin had delivered, not events, not messages received), or stuck behind one that can never be delivered?`
            : undefined;
        return dead.has(orig)
          ? `${r} never delivered ${show(m)}, which ${by} delivered` +
              (stuck !== undefined
                ? `, though ${stuck}`
                : `. ${orig} crashed at t=${crashAt(c.schedule, orig)} ms: once its origin is gone, ` +
                  `the nodes that have a message are the only ones who can pass it on (relay it on first receipt, and resend it until acknowledged)`)
          : `${r} delivered only ${at(r, orig)} of ${whose} ${list.length} messages: ${show(m)} ` +
              (stuck !== undefined ? `was never delivered, though ${stuck}` : orig === r ? 'never arrived' : 'never arrived (is it resent until acknowledged?)') +
              (orig === r ? ' (a node delivers its own broadcasts too)' : '') +
              (list.slice(0, m.k - 1).some((x) => Object.is(x.payload, m.payload)) ? ` (it carries the same value as an earlier one: payloads are opaque, and two messages may be equal)` : '');
      }
      // The hold-back queue empties: only a message that waits for one no correct node has may stay.
      for (const r of correct) {
        const held = s.asNode(r, (p) => (typeof (p as Bc).pending === 'function' ? (p as Bc).pending() : 'no method'));
        if (held === 'no method') return `${r} has no pending() method: it must return how many received messages wait in its hold-back queue`;
        if (typeof held !== 'number' || !Number.isInteger(held) || held < 0) return `${r}.pending() returned ${fmt(held)}, not a count of the messages in its hold-back queue`;
        if (held > mayStay) {
          return (
            `${r}.pending() is ${held} after everything was delivered, but ` +
            (mayStay === 0
              ? 'no message can still be waiting: the hold-back queue must be empty (is a delivered message left in it, or is a ready one never retried?)'
              : `at most ${mayStay} can wait forever (messages of the crashed node that came after one no correct node received)`)
          );
        }
      }
      if (o.quiet === true && lateFrames > 0 && lastDelivery > quietFrom) {
        return (
          `the last message was delivered only at t=${lastDelivery} ms, ${Math.round(lastDelivery - healAt)} ms after the heal, and the nodes were still sending ` +
          `after t=${quietFrom} ms: everything must be delivered and acknowledged within ${CATCH_UP_MS} ms of the heal (resend on a timer, every 100 ms or so; if the wait grows while a peer answers nothing, cap it: the peer may come back at any moment)`
        );
      }
      if (o.quiet === true && lateFrames > 0) {
        return `every message was delivered, yet the correct nodes sent each other ${lateFrames} frames in the last ${QUIET_MS} ms: once everything is acknowledged, go quiet`;
      }
      return undefined;
    },
  };
}

// ---- hand-written scenarios: a scripted workload, selected by the case's seed ----

const never = (): undefined => undefined;
const script = (plan: readonly (readonly [number, string])[], reply: Workload['reply'] = never, replyBudget = 0): Workload => ({
  plan: plan.map(([t, node]) => ({ t, node })),
  reply,
  replyBudget,
});

/** a asks six questions; b answers each at once. c cannot hear a or d, so it hears each question only as b's relay, just before b's answer. */
const QUESTIONS = script(
  [20, 120, 220, 320, 420, 520].map((t) => [t, 'a'] as const),
  (node, m) => (node === 'b' && m.origin === 'a' ? 0 : undefined),
  6,
);
const ONE_WAY_TO_C: FaultEvent[] = [
  { at: 0, code: 'AP', from: 'a', to: 'c' },
  { at: 0, code: 'AP', from: 'd', to: 'c' },
];

/** a broadcasts twice, 10 ms apart; c hears nobody when the first one goes out, everybody when the second one does. */
const TWO_IN_A_ROW = script([
  [10, 'a'],
  [20, 'a'],
]);
const DEAF_C_THEN_HEAL: FaultEvent[] = [
  { at: 5, code: 'AP', from: 'a', to: 'c' },
  { at: 5, code: 'AP', from: 'b', to: 'c' },
  { at: 5, code: 'AP', from: 'd', to: 'c' },
  { at: 15, code: 'H' },
];

/** Everyone broadcasts a little; a's second message goes out when only b can hear it, and then a crashes for good. */
const LAST_WORDS = script([
  [20, 'a'],
  [40, 'b'],
  [60, 'c'],
  [80, 'd'],
  [150, 'a'],
  [200, 'd'],
]);
const ONLY_B_HEARS: FaultEvent[] = [
  { at: 100, code: 'P', groups: [['a', 'b']] },
  { at: 160, code: 'C', node: 'a', downMs: 100_000 },
  { at: 400, code: 'H' },
];
const A_TO_B_ONLY: FaultEvent[] = [
  { at: 100, code: 'AP', from: 'a', to: 'c' },
  { at: 100, code: 'AP', from: 'a', to: 'd' },
  { at: 151, code: 'C', node: 'a', downMs: 100_000 },
];

/**
 * a's first message reaches nobody, its second reaches everybody, and then a crashes: the second can never be
 * delivered (an orphan), and must not hold up the messages the others broadcast afterwards.
 */
const ORPHAN = script([
  [100, 'a'],
  [106, 'a'],
  [200, 'b'],
  [210, 'b'],
  [220, 'c'],
  [230, 'd'],
  [240, 'c'],
]);
const A_FIRST_LOST_THEN_CRASH: FaultEvent[] = [
  { at: 90, code: 'AP', from: 'a', to: 'b' },
  { at: 90, code: 'AP', from: 'a', to: 'c' },
  { at: 90, code: 'AP', from: 'a', to: 'd' },
  { at: 105, code: 'H' },
  { at: 112, code: 'C', node: 'a', downMs: 100_000 },
];

/** Eight broadcasts per node: '' and 0 and null and undefined, and a value equal to the one before (the same values at every node). */
const ODD_PAYLOADS = script(NODES.flatMap((n, i) => Array.from({ length: 8 }, (_, k) => [30 + 80 * k + 7 * i, n] as const)));

/** a is cut off while it broadcasts a burst of twelve, then 20 % loss: resending the whole backlog each tick multiplies it. */
const BURST_WHILE_CUT_OFF = script([...Array.from({ length: 12 }, () => [50, 'a'] as const), [700, 'b']]);
const CUT_OFF_A: FaultEvent[] = [
  { at: 0, code: 'P', groups: [['a']] },
  { at: 600, code: 'H' },
  { at: 600, code: 'L', pct: 20 },
];
/** d crashes for good early; the others keep broadcasting: every node owes d everything, forever. */
const TALK_AFTER_D_DIES = script(Array.from({ length: 24 }, (_, i) => [100 + 30 * i, NODES[i % 3] as string] as const));
const D_DIES: FaultEvent[] = [{ at: 50, code: 'C', node: 'd', downMs: 100_000 }];

/** b and d are down for good; a broadcasts six messages at one instant, and c receives them in whatever order the latencies give. */
const BURST_TO_C = script(Array.from({ length: 6 }, () => [20, 'a'] as const));
const B_AND_D_DOWN: FaultEvent[] = [
  { at: 0, code: 'C', node: 'b', downMs: 100_000 },
  { at: 0, code: 'C', node: 'd', downMs: 100_000 },
];

/**
 * d is cut off from t=0 while a, b and c talk a little, then stays silent: nothing it sends can reset the others'
 * backoff toward it. The partition lasts longer than any generated fault, so a resend wait that keeps doubling
 * without a cap has grown past the 1000 ms the heal leaves to catch up (a heal at 2000 ms and one at 3000 ms: for a
 * wait that doubles or more, one of them falls early in a long wait, whatever the wait started at).
 */
const LONG_SILENCE = script([
  [10, 'a'],
  [20, 'b'],
  [30, 'c'],
  [40, 'a'],
  [50, 'b'],
  [60, 'c'],
]);
const D_CUT_OFF: FaultEvent[] = [{ at: 0, code: 'P', groups: [['d']] }];
/** The long partitions: d cut off until these heals. */
const LONG_HEALS = [2000, 3000];

const SCRIPTS = new Map<number, Workload>([
  [1, QUESTIONS],
  [2, TWO_IN_A_ROW],
  [3, LAST_WORDS],
  [4, LAST_WORDS],
  [5, ODD_PAYLOADS],
  [6, BURST_WHILE_CUT_OFF],
  [7, TALK_AFTER_D_DIES],
  [8, BURST_TO_C],
  [9, ORPHAN],
  [10, LONG_SILENCE],
]);
const workloadOf = (c: SimCase): Workload => SCRIPTS.get(c.seed) ?? randomWorkload(c.seed);
const plain = (c: SimCase): boolean => SCRIPTS.has(c.seed) && c.seed !== 5;

/** The network faults of this exercise: loss, duplication, reordering with a tail 10× the 5 ms latency, partitions. */
const NETWORK = { lossPct: 40, dupPct: 30, reorderPct: 50, reorderMs: 50 };
const networkFaults = faultSchedule({ nodes: NODES, codes: ['L', 'D', 'R', 'P', 'AP', 'H'], horizonMs: HORIZON, maxEvents: 6, bounds: NETWORK });
/** The same, plus at most one crash, which is permanent (crash-stop). */
const withCrash = faultSchedule({ nodes: NODES, codes: ['L', 'D', 'R', 'P', 'AP', 'H', 'C'], horizonMs: HORIZON, maxEvents: 6, bounds: NETWORK }).filter(
  (s) => s.filter((f) => f.code === 'C').length <= 1,
);

describe('03-time-and-causality/02-causal-broadcast', () => {
  it('delivers in causal order across senders: never before a message whose broadcast happened before its own', async () => {
    await simProperty({
      property:
        'no node delivers a message before every message whose broadcast happened before its broadcast (earlier at the same origin, or delivered by the origin before it broadcast), ' +
        'and no node delivers a message twice or one nobody broadcast',
      seed: 2001,
      world: (c) => world(c, { workload: workloadOf(c), plainPayloads: plain(c) }),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      maxSteps: MAX_STEPS,
      runs: 20,
      faults: networkFaults,
      killers: [
        { seed: 1, schedule: ONE_WAY_TO_C },
        { seed: 2, schedule: DEAF_C_THEN_HEAL },
      ],
    });
  });

  it('every correct node delivers what any correct node delivered, even when the origin crashed after reaching only some', async () => {
    await simProperty({
      property:
        'after the network heals, every correct node has delivered every message of every correct node (its own included), and every message that any correct node delivered, ' +
        `even one whose origin crashed right after sending it to only some nodes; and its hold-back queue (pending()) is empty`,
      seed: 2002,
      world: (c) => world(c, { workload: workloadOf(c), plainPayloads: plain(c), agreement: true }),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      maxSteps: MAX_STEPS,
      runs: 20,
      faults: withCrash,
      killers: [
        { seed: 3, schedule: ONLY_B_HEARS },
        { seed: 4, schedule: A_TO_B_ONLY },
        { seed: 9, schedule: A_FIRST_LOST_THEN_CRASH },
        { seed: 2, schedule: DEAF_C_THEN_HEAL },
        { seed: 5, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 50 }] },
      ],
    });
  });

  it('after a long partition, the node that was cut off catches up within 1000 ms of the heal', async () => {
    for (const [i, heal] of LONG_HEALS.entries()) {
      await simProperty({
        property:
          `d is cut off from t=0 to t=${heal} ms while the others broadcast; within ${CATCH_UP_MS} ms of the heal d has delivered everything, ` +
          `and then the nodes go quiet (a node that backs off while a peer answers nothing must cap its wait: the peer may come back at any moment)`,
        seed: 2005 + i,
        world: (c) => world(c, { workload: workloadOf(c), plainPayloads: true, agreement: true, quiet: true, storm: true, healAt: heal }),
        horizonMs: heal,
        settleMs: SETTLE,
        maxSteps: MAX_STEPS,
        runs: 1,
        killers: [{ seed: 10, schedule: D_CUT_OFF }],
      });
    }
  });

  it(`on a perfect network delivers every message everywhere within ${DELIVER_WITHIN_MS} ms, with at most ${FRAMES_PER_BROADCAST} frames per broadcast`, async () => {
    await simProperty({
      property:
        `on a network that loses, duplicates and delays nothing, every running node delivers every message within ${DELIVER_WITHIN_MS} ms of its broadcast (even with nodes down), ` +
        `and with every node up the nodes send at most ${FRAMES_PER_BROADCAST} frames per broadcast (3× the reference: three first copies, six relays and nine acks with four nodes)`,
      seed: 2003,
      world: (c) => world(c, { workload: workloadOf(c), plainPayloads: plain(c), deliverWithinMs: DELIVER_WITHIN_MS, agreement: true }),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      maxSteps: MAX_STEPS,
      runs: 10,
      killers: [{ seed: 8, schedule: B_AND_D_DOWN }],
    });
  });

  it('through loss, duplication, reordering, partitions and a permanent crash: agreement, an empty hold-back queue, no storm, then quiet', async () => {
    await simProperty({
      property:
        'under loss, duplication, reordering, partitions and the permanent crash of a node: deliveries stay in causal order, once each; after the heal every correct node ' +
        `catches up within ${CATCH_UP_MS} ms and then the correct nodes go quiet; pending() is 0 (or counts only messages that wait for one no correct node has); ` +
        `and every frame a node sends a peer is paid for by a broadcast (once per link), by a frame received from that peer in the last ${RATE_WINDOW_MS} ms (once each), ` +
        `or from an allowance of ${EXTRA} frames per ${RATE_WINDOW_MS} ms (no retransmission storm, even toward a dead node)`,
      seed: 2004,
      world: (c) => world(c, { workload: workloadOf(c), plainPayloads: plain(c), agreement: true, quiet: true, storm: true }),
      horizonMs: HORIZON,
      settleMs: SETTLE,
      maxSteps: MAX_STEPS,
      runs: 50,
      faults: withCrash,
      killers: [
        { seed: 5, schedule: [{ at: 0, code: 'D', pct: 30 }, { at: 0, code: 'R', pct: 50, maxMs: 50 }] },
        { seed: 6, schedule: CUT_OFF_A },
        { seed: 7, schedule: D_DIES },
        { seed: 3, schedule: ONLY_B_HEARS },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    for (const [label, loss] of [['a perfect network', 0], ['20% loss', 20]] as const) {
      const metrics = { latency: 0, count: 0, broadcasts: 0 };
      let frames = 0;
      for (let seed = 100; seed < 110; seed++) {
        const out = await runCase(
          { property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => world(c, { workload: randomWorkload(c.seed), metrics, agreement: true }) },
          { seed, schedule: loss > 0 ? [{ at: 0, code: 'L', pct: loss }] : [] },
        );
        frames += out.sim.stats.sent;
      }
      recordMetric({ name: `frames per broadcast, ${label}`, value: frames / Math.max(1, metrics.broadcasts), unit: 'frames', better: 'lower' });
      recordMetric({ name: `ms from broadcast to delivery at another node, ${label}`, value: metrics.latency / Math.max(1, metrics.count), unit: 'ms', better: 'lower' });
    }
  });
});
