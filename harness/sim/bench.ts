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

async function echoRun(deliveries: number): Promise<{ delivered: number; wallMs: number }> {
  const sim = createSim({ seed: 1, nodes: ['a', 'b'], proc: () => new Echo(16), maxSteps: deliveries + 100 });
  const t0 = performance.now();
  await sim.run({ until: Infinity });
  const wallMs = performance.now() - t0;
  return { delivered: sim.stats.delivered, wallMs };
}

async function heartbeatRun(simMs: number): Promise<{ simMs: number; wallMs: number }> {
  const sim = createSim({ seed: 1, nodes: ['n1', 'n2', 'n3', 'n4', 'n5'], proc: () => new Heartbeat(), maxSteps: Number.MAX_SAFE_INTEGER });
  const t0 = performance.now();
  await sim.run({ until: simMs });
  return { simMs: sim.now, wallMs: performance.now() - t0 };
}

/** The simulator's figures, each measured after a warm-up run. */
export async function benchmarks(): Promise<BenchResult[]> {
  await echoRun(300_000);
  const echo = await echoRun(2_000_000);
  await heartbeatRun(200_000);
  const hb = await heartbeatRun(3_600_000);
  return [
    { bench: 'sim.echo.deliveries_per_sec', value: Math.round(echo.delivered / (echo.wallMs / 1000)), unit: 'deliveries/s' },
    { bench: 'sim.heartbeat5.speedup_vs_realtime', value: Math.round(hb.simMs / hb.wallMs), unit: 'simulated ms per wall ms' },
  ];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  for (const r of await benchmarks()) console.log(JSON.stringify(r));
}
