// Another design, CockroachDB's split: a receive first forwards the clock to the remote timestamp (no tick),
// then issues a timestamp exactly as a local event would. Timestamps are frozen tuples kept as the state.

export type HLC = { readonly l: number; readonly c: number };

export class ClockOffsetError extends Error {
  constructor(
    readonly remote: HLC,
    readonly pt: number,
    readonly maxOffsetMs: number,
  ) {
    super(`remote timestamp l=${remote.l} is ${remote.l - pt} ms ahead of the physical clock (pt=${pt}); the limit is ${maxOffsetMs} ms`);
    this.name = 'ClockOffsetError';
  }
}

export function hlcCompare(a: HLC, b: HLC): -1 | 0 | 1 {
  const d = a.l - b.l || a.c - b.c;
  return d < 0 ? -1 : d > 0 ? 1 : 0;
}

export class HybridClock {
  private state: HLC | null = null;

  constructor(
    private readonly pt: () => number,
    private readonly maxOffsetMs: number,
  ) {}

  now(): HLC {
    const pt = this.pt();
    const s = this.state;
    this.state = Object.freeze(s === null || pt > s.l ? { l: pt, c: 0 } : { l: s.l, c: s.c + 1 });
    return this.state;
  }

  update(remote: HLC): HLC {
    const pt = this.pt();
    if (remote.l > pt + this.maxOffsetMs) throw new ClockOffsetError(remote, pt, this.maxOffsetMs);
    if (this.state === null || hlcCompare(remote, this.state) > 0) this.state = Object.freeze({ l: remote.l, c: remote.c });
    return this.now();
  }
}
