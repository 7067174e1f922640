// The crash model's finer faults: CD (a crash right after a chosen disk operation, inside a handler) and `late`
// (messages in flight to a crashed node arrive after its restart).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PropertyFailure } from '../report.ts';
import { runConfig } from '../run-config.ts';
import { decodeText, encodeText } from './disk.ts';
import { DEFAULT_BOUNDS, faultEvent, faultSchedule } from './fault-arbitraries.ts';
import { describeFault, describeSchedule, type FaultEvent } from './faults.ts';
import { createSim, simulate, type SimSpec } from './sim.ts';
import { simProperty, type World } from './sim-property.ts';
import type { Ctx, NodeId, Proc } from './types.ts';

type Msg = { readonly k: string } | { readonly ack: string };

/**
 * `a` sends keys to `s`. For each key `s` writes two durable records, telling `a` after each: record 1, fsync, ack
 * "<k>.1", record 2, fsync, ack "<k>.2". So a crash after its n-th disk operation splits the handler in a known place.
 */
class Store implements Proc<Msg> {
  ctx!: Ctx<Msg>;
  got: string[] = [];
  recovered = false;
  constructor(
    private readonly opts: { readonly sync?: boolean; readonly swallow?: boolean; readonly rethrow?: boolean; readonly recoverWrites?: boolean } = {},
  ) {}
  init(ctx: Ctx<Msg>, boot: { recovered: boolean }): void {
    this.ctx = ctx;
    this.recovered = boot.recovered;
    if (boot.recovered && this.opts.recoverWrites === true) {
      // Recovery that writes: rewrites the log it read (its operations count for CD too).
      const bytes = ctx.disk.read('log') ?? new Uint8Array();
      ctx.disk.write('log', bytes);
      ctx.disk.fsync('log');
    }
  }
  onMessage(from: NodeId, m: Msg): void | Promise<void> {
    if (!('k' in m)) return;
    this.got.push(m.k);
    if (this.opts.sync === true) return this.write(from, m.k);
    return this.ctx.sleep(2).then(() => this.write(from, m.k));
  }
  private write(from: NodeId, k: string): void {
    for (const part of ['1', '2']) {
      try {
        this.ctx.disk.append('log', encodeText(`${k}.${part};`));
        this.ctx.disk.fsync('log');
      } catch (e) {
        if (this.opts.rethrow === true) throw new Error('could not persist', { cause: e });
        if (this.opts.swallow !== true) throw e;
      }
      this.ctx.send(from, { ack: `${k}.${part}` });
    }
  }
  /** A method the world calls: one durable record, then the answer. */
  put(k: string): string {
    this.ctx.disk.append('log', encodeText(`${k}.w;`));
    this.ctx.disk.fsync('log');
    return 'done';
  }
  async putLater(k: string): Promise<string> {
    await this.ctx.sleep(1);
    return this.put(k);
  }
}

class Sender implements Proc<Msg> {
  ctx!: Ctx<Msg>;
  acks: string[] = [];
  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
  }
  onMessage(_from: NodeId, m: Msg): void {
    if ('ack' in m) this.acks.push(m.ack);
  }
}

type Node = Store | Sender;

const world = (over: Partial<SimSpec<Node>> & { store?: () => Store; keys?: readonly string[] } = {}): SimSpec<Node> => ({
  seed: 7,
  nodes: ['a', 's'],
  network: { latency: { dist: 'fixed', ms: 1 } },
  proc: (id) => (id === 'a' ? new Sender() : (over.store ?? (() => new Store()))()),
  workload: async (sim) => {
    for (const k of over.keys ?? ['x', 'y']) {
      sim.asNode('a', (p) => p.ctx.send('s', { k }));
      await sim.sleep(20);
    }
  },
  ...over,
});

const log = (sim: { node(id: NodeId): { disk: { read(f: string): Uint8Array | undefined } } }): string => decodeText(sim.node('s').disk.read('log') ?? new Uint8Array());
const acks = (sim: { node(id: NodeId): { proc: Node | undefined } }): string[] => (sim.node('a').proc as Sender).acks;

describe('CD: a crash right after a chosen disk operation', () => {
  for (const sync of [false, true]) {
    it(`stops ${sync ? 'a sync' : 'an async'} handler there: what it sent before went out, what came after never happens`, async () => {
      // x is handled before t=10. From t=10, y's handler makes operations 1-4: crash right after the 3rd (y.2's append).
      const { sim, result } = await simulate(
        world({ store: () => new Store({ sync }), keys: ['x', 'y', 'z'], faults: [{ at: 10, code: 'CD', node: 's', op: 3, downMs: 5 }] }),
        { until: 200 },
      );
      expect(result.kind).toBe('ok');
      // y.1 is durable and acknowledged; y.2's append was never fsync'd (lost), and its ack never left.
      expect(log(sim)).toBe('x.1;x.2;y.1;z.1;z.2;');
      expect(acks(sim)).toEqual(['x.1', 'x.2', 'y.1', 'z.1', 'z.2']);
      expect(sim.node('s').incarnation).toBe(2);
      expect((sim.node('s').proc as Store).recovered).toBe(true);
      const crash = sim.trace.events().find((e) => e.kind === 'crash');
      // y arrives at t=21; the async handler first sleeps 2 ms.
      expect(crash?.time).toBe(sync ? 21 : 23);
      expect(crash?.detail).toBe('right after append "log" (its 3rd disk operation since t=10 ms)');
      expect(sim.log()).toMatch(/crash +CD: s crashed inside a handler, right after append "log" \(its 3rd disk operation since t=10 ms\); restart after 5 ms/);
      expect(sim.log()).toMatch(/fault +CD: crash s right after the 3rd disk operation it makes from this time on, restart after 5 ms/);
    });
  }

  it('loses an unsynced append, or keeps a torn prefix of it under torn', async () => {
    // The 3rd operation from t=10 is y.2's append, before its fsync.
    const plain = await simulate(world({ faults: [{ at: 10, code: 'CD', node: 's', op: 3, downMs: 5 }] }), { until: 200 });
    expect(plain.result.kind).toBe('ok');
    expect(log(plain.sim)).toBe('x.1;x.2;y.1;');
    expect(acks(plain.sim)).toEqual(['x.1', 'x.2', 'y.1']);
    const cuts = new Set<string>();
    for (let seed = 1; seed <= 12; seed++) {
      const torn = await simulate(world({ seed, faults: [{ at: 10, code: 'CD', node: 's', op: 3, downMs: 5, torn: true }] }), { until: 200 });
      const text = log(torn.sim);
      expect(text.startsWith('x.1;x.2;y.1;')).toBe(true);
      expect('y.2;'.startsWith(text.slice('x.1;x.2;y.1;'.length))).toBe(true);
      expect(text).not.toBe('x.1;x.2;y.1;y.2;');
      cuts.add(text);
      expect(torn.sim.trace.events().find((e) => e.kind === 'crash')?.detail).toMatch(/^right after append "log" .*; torn$/);
    }
    // Some runs keep a torn record (a cut inside y.2), as a real disk would.
    expect([...cuts].some((t) => t.length > 'x.1;x.2;y.1;'.length)).toBe(true);
  });

  it('counts operations in recovery too, so a node can crash again while it recovers', async () => {
    const { sim } = await simulate(
      world({
        store: () => new Store({ recoverWrites: true }),
        keys: ['x'],
        faults: [
          { at: 10, code: 'C', node: 's', downMs: 5 },
          // Armed while s is down: its recovery's write is the 1st operation.
          { at: 12, code: 'CD', node: 's', op: 1, downMs: 5 },
        ],
      }),
      { until: 200 },
    );
    expect(sim.node('s').incarnation).toBe(3);
    expect(sim.trace.events().filter((e) => e.kind === 'crash').map((e) => e.detail)).toEqual(['', 'right after write "log" (its 1st disk operation since t=12 ms)']);
    expect(log(sim)).toBe('x.1;x.2;');
  });

  it('is ignored once it fired, and disarmed by H', async () => {
    const fired = await simulate(world({ keys: ['x', 'y', 'z'], faults: [{ at: 10, code: 'CD', node: 's', op: 1, downMs: 5 }] }), { until: 200 });
    expect(fired.sim.stats.crashes).toBe(1);
    const healed = await simulate(
      world({
        faults: [
          { at: 10, code: 'CD', node: 's', op: 1, downMs: 5 },
          { at: 11, code: 'H' },
        ],
      }),
      { until: 200 },
    );
    expect(healed.sim.stats.crashes).toBe(0);
    expect(log(healed.sim)).toBe('x.1;x.2;y.1;y.2;');
  });

  it('turns a handler that catches the crash into a ghost: what it does next goes nowhere, and nothing fails', async () => {
    for (const opts of [{ swallow: true }, { rethrow: true }, { swallow: true, sync: true }, { rethrow: true, sync: true }]) {
      const { sim, result } = await simulate(world({ store: () => new Store(opts), faults: [{ at: 10, code: 'CD', node: 's', op: 2, downMs: 5 }] }), { until: 200 });
      expect(result.kind).toBe('ok');
      // Crashed right after y.1's fsync: its ack, and everything after, came from a dead process.
      expect(acks(sim)).toEqual(['x.1', 'x.2']);
      expect(log(sim)).toBe('x.1;x.2;y.1;');
    }
  });

  it('makes a crashed call look, to the world, like a call to a node that is down', async () => {
    const seen: unknown[] = [];
    const { result } = await simulate(
      world({
        keys: [],
        faults: [{ at: 0, code: 'CD', node: 's', op: 2, downMs: 5 }],
        workload: async (sim) => {
          await sim.sleep(1);
          seen.push(sim.asNode('s', (p) => (p as Store).put('k1')));
          await sim.sleep(10);
          seen.push(sim.asNode('s', (p) => (p as Store).put('k2')));
          sim.fault({ code: 'CD', node: 's', op: 1, downMs: 5 });
          const later = sim.asNode('s', (p) => (p as Store).putLater('k3'));
          // Work the crash cut short never settles (as after any crash): the world times out on it.
          seen.push(await Promise.race([later, sim.sleep(50).then(() => 'timed out')]));
        },
      }),
    );
    expect(result.kind).toBe('ok');
    expect(seen).toEqual([undefined, 'done', 'timed out']);
  });
});

describe('late: messages in flight to a crashed node arrive after its restart', () => {
  const lateWorld = (late: number | undefined): SimSpec<Node> =>
    world({
      network: { latency: { dist: 'fixed', ms: 4 } },
      keys: ['x'],
      store: () => new Store({ sync: true }),
      faults: [{ at: 2, code: 'C', node: 's', downMs: 10, ...(late !== undefined ? { late } : {}) }],
    });

  it('drops them without late (the default), and delivers them within late ms of the restart with it', async () => {
    const lost = await simulate(lateWorld(undefined), { until: 200 });
    expect(lost.sim.trace.events().find((e) => e.kind === 'drop')?.detail).toBe('node down');
    expect(acks(lost.sim)).toEqual([]);
    for (let seed = 1; seed <= 10; seed++) {
      const { sim } = await simulate({ ...lateWorld(30), seed }, { until: 200 });
      const d = sim.trace.events().find((e) => e.kind === 'deliver' && e.node === 's');
      expect(d?.detail).toBe('sent before the crash');
      expect(d!.time).toBeGreaterThanOrEqual(12);
      expect(d!.time).toBeLessThanOrEqual(42);
      expect(acks(sim)).toEqual(['x.1', 'x.2']);
      expect(sim.trace.events().find((e) => e.kind === 'crash')?.detail).toBe('1 in-flight message kept');
      expect(sim.log()).toMatch(/deliver +a→s #1 \{k:"x"\} \(sent before the crash\)/);
    }
  });

  it('keeps a message whose own arrival is after the restart at that time', async () => {
    const { sim } = await simulate({ ...lateWorld(30), network: { latency: { dist: 'fixed', ms: 50 } } }, { until: 200 });
    const d = sim.trace.events().find((e) => e.kind === 'deliver' && e.node === 's');
    expect(d?.time).toBe(50);
    expect(d?.detail).toBe('sent before the crash');
  });

  it('works on T and CD crashes too, and says so in the schedule', () => {
    expect(describeFault({ code: 'T', node: 's', downMs: 10, late: 30 })).toBe(
      'crash s tearing its unsynced disk tail, restart after 10 ms; messages in flight to it arrive up to 30 ms after the restart',
    );
    expect(describeFault({ code: 'CD', node: 's', op: 3, downMs: 10, torn: true, late: 5 })).toBe(
      'crash s right after the 3rd disk operation it makes from this time on, tearing its unsynced disk tail, restart after 10 ms; messages in flight to it arrive up to 5 ms after the restart',
    );
    expect(describeFault({ code: 'C', node: 's', downMs: 10, late: 0 })).toBe('crash s, restart after 10 ms');
  });
});

describe('schedules with CD and late', () => {
  it('are drawn only where asked: existing C and T schedules draw exactly what they drew before', () => {
    const opts = { nodes: ['a', 'b'], horizonMs: 100 };
    const before = fc.sample(fc.record({ at: fc.integer({ min: 0, max: 99 }), code: fc.constant('C'), node: fc.constantFrom('a', 'b'), downMs: fc.integer({ min: 1, max: 500 }) }), { seed: 3, numRuns: 20 });
    expect(fc.sample(faultEvent('C', opts), { seed: 3, numRuns: 20 })).toEqual(before);
    fc.assert(
      fc.property(faultSchedule({ ...opts, codes: ['C', 'T', 'CD'], bounds: { lateMs: 40, diskOps: 3 } }), (s) => {
        for (const f of s) {
          if (f.code !== 'C' && f.code !== 'T' && f.code !== 'CD') throw new Error(f.code);
          expect((f.late ?? 0) >= 0 && (f.late ?? 0) <= 40).toBe(true);
          if (f.code === 'CD') expect(f.op >= 1 && f.op <= 3).toBe(true);
        }
      }),
      { seed: 4, numRuns: 100 },
    );
    const cd = fc.sample(faultEvent('CD', opts), { seed: 5, numRuns: 50 }) as Extract<FaultEvent, { code: 'CD' }>[];
    expect(cd.every((f) => f.late === undefined && f.op >= 1 && f.op <= DEFAULT_BOUNDS.diskOps)).toBe(true);
    expect(new Set(cd.map((f) => f.torn === true))).toEqual(new Set([true, false]));
    // Hand-written crashes, with or without the optional keys, shrink too (a killer passed as an example).
    const withLate = faultSchedule({ ...opts, codes: ['C', 'T', 'CD'], bounds: { lateMs: 40 } });
    for (const killer of [
      [{ at: 5, code: 'C', node: 'a', downMs: 9 }],
      [{ at: 5, code: 'T', node: 'a', downMs: 9, late: 30 }],
      [{ at: 5, code: 'CD', node: 'b', op: 2, downMs: 9 }],
      [{ at: 5, code: 'CD', node: 'b', op: 2, downMs: 9, torn: true, late: 0 }],
    ] as FaultEvent[][]) {
      expect(withLate.canShrinkWithoutContext(killer)).toBe(true);
    }
  });

  it('replay byte for byte, and shrink to the one crash that matters', async () => {
    const spec = (faults: FaultEvent[]): SimSpec<Node> => ({ ...world({ keys: ['x', 'y', 'z', 'w'], faults }), seed: 11 });
    const faults: FaultEvent[] = [
      { at: 0, code: 'D', pct: 50 },
      { at: 15, code: 'CD', node: 's', op: 4, downMs: 6, torn: true, late: 20 },
      { at: 50, code: 'C', node: 's', downMs: 3, late: 10 },
    ];
    const a = await simulate(spec(faults), { until: 300 });
    const b = await simulate(spec(faults), { until: 300 });
    expect(b.sim.log()).toBe(a.sim.log());
    expect(b.sim.diagram()).toBe(a.sim.diagram());
    expect(a.sim.diagram()).toContain('⊗');
    expect(a.sim.diagram({ ascii: true })).toContain('CD: s crashed inside a handler, right after');

    // A property that only a crash between y's two fsyncs breaks: "every key has both records or neither".
    const nodes = ['a', 's'];
    const opts = {
      property: 'each key is written whole',
      seed: 9,
      horizonMs: 100,
      settleMs: 100,
      faults: faultSchedule({ nodes: ['s'], codes: ['L', 'CD', 'C'], horizonMs: 100, maxEvents: 5 }),
      world: (): World<Node> => ({
        nodes,
        network: { latency: { dist: 'fixed', ms: 1 } },
        proc: (id) => (id === 'a' ? new Sender() : new Store()),
        workload: async (sim) => {
          for (let i = 0; i < 8; i++) {
            sim.asNode('a', (p) => p.ctx.send('s', { k: `k${i}` }));
            await sim.sleep(10);
          }
        },
        check: (sim) => {
          const parts = log(sim).split(';').filter((x) => x !== '');
          const ones = parts.filter((p) => p.endsWith('.1')).length;
          const twos = parts.filter((p) => p.endsWith('.2')).length;
          return ones !== twos ? `a key has one record of two: ${parts.join(' ')}` : undefined;
        },
      }),
    };
    let failure: PropertyFailure | undefined;
    try {
      await simProperty(opts, runConfig({ DLAB_EXERCISE: '00-demo/01-crash' }));
    } catch (e) {
      if (!(e instanceof PropertyFailure)) throw e;
      failure = e;
    }
    expect(failure).toBeDefined();
    const m = failure!.message;
    // Shrunk to one event: a CD right after an odd-numbered operation (an append or fsync of a key's first record).
    expect(m).toMatch(/fault schedule \(shrunk\), 1 event;/);
    expect(m).toMatch(/t=0 ms {2}CD {2}crash s right after the 2nd disk operation it makes from this time on, restart after 1 ms/);
    expect(describeSchedule([{ at: 5, code: 'CD', node: 's', op: 1, downMs: 2 }])).toBe('  t=5 ms  CD  crash s right after the 1st disk operation it makes from this time on, restart after 2 ms');
  });
});

describe('a CD crash in a world with many nodes', () => {
  it('crashes only the node it names', async () => {
    const sim = createSim(world({ nodes: ['a', 's', 't'], faults: [{ at: 0, code: 'CD', node: 't', op: 1, downMs: 5 }] }));
    await sim.run({ until: 100 });
    expect(sim.stats.crashes).toBe(0);
    expect(log(sim)).toBe('x.1;x.2;y.1;y.2;');
  });
});
