import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { PropertyFailure } from '../report.ts';
import { runConfig, SEED_STRIDE, type RunConfig } from '../run-config.ts';
import { faultSchedule } from './fault-arbitraries.ts';
import { FireAndForget, planted } from './fixtures/planted.ts';
import { runCase, simProperty, type SimPropertyOptions } from './sim-property.ts';
import type { Ctx, Proc } from './types.ts';

const cfg = (over: Record<string, string> = {}): RunConfig => runConfig({ DLAB_EXERCISE: '00-demo/01-planted', ...over });

async function failure(opts: SimPropertyOptions<FireAndForget>, c: RunConfig = cfg()): Promise<PropertyFailure> {
  try {
    await simProperty(opts, c);
  } catch (e) {
    if (e instanceof PropertyFailure) return e;
    throw e;
  }
  throw new Error('expected the property to fail');
}

describe('simProperty', () => {
  it('passes a correct world under every schedule', async () => {
    let cases = 0;
    await simProperty(
      {
        ...planted(),
        property: 'b receives every number a sends, when only clocks and pauses misbehave',
        settleMs: 1000,
        world: (c) => {
          cases++;
          return planted().world(c);
        },
        faults: faultSchedule({ nodes: ['a', 'b', 'c'], codes: ['SK', 'DR', 'G'], horizonMs: 300 }),
      },
      cfg(),
    );
    expect(cases).toBe(100);
  });

  it('shrinks a planted bug to three fault events or fewer and reports it fully', async () => {
    const f = await failure(planted());
    const m = f.message;
    expect(m.split('\n')[0]).toBe('✗ b receives every number a sends');
    expect(m).toMatch(/after the heal at t=300 ms and 100 ms to settle: b never received \d+/);
    const n = Number(/, (\d) events?; then H at t=300 ms/.exec(m)?.[1]);
    expect(n).toBeGreaterThanOrEqual(1);
    expect(n).toBeLessThanOrEqual(3);
    expect(m).toMatch(/space-time diagram of how the failure came about: \d+ of the \d+ events before it, from its causal past/);
    expect(m).toMatch(/ a {5}b {5}c/);
    expect(m).toMatch(/replay: npx dlab replay 00-demo\/01-planted --seed \d+ --path [\d:]+$/);
    expect(f.dlab).toMatchObject({ property: 'b receives every number a sends' });
    expect(f.dlab.replay).toBe(`npx dlab replay 00-demo/01-planted --seed ${f.dlab.seed} --path ${f.dlab.path}`);
    // The verdict is deterministic: the same configuration finds the same failure, byte for byte.
    expect((await failure(planted())).message).toBe(m);
    // A seed shift (dlab verify's flakiness check) draws other cases.
    expect((await failure(planted(), cfg({ DLAB_SEED_SHIFT: '1' }))).dlab.seed).toBe((f.dlab.seed ?? 0) + SEED_STRIDE);
  });

  it('tries hand-written killer cases first', async () => {
    let cases = 0;
    const opts = planted();
    const f = await failure({
      ...opts,
      world: (c) => {
        cases++;
        return opts.world(c);
      },
      faults: faultSchedule({ nodes: ['a', 'b', 'c'], codes: ['SK'], horizonMs: 300 }),
      killers: [
        { seed: 1, schedule: [] },
        { seed: 2, schedule: [{ at: 50, code: 'P', groups: [['b']] }] },
      ],
    });
    expect(f.message).toContain('(hand-written case 2)');
    expect(f.message).toContain('t=50 ms  P   partition {b} | everyone else');
    expect(f.dlab.path?.startsWith('1')).toBe(true);
    expect(cases).toBeLessThan(20);
  });

  it('replays exactly one case and writes the same full report every time', async () => {
    const f = await failure(planted());
    const dir = mkdtempSync(join(tmpdir(), 'dlab-replay-'));
    const out = join(dir, 'report.txt');
    const replayCfg = cfg({ DLAB_REPLAY: `${f.dlab.seed}:${f.dlab.path}`, DLAB_REPLAY_OUT: out });
    let cases = 0;
    const counted = planted();
    const again = await failure({ ...counted, world: (c) => (cases++, counted.world(c)) }, replayCfg);
    expect(cases).toBe(2); // the case itself, then once more with the full trace
    // The report a replay throws is the report it came from, line for line ("found after N cases, shrunk M times" too).
    expect(again.message).toBe(f.message);
    const first = readFileSync(out, 'utf8');
    expect(first).toContain('space-time diagram of the whole run, up to the failure:');
    expect(first).not.toContain('earlier events not shown');
    expect(first).toContain(f.message.split('\n')[1] as string);
    await failure(planted(), replayCfg);
    expect(readFileSync(out, 'utf8')).toBe(first + '\n' + first);
  });

  it('draws only the part of a replayed run that DLAB_REPLAY_VIEW asks for (dlab replay --from/--to/--nodes/--hide-sends)', async () => {
    const f = await failure(planted());
    const dir = mkdtempSync(join(tmpdir(), 'dlab-replay-'));
    const out = join(dir, 'report.txt');
    const view = JSON.stringify({ fromMs: 200, toMs: 250, nodes: ['b', 'a', 'zz'], hideSends: true });
    const again = await failure(planted(), cfg({ DLAB_REPLAY: `${f.dlab.seed}:${f.dlab.path}`, DLAB_REPLAY_OUT: out, DLAB_REPLAY_VIEW: view }));
    // The thrown report (the one graded) is untouched; only the written full report's diagram is narrowed.
    expect(again.message).toBe(f.message);
    const text = readFileSync(out, 'utf8');
    expect(text).toContain("space-time diagram of the run from t=200 ms to t=250 ms, nodes b, a, sends hidden (no node named 'zz'; the run's endpoints are a, b, c):");
    const rows = text.split('\n').filter((l) => /^ {4}\s*\d+(\.\d+)?  /.test(l));
    expect(rows.length).toBeGreaterThan(0);
    for (const r of rows) {
      const t = Number(r.trim().split(/\s+/)[0]);
      expect(t).toBeGreaterThanOrEqual(200);
      expect(t).toBeLessThanOrEqual(250);
      expect(r).not.toMatch(/ send /);
    }
    expect(text).toMatch(/\n {4}\s+b {5}a/);
    // A malformed view is no view: the whole run, as without one.
    const plain = join(dir, 'plain.txt');
    await failure(planted(), cfg({ DLAB_REPLAY: `${f.dlab.seed}:${f.dlab.path}`, DLAB_REPLAY_OUT: plain, DLAB_REPLAY_VIEW: 'nonsense' }));
    expect(readFileSync(plain, 'utf8')).toContain('space-time diagram of the whole run, up to the failure:');
  });

  it('replays identically in two separate processes', async () => {
    const f = await failure(planted());
    const root = fileURLToPath(new URL('../..', import.meta.url));
    const script = fileURLToPath(new URL('./fixtures/replay-script.ts', import.meta.url));
    const dir = mkdtempSync(join(tmpdir(), 'dlab-replay2-'));
    const runOnce = (name: string) =>
      new Promise<string>((resolve, reject) => {
        const out = join(dir, name);
        const env = { ...process.env, DLAB_EXERCISE: '00-demo/01-planted', DLAB_REPLAY: `${f.dlab.seed}:${f.dlab.path}`, DLAB_REPLAY_OUT: out };
        execFile(process.execPath, [`${root}node_modules/tsx/dist/cli.mjs`, script], { cwd: root, env, timeout: 30_000 }, (err) => (err ? reject(err) : resolve(readFileSync(out, 'utf8'))));
      });
    const [a, b] = await Promise.all([runOnce('a.txt'), runOnce('b.txt')]);
    expect(a.length).toBeGreaterThan(500);
    expect(b).toBe(a);
  });

  it('reports a livelock and a throwing check in plain words', async () => {
    class Spinner implements Proc<never> {
      private ctx!: Ctx<never>;
      init(ctx: Ctx<never>): void {
        this.ctx = ctx;
        ctx.setTimer(0, 'spin');
      }
      onMessage(): void {}
      onTimer(): void {
        this.ctx.setTimer(0, 'spin');
      }
    }
    const spin = await runCase({ property: 'spins', horizonMs: 10, maxSteps: 1000, world: () => ({ nodes: ['a'], proc: () => new Spinner() }) }, { seed: 1, schedule: [] });
    expect(!spin.ok && spin.why).toMatch(/^no progress \/ livelock: 1000 events by t=0 ms before reaching t=20 ms; busiest at the end: timer "spin" on a ×/);
    const opts = planted();
    const thrown = await runCase(
      {
        ...opts,
        world: (c) => ({
          ...opts.world(c),
          check: () => {
            throw new Error('expected 20 to be 19');
          },
        }),
      },
      { seed: 1, schedule: [] },
    );
    expect(!thrown.ok && thrown.why).toBe('after the heal at t=300 ms and 100 ms to settle: expected 20 to be 19');
  });

  it('reports a broken bound as "bound exceeded", and a broken invariant first as "safety violated"', async () => {
    const opts = planted();
    const late = (invariant?: () => string) =>
      runCase<FireAndForget>(
        { ...opts, world: (c) => ({ ...opts.world(c), ...(invariant ? { invariant } : {}), bound: (s) => (s.now > 5 ? 'too slow' : undefined) }) },
        { seed: 1, schedule: [] },
      );
    const slow = await late();
    expect(!slow.ok && slow.why).toMatch(/^bound exceeded at t=[\d.]+ ms: too slow$/);
    const unsafe = await late(() => 'two leaders');
    expect(!unsafe.ok && unsafe.why).toMatch(/^safety violated at t=[\d.]+ ms: two leaders$/);
  });

  it('awaits an async check, which may run a second world (a baseline) once the first has finished', async () => {
    const opts = planted();
    const compared = await runCase<FireAndForget>(
      {
        ...opts,
        world: (c) => ({
          ...opts.world(c),
          check: async (sim) => {
            const baseline = await runCase(opts, { seed: c.seed, schedule: [] });
            return baseline.sim.stats.sent === sim.stats.sent ? 'the same number of messages as the baseline' : undefined;
          },
        }),
      },
      { seed: 1, schedule: [] },
    );
    expect(!compared.ok && compared.why).toBe('after the heal at t=300 ms and 100 ms to settle: the same number of messages as the baseline');
  });
});

describe('replay with several properties in one file', () => {
  it('runs only the property that owns the replayed seed', async () => {
    const f = await failure(planted());
    const dir = mkdtempSync(join(tmpdir(), 'dlab-replay3-'));
    const out = join(dir, 'report.txt');
    const replayCfg = cfg({ DLAB_REPLAY: `${f.dlab.seed}:${f.dlab.path}`, DLAB_REPLAY_OUT: out });
    let other = 0;
    // Another property of the same test file: it stands aside, even though the path would fit its cases.
    await simProperty({ ...planted(), property: 'another property', world: (c) => (other++, planted().world(c)) }, replayCfg);
    expect(other).toBe(0);
    await failure(planted(), replayCfg);
    expect(readFileSync(out, 'utf8').split('\n')[0]).toBe('✗ b receives every number a sends');
  });
});
