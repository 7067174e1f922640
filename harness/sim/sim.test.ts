import { describe, expect, it } from 'vitest';
import { decodeText, encodeText } from './disk.ts';
import { createSim, simulate, type SimSpec } from './sim.ts';
import type { Completion, Ctx, NodeId, Op, Proc, RpcResult } from './types.ts';

type Msg = { readonly n: number } | { readonly ping: number } | { readonly pong: number };

/** Records what happened to it; behaviour is configured per test through hooks. */
class Probe implements Proc<Msg> {
  ctx!: Ctx<Msg>;
  got: [NodeId, Msg][] = [];
  timers: string[] = [];
  booted: { recovered: boolean } | undefined;
  constructor(readonly hooks: Partial<{ init(p: Probe): void; msg(p: Probe, from: NodeId, m: Msg, reply?: (r: Msg) => void): unknown; timer(p: Probe, tag: string): void }> = {}) {}
  init(ctx: Ctx<Msg>, boot: { recovered: boolean }): void {
    this.ctx = ctx;
    this.booted = boot;
    this.hooks.init?.(this);
  }
  onMessage(from: NodeId, m: Msg, reply?: (r: Msg) => void): void | Promise<void> {
    this.got.push([from, m]);
    return this.hooks.msg?.(this, from, m, reply) as void | Promise<void>;
  }
  onTimer(tag: string): void {
    this.timers.push(tag);
    this.hooks.timer?.(this, tag);
  }
}

const spec = (over: Partial<SimSpec<Probe>> = {}): SimSpec<Probe> => ({ seed: 1, nodes: ['a', 'b', 'c'], proc: () => new Probe(), ...over });

describe('messages and the network', () => {
  it('delivers a message after the link latency, and counts it', async () => {
    const { sim, result } = await simulate(
      spec({
        network: { latency: { dist: 'uniform', min: 2, max: 4 } },
        proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }) }),
      }),
    );
    expect(result.kind).toBe('ok');
    expect(sim.node('b').proc?.got).toEqual([['a', { n: 1 }]]);
    const d = sim.trace.events().find((e) => e.kind === 'deliver');
    expect(d?.time).toBeGreaterThanOrEqual(2);
    expect(d?.time).toBeLessThanOrEqual(4);
    expect(sim.stats).toMatchObject({ sent: 1, delivered: 1, dropped: 0, inFlight: 0 });
    expect(sim.pending()).toBe(0);
  });

  it('drops across a partition and delivers again after the heal', async () => {
    const sim = createSim(
      spec({
        faults: [
          { at: 0, code: 'P', groups: [['a']] },
          { at: 50, code: 'H' },
        ],
        workload: async (s) => {
          await s.sleep(10);
          s.asNode('a', (p) => p.ctx.send('b', { n: 1 }));
          s.asNode('b', (p) => p.ctx.send('c', { n: 2 }));
          await s.sleep(50);
          s.asNode('a', (p) => p.ctx.send('b', { n: 3 }));
        },
      }),
    );
    await sim.run();
    expect(sim.node('b').proc?.got).toEqual([['a', { n: 3 }]]);
    expect(sim.node('c').proc?.got).toEqual([['b', { n: 2 }]]);
    expect(sim.trace.events().filter((e) => e.kind === 'drop').map((e) => e.detail)).toEqual(['partitioned']);
  });

  it('duplicates and loses messages under D and L', async () => {
    const dup = await simulate(spec({ faults: [{ at: 0, code: 'D', pct: 100 }], proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }) }) }));
    expect(dup.sim.node('b').proc?.got).toEqual([
      ['a', { n: 1 }],
      ['a', { n: 1 }],
    ]);
    expect(dup.sim.trace.events().filter((e) => e.kind === 'deliver').map((e) => e.detail)).toContain('duplicate');
    expect(dup.sim.stats.duplicated).toBe(1);
    const lost = await simulate(spec({ faults: [{ at: 0, code: 'L', pct: 100 }], proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }) }) }));
    expect(lost.sim.node('b').proc?.got).toEqual([]);
    expect(lost.sim.stats.dropped).toBe(1);
  });

  it('fails the run, naming the node, when a handler sends to an unknown node or throws', async () => {
    const r1 = await simulate(spec({ proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('zz', { n: 1 }) }) }));
    expect(r1.result).toMatchObject({ kind: 'error', node: 'a' });
    expect(r1.result.kind === 'error' && r1.result.message).toMatch(/unknown node "zz"/);
    const r2 = await simulate(
      spec({
        proc: (id) =>
          new Probe({
            init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }),
            msg: async () => {
              await Promise.resolve();
              throw new TypeError('async boom');
            },
          }),
      }),
    );
    expect(r2.result.kind === 'error' && r2.result.message).toMatch(/^b threw at t=[\d.]+ ms: TypeError: async boom/);
    expect(() => createSim(spec({ faults: [{ at: 1, code: 'C', node: 'nope', downMs: 1 }] }))).toThrow(/unknown node "nope"/);
    expect(() => createSim(spec({ clients: 1, faults: [{ at: 1, code: 'C', node: 'c0', downMs: 1 }] }))).toThrow(/not to client c0/);
  });

  it('delivers a copy of every message, as a network would: changing a sent object changes nothing in flight', async () => {
    const shared = { n: 1 };
    const { sim } = await simulate(
      spec({
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id !== 'a') return;
              p.ctx.send('b', shared);
              shared.n = 2;
            },
          }),
      }),
    );
    expect(sim.node('b').proc?.got[0]?.[1]).toEqual({ n: 1 });
  });

  it('gives each copy of a duplicate its own object, and keeps the trace as sent', async () => {
    const { sim } = await simulate(
      spec({
        network: { dup: 1 },
        proc: (id) =>
          new Probe({
            init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }),
            // A receiver that changes what it got (its own copy: allowed).
            msg: (_p, _from, m) => {
              (m as { n: number }).n++;
            },
          }),
      }),
    );
    expect(sim.node('b').proc?.got.map(([, m]) => m)).toEqual([{ n: 2 }, { n: 2 }]);
    expect(sim.trace.events().filter((e) => e.kind === 'deliver').map((e) => e.data)).toEqual([{ n: 1 }, { n: 1 }]);
  });

  it('fails a run that sends what a network cannot carry, saying where in the message', async () => {
    const { result } = await simulate(spec({ proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('b', { reply: [1, () => 2] } as unknown as Msg) }) }));
    expect(result.kind === 'error' && result.message).toMatch(/^a threw at t=0 ms: MessageNotData: a message must be plain data, as on a real network: message\.reply\[1\] is a function/);
  });
});

describe('timers and clocks', () => {
  it('fires timers on the node clock and lets them be cancelled', async () => {
    const { sim } = await simulate(
      spec({
        proc: () =>
          new Probe({
            init: (p) => {
              p.ctx.setTimer(10, 'x');
              const t = p.ctx.setTimer(5, 'never');
              p.ctx.cancelTimer(t);
            },
          }),
      }),
    );
    expect(sim.node('a').proc?.timers).toEqual(['x']);
    expect(sim.trace.events().filter((e) => e.kind === 'timer').map((e) => e.time)).toEqual([10, 10, 10]);
  });

  it('runs fast-drifting timers early in virtual time; SK and ST move only the wall clock', async () => {
    const walls: number[] = [];
    const sim = createSim(
      spec({
        faults: [
          { at: 0, code: 'DR', node: 'a', ppm: 100_000 },
          { at: 0, code: 'SK', node: 'b', offsetMs: 5000 },
          { at: 20, code: 'ST', node: 'b', deltaMs: -8000 },
        ],
        proc: (id) => new Probe({ init: (p) => id !== 'c' && p.ctx.setTimer(110, 'x'), timer: (p) => walls.push(p.ctx.wallNow() - 1_704_067_200_000) }),
      }),
    );
    await sim.run();
    const fires = sim.trace.events().filter((e) => e.kind === 'timer');
    expect(fires.map((e) => [e.node, e.time])).toEqual([
      ['a', 100],
      ['b', 110],
    ]);
    expect(walls).toEqual([110, 110 + 5000 - 8000]);
    expect(sim.node('b').monoNow() - sim.node('c').monoNow()).not.toBe(0);
  });

  it('resolves sleep and times out an rpc to a partitioned peer', async () => {
    const log: string[] = [];
    const sim = createSim(
      spec({
        faults: [{ at: 0, code: 'AP', from: 'b', to: 'a' }],
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id !== 'a') return;
              void (async () => {
                await p.ctx.sleep(7);
                log.push(`slept until ${sim.now}`);
                const r = await p.ctx.rpc('b', { ping: 1 }, { timeoutMs: 50 });
                log.push(`rpc ${JSON.stringify(r)} at ${sim.now}`);
              })();
            },
            msg: (_p, _from, m, reply) => {
              if ('ping' in m) reply?.({ pong: m.ping });
            },
          }),
      }),
    );
    await sim.run();
    expect(log).toEqual(['slept until 7', 'rpc {"ok":false,"reason":"timeout"} at 57']);
    expect(sim.trace.events().some((e) => e.kind === 'drop' && e.flavor === 'rpc-reply')).toBe(true);
  });

  it('answers an rpc with the reply, once, even if reply is called twice', async () => {
    const results: RpcResult<Msg>[] = [];
    const { sim } = await simulate(
      spec({
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id === 'a') void p.ctx.rpc('b', { ping: 7 }, { timeoutMs: 100 }).then((r) => results.push(r));
            },
            msg: (_p, _f, m, reply) => {
              if ('ping' in m) {
                reply?.({ pong: m.ping });
                reply?.({ pong: 0 });
              }
            },
          }),
      }),
    );
    expect(results).toEqual([{ ok: true, value: { pong: 7 } }]);
    expect(sim.stats.sent).toBe(2);
    expect(sim.pending()).toBe(0);
  });
});

describe('crash, restart and pause', () => {
  it('loses volatile state, timers and in-flight messages; keeps fsynced disk; restarts recovered', async () => {
    const boots: boolean[] = [];
    const sim = createSim(
      spec({
        network: { latency: { dist: 'fixed', ms: 10 } },
        faults: [{ at: 5, code: 'C', node: 'b', downMs: 20 }],
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id === 'a') p.ctx.send('b', { n: 1 });
              if (id !== 'b') return;
              boots.push(p.booted?.recovered ?? false);
              p.ctx.setTimer(15, 'lost-with-the-crash');
              if (!p.booted?.recovered) {
                p.ctx.disk.append('log', encodeText('kept;'));
                p.ctx.disk.fsync('log');
                p.ctx.disk.append('log', encodeText('lost;'));
              }
            },
          }),
      }),
    );
    await sim.run();
    const b = sim.node('b');
    expect(boots).toEqual([false, true]);
    expect(b.incarnation).toBe(2);
    expect(b.proc?.got).toEqual([]);
    expect(b.proc?.timers).toEqual(['lost-with-the-crash']);
    expect(decodeText(b.disk.read('log') as Uint8Array)).toBe('kept;');
    expect(sim.trace.events().find((e) => e.kind === 'drop')?.detail).toBe('node down');
    expect(sim.trace.events().filter((e) => e.kind === 'timer').map((e) => e.time)).toEqual([40]);
  });

  it('drops messages sent before a crash even if the node is back when they arrive', async () => {
    const { sim } = await simulate(
      spec({
        network: { latency: { dist: 'fixed', ms: 10 } },
        faults: [{ at: 2, code: 'C', node: 'b', downMs: 3 }],
        proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.send('b', { n: 1 }) }),
      }),
    );
    expect(sim.node('b').proc?.got).toEqual([]);
    expect(sim.trace.events().find((e) => e.kind === 'drop')?.detail).toBe('receiver restarted');
  });

  it('ignores a crashed instance: its later sends and disk writes go nowhere', async () => {
    let ghost: Probe | undefined;
    const sim = createSim(
      spec({
        faults: [{ at: 1, code: 'C', node: 'a', downMs: 5 }],
        proc: (id) => new Probe({ init: (p) => id === 'a' && ghost === undefined && (ghost = p) }),
        workload: async (s) => {
          await s.sleep(10);
          ghost?.ctx.send('b', { n: 9 });
          ghost?.ctx.disk.write('x', encodeText('ghost'));
          expect(s.asNode('a', (p) => p === ghost)).toBe(false);
        },
      }),
    );
    const r = await sim.run();
    expect(r.kind).toBe('ok');
    expect(sim.node('b').proc?.got).toEqual([]);
    expect(sim.node('a').disk.list()).toEqual([]);
  });

  it('restarts crashed nodes at H and tears an unsynced append under T', async () => {
    const sim = createSim(
      spec({
        seed: 3,
        faults: [
          { at: 1, code: 'T', node: 'a', downMs: 10_000 },
          { at: 5, code: 'H' },
        ],
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id === 'a' && !p.booted?.recovered) p.ctx.disk.append('wal', encodeText('0123456789'));
            },
          }),
      }),
    );
    await sim.run();
    expect(sim.node('a').up).toBe(true);
    expect(sim.node('a').incarnation).toBe(2);
    expect(sim.trace.events().filter((e) => e.kind === 'restart').map((e) => e.time)).toEqual([5]);
    const wal = sim.node('a').disk.read('wal');
    expect(wal === undefined || '0123456789'.startsWith(decodeText(wal))).toBe(true);
  });

  it('defers everything for a paused node, in order, while its clocks keep running', async () => {
    const seen: [number, number][] = [];
    const { sim } = await simulate(
      spec({
        network: { latency: { dist: 'fixed', ms: 1 } },
        faults: [{ at: 0, code: 'G', node: 'b', ms: 30 }],
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id === 'a') for (let i = 0; i < 3; i++) p.ctx.send('b', { n: i });
              if (id === 'b') p.ctx.setTimer(5, 't');
            },
            msg: (p, _f, m) => void ('n' in m && seen.push([m.n, p.ctx.monoNow()])),
          }),
      }),
    );
    expect(seen.map(([n]) => n)).toEqual([0, 1, 2]);
    const b = sim.trace.events().filter((e) => e.node === 'b' && (e.kind === 'deliver' || e.kind === 'timer'));
    expect(b.every((e) => e.time === 30)).toBe(true);
    expect(b.map((e) => e.kind)).toEqual(['deliver', 'deliver', 'deliver', 'timer']);
  });

  it('stalls a node on slow fsync: what it sends after the fsync leaves later', async () => {
    const { sim } = await simulate(
      spec({
        network: { latency: { dist: 'fixed', ms: 1 } },
        faults: [{ at: 0, code: 'SD', node: 'a', fsyncMs: 40 }],
        workload: async (s) => {
          await s.sleep(1);
          s.asNode('a', (p) => {
            p.ctx.disk.write('f', encodeText('x'));
            p.ctx.disk.fsync('f');
            p.ctx.send('b', { n: 1 });
          });
        },
      }),
    );
    expect(sim.trace.events().find((e) => e.kind === 'deliver')?.time).toBe(42);
    expect(sim.trace.events().some((e) => e.kind === 'note' && e.detail === 'slow fsync')).toBe(true);
  });
});

describe('clients and histories', () => {
  class Register implements Proc<never> {
    value: unknown = null;
    init(): void {}
    onMessage(): void {}
    onRequest(op: Op, reply: (r: Completion) => void): void {
      if (op.f === 'write') {
        this.value = op.value;
        reply({ type: 'ok' });
      } else if (op.f === 'read') reply({ type: 'ok', value: this.value });
      else if (op.f === 'bad') (reply as (r: unknown) => void)(42);
      else reply({ type: 'fail', value: 'unknown op' });
    }
  }

  it('records invoke and completion with virtual times, and info on a lost reply', async () => {
    const sim = createSim({
      seed: 4,
      nodes: ['n1'],
      clients: 2,
      proc: () => new Register(),
      network: { latency: { dist: 'fixed', ms: 2 } },
      faults: [{ at: 10, code: 'AP', from: 'n1', to: 'c1' }],
      workload: async (s) => {
        const [c0, c1] = s.clients;
        await c0?.call('n1', { f: 'write', value: 1, key: 'x' }, { timeoutMs: 20 });
        await c0?.call('n1', { f: 'cas', value: [1, 2] }, { timeoutMs: 20 });
        await s.sleep(10);
        const r = await c1?.call('n1', { f: 'write', value: 2 }, { timeoutMs: 20 });
        expect(r).toEqual({ type: 'info' });
        expect(c1?.process).toBe(2);
        await c1?.call('n1', { f: 'read' }, { timeoutMs: 20 });
      },
    });
    expect((await sim.run()).kind).toBe('ok');
    expect(sim.history).toEqual([
      { process: 0, f: 'write', key: 'x', type: 'invoke', value: 1, time: 0 },
      { process: 0, f: 'write', key: 'x', type: 'ok', value: undefined, time: 4 },
      { process: 0, f: 'cas', type: 'invoke', value: [1, 2], time: 4 },
      { process: 0, f: 'cas', type: 'fail', value: 'unknown op', time: 8 },
      { process: 1, f: 'write', type: 'invoke', value: 2, time: 18 },
      { process: 1, f: 'write', type: 'info', value: undefined, time: 38 },
      { process: 2, f: 'read', type: 'invoke', value: undefined, time: 38 },
      { process: 2, f: 'read', type: 'info', value: undefined, time: 58 },
    ]);
    expect(sim.trace.events().filter((e) => e.kind === 'op').length).toBe(8);
  });

  it('times out a direct call with invoke, and rejects a malformed reply', async () => {
    const sim = createSim({
      seed: 5,
      nodes: ['n1'],
      clients: 1,
      proc: () => new Register(),
      workload: async (s) => {
        const c = s.clients[0];
        const never = await c?.invoke({ f: 'wait' }, () => new Promise<Completion>(() => {}), { timeoutMs: 15 });
        expect(never).toEqual({ type: 'info' });
        await c?.call('n1', { f: 'bad' }, { timeoutMs: 20 });
      },
    });
    const r = await sim.run();
    expect(r.kind === 'error' && r.message).toMatch(/replied to c0's bad with 42/);
    expect(sim.history.map((h) => h.type)).toEqual(['invoke', 'info', 'invoke', 'info']);
  });
});

describe('the run loop', () => {
  it('stops at `until` and continues on the next run', async () => {
    const sim = createSim(spec({ proc: () => new Probe({ init: (p) => p.ctx.setTimer(10, 't'), timer: (p) => p.ctx.setTimer(10, 't') }) }));
    const r1 = await sim.run({ until: 35 });
    expect(r1).toMatchObject({ kind: 'ok', reason: 'until', time: 35 });
    expect(sim.node('a').proc?.timers.length).toBe(3);
    await sim.run({ until: 100 });
    expect(sim.node('a').proc?.timers.length).toBe(10);
  });

  it('fails a zero-delay loop as a livelock, naming what kept it busy', async () => {
    const { result } = await simulate(spec({ maxSteps: 5000, proc: (id) => new Probe({ init: (p) => id === 'a' && p.ctx.setTimer(0, 'spin'), timer: (p) => p.ctx.setTimer(0, 'spin') }) }), { until: 1000 });
    expect(result.kind).toBe('livelock');
    expect(result.kind === 'livelock' && result.message).toMatch(/^no progress \/ livelock: 5000 events by t=0 ms before reaching t=1000 ms; busiest at the end: timer "spin" on a ×/);
  });

  it('stops at the first event that breaks an invariant', async () => {
    const { sim, result } = await simulate(
      spec({ proc: () => new Probe({ init: (p) => p.ctx.setTimer(10, 't'), timer: (p) => p.ctx.setTimer(10, 't') }) }),
      { until: 1000, invariant: (s) => (s.now >= 50 ? `too late: ${s.now}` : undefined) },
    );
    expect(result).toMatchObject({ kind: 'violation', message: 'too late: 50', time: 50 });
    expect(sim.trace.at(result.traceEnd - 1)?.time).toBe(50);
    const thrown = await simulate(spec(), {
      invariant: () => {
        throw new Error('expect failed');
      },
    });
    expect(thrown.result).toMatchObject({ kind: 'violation', message: 'expect failed' });
  });

  it('runs async handlers deterministically, with rpc chains between nodes', async () => {
    const run = async (seed: number) => {
      const { sim } = await simulate({
        seed,
        nodes: ['a', 'b', 'c'],
        faults: [{ at: 0, code: 'L', pct: 20 }],
        proc: (id) =>
          new Probe({
            init: (p) => {
              if (id !== 'a') return;
              void (async () => {
                for (let i = 0; i < 20; i++) {
                  const r = await p.ctx.rpc(i % 2 ? 'b' : 'c', { ping: i }, { timeoutMs: 20 });
                  p.ctx.trace({ i, ok: r.ok, at: Date.now(), r: Math.random() });
                  await p.ctx.sleep(p.ctx.rand() * 5);
                }
              })();
            },
            msg: async (p, _f, m, reply) => {
              await p.ctx.sleep(1);
              await Promise.resolve();
              if ('ping' in m) reply?.({ pong: m.ping });
            },
          }),
      });
      return { log: sim.log(), diagram: sim.diagram(), notes: sim.annotations.length };
    };
    const one = await run(7);
    expect(one.notes).toBe(20);
    expect(await run(7)).toEqual(one);
    expect((await run(8)).log).not.toEqual(one.log);
  });

  it('gives byte-identical traces and diagrams for a seed, and different ones for another seed', async () => {
    const world = (seed: number): SimSpec<Probe> => ({
      seed,
      nodes: ['a', 'b', 'c'],
      clients: 1,
      network: { latency: { dist: 'exponential', min: 1, mean: 4 } },
      faults: [
        { at: 5, code: 'R', pct: 50, maxMs: 30 },
        { at: 10, code: 'D', pct: 20 },
        { at: 20, code: 'C', node: 'c', downMs: 15 },
        { at: 30, code: 'G', node: 'b', ms: 10 },
        { at: 60, code: 'H' },
      ],
      proc: (id) =>
        new Probe({
          init: (p) => p.ctx.setTimer(3, 'tick'),
          timer: (p) => {
            for (const peer of p.ctx.peers) if (p.ctx.rand() < 0.5) p.ctx.send(peer, { n: Math.floor(Math.random() * 100) });
            if (p.ctx.monoNow() < 1e9 && p.timers.length < 20) p.ctx.setTimer(3 + p.ctx.rand() * 3, id === 'a' ? 'tick' : 'tock');
          },
        }),
    });
    const render = async (seed: number) => {
      const { sim } = await simulate(world(seed));
      return sim.log() + '\n' + sim.diagram() + '\n' + sim.diagram({ ascii: true, last: 30 });
    };
    const a = await render(11);
    expect(await render(11)).toBe(a);
    expect(await render(12)).not.toBe(a);
  });
});

describe('async code started by a sync handler', () => {
  it('runs its continuations at the virtual time they belong to', async () => {
    class Floating implements Proc<number> {
      ctx!: Ctx<number>;
      init(ctx: Ctx<number>): void {
        this.ctx = ctx;
        if (ctx.id === 'a') for (let i = 0; i < 40; i++) ctx.setTimer(10 * (i + 1), 'go');
      }
      onMessage(): void {}
      onTimer(): void {
        // Not returned, not awaited by anyone: a fire-and-forget async helper with pure awaits inside.
        void this.later();
      }
      private async later(): Promise<void> {
        const v = await this.compute();
        this.ctx.send('b', v);
      }
      private async compute(): Promise<number> {
        await Promise.resolve();
        return this.ctx.monoNow();
      }
    }
    const { sim } = await simulate({ seed: 1, nodes: ['a', 'b'], proc: () => new Floating() });
    const sends = sim.trace.events().filter((e) => e.kind === 'send');
    expect(sends.length).toBe(40);
    expect(sends.every((e, i) => e.time === 10 * (i + 1))).toBe(true);
  });
});

describe('a promise a node hands to the world', () => {
  it('resumes whoever awaits it at the virtual time the node settles it', async () => {
    // A leader-like node: write() returns a promise that a later message settles in a sync handler.
    class Acker implements Proc<string> {
      ctx!: Ctx<string>;
      private done: ((ok: boolean) => void) | undefined;
      init(ctx: Ctx<string>): void {
        this.ctx = ctx;
      }
      write(): Promise<boolean> {
        this.ctx.send('b', 'store');
        return new Promise((resolve) => (this.done = resolve));
      }
      onMessage(from: NodeId, m: string): void {
        if (m === 'store') this.ctx.send(from, 'stored');
        else this.done?.(true);
      }
    }
    const seen: number[] = [];
    const acked: number[] = [];
    const { sim } = await simulate({
      seed: 3,
      nodes: ['a', 'b'],
      clients: 1,
      proc: () => new Acker(),
      workload: async (s) => {
        // More events at a than the first ones after boot, which drain anyway.
        for (let i = 0; i < 25; i++) {
          const p = s.asNode('a', (n) => n.write()) as Promise<boolean>;
          await p;
          seen.push(s.now);
          await s.sleep(30);
        }
      },
    });
    for (const e of sim.trace.events()) if (e.kind === 'deliver' && e.node === 'a') acked.push(e.time);
    // Without draining, the 17th acknowledgement would wait for an event that never comes.
    expect(seen.length).toBe(25);
    expect(seen).toEqual(acked);
  });
});

describe('world set-up', () => {
  it('draws initial clock offsets and drift per node, within the bounds', async () => {
    const { sim } = await simulate(spec({ clocks: { skewMs: 1000, driftPpm: 500 } }), { until: 10_000 });
    const offsets = sim.nodes.map((n) => sim.node(n).wallNow() - (1_704_067_200_000 + sim.now));
    expect(offsets.every((o) => Math.abs(o) <= 1000 * 1.0005 + 10)).toBe(true);
    expect(new Set(offsets).size).toBe(3);
  });

  it('applies a fault the workload asks for, now', async () => {
    const sim = createSim(
      spec({
        workload: async (s) => {
          await s.sleep(5);
          s.fault({ code: 'P', groups: [['a']] });
          s.asNode('a', (p) => p.ctx.send('b', { n: 1 }));
          expect(() => s.fault({ code: 'G', node: 'zz', ms: 1 })).toThrow(/unknown node "zz"/);
        },
      }),
    );
    await sim.run();
    expect(sim.trace.events().map((e) => `${e.time} ${e.kind} ${e.detail}`)).toEqual(['5 fault ', '5 send ', '5 drop partitioned']);
  });

  it('rejects duplicate names and an empty world', () => {
    expect(() => createSim(spec({ nodes: ['a', 'c0'], clients: 1 }))).toThrow(/unique/);
    expect(() => createSim(spec({ nodes: [] }))).toThrow(/at least one node/);
  });
});
