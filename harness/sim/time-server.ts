// A provided time server node (NTP's on-wire exchange, simplified): it answers with its receive and transmit times.
import type { Ctx, NodeId, Proc } from './types.ts';

/**
 * A client's request. `t0` is the client's clock when it sent the request; the server echoes it (NTP's
 * origin timestamp), so the client can tell which request a reply answers. `id` is echoed too, if present.
 */
export interface TimeRequest {
  readonly kind: 'time?';
  readonly t0: number;
  readonly id?: number;
}

/** The server's answer: `t1` its clock when the request arrived, `t2` its clock when the answer left (t2 ≥ t1). */
export interface TimeReply {
  readonly kind: 'time!';
  readonly t0: number;
  readonly t1: number;
  readonly t2: number;
  readonly id?: number;
}

export interface TimeServerOptions {
  /** The server holds each request for a uniform random time in [0, holdMaxMs] before answering (default 2). */
  readonly holdMaxMs?: number;
  /** Called for every request that arrives (who sent it, and when by the server's clock), for checks and metrics. */
  readonly onRequest?: (from: NodeId, t1: number) => void;
  /** Called when an answer leaves (to whom, t1, t2). */
  readonly onAnswer?: (to: NodeId, t1: number, t2: number) => void;
  /**
   * Called with what is wrong when a message is not a `TimeRequest`; the server then ignores it. Without it, the
   * server throws (the run fails with a stack trace): a hidden test passes a handler to fail with one line.
   */
  readonly onBadRequest?: (from: NodeId, why: string) => void;
}

/**
 * The time server: its clock is `ctx.wallNow()`, true time as long as no fault touches its node. It answers
 * every `TimeRequest`, whether sent with `ctx.rpc` (through `reply`) or with `ctx.send` (a `TimeReply` sent back),
 * after a random hold, so that t2 − t1 is not always 0. Anything else it receives is a protocol error, and
 * throws (or goes to `onBadRequest`): the run fails naming what arrived.
 */
export class TimeServer implements Proc<TimeRequest | TimeReply> {
  private ctx!: Ctx<TimeRequest | TimeReply>;
  private readonly holdMaxMs: number;
  /** Answers waiting for their hold to end, by timer tag. */
  private readonly held = new Map<string, () => void>();
  private seq = 0;

  constructor(private readonly options: TimeServerOptions = {}) {
    this.holdMaxMs = options.holdMaxMs ?? 2;
  }

  init(ctx: Ctx<TimeRequest | TimeReply>): void {
    this.ctx = ctx;
  }

  onMessage(from: NodeId, msg: TimeRequest | TimeReply, reply?: (res: TimeRequest | TimeReply) => void): void {
    const m = msg as Partial<TimeRequest> | null;
    if (typeof m !== 'object' || m === null || m.kind !== 'time?' || typeof m.t0 !== 'number') {
      const why = `the time server got ${JSON.stringify(msg)} from ${from}: it answers only { kind: 'time?', t0: number } (t0: the sender's clock)`;
      if (this.options.onBadRequest === undefined) throw new Error(why);
      this.options.onBadRequest(from, why);
      return;
    }
    const t0 = m.t0;
    const id = m.id;
    const t1 = this.ctx.wallNow();
    this.options.onRequest?.(from, t1);
    const hold = this.ctx.rand() * this.holdMaxMs;
    const answer = (): void => {
      const t2 = this.ctx.wallNow();
      const res: TimeReply = id === undefined ? { kind: 'time!', t0, t1, t2 } : { kind: 'time!', t0, t1, t2, id };
      this.options.onAnswer?.(from, t1, t2);
      if (reply !== undefined) reply(res);
      else this.ctx.send(from, res);
    };
    if (hold <= 0) return answer();
    // A timer, not ctx.sleep: a node that never awaits costs the simulator less.
    this.held.set(String(++this.seq), answer);
    this.ctx.setTimer(hold, String(this.seq));
  }

  onTimer(tag: string): void {
    const answer = this.held.get(tag);
    this.held.delete(tag);
    answer?.();
  }
}
