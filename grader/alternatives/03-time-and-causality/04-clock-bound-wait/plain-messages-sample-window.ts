// Another correct design for 03-time-and-causality/04-clock-bound-wait: plain messages matched by id (no ctx.rpc), one
// time request every 500 ms, the last six samples each aged from its own t0 and intersected, a put that writes and then
// waits, a get that reads and waits at once, waits driven by setTimer. The grader must accept it.
import type { Ctx, NodeId, Proc, TimeReply, TimeRequest } from '@dlab/harness/sim';

export interface Sample { readonly t0: number; readonly t1: number; readonly t2: number; readonly t3: number }
export interface Estimate { readonly offset: number; readonly error: number }
export interface Sync { readonly offset: number; readonly error: number; readonly atMono: number }
export interface Interval { readonly earliest: number; readonly latest: number }
export const TIME_SERVER = 'ntp';
export const STORE = 'store';
export const DRIFT_PPM = 150;
export type StoreRequest =
  | { readonly kind: 'write'; readonly key: string; readonly ts: number; readonly value: string; readonly id?: number }
  | { readonly kind: 'read'; readonly key: string; readonly ts: number; readonly id?: number };
export type StoreReply =
  | { readonly kind: 'written'; readonly key: string; readonly ts: number; readonly id?: number }
  | { readonly kind: 'version'; readonly key: string; readonly ts: number; readonly version: { readonly ts: number; readonly value: string } | null; readonly id?: number };
export type Msg = TimeRequest | TimeReply | StoreRequest | StoreReply;

/** Intersects every sample's interval (all samples are taken as instantaneous): never wider than the min-delay one. */
export function estimateOffset(samples: readonly Sample[]): Estimate {
  let lo = -Infinity;
  let hi = Infinity;
  for (const s of samples) {
    const d = Math.max(0, s.t3 - s.t0 - (s.t2 - s.t1));
    const o = (s.t1 + s.t2 - s.t0 - s.t3) / 2;
    lo = Math.max(lo, o - d / 2);
    hi = Math.min(hi, o + d / 2);
  }
  if (lo > hi) {
    // Inconsistent samples cannot happen with a true server; fall back to the min-delay one.
    let best = samples[0]!;
    for (const s of samples) if (s.t3 - s.t0 - (s.t2 - s.t1) < best.t3 - best.t0 - (best.t2 - best.t1)) best = s;
    const d = best.t3 - best.t0 - (best.t2 - best.t1);
    return { offset: (best.t1 + best.t2 - best.t0 - best.t3) / 2, error: d / 2 };
  }
  return { offset: (lo + hi) / 2, error: (hi - lo) / 2 };
}

export class IntervalClock {
  private readonly rho: number;
  constructor(
    private readonly mono: () => number,
    private readonly lastSync: () => Sync | undefined,
    driftPpm: number,
  ) {
    this.rho = driftPpm / 1e6;
  }
  now(): Interval {
    const s = this.lastSync();
    if (s === undefined) return { earliest: -Infinity, latest: Infinity };
    const m = this.mono();
    // The exact bound: L local ms are at most L/(1−ρ) true ms.
    const grow = (this.rho * Math.abs(m - s.atMono)) / (1 - this.rho);
    return { earliest: m + s.offset - s.error - grow, latest: m + s.offset + s.error + grow };
  }
}

interface Kept { readonly s: Sample; readonly offset: number; readonly error: number }

export class CommitWaitKV implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private clock!: IntervalClock;
  private window: Kept[] = [];
  private current: Sync | undefined;
  private nextId = 1;
  private readonly sent = new Map<number, number>(); // id -> t0
  private readonly waiting = new Map<number, (r: StoreReply) => void>();
  private readonly timers = new Map<string, () => void>();
  private readonly syncWaiters: (() => void)[] = [];
  private timerSeq = 0;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    this.clock = new IntervalClock(() => ctx.monoNow(), () => this.current, DRIFT_PPM);
    this.ask();
  }

  now(): Interval {
    return this.clock.now();
  }

  async put(key: string, value: string): Promise<number> {
    await this.whenSynced();
    const ts = this.now().latest;
    await this.store({ kind: 'write', key, ts, value });
    await this.until(ts);
    return ts;
  }

  async get(key: string): Promise<string | undefined> {
    await this.whenSynced();
    const ts = this.now().latest;
    const [r] = await Promise.all([this.store({ kind: 'read', key, ts }), this.until(ts)]);
    return r.kind === 'version' ? (r.version?.value ?? undefined) : undefined;
  }

  onMessage(from: NodeId, msg: Msg): void {
    if (msg.kind === 'time!' && from === TIME_SERVER) {
      const id = msg.id;
      if (id === undefined || !this.sent.has(id)) return;
      const t0 = this.sent.get(id)!;
      this.sent.delete(id);
      if (t0 !== msg.t0) return;
      const s: Sample = { t0, t1: msg.t1, t2: msg.t2, t3: this.ctx.monoNow() };
      const e = estimateOffset([s]);
      this.window.push({ s, ...e });
      if (this.window.length > 6) this.window.shift();
      this.recompute();
      for (const w of this.syncWaiters.splice(0)) w();
      return;
    }
    if ((msg.kind === 'written' || msg.kind === 'version') && msg.id !== undefined) {
      const w = this.waiting.get(msg.id);
      this.waiting.delete(msg.id);
      w?.(msg);
    }
  }

  onTimer(tag: string): void {
    if (tag === 'ask') return this.ask();
    const f = this.timers.get(tag);
    this.timers.delete(tag);
    f?.();
  }

  /** Intersects every kept sample's interval, each grown from its own t0, at the current mono reading. */
  private recompute(): void {
    const m = this.ctx.monoNow();
    const rho = DRIFT_PPM / 1e6;
    let lo = -Infinity;
    let hi = Infinity;
    for (const k of this.window) {
      const grow = (rho * (m - k.s.t0)) / (1 - rho);
      lo = Math.max(lo, k.offset - k.error - grow);
      hi = Math.min(hi, k.offset + k.error + grow);
    }
    if (lo > hi) return;
    this.current = { offset: (lo + hi) / 2, error: (hi - lo) / 2, atMono: m };
  }

  private ask(): void {
    const id = this.nextId++;
    const t0 = this.ctx.monoNow();
    this.sent.set(id, t0);
    if (this.sent.size > 20) this.sent.delete(this.sent.keys().next().value!);
    this.ctx.send(TIME_SERVER, { kind: 'time?', t0, id });
    this.ctx.setTimer(500, 'ask');
  }

  private whenSynced(): Promise<void> {
    if (this.current !== undefined) return Promise.resolve();
    return new Promise((r) => this.syncWaiters.push(r));
  }

  private until(ts: number): Promise<void> {
    return new Promise((resolve) => {
      const check = (): void => {
        const e = this.now().earliest;
        if (e > ts) return resolve();
        const tag = `w${++this.timerSeq}`;
        this.timers.set(tag, check);
        this.ctx.setTimer(Math.max(0.01, (ts - e) * 1.001), tag);
      };
      check();
    });
  }

  private store(req: StoreRequest): Promise<StoreReply> {
    return new Promise((resolve) => {
      const attempt = (): void => {
        const id = this.nextId++;
        let done = false;
        this.waiting.set(id, (r) => {
          done = true;
          resolve(r);
        });
        this.ctx.send(STORE, { ...req, id });
        const tag = `s${++this.timerSeq}`;
        this.timers.set(tag, () => {
          if (done) return;
          this.waiting.delete(id);
          attempt();
        });
        this.ctx.setTimer(1500, tag);
      };
      attempt();
    });
  }
}
