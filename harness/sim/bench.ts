// Simulator throughput benchmarks: `npx tsx harness/sim/bench.ts` prints one JSON line per figure.
import { pathToFileURL } from 'node:url';
import { createSim } from './sim.ts';
import type { Ctx, NodeId, Proc } from './types.ts';

export interface BenchResult {
  readonly bench: string;
  readonly value: number;
  readonly unit: string;
}

/** Answers every message with the next number: the cheapest possible handler. */
class Echo implements Proc<number> {
  private ctx!: Ctx<number>;
  constructor(private readonly chains: number) {}
  init(ctx: Ctx<number>): void {
    this.ctx = ctx;
    if (ctx.id === 'a') for (let i = 0; i < this.chains; i++) ctx.send('b', 0);
  }
  onMessage(from: NodeId, n: number): void {
    this.ctx.send(from, n + 1);
  }
}

/**
 * Echo with an async handler that awaits before it answers: the simulator must let the continuation
 * run to the end before the next event, which is what the async path costs over the sync one.
 */
class AsyncEcho implements Proc<number> {
  private ctx!: Ctx<number>;
  constructor(private readonly chains: number) {}
  init(ctx: Ctx<number>): void {
    this.ctx = ctx;
    if (ctx.id === 'a') for (let i = 0; i < this.chains; i++) ctx.send('b', 0);
  }
  async onMessage(from: NodeId, n: number): Promise<void> {
    await Promise.resolve();
    this.ctx.send(from, n + 1);
  }
}

/** Sends a heartbeat to every peer every 100 ms and remembers when it last heard from each. */
class Heartbeat implements Proc<{ readonly hb: number }> {
  private ctx!: Ctx<{ readonly hb: number }>;
  private beats = 0;
  private readonly lastHeard = new Map<NodeId, number>();
  init(ctx: Ctx<{ readonly hb: number }>): void {
    this.ctx = ctx;
    ctx.setTimer(100, 'beat');
  }
  onMessage(from: NodeId): void {
    this.lastHeard.set(from, this.ctx.monoNow());
  }
  onTimer(): void {
    this.beats++;
    for (const p of this.ctx.peers) this.ctx.send(p, { hb: this.beats });
    this.ctx.setTimer(100, 'beat');
  }
}

/** Deliveries per second of an echo between two nodes with 16 messages in flight. */
async function echoRun(proc: () => Proc<number>, deliveries: number): Promise<number> {
  const sim = createSim({ seed: 1, nodes: ['a', 'b'], proc, maxSteps: deliveries + 100 });
  const t0 = performance.now();
  await sim.run({ until: Infinity });
  const wallMs = performance.now() - t0;
  return sim.stats.delivered / (wallMs / 1000);
}

async function heartbeatRun(simMs: number): Promise<{ simMs: number; wallMs: number }> {
  const sim = createSim({ seed: 1, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], proc: () => new Heartbeat(), maxSteps: Number.MAX_SAFE_INTEGER });
  const t0 = performance.now();
  await sim.run({ until: simMs });
  return { simMs: sim.now, wallMs: performance.now() - t0 };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

/** The simulator's figures, each measured after a warm-up run. */
export async function benchmarks(): Promise<BenchResult[]> {
  const sync = () => new Echo(16);
  const async = () => new AsyncEcho(16);
  await echoRun(sync, 300_000);
  await echoRun(async, 300_000);
  // Interleaved and the median of three each, so that a burst of load on a shared machine skews neither
  // figure alone, nor their ratio.
  const syncRates: number[] = [];
  const asyncRates: number[] = [];
  for (let i = 0; i < 3; i++) {
    syncRates.push(await echoRun(sync, 1_000_000));
    asyncRates.push(await echoRun(async, 1_000_000));
  }
  const echo = median(syncRates);
  const echoAsync = median(asyncRates);
  await heartbeatRun(200_000);
  const hb = await heartbeatRun(3_600_000);
  return [
    { bench: 'sim.echo.deliveries_per_sec', value: Math.round(echo), unit: 'deliveries/s' },
    { bench: 'sim.echo_async.deliveries_per_sec', value: Math.round(echoAsync), unit: 'deliveries/s' },
    { bench: 'sim.echo.async_vs_sync_ratio', value: Math.round((echo / echoAsync) * 100) / 100, unit: 'sync ÷ async deliveries/s' },
    { bench: 'sim.heartbeat5.speedup_vs_realtime', value: Math.round(hb.simMs / hb.wallMs), unit: 'simulated ms per wall ms' },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchmarks()) console.log(JSON.stringify(r));
}
