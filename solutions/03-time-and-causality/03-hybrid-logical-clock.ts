// Hybrid logical clocks: timestamps that stay within a bound of physical time and still respect causality.

/**
 * A hybrid timestamp. `l` is the largest physical time (ms) the issuing node knew of; `c` counts events that share
 * that `l`, so that causally related events sharing it still get increasing timestamps.
 */
export type HLC = { readonly l: number; readonly c: number };

/** Thrown by `update` for a remote timestamp too far ahead of the local physical clock to be trusted. */
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

/** The total order on hybrid timestamps: by l, then by c. */
export function hlcCompare(a: HLC, b: HLC): -1 | 0 | 1 {
  if (a.l !== b.l) return a.l < b.l ? -1 : 1;
  // Equal l: the counter decides. Comparing l alone would make a receive equal to its send.
  if (a.c !== b.c) return a.c < b.c ? -1 : 1;
  return 0;
}

/** One node's hybrid logical clock (Kulkarni et al. 2014, Algorithm 2, plus CockroachDB's offset check). */
export class HybridClock {
  // The last timestamp this clock issued. -Infinity: none yet, so the first one is (pt, 0).
  private l = -Infinity;
  private c = 0;

  constructor(
    private readonly pt: () => number,
    private readonly maxOffsetMs: number,
  ) {}

  /** A local or send event. */
  now(): HLC {
    const pt = this.pt();
    if (pt > this.l) {
      // Physical time moved past everything we knew: take it, and the counter starts again.
      this.l = pt;
      this.c = 0;
    } else {
      // pt is behind (a busy millisecond, a clock stepped back, or an l adopted from a peer): keep l, count.
      this.c += 1;
    }
    return { l: this.l, c: this.c };
  }

  /** A receive event: `remote` is the timestamp the message carried. */
  update(remote: HLC): HLC {
    const pt = this.pt();
    // Check before touching any state: a rejected message must leave the clock exactly as it was.
    if (remote.l > pt + this.maxOffsetMs) throw new ClockOffsetError(remote, pt, this.maxOffsetMs);
    const l = Math.max(this.l, remote.l, pt);
    let c: number;
    if (l === this.l && l === remote.l) c = Math.max(this.c, remote.c) + 1;
    else if (l === this.l) c = this.c + 1; // our l wins: the remote's counter says nothing about events at our l
    else if (l === remote.l) c = remote.c + 1;
    else c = 0; // pt is ahead of both
    this.l = l;
    this.c = c;
    // A new object: the caller keeps it as a value; it must not change when the clock moves on.
    return { l, c };
  }
}
