// Hidden tests for 01-foundations/00-network-lies: every payload arrives exactly once, in order, whatever the network does.
import { describe, it } from 'vitest';
import { metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, Rng, runCase, simProperty, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { ReliableLink } from '@impl/01-foundations/00-network-lies';

const NODES = ['a', 'b', 'c'];
/** Payloads each node sends to each other node. */
const PER_LINK = 8;
/** Faults (and sends) happen in [0, HORIZON); then the network heals. */
const HORIZON = 1000;
/** 20× the longest retransmit interval the lesson allows (100 ms). */
const SETTLE = 2000;

type Link = ReliableLink<string>;

/**
 * A world where every node sends PER_LINK payloads to every other node at random times. The test keeps
 * its own record of what was sent and what each node delivered; it never looks at the frames.
 */
/** Filled by the worlds when `dlab compare` asks for behaviour metrics. */
interface Latencies {
  total: number;
  count: number;
}

function world(c: SimCase, latencies?: Latencies): World<Link> {
  const sent = new Map<string, string[]>();
  const got = new Map<string, string[]>();
  const list = (m: Map<string, string[]>, k: string): string[] => {
    let l = m.get(k);
    if (l === undefined) m.set(k, (l = []));
    return l;
  };
  let broken: string | undefined;
  let sentAtQuietStart = -1;
  let sim: Sim<Link> | undefined;
  const sentAt = new Map<string, number>();

  const rng = new Rng(c.seed).split('workload');
  const times: { t: number; from: string; to: string }[] = [];
  for (const from of NODES) {
    for (const to of NODES) {
      if (from !== to) for (let i = 0; i < PER_LINK; i++) times.push({ t: rng.int(0, HORIZON - 1), from, to });
    }
  }
  times.sort((x, y) => x.t - y.t);

  const onDeliver = (to: string) => (from: string, p: string) => {
    const key = `${from}→${to}`;
    const s = sent.get(key) ?? [];
    const g = list(got, key);
    const want = s[g.length];
    if (broken === undefined && p !== want) {
      broken = g.includes(p)
        ? `${to} delivered ${JSON.stringify(p)} from ${from} a second time (already delivered: ${g.join(', ')})`
        : s.includes(p)
          ? `${to} delivered ${JSON.stringify(p)} from ${from} before ${JSON.stringify(want)}: not in the order ${from} sent them (already delivered: ${g.join(', ') || 'nothing'})`
          : `${to} delivered ${JSON.stringify(p)} from ${from}, which ${from} never sent to ${to}`;
    }
    g.push(p);
    if (latencies !== undefined && sim !== undefined) {
      latencies.total += sim.now - (sentAt.get(p) ?? sim.now);
      latencies.count++;
    }
  };

  return {
    nodes: NODES,
    proc: (id) => new ReliableLink<string>(onDeliver(id)),
    workload: (s: Sim<Link>) => {
      sim = s;
      for (const { t, from, to } of times) {
        s.at(t, () => {
          const l = list(sent, `${from}→${to}`);
          const p = `${from}${to}${l.length + 1}`;
          l.push(p);
          sentAt.set(p, s.now);
          s.asNode(from, (node) => node.sendReliable(to, p));
        });
      }
      s.at(HORIZON + SETTLE / 2, () => {
        sentAtQuietStart = s.stats.sent;
      });
    },
    invariant: () => broken,
    check: (sim) => {
      for (const [key, s] of sent) {
        const g = got.get(key) ?? [];
        if (g.length < s.length) {
          const [from, to] = key.split('→');
          return `${to} delivered only ${g.length} of the ${s.length} payloads ${from} sent it; ${JSON.stringify(s[g.length])} never arrived`;
        }
      }
      const late = sim.stats.sent - sentAtQuietStart;
      if (late > 0) {
        return `every payload was delivered, yet the nodes sent ${late} more frames in the last ${SETTLE / 2} ms: an idle link should go quiet`;
      }
      return undefined;
    },
  };
}

describe('01-foundations/00-network-lies', () => {
  it('delivers every payload exactly once and in order, through loss, duplication, reordering and partitions', async () => {
    await simProperty({
      property: 'every payload a node sends to a peer is delivered to that peer exactly once, in the order it was sent, and the link goes quiet after the network heals',
      world,
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
      killers: [
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
      ],
    });
  });

  it('uses at most 3× the frames the reference needs on a perfect network (6 per payload)', async () => {
    const payloads = NODES.length * (NODES.length - 1) * PER_LINK;
    await simProperty({
      property: `on a perfect network the links send at most ${6 * payloads} frames for ${payloads} payloads (the reference sends 2 per payload: the data and its ack)`,
      world: (c): World<Link> => {
        const w = world(c);
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

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    const payloads = NODES.length * (NODES.length - 1) * PER_LINK;
    for (const [label, loss] of [['a perfect network', 0], ['20% loss', 20]] as const) {
      const lat: Latencies = { total: 0, count: 0 };
      let frames = 0;
      for (let seed = 1; seed <= 10; seed++) {
        const out = await runCase(
          { property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => world(c, lat) },
          { seed, schedule: loss > 0 ? [{ at: 0, code: 'L', pct: loss }] : [] },
        );
        frames += out.sim.stats.sent;
      }
      recordMetric({ name: `frames per payload, ${label}`, value: frames / (10 * payloads), unit: 'frames', better: 'lower' });
      recordMetric({ name: `ms from send to delivery, ${label}`, value: lat.total / Math.max(1, lat.count), unit: 'ms', better: 'lower' });
    }
  });
});
