// Bounded clock uncertainty and commit wait: NTP's offset estimate, a clock that answers with an interval, and a store whose timestamps respect real time.
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

export type Msg = TimeRequest | TimeReply | StoreRequest | StoreReply;

/** A sync round asks the time server this many times, ... */
const BURST = 2;
/** ... every SYNC_MS of the monotonic clock (the lesson asks for an exchange at least every 2 s): 1 request a second, */
const SYNC_MS = 2000;
/** ... and gives up on an answer after this long. */
const TIME_TIMEOUT_MS = 400;
/** A store request not answered in this long is sent again (the store ignores a version it already has). */
const STORE_TIMEOUT_MS = 1000;

const delayOf = (s: Sample): number => s.t3 - s.t0 - (s.t2 - s.t1);

/**
 * RFC 5905's on-wire calculation on the sample with the smallest round-trip delay. The request took d1 and the
 * answer d2 (unknown, but d1 + d2 = delay), so the offset formula is off by (d1 − d2)/2, at most delay/2.
 */
export function estimateOffset(samples: readonly Sample[]): Estimate {
  if (samples.length === 0) throw new RangeError('estimateOffset needs at least one sample');
  let best = samples[0]!;
  let bestDelay = delayOf(best);
  for (const s of samples) {
    const d = delayOf(s);
    if (d < bestDelay) {
      best = s;
      bestDelay = d;
    }
  }
  // The delay excludes the time the server held the request (t2 − t1): that part of the round trip is known.
  const offset = (best.t1 - best.t0 + (best.t2 - best.t3)) / 2;
  return { offset, error: Math.max(0, bestDelay) / 2 };
}

/**
 * A clock that answers with an interval. Between syncs the local clock may run fast or slow by up to
 * driftPpm, so the error grows by driftPpm/10⁶ of every local millisecond since the sync's `atMono`.
 */
export class IntervalClock {
  constructor(
    private readonly mono: () => number,
    private readonly lastSync: () => Sync | undefined,
    private readonly driftPpm: number,
  ) {}

  now(): Interval {
    // Read the sync every time: the node replaces it as new exchanges come back.
    const s = this.lastSync();
    if (s === undefined) return { earliest: -Infinity, latest: Infinity };
    const m = this.mono();
    const error = s.error + (this.driftPpm / 1e6) * Math.abs(m - s.atMono);
    const t = m + s.offset;
    return { earliest: t - error, latest: t + error };
  }
}

/**
 * A node of a key-value store with TrueTime-style timestamps. Versions live in the shared store; the node gives
 * each put the timestamp now().latest, and answers only once now().earliest has passed it (commit wait), so a
 * put that finished before another began has the smaller timestamp, whichever nodes ran them.
 */
export class CommitWaitKV implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private clock!: IntervalClock;
  private sync: Sync | undefined;
  /** Puts and gets that arrived before the first sync: the interval was still unbounded. */
  private readonly waitingForSync: (() => void)[] = [];

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // The monotonic clock, never the wall clock: the wall clock can be set (and stepped) by anyone.
    this.clock = new IntervalClock(() => ctx.monoNow(), () => this.sync, DRIFT_PPM);
    this.syncRound();
    ctx.setTimer(SYNC_MS, 'sync');
  }

  /** The interval this node's timestamps and waits use. */
  now(): Interval {
    return this.clock.now();
  }

  /** Resolves with the put's timestamp once the version is stored and the timestamp is certainly in the past. */
  async put(key: string, value: string): Promise<number> {
    await this.synced();
    // latest: no true time at or after the call can be later, so every put that finished before this one started
    // has a smaller timestamp (it waited until its own timestamp had passed).
    const ts = this.now().latest;
    // Spanner overlaps the wait with the write; both must be done before the put is acknowledged.
    await Promise.all([this.storeCall({ kind: 'write', key, ts, value }), this.waitUntilPast(ts)]);
    return ts;
  }

  /** The value of the newest version at a timestamp no earlier than the call, read once that timestamp has passed. */
  async get(key: string): Promise<string | undefined> {
    await this.synced();
    const ts = this.now().latest;
    // Reading at `latest` sees every put that finished before the call. Waiting until it has passed means no put
    // that starts after this get returns can get a timestamp at or below it.
    await this.waitUntilPast(ts);
    const r = await this.storeCall({ kind: 'read', key, ts });
    return r.kind === 'version' && r.version !== null ? r.version.value : undefined;
  }

  onMessage(from: NodeId, msg: Msg): void {
    // Every answer this node waits for comes back through ctx.rpc, which resolves its promise instead.
    void from;
    void msg;
  }

  onTimer(tag: string): void {
    if (tag !== 'sync') return;
    this.syncRound();
    this.ctx.setTimer(SYNC_MS, 'sync');
  }

  private synced(): Promise<void> {
    if (this.sync !== undefined) return Promise.resolve();
    return new Promise((resolve) => this.waitingForSync.push(resolve));
  }

  /** Sleeps on the monotonic clock until now().earliest > ts. */
  private async waitUntilPast(ts: number): Promise<void> {
    for (;;) {
      const { earliest } = this.now();
      if (earliest > ts) return;
      // earliest advances by (1 − ρ) per local ms while the sync stays; a new sync can move it either way, so look again.
      await this.ctx.sleep((ts - earliest) / (1 - DRIFT_PPM / 1e6) + 0.001);
    }
  }

  private async storeCall(req: StoreRequest): Promise<StoreReply> {
    for (;;) {
      const r = await this.ctx.rpc(STORE, req, { timeoutMs: STORE_TIMEOUT_MS });
      if (r.ok) return r.value as StoreReply;
    }
  }

  /** Asks the time server BURST times at once and keeps the best estimate: the new one, or the old one grown by drift. */
  private syncRound(): void {
    const exchanges: Promise<Sample | undefined>[] = [];
    for (let i = 0; i < BURST; i++) exchanges.push(this.exchange());
    void Promise.all(exchanges).then((got) => {
      const samples = got.filter((s): s is Sample => s !== undefined);
      if (samples.length === 0) return; // the server is unreachable: keep the old sync, whose error keeps growing
      const e = estimateOffset(samples);
      // Its error grows from the earliest t0 of the burst: no later than the exchange it came from.
      const next: Sync = { ...e, atMono: Math.min(...samples.map((s) => s.t0)) };
      if (this.sync === undefined || this.errorAt(next) <= this.errorAt(this.sync)) this.sync = next;
      for (const wake of this.waitingForSync.splice(0)) wake();
    });
  }

  private errorAt(s: Sync): number {
    return s.error + (DRIFT_PPM / 1e6) * Math.abs(this.ctx.monoNow() - s.atMono);
  }

  private async exchange(): Promise<Sample | undefined> {
    const t0 = this.ctx.monoNow();
    const r = await this.ctx.rpc(TIME_SERVER, { kind: 'time?', t0 }, { timeoutMs: TIME_TIMEOUT_MS });
    const t3 = this.ctx.monoNow();
    if (!r.ok || r.value.kind !== 'time!') return undefined;
    return { t0, t1: r.value.t1, t2: r.value.t2, t3 };
  }
}
