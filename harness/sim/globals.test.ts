import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { WALL_EPOCH } from './clock.ts';
import { simulationActive } from './globals.ts';
import { createSim, simulate } from './sim.ts';
import type { Ctx, Proc } from './types.ts';

/** A node that reaches for the real-world globals, as learner code might. */
class Naive implements Proc<string> {
  ctx!: Ctx<string>;
  seen: Record<string, unknown>[] = [];
  init(ctx: Ctx<string>): void {
    this.ctx = ctx;
    this.look('init');
    setTimeout(() => this.look('setTimeout'), 25);
    const iv = setInterval(() => {
      this.look('interval');
      if (this.seen.filter((s) => s['where'] === 'interval').length === 2) clearInterval(iv);
    }, 10);
    const never = setTimeout(() => this.look('cancelled'), 5);
    clearTimeout(never);
    setImmediate(() => this.look('immediate'));
  }
  onMessage(): void {}
  look(where: string): void {
    this.seen.push({
      where,
      now: Date.now() - WALL_EPOCH,
      date: new Date().getTime() - WALL_EPOCH,
      perf: performance.now(),
      r: Math.random(),
      isDate: new Date(0) instanceof Date && new Date(Date.UTC(2020, 0, 2)).toISOString() === '2020-01-02T00:00:00.000Z',
    });
  }
}

function snapshot() {
  return { random: Math.random, Date, now: Date.now, perf: performance.now, setTimeout, clearTimeout, setInterval, clearInterval, setImmediate, clearImmediate, nextTick: process.nextTick };
}

describe('deterministic globals', () => {
  it("give learner code the node's clocks, randomness and timers during a run", async () => {
    const run = async () => {
      const { sim } = await simulate({ seed: 3, nodes: ['a', 'b'], faults: [{ at: 0, code: 'SK', node: 'b', offsetMs: 1000 }], proc: () => new Naive() });
      return { a: (sim.node('a').proc as Naive).seen, b: (sim.node('b').proc as Naive).seen };
    };
    const one = await run();
    expect(one.a.map((s) => [s['where'], s['now']])).toEqual([
      ['init', 0],
      ['immediate', 0],
      ['interval', 10],
      ['interval', 20],
      ['setTimeout', 25],
    ]);
    expect(one.b.map((s) => s['now'])).toEqual([1000, 1000, 1010, 1020, 1025]);
    expect(one.a.every((s) => s['date'] === s['now'] && s['isDate'] === true)).toBe(true);
    // performance.now is the monotonic clock: an arbitrary origin per boot, advancing with virtual time.
    const perf = one.a.map((s) => s['perf'] as number);
    expect(perf.map((p) => p - (perf[0] as number))).toEqual([0, 0, 10, 20, 25]);
    expect(one.a.map((s) => s['r'])).not.toEqual(one.b.map((s) => s['r']));
    expect(await run()).toEqual(one);
  });

  it('are restored after a run, after a run that threw, and after a failed invariant', async () => {
    const before = snapshot();
    await simulate({ seed: 1, nodes: ['a'], proc: () => new Naive() });
    expect(snapshot()).toEqual(before);
    expect(simulationActive()).toBe(false);
    const thrown = await simulate({
      seed: 1,
      nodes: ['a'],
      proc: () => ({
        init: () => {
          throw new Error('boom');
        },
        onMessage: () => {},
      }),
    });
    expect(thrown.result.kind).toBe('error');
    expect(snapshot()).toEqual(before);
    const factory = await simulate({
      seed: 1,
      nodes: ['a'],
      proc: () => {
        throw new Error('no instance');
      },
    });
    expect(factory.result.kind === 'error' && factory.result.message).toMatch(/no instance/);
    const inv = await simulate({ seed: 1, nodes: ['a'], proc: () => new Naive() }, { invariant: () => 'broken' });
    expect(inv.result.kind).toBe('violation');
    expect(snapshot()).toEqual(before);
    expect(Date.now()).toBeGreaterThan(WALL_EPOCH + 365 * 24 * 3600 * 1000);
    await new Promise((r) => setTimeout(r, 5));
  });

  it('refuse a second simulation while one is running', async () => {
    let inner: Promise<unknown> | undefined;
    const sim = createSim({
      seed: 1,
      nodes: ['a'],
      proc: () => new Naive(),
      workload: () => {
        inner = createSim({ seed: 2, nodes: ['x'], proc: () => new Naive() }).run();
      },
    });
    await sim.run();
    await expect(inner).rejects.toThrow(/another simulation is already running/);
  });

  it("leave vitest's own timers working: a test that hangs after a simulation still times out", async () => {
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const config = fileURLToPath(new URL('./fixtures/vitest.fixture.config.ts', import.meta.url));
    const out = await new Promise<string>((resolve) => {
      execFile(process.execPath, [`${root}node_modules/vitest/vitest.mjs`, 'run', '--config', config], { cwd: root, env: { ...process.env, NO_COLOR: '1' }, timeout: 30_000 }, (_err, stdout, stderr) =>
        resolve(stdout + stderr),
      );
    });
    expect(out).toMatch(/Test timed out in 300ms/);
  });
});
