// Hidden tests for 01-foundations/02-fencing-stale-leaders: no stale leader acts after a newer generation is elected, and it learns it was replaced.
import { describe, it } from 'vitest';
import { metricsWanted, recordMetric } from '@dlab/harness';
import { faultSchedule, Rng, runCase, simProperty, type FaultEvent, type Schedule, type Sim, type SimCase, type World } from '@dlab/harness/sim';
import { EpochNode } from '@impl/01-foundations/02-fencing-stale-leaders';

const NODES = ['a', 'b', 'c'];
/** Followers a leader needs besides itself for a majority. */
const NEED = Math.floor(NODES.length / 2);
/** Faults (and client operations) happen in [0, HORIZON); then everything heals. */
const HORIZON = 1000;
/** 10× the longest lease the lesson allows. */
const SETTLE = 1000;
/** The lesson's bounds: a lease of at most 100 ms on the monotonic clock, heartbeats at least every 25 ms. */
const LEASE_MAX = 100;
const HEARTBEAT_MAX = 25;
/** Clock drift in the fault schedules stays within ±1 %. */
const DRIFT_PPM = 10_000;
/** The oracle elects only after the leader was cut off this long: LEASE_MAX·(1+ρ)/(1−ρ), plus a margin (106 ms). */
const ELECTION_WAIT = Math.ceil((LEASE_MAX * (1 + DRIFT_PPM / 1e6)) / (1 - DRIFT_PPM / 1e6)) + 3;
/** After the heal, a stale leader must step down within two heartbeat intervals and a round trip. */
const STEP_DOWN_MS = 2 * HEARTBEAT_MAX + 10;
/** How often the election oracle looks at the cluster (besides every fault's start and end). */
const POLL_MS = 5;
/** A client gives up on a write after this long (it may still take effect: the grader checks late acks too). */
const WRITE_TIMEOUT = 100;

type Node = EpochNode;

interface Election {
  readonly gen: number;
  readonly node: string;
  readonly at: number;
}

/** A write the grader saw acknowledged. */
interface Ack {
  readonly value: string;
  readonly node: string;
  readonly gen: number;
  readonly invokedAt: number;
  readonly at: number;
}

/** Which links the nemesis has cut, replayed from the schedule (the oracle must know who can reach whom). */
class Links {
  private readonly group = new Map<string, number>();
  private readonly oneWay = new Set<string>();
  private next = 0;
  constructor(private readonly schedule: readonly { readonly at: number; readonly code: string }[]) {}
  /** Applies every fault at or before `t` (faults at t come before anything else at t, as in the simulator). */
  advance(t: number): void {
    while (this.next < this.schedule.length && this.schedule[this.next]!.at <= t) {
      const f = this.schedule[this.next++] as FaultEvent;
      if (f.code === 'P') {
        this.group.clear();
        f.groups.forEach((g, i) => g.forEach((n) => this.group.set(n, i + 1)));
      } else if (f.code === 'AP') this.oneWay.add(`${f.from}>${f.to}`);
      else if (f.code === 'H') {
        this.group.clear();
        this.oneWay.clear();
      }
    }
  }
  blocked(from: string, to: string): boolean {
    return (this.group.get(from) ?? 0) !== (this.group.get(to) ?? 0) || this.oneWay.has(`${from}>${to}`);
  }
}

/** The end of the last pause the schedule holds (pauses can outlast the heal). */
const pausesEnd = (s: Schedule): number => Math.max(0, ...s.filter((f) => f.code === 'G').map((f) => f.at + (f as { ms: number }).ms));

interface Outcome {
  readonly elections: Election[];
  readonly acks: Ack[];
  readonly reads: number;
  readonly writes: number;
}

function makeWorld(c: SimCase, out?: (o: Outcome) => void): World<Node> {
  const rng = new Rng(c.seed).split('workload');
  const elections: Election[] = [];
  const acks: Ack[] = [];
  /** Per node and generation: the writes invoked there (value, time) and the last acknowledged one. */
  const invoked = new Map<string, { value: string; at: number }[]>();
  const lastAck = new Map<string, Ack>();
  const maxGenSeen = new Map<string, number>();
  let broken: string | undefined;
  let reads = 0;
  let writes = 0;
  let n = 0;
  let finalResult: string | undefined = 'the final write to the leader never ran';
  const staleSince = pausesEnd(c.schedule);
  const fail = (why: string) => {
    broken ??= why;
  };
  const current = (): Election | undefined => elections[elections.length - 1];
  const electedBy = (t: number): Election | undefined => {
    let e: Election | undefined;
    for (const x of elections) if (x.at <= t) e = x;
    return e;
  };
  const describeGen = (g: number): string => {
    const e = elections[g - 1];
    return e === undefined ? `generation ${g}, which was never elected` : `generation ${g} (${e.node}, elected at t=${e.at} ms)`;
  };

  return {
    nodes: NODES,
    // c0 is the election oracle; c1 and c2 are the clients.
    clients: 3,
    proc: () => new EpochNode(),
    workload: async (sim: Sim<Node>) => {
      const links = new Links(sim.schedule);
      const up = (id: string) => sim.node(id).up && !sim.node(id).paused;
      const role = (id: string) => sim.asNode(id, (p) => p.role());
      const gen = (id: string) => sim.asNode(id, (p) => p.generation());
      let unableSince: number | undefined;
      let electing = false;

      // ---- the election oracle --------------------------------------------------------------
      const elect = async (after: string | undefined) => {
        // Candidates in ring order after the old leader: running, and in two-way contact with a majority.
        const start = after === undefined ? 0 : NODES.indexOf(after) + 1;
        for (let i = 0; i < NODES.length; i++) {
          const x = NODES[(start + i) % NODES.length]!;
          if (x === after || !up(x)) continue;
          const reach = NODES.filter((y) => y !== x && !links.blocked(x, y) && !links.blocked(y, x)).length;
          if (reach < NEED) continue;
          const e: Election = { gen: elections.length + 1, node: x, at: sim.now };
          elections.push(e);
          unableSince = undefined;
          await sim.clients[0]!.invoke({ f: 'elect', value: `${x} leads generation ${e.gen}` }, () => {
            sim.asNode(x, (p) => p.onElected(e.gen));
            return { type: 'ok' };
          });
          return;
        }
      };
      /** Who should be replaced now, if anyone ('' elects the first leader); undefined: nothing to do. */
      const due = (): string | undefined => {
        const cur = current();
        if (cur === undefined) return sim.now >= 1 ? '' : undefined;
        // The leader cannot lead, or cannot reach a majority in the leader→follower direction: every round
        // it starts from now on fails. Once that has lasted longer than any lease, elect anew.
        const l = cur.node;
        const reach = NODES.filter((y) => y !== l && !links.blocked(l, y)).length;
        const unable = !sim.node(l).up || sim.node(l).paused || role(l) !== 'leader' || reach < NEED;
        if (!unable) {
          unableSince = undefined;
          return undefined;
        }
        if (unableSince === undefined) {
          unableSince = sim.now;
          at(sim.now + ELECTION_WAIT);
        }
        return sim.now - unableSince >= ELECTION_WAIT ? l : undefined;
      };
      const tick = (): Promise<void> | void => {
        links.advance(sim.now);
        if (sim.now % POLL_MS === 0) at(sim.now + POLL_MS);
        checkStale();
        const who = electing ? undefined : due();
        if (who === undefined) return;
        electing = true;
        return (async () => {
          // First let every continuation already queued run: a write acknowledged in a node's handler a
          // moment ago is judged now, before anybody is elected.
          for (let i = 0; i < 32; i++) await undefined;
          await elect(who === '' ? undefined : who);
          electing = false;
        })();
      };
      const checkStale = () => {
        // A stale leader must learn it was replaced soon after the heal (and after the last pause).
        const cur2 = current();
        if (cur2 !== undefined && sim.now >= HORIZON) {
          const since = Math.max(HORIZON, staleSince, cur2.at);
          at(since + STEP_DOWN_MS);
          for (const x of NODES) {
            if (x === cur2.node || !up(x) || role(x) !== 'leader') continue;
            if (sim.now >= since + STEP_DOWN_MS) {
              fail(
                `at t=${sim.now} ms, ${STEP_DOWN_MS} ms after it could first hear of it, ${x} still says it is a leader (its generation() is ${gen(x)}), ` +
                  `but ${describeGen(cur2.gen)} replaced it: a stale leader must learn it was replaced, from a follower's rejection or the new leader's heartbeat, within two heartbeat intervals`,
              );
            }
          }
        }
      };
      // The oracle looks every POLL_MS, and exactly whenever a fault starts or ends: a leader that becomes
      // able to lead again must be noticed at once (noticing that it cannot lead a little late only delays
      // the election, which is safe).
      const ticks = new Set<number>();
      const at = (t: number) => {
        if (t > HORIZON + SETTLE || ticks.has(t)) return;
        ticks.add(t);
        sim.at(t, tick);
      };
      at(0);
      at(1);
      for (const f of sim.schedule) {
        at(f.at);
        if (f.code === 'G') at(f.at + f.ms);
        if (f.code === 'C' || f.code === 'T') at(Math.min(f.at + f.downMs, HORIZON));
      }

      // ---- the clients ----------------------------------------------------------------------
      const write = async (ci: number, target: string, value: string, timeoutMs: number) => {
        const cl = sim.clients[ci]!;
        return cl.invoke(
          { f: 'write', value, key: target },
          async () => {
            const g = gen(target);
            const wasLeader = role(target) === 'leader';
            const p = sim.asNode(target, (node) => node.write(value));
            if (p === undefined || g === undefined) return { type: 'fail' };
            if (!(p instanceof Promise)) {
              fail(`${target}.write(${JSON.stringify(value)}) returned ${JSON.stringify(p)}, not a Promise<boolean>`);
              return { type: 'fail' };
            }
            writes++;
            const key = `${target} ${g}`;
            let list = invoked.get(key);
            if (list === undefined) invoked.set(key, (list = []));
            list.push({ value, at: sim.now });
            const invokedAt = sim.now;
            const ok = await p;
            // The acknowledgement is judged when it happens, even after the client gave up waiting.
            if (ok === true) {
              const e = elections[g - 1];
              const newer = elections.find((x) => x.gen > g && x.at <= sim.now);
              if (e === undefined || e.node !== target || !wasLeader) {
                fail(
                  `${target} acknowledged write ${JSON.stringify(value)} at t=${sim.now} ms, but when write() was called (t=${invokedAt} ms) ${target} was not a leader ` +
                    `(its role() was ${JSON.stringify(role(target))} and its generation() ${g}, whose leader is ${e?.node ?? 'nobody'}): only the leader of a generation may acknowledge a write`,
                );
              } else if (newer !== undefined) {
                fail(
                  `${target} acknowledged write ${JSON.stringify(value)} at t=${sim.now} ms as the leader of generation ${g}, but ${describeGen(newer.gen)} had already replaced it: ` +
                    `a stale leader's write succeeded (a follower that accepts an old generation, or a leader that acknowledges without a valid lease)`,
                );
              }
              const ack: Ack = { value, node: target, gen: g, invokedAt, at: sim.now };
              acks.push(ack);
              lastAck.set(key, ack);
            } else if (ok !== false) {
              fail(`${target}.write(${JSON.stringify(value)}) resolved to ${JSON.stringify(ok)}, not true or false`);
            }
            return ok === true ? { type: 'ok' } : { type: 'fail' };
          },
          { timeoutMs },
        );
      };

      const read = async (ci: number, target: string) =>
        sim.clients[ci]!.invoke({ f: 'read', key: target }, () => {
          const r = sim.asNode(target, (p) => p.read());
          if (r === undefined) return { type: 'fail' };
          if (typeof r !== 'object' || r === null || typeof r.ok !== 'boolean') {
            fail(`${target}.read() returned ${JSON.stringify(r)}, not { ok: true, value } or { ok: false, reason }`);
            return { type: 'fail' };
          }
          if (!r.ok) return { type: 'fail', value: r.reason };
          reads++;
          const g = gen(target) as number;
          const e = elections[g - 1];
          const cur = electedBy(sim.now);
          if (e === undefined || e.node !== target) {
            fail(`${target} served a read at t=${sim.now} ms, but it is not the leader of its generation (${g}): ${describeGen(g)}`);
          } else if (cur !== undefined && cur.gen > g) {
            fail(
              `${target} served a read at t=${sim.now} ms as the leader of generation ${g}, but ${describeGen(cur.gen)} had already replaced it: ` +
                `a stale leader served a read (its lease must run out before a new leader can be elected, and followers must refuse its heartbeats)`,
            );
          } else {
            // The leader's own acknowledged writes of this generation are visible to its reads.
            const key = `${target} ${g}`;
            const last = lastAck.get(key);
            const allowed = new Set<string | undefined>();
            if (last === undefined) {
              allowed.add(undefined);
              for (const l of invoked.values()) for (const w of l) allowed.add(w.value);
            } else {
              allowed.add(last.value);
              for (const w of invoked.get(key) ?? []) if (w.at >= last.invokedAt) allowed.add(w.value);
            }
            if (!allowed.has(r.value)) {
              fail(
                last === undefined
                  ? `${target} read ${JSON.stringify(r.value)}, which no client ever wrote`
                  : `${target} read ${JSON.stringify(r.value)} at t=${sim.now} ms, but it had acknowledged ${JSON.stringify(last.value)} at t=${last.at} ms in this generation, and ${JSON.stringify(r.value)} is older`,
              );
            }
          }
          return { type: 'ok', value: r.value };
        });

      const clients = [1, 2].map(async (ci) => {
        while (sim.now < HORIZON - 30) {
          await sim.clients[ci]!.sleep(rng.int(6, 30));
          const live = NODES.filter(up);
          if (live.length === 0) continue;
          // Mostly whoever says it leads (a stale leader too: that is the point); sometimes anyone.
          const leaders = live.filter((x) => role(x) === 'leader');
          const pool = leaders.length > 0 && rng.chance(0.85) ? leaders : live;
          const target = pool[rng.int(0, pool.length - 1)]!;
          if (rng.chance(0.55)) await write(ci, target, `w${++n}`, WRITE_TIMEOUT);
          else await read(ci, target);
        }
      });
      await Promise.all(clients);

      // After the heal (and the last pause), the leader must work again: a write, then a read of it.
      await sim.sleep(Math.max(HORIZON, staleSince) + 2 * ELECTION_WAIT + 40 - sim.now);
      const leader = current();
      if (leader === undefined) {
        finalResult = 'no leader could be elected';
        return;
      }
      const w = await write(1, leader.node, 'final', 200);
      const r = sim.asNode(leader.node, (p) => p.read());
      finalResult =
        w.type !== 'ok'
          ? `after the heal, the leader ${leader.node} (generation ${leader.gen}) did not acknowledge a write within 200 ms`
          : r === undefined || !r.ok || r.value !== 'final'
            ? `after the heal, the leader ${leader.node} acknowledged the write "final", but its read() then returned ${JSON.stringify(r)}`
            : undefined;
    },
    invariant: (sim) => {
      if (broken !== undefined) return broken;
      for (const x of NODES) {
        const g = sim.asNode(x, (p) => p.generation());
        if (g === undefined) continue;
        if (typeof g !== 'number' || !Number.isInteger(g)) return `${x}.generation() returned ${JSON.stringify(g)}, not a whole number`;
        const before = maxGenSeen.get(x) ?? 0;
        if (g < before) {
          const restarted = sim.node(x).incarnation > 1;
          return (
            `${x}.generation() went down from ${before} to ${g}${restarted ? ` (${x} has restarted: incarnation ${sim.node(x).incarnation})` : ''}: ` +
            `a node must never forget the newest generation it has seen, or the old leader can win it back (keep it on disk, fsync'd, before you act on it)`
          );
        }
        if (g > elections.length) return `${x}.generation() is ${g}, but only ${elections.length} generation(s) were ever elected`;
        maxGenSeen.set(x, g);
      }
      return undefined;
    },
    check: (sim) => {
      out?.({ elections, acks, reads, writes });
      if (finalResult !== undefined) return finalResult;
      const cur = current()!;
      for (const x of NODES) {
        const g = sim.asNode(x, (p) => p.generation());
        if (g !== cur.gen) return `${x}.generation() is ${g} after the heal, but the newest generation is ${cur.gen} (${cur.node}): every node should have heard of it`;
        const r = sim.asNode(x, (p) => p.role());
        if (x !== cur.node && r !== 'follower') return `${x}.role() is ${JSON.stringify(r)} after the heal, but ${cur.node} leads generation ${cur.gen}`;
      }
      return undefined;
    },
  };
}

const FAULTS = faultSchedule({
  nodes: NODES,
  codes: ['P', 'P', 'AP', 'G', 'G', 'C', 'R', 'L', 'D', 'DR', 'ST', 'SK'],
  horizonMs: HORIZON,
  maxEvents: 6,
  bounds: { lossPct: 30, dupPct: 20, reorderPct: 50, reorderMs: 100, downMs: 400, pauseMs: 300, driftPpm: DRIFT_PPM, skewMs: 5_000, stepMs: 5_000 },
});

/** The first leader (a) is cut off at t=100; the oracle elects b at t=205. */
const ISOLATE_A: FaultEvent[] = [{ at: 100, code: 'P', groups: [['a']] }];

/** c is paused from t=30 to t=330; a can reach only c from t=30 and nobody from t=55; b cannot reach a. */
const LATE_ANSWERS: FaultEvent[] = [
  { at: 30, code: 'G', node: 'c', ms: 300 },
  { at: 30, code: 'AP', from: 'a', to: 'b' },
  { at: 55, code: 'AP', from: 'a', to: 'c' },
  { at: 55, code: 'AP', from: 'b', to: 'a' },
];

describe('01-foundations/02-fencing-stale-leaders', () => {
  it('no stale leader acts after a newer generation is elected, and generations are never forgotten', async () => {
    await simProperty({
      property:
        'once a newer generation is elected, no node acknowledges a write or serves a read as the leader of an older one; ' +
        "no node's generation() ever goes down, not even across a crash; and after the heal every stale leader steps down within two heartbeat intervals",
      seed: 1201,
      world: (c) => makeWorld(c),
      faults: FAULTS,
      horizonMs: HORIZON,
      settleMs: SETTLE,
      runs: 100,
      killers: [
        // The old leader comes back to a follower that has seen generation 2, while the new leader cannot reach it.
        { seed: 1, schedule: [...ISOLATE_A, { at: 400, code: 'P', groups: [] }, { at: 400, code: 'AP', from: 'b', to: 'a' }] },
        // A follower that saw generation 2 crashes and restarts.
        { seed: 2, schedule: [...ISOLATE_A, { at: 300, code: 'C', node: 'c', downMs: 50 }] },
        // The old leader's wall clock steps back while it is cut off.
        { seed: 3, schedule: [...ISOLATE_A, { at: 150, code: 'ST', node: 'a', deltaMs: -2000 }] },
        // Follower c pauses with the old leader's heartbeats and writes waiting in its queue; b is elected at
        // t=160; when c wakes, it answers them, long after they were sent, and a has heard of nobody else.
        ...[4, 5].map((seed) => ({ seed, schedule: LATE_ANSWERS })),
        // The new leader crashes just before the heal: the stale leader hears only rejections.
        { seed: 6, schedule: [...ISOLATE_A, { at: 990, code: 'C', node: 'b', downMs: 500 }] },
      ],
    });
  });

  it.runIf(metricsWanted())('behaviour metrics for dlab compare', async () => {
    let msgs = 0;
    let acked = 0;
    for (let seed = 1; seed <= 10; seed++) {
      let o: Outcome | undefined;
      const res = await runCase({ property: 'metrics', horizonMs: HORIZON, settleMs: SETTLE, world: (c) => makeWorld(c, (x) => (o = x)) }, { seed, schedule: [] });
      msgs += res.sim.stats.sent;
      acked += o?.acks.length ?? 0;
    }
    recordMetric({ name: 'messages per second, 3 nodes, no faults (heartbeats, writes, answers)', value: msgs / (10 * ((HORIZON + SETTLE) / 1000)), unit: 'msgs', better: 'lower' });
    recordMetric({ name: 'messages per acknowledged write (heartbeats included)', value: msgs / Math.max(1, acked), unit: 'msgs', better: 'lower' });
    // How fast a stale leader learns it was replaced: a is cut off, b elected, then the network heals.
    let total = 0;
    for (let seed = 1; seed <= 10; seed++) {
      let stepped = NaN;
      await runCase(
        {
          property: 'metrics',
          horizonMs: HORIZON,
          settleMs: 300,
          world: (c): World<Node> => {
            const w = makeWorld(c);
            return {
              ...w,
              invariant: (sim) => {
                if (Number.isNaN(stepped) && sim.now >= HORIZON && sim.asNode('a', (p) => p.role()) === 'follower') stepped = sim.now - HORIZON;
                return undefined;
              },
            };
          },
        },
        { seed, schedule: ISOLATE_A },
      );
      total += stepped;
    }
    recordMetric({ name: 'ms from the heal until a stale leader steps down', value: total / 10, unit: 'ms', better: 'lower' });
  });
});
