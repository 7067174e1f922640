// Async handlers: however deep their awaits go, their continuations finish at the virtual time of the
// event that started them, before the next event, in the same order every run.
import { describe, expect, it } from 'vitest';
import { createSim, simulate, type Sim } from './sim.ts';
import type { Ctx, NodeId, Proc } from './types.ts';

/** `n` bare microtask hops that never touch the simulator. */
async function hops(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await null;
}

/** Nested async functions awaiting one after the other: `await a(); await b();` several levels down. */
async function nested(depth: number): Promise<number> {
  if (depth === 0) return 1;
  const a = await nested(depth - 1);
  await hops(2);
  const b = await Promise.resolve(depth);
  return a + b;
}

/** A `.then` chain `n` links long. */
function chain(n: number): Promise<number> {
  let p = Promise.resolve(0);
  for (let i = 0; i < n; i++) p = p.then((v) => v + 1);
  return p;
}

async function* ticks(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) {
    await null;
    yield i;
  }
}

/** Every shape of deep await a learner might write, more than 100 microtask hops in all. */
async function deepWork(): Promise<number> {
  await hops(100);
  const [x, y] = await Promise.all([nested(10), chain(50)]);
  let z = 0;
  for await (const i of ticks(10)) z += i;
  return x + y + z;
}

type Msg = { readonly q: number } | { readonly a: number };

/** `a` asks `b` on a timer; both do deep async work before they act. */
class Deep implements Proc<Msg> {
  ctx!: Ctx<Msg>;
  constructor(readonly rounds: number) {}
  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    if (ctx.id === 'a') for (let i = 0; i < this.rounds; i++) ctx.setTimer(10 * (i + 1), 'ask');
  }
  async onTimer(): Promise<void> {
    const v = await deepWork();
    this.ctx.trace({ asked: v, at: performance.now() });
    this.ctx.send('b', { q: v });
  }
  async onMessage(from: NodeId, m: Msg): Promise<void> {
    const v = await deepWork();
    this.ctx.trace({ got: 'q' in m ? m.q : m.a, at: performance.now(), r: Math.random() });
    if ('q' in m) this.ctx.send(from, { a: v });
  }
}

/** Each event's own time and the times its continuation's sends and notes carry. */
function actsAtEventTime(sim: Pick<Sim, 'trace'>): { acts: number; late: string[] } {
  const at = new Map<string, number>();
  let acts = 0;
  const late: string[] = [];
  for (const e of sim.trace.events()) {
    if (e.node === undefined) continue;
    if (e.kind === 'timer' || e.kind === 'deliver') at.set(e.node, e.time);
    else if (e.kind === 'send' || e.kind === 'note') {
      acts++;
      if (at.get(e.node) !== e.time) late.push(`${e.kind} on ${e.node} at ${e.time}, its event at ${at.get(e.node)}`);
    }
  }
  return { acts, late };
}

describe('async handlers with deep awaits', () => {
  it('act at the virtual time of their event, identically across runs', async () => {
    const run = async () => {
      const { sim, result } = await simulate({ seed: 5, nodes: ['a', 'b'], proc: () => new Deep(30) });
      return { sim, result, log: sim.log() };
    };
    const one = await run();
    expect(one.result.kind).toBe('ok');
    // 30 asks, 30 answers and a note for each of the 90 handler runs.
    const { acts, late } = actsAtEventTime(one.sim);
    expect(late).toEqual([]);
    expect(acts).toBe(150);
    const notes = one.sim.annotations;
    expect(notes.filter((n) => 'asked' in n.event).map((n) => n.time)).toEqual(Array.from({ length: 30 }, (_, i) => 10 * (i + 1)));
    expect((await run()).log).toBe(one.log);
  });

  it('settle a continuation before the next event even when it is the same node, at the same time', async () => {
    // Two messages arrive at b at the same instant: the second handler must see the first one's effect.
    class Counter implements Proc<number> {
      ctx!: Ctx<number>;
      seen: number[] = [];
      private count = 0;
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 5; i++) ctx.send('b', i);
      }
      async onMessage(): Promise<void> {
        this.seen.push(this.count);
        await hops(150);
        this.count++;
      }
    }
    const { sim } = await simulate({ seed: 2, nodes: ['a', 'b'], network: { latency: { dist: 'fixed', ms: 3 } }, proc: () => new Counter() });
    expect(sim.node('b').proc?.seen).toEqual([0, 1, 2, 3, 4]);
  });

  it('resume a handler suspended on a promise that a later event settles at that event, deep awaits included', async () => {
    // The shape of a participant that holds a read until a prepared transaction is decided.
    class Holder implements Proc<string> {
      ctx!: Ctx<string>;
      private readonly waiting: (() => void)[] = [];
      init(ctx: Ctx<string>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 10; i++) ctx.setTimer(20 * i + 1, i % 2 === 0 ? 'hold' : 'release');
      }
      onTimer(tag: string): void {
        this.ctx.send('b', tag);
      }
      onMessage(from: NodeId, m: string): void | Promise<void> {
        if (m === 'hold') return this.held(from);
        if (m === 'release') for (const w of this.waiting.splice(0)) w();
      }
      private async held(from: NodeId): Promise<void> {
        await new Promise<void>((resolve) => this.waiting.push(resolve));
        await deepWork();
        this.ctx.send(from, 'released');
      }
    }
    const { sim } = await simulate({ seed: 6, nodes: ['a', 'b'], proc: () => new Holder() });
    const at = (m: string) => sim.trace.events().filter((e) => e.kind === 'deliver' && e.node === 'b' && e.data === m).map((e) => e.time);
    const released = sim.trace.events().filter((e) => e.kind === 'send' && e.node === 'b').map((e) => e.time);
    expect(released.length).toBe(5);
    expect(released).toEqual(at('release'));
  });

  it('run what process.nextTick defers at its event time, from an async handler or a sync one', async () => {
    class Ticker implements Proc<number> {
      ctx!: Ctx<number>;
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 20; i++) ctx.setTimer(7 * (i + 1), 'go');
      }
      onMessage(): void {}
      async onTimer(): Promise<void> {
        await new Promise<void>((resolve) => process.nextTick(resolve));
        await hops(40);
        this.ctx.send('b', this.ctx.monoNow());
      }
    }
    /** Sync handlers only, and the first tick comes after the events every boot drains anyway. */
    class SyncTicker implements Proc<number> {
      ctx!: Ctx<number>;
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 40; i++) ctx.setTimer(7 * (i + 1), i < 20 ? 'quiet' : 'defer');
      }
      onMessage(): void {}
      onTimer(tag: string): void {
        if (tag === 'defer') process.nextTick(() => void hops(40).then(() => this.ctx.send('b', 1)));
      }
    }
    const ticker = await simulate({ seed: 4, nodes: ['a', 'b'], proc: () => new Ticker() });
    const sends = ticker.sim.trace.events().filter((e) => e.kind === 'send');
    expect(sends.map((e) => e.time)).toEqual(Array.from({ length: 20 }, (_, i) => 7 * (i + 1)));
    const sync = await simulate({ seed: 4, nodes: ['a', 'b'], proc: () => new SyncTicker() });
    const syncSends = sync.sim.trace.events().filter((e) => e.kind === 'send');
    expect(syncSends.map((e) => e.time)).toEqual(Array.from({ length: 20 }, (_, i) => 7 * (i + 21)));
  });

  it('fails a continuation that polls a clock in an await loop as a livelock instead of hanging', async () => {
    class Poller implements Proc<number> {
      ctx!: Ctx<number>;
      constructor(readonly clock: (ctx: Ctx<number>) => number) {}
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') ctx.setTimer(5, 'wait');
      }
      onMessage(): void {}
      async onTimer(): Promise<void> {
        // Virtual time stands still while a continuation runs: this never ends by itself.
        const until = this.clock(this.ctx) + 10;
        while (this.clock(this.ctx) < until) await null;
        this.ctx.send('b', 1);
      }
    }
    for (const clock of [() => Date.now(), (ctx: Ctx<number>) => ctx.monoNow()]) {
      const { result } = await simulate({ seed: 1, nodes: ['a', 'b'], proc: () => new Poller(clock) });
      expect(result.kind).toBe('livelock');
      expect(result.kind === 'livelock' && result.message).toMatch(
        /^no progress \/ livelock: at t=5 ms, async code after an event at a called the simulator or read a clock 1000000 times/,
      );
    }
  });
});

describe('async work a sync-looking handler starts without awaiting it', () => {
  it('finishes at the virtual time of the event that started it, however deep', async () => {
    class Floating implements Proc<number> {
      ctx!: Ctx<number>;
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 40; i++) ctx.setTimer(10 * (i + 1), 'go');
      }
      onMessage(from: NodeId, n: number): void {
        // A sync handler whose floating work settles a promise chain before it answers.
        if (this.ctx.id === 'b') void chain(60).then(() => this.ctx.send(from, n + 1));
      }
      onTimer(): void {
        void this.later();
      }
      private async later(): Promise<void> {
        const v = await deepWork();
        this.ctx.send('b', v);
      }
    }
    const run = async () => (await simulate({ seed: 9, nodes: ['a', 'b'], proc: () => new Floating() })).sim;
    const sim = await run();
    const sends = sim.trace.events().filter((e) => e.kind === 'send' && e.node === 'a');
    expect(sends.map((e) => e.time)).toEqual(Array.from({ length: 40 }, (_, i) => 10 * (i + 1)));
    const { acts, late } = actsAtEventTime(sim);
    expect(late).toEqual([]);
    expect(acts).toBe(80);
    expect((await run()).log()).toBe(sim.log());
  });

  it('is settled before the first event of a run started from outside a microtask', async () => {
    // run() called straight from a macrotask: the first drain must still wait for every hop.
    class Booting implements Proc<number> {
      async init(ctx: Ctx<number>): Promise<void> {
        ctx.setTimer(1, 'next');
        await deepWork();
        ctx.trace({ booted: ctx.monoNow() });
      }
      onMessage(): void {}
      onTimer(): void {}
    }
    const sim = createSim({ seed: 3, nodes: ['a'], proc: () => new Booting() });
    const result = await new Promise((resolve, reject) => {
      setImmediate(() => {
        sim.run().then(resolve, reject);
      });
    });
    expect(result).toMatchObject({ kind: 'ok' });
    expect(sim.annotations.map((a) => a.time)).toEqual([0]);
  });
});
