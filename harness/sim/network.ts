// The simulated network: per-link latency, loss and duplication, plus the nemesis's overlays and partitions.
import { roundTime } from './clock.ts';
import type { Rng } from './rng.ts';
import type { NodeId } from './types.ts';

/** How long a message takes on a link, in ms. Heavy tails (pareto) are what reorders messages. */
export type Latency =
  | { readonly dist: 'fixed'; readonly ms: number }
  | { readonly dist: 'uniform'; readonly min: number; readonly max: number }
  | { readonly dist: 'exponential'; readonly min: number; readonly mean: number }
  | { readonly dist: 'pareto'; readonly min: number; readonly alpha: number; readonly max: number };

/** Overrides for the links from `from` to `to` (either omitted: every node). */
export interface LinkSpec {
  readonly from?: NodeId;
  readonly to?: NodeId;
  readonly latency?: Latency;
  /** Probability in [0, 1] that a message is lost. */
  readonly loss?: number;
  /** Probability in [0, 1] that a message is delivered twice. */
  readonly dup?: number;
}

/** The network before any fault: the defaults for every link, then per-link overrides in order. */
export interface NetworkSpec {
  /** Default: uniform 1–5 ms. */
  readonly latency?: Latency;
  readonly loss?: number;
  readonly dup?: number;
  readonly links?: readonly LinkSpec[];
}

export const DEFAULT_LATENCY: Latency = { dist: 'uniform', min: 1, max: 5 };

/** Why a message never arrived. */
export type DropReason = 'lost' | 'partitioned' | 'node down' | 'receiver restarted' | 'no handler';

export function sampleLatency(l: Latency, rng: Rng): number {
  switch (l.dist) {
    case 'fixed':
      return l.ms;
    case 'uniform':
      return l.min + rng.float() * (l.max - l.min);
    case 'exponential':
      return l.min + rng.exponential(l.mean - l.min);
    case 'pareto': {
      const x = l.min * Math.pow(1 - rng.float(), -1 / l.alpha);
      return Math.min(l.max, x);
    }
  }
}

/**
 * Link state for n endpoints (nodes then clients), as flat n×n arrays so a send costs a few array reads.
 * Every decision draws from one stream, in send order, so the same run makes the same decisions.
 */
export class Network {
  private readonly n: number;
  private readonly latency: Latency[];
  private readonly loss: Float64Array;
  private readonly dup: Float64Array;
  private readonly blocked: Uint8Array;
  /** Partition group per endpoint (all 0: no partition). */
  private readonly group: Int32Array;
  private readonly oneWay = new Set<number>();
  private faultLoss = 0;
  private faultDup = 0;
  private reorderP = 0;
  private reorderMaxMs = 0;

  constructor(
    private readonly names: readonly NodeId[],
    spec: NetworkSpec,
    private readonly rng: Rng,
  ) {
    const n = (this.n = names.length);
    this.latency = new Array<Latency>(n * n).fill(spec.latency ?? DEFAULT_LATENCY);
    this.loss = new Float64Array(n * n).fill(spec.loss ?? 0);
    this.dup = new Float64Array(n * n).fill(spec.dup ?? 0);
    this.blocked = new Uint8Array(n * n);
    this.group = new Int32Array(n);
    for (const link of spec.links ?? []) {
      const froms = link.from === undefined ? names.map((_, i) => i) : [this.index(link.from)];
      const tos = link.to === undefined ? names.map((_, i) => i) : [this.index(link.to)];
      for (const f of froms) {
        for (const t of tos) {
          const k = f * n + t;
          if (link.latency !== undefined) this.latency[k] = link.latency;
          if (link.loss !== undefined) this.loss[k] = link.loss;
          if (link.dup !== undefined) this.dup[k] = link.dup;
        }
      }
    }
  }

  private index(id: NodeId): number {
    const i = this.names.indexOf(id);
    if (i < 0) throw new Error(`network: unknown node ${JSON.stringify(id)} (nodes: ${this.names.join(', ')})`);
    return i;
  }

  isBlocked(from: number, to: number): boolean {
    return this.blocked[from * this.n + to] === 1;
  }

  isLost(from: number, to: number): boolean {
    const base = this.loss[from * this.n + to] as number;
    const p = this.faultLoss === 0 ? base : 1 - (1 - base) * (1 - this.faultLoss);
    return p > 0 && this.rng.float() < p;
  }

  isDuplicated(from: number, to: number): boolean {
    const base = this.dup[from * this.n + to] as number;
    const p = this.faultDup === 0 ? base : 1 - (1 - base) * (1 - this.faultDup);
    return p > 0 && this.rng.float() < p;
  }

  /** Transit time for one copy of a message, including the R fault's heavy-tailed extra delay. */
  delay(from: number, to: number): number {
    let d = sampleLatency(this.latency[from * this.n + to] as Latency, this.rng);
    if (this.reorderP > 0 && this.rng.float() < this.reorderP) {
      // Pareto(α = 1.1) scaled so that the cap is a rare (1 in ~30) but reachable tail.
      const extra = (this.reorderMaxMs / 40) * (Math.pow(1 - this.rng.float(), -1 / 1.1) - 1);
      d += Math.min(this.reorderMaxMs, extra);
    }
    return roundTime(Math.max(0, d));
  }

  /** L: lose pct% of messages on every link (on top of the links' own loss). */
  setLoss(pct: number): void {
    this.faultLoss = clamp01(pct / 100);
  }

  /** D: deliver pct% of messages twice. */
  setDup(pct: number): void {
    this.faultDup = clamp01(pct / 100);
  }

  /** R: pct% of messages take a heavy-tailed extra delay of up to maxMs. */
  setReorder(pct: number, maxMs: number): void {
    this.reorderP = clamp01(pct / 100);
    this.reorderMaxMs = Math.max(0, maxMs);
  }

  /** P: endpoints in different groups cannot talk; endpoints in no group form one more group. */
  partition(groups: readonly (readonly NodeId[])[]): void {
    this.group.fill(0);
    groups.forEach((g, gi) => {
      for (const id of g) this.group[this.index(id)] = gi + 1;
    });
    this.rebuild();
  }

  /** AP: messages from `from` to `to` are dropped; the other direction still works. */
  blockOneWay(from: NodeId, to: NodeId): void {
    this.oneWay.add(this.index(from) * this.n + this.index(to));
    this.rebuild();
  }

  /** H: every network fault off. The links' own latency, loss and duplication stay. */
  heal(): void {
    this.faultLoss = 0;
    this.faultDup = 0;
    this.reorderP = 0;
    this.reorderMaxMs = 0;
    this.group.fill(0);
    this.oneWay.clear();
    this.rebuild();
  }

  private rebuild(): void {
    const n = this.n;
    for (let f = 0; f < n; f++) {
      for (let t = 0; t < n; t++) this.blocked[f * n + t] = this.group[f] !== this.group[t] ? 1 : 0;
    }
    for (const k of this.oneWay) this.blocked[k] = 1;
  }
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}
