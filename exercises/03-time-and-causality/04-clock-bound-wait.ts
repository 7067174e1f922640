// Bounded clock uncertainty and commit wait: NTP's offset estimate, a clock that answers with an interval, and a store whose timestamps respect real time.
// Read the lesson first: `npx dlab lesson 03-time-and-causality/04-clock-bound-wait`.
import type { Ctx, NodeId, Proc, TimeReply, TimeRequest } from '@dlab/harness/sim';

/** One NTP exchange: t0 and t3 on the client's clock (request sent, answer received), t1 and t2 on the server's (request received, answer sent). */
export interface Sample {
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly t3: number;
}

/** The server's clock minus the client's, and how far that can be off: the true offset lies in [offset − error, offset + error]. */
export interface Estimate {
  readonly offset: number;
  readonly error: number;
}

/** An estimate and the client clock reading (`atMono`) from which its error starts to grow. */
export interface Sync {
  readonly offset: number;
  readonly error: number;
  readonly atMono: number;
}

/** True time (the time server's clock) lies between `earliest` and `latest`. */
export interface Interval {
  readonly earliest: number;
  readonly latest: number;
}

/** The node that answers `TimeRequest`s (see `@dlab/harness/sim`'s TimeServer). */
export const TIME_SERVER = 'ntp';
/** The shared versioned store every node writes to and reads from. */
export const STORE = 'store';
/** The drift bound a node assumes for its own clock, in parts per million (real clocks here drift up to 100 ppm). */
export const DRIFT_PPM = 200;

/** What the store understands. `id` is echoed in the answer, for designs that match answers themselves instead of using ctx.rpc. */
export type StoreRequest =
  /** Store `value` as the version of `key` at timestamp `ts` (writing the same version twice changes nothing). */
  | { readonly kind: 'write'; readonly key: string; readonly ts: number; readonly value: string; readonly id?: number }
  /** The newest version of `key` whose timestamp is ≤ `ts`. */
  | { readonly kind: 'read'; readonly key: string; readonly ts: number; readonly id?: number };

export type StoreReply =
  | { readonly kind: 'written'; readonly key: string; readonly ts: number; readonly id?: number }
  /** `version` is null when `key` has no version at or before `ts`. */
  | { readonly kind: 'version'; readonly key: string; readonly ts: number; readonly version: { readonly ts: number; readonly value: string } | null; readonly id?: number };

/** Every message a node sends or receives: the time server's protocol and the store's. */
export type Msg = TimeRequest | TimeReply | StoreRequest | StoreReply;

/**
 * NTP's on-wire calculation (RFC 5905) over a few exchanges with the same server. Never called with no samples.
 * The true offset (server clock − client clock) must lie in [offset − error, offset + error], however unequal the
 * two legs of an exchange were; and the answer must come from the sample with the smallest round-trip delay.
 */
export function estimateOffset(samples: readonly Sample[]): Estimate {
  // TODO: the offset and the round-trip delay of each sample (the time the server held the request is not part
  // of the delay); how far can the offset be off, when you do not know how the delay split between the legs?
  throw new Error(`TODO: estimateOffset (${samples.length} samples)`);
}

/**
 * A clock that answers with an interval. `mono` is the local monotonic clock; `lastSync` returns the current sync
 * (undefined before the first), and is read on every call, since the node replaces it; the local clock runs fast
 * or slow by up to `driftPpm` parts per million.
 */
export class IntervalClock {
  constructor(
    private readonly mono: () => number,
    private readonly lastSync: () => Sync | undefined,
    private readonly driftPpm: number,
  ) {}

  /** An interval that holds the true time: { -Infinity, Infinity } before the first sync; never wider than it need be. */
  now(): Interval {
    // TODO: the estimate of true time, and its error now, some local time after the sync.
    void this.mono;
    void this.lastSync;
    void this.driftPpm;
    throw new Error('TODO: IntervalClock.now');
  }
}

/**
 * A node of a key-value store whose timestamps respect real time. Versions live in the shared store (node STORE,
 * `StoreRequest`); the node learns the time from the time server (node TIME_SERVER, `TimeRequest`). Both answer
 * `ctx.rpc` through its reply, or a plain `ctx.send` with a message back.
 * Invariants to keep:
 * - now() always holds the true time (the time server's clock): measure with ctx.monoNow(), which never jumps;
 *   the wall clock (ctx.wallNow(), Date.now()) can be set by anyone;
 * - ask the time server at least every 2 s, and keep asking when it does not answer;
 * - a put that returns before another put starts, on any node, has the smaller timestamp;
 * - gets and puts of one key are linearizable: a get returns the value of the last put that returned before it
 *   was called, or a newer one, and gets never disagree on the order (see the lesson: reads need care too);
 * - every promise settles, within the time the lesson allows.
 */
export class CommitWaitKV implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private clock!: IntervalClock;
  // TODO: the current sync (what the clock's lastSync returns), and whatever else you need.

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // TODO: build the clock (ctx.monoNow, your sync, DRIFT_PPM), start syncing, and keep syncing on a timer.
    throw new Error('TODO: CommitWaitKV.init');
  }

  /** This node's current interval: what its timestamps and waits use. */
  now(): Interval {
    return this.clock.now();
  }

  /**
   * Stores `value` as a new version of `key` and resolves with its timestamp (on the time server's scale), once the
   * version is stored and no put that starts later, on any node, can get a smaller timestamp.
   */
  async put(key: string, value: string): Promise<number> {
    // TODO
    void this.ctx;
    throw new Error(`TODO: put(${JSON.stringify(key)}, ${JSON.stringify(value)})`);
  }

  /** The value of `key` (undefined if none), including every put that returned before this call. */
  async get(key: string): Promise<string | undefined> {
    // TODO
    throw new Error(`TODO: get(${JSON.stringify(key)})`);
  }

  onMessage(from: NodeId, msg: Msg): void {
    // TODO: answers to plain ctx.send requests arrive here (answers to ctx.rpc resolve its promise instead).
    void from;
    void msg;
  }

  onTimer(tag: string): void {
    // TODO
    void tag;
  }
}
