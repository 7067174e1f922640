// Hybrid logical clocks: timestamps that stay within a bound of physical time and still respect causality.
// Read the lesson first: `npx dlab lesson 03-time-and-causality/03-hybrid-logical-clock`.

/**
 * A hybrid timestamp. `l` is the largest physical time (ms) the issuing node knew of; `c` counts events that share
 * that `l`, so that causally related events sharing it still get increasing timestamps. Both are plain numbers.
 */
export type HLC = { readonly l: number; readonly c: number };

/** Thrown by `update` for a remote timestamp too far ahead of the local physical clock to be trusted. Provided. */
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

/** The total order on hybrid timestamps: -1 when a comes first, 1 when b does, 0 when they are equal. */
export function hlcCompare(a: HLC, b: HLC): -1 | 0 | 1 {
  // TODO: order two timestamps.
  throw new Error(`TODO: implement hlcCompare(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
}

/**
 * One node's hybrid logical clock. `pt()` reads the node's physical (wall) clock in whole ms: it may stand still,
 * jump forwards or step backwards. The rules it keeps:
 * - every timestamp it returns is greater (hlcCompare) than every one it returned before, and `update(r)`'s is
 *   greater than `r`;
 * - l is never below pt, and never above the largest time the clock has seen (pt, its own l, an accepted remote l);
 * - c is 0 whenever l comes from pt alone, and never larger than the longest chain of causally ordered events with
 *   the same l before it; a fresh clock has issued nothing, so its first `now()` is { l: pt, c: 0 };
 * - a remote timestamp with l > pt + maxOffsetMs is refused with new ClockOffsetError(remote, pt, maxOffsetMs),
 *   and the clock stays exactly as it was;
 * - a returned timestamp is a value: it never changes afterwards; and `update` never changes its argument.
 */
export class HybridClock {
  constructor(
    private readonly pt: () => number,
    private readonly maxOffsetMs: number,
  ) {
    // TODO: the clock's state: the last timestamp it issued (none yet).
  }

  /** A local or send event: the timestamp to record or to put on the message. */
  now(): HLC {
    // TODO: read pt once and issue the next timestamp.
    throw new Error(`TODO: implement HybridClock.now() (pt=${this.pt()})`);
  }

  /** A receive event: `remote` is the timestamp the message carried. Returns the receive's own timestamp. */
  update(remote: HLC): HLC {
    // TODO: refuse a remote too far ahead, then issue a timestamp after both the clock and `remote`.
    throw new Error(`TODO: implement HybridClock.update(${JSON.stringify(remote)}) (maxOffsetMs=${this.maxOffsetMs})`);
  }
}
