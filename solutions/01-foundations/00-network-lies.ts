// A reliable, ordered link over a network that loses, duplicates, delays and reorders messages.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';

/** What travels on the wire. `upTo` acknowledges every frame with seq <= upTo (a cumulative ack). */
export type Frame<P = unknown> =
  | { readonly kind: 'data'; readonly seq: number; readonly payload: P }
  | { readonly kind: 'ack'; readonly upTo: number };

/** How long the link waits for an ack before it sends again (the lesson allows up to 100 ms). */
const RETRANSMIT_MS = 30;

/** A frame waiting for its ack, and when it last went out (this node's monotonic clock). */
interface Waiting<P> {
  readonly payload: P;
  sentAt: number;
}

/**
 * Delivers every payload handed to `sendReliable(to, p)` to `to`'s `deliver` exactly once, in the order
 * it was sent, however the network misbehaves, as long as it eventually heals.
 */
export class ReliableLink<P> implements Proc<Frame<P>> {
  private ctx!: Ctx<Frame<P>>;
  // Sender side, per peer. Sequence numbers are per link: the receiver must see 1, 2, 3, ... with no gaps.
  private readonly lastSeq = new Map<NodeId, number>();
  private readonly unacked = new Map<NodeId, Map<number, Waiting<P>>>();
  private readonly timers = new Map<NodeId, number>();
  // Receiver side, per peer: everything up to `delivered` went to the application, in order.
  private readonly delivered = new Map<NodeId, number>();
  private readonly early = new Map<NodeId, Map<number, P>>();

  constructor(private readonly deliver: (from: NodeId, p: P) => void) {}

  init(ctx: Ctx<Frame<P>>): void {
    this.ctx = ctx;
  }

  sendReliable(to: NodeId, p: P): void {
    const seq = (this.lastSeq.get(to) ?? 0) + 1;
    this.lastSeq.set(to, seq);
    // Keep the payload until the peer acknowledges it: the first copy may never arrive.
    this.pending(to).set(seq, { payload: p, sentAt: this.ctx.monoNow() });
    this.ctx.send(to, { kind: 'data', seq, payload: p });
    this.arm(to);
  }

  onMessage(from: NodeId, frame: Frame<P>): void {
    if (frame.kind === 'ack') {
      const pending = this.pending(from);
      let moved = false;
      for (const seq of pending.keys()) {
        if (seq <= frame.upTo) {
          pending.delete(seq);
          moved = true;
        }
      }
      // Nothing left to resend: stop the timer, so an idle link goes quiet.
      if (pending.size === 0) this.disarm(from);
      // The ack moved forward but stopped short: the peer now waits for the next frame. If that one went
      // out longer than a retransmit interval ago, it was most likely lost: resend it now rather than at
      // the next tick. After a partition heals, this recovers a backlog at one round trip per lost frame.
      // Only an ack that moves counts (one frame per ack, like TCP's partial acks): a duplicate ack says
      // nothing new, and answering every ack with the backlog is a storm.
      else if (moved) this.resendOldest(from, RETRANSMIT_MS);
      return;
    }
    const done = this.delivered.get(from) ?? 0;
    if (frame.seq <= done) {
      // Already delivered: a duplicate, or a retransmission whose ack was lost. Never deliver it again
      // (and compare with <=, not ===: an old duplicate can arrive long after newer frames).
    } else if (frame.seq > done + 1) {
      // A gap: an earlier frame is late or lost. Hold this one until the gap fills (the reorder buffer).
      this.buffer(from).set(frame.seq, frame.payload);
    } else {
      // The next one in order: deliver it, then whatever was waiting behind it.
      this.deliver(from, frame.payload);
      const buf = this.buffer(from);
      let next = frame.seq + 1;
      while (buf.has(next)) {
        const p = buf.get(next) as P;
        buf.delete(next);
        this.deliver(from, p);
        next++;
      }
      this.delivered.set(from, next - 1);
    }
    // Acknowledge what was delivered in order, not what arrived: the sender may forget only those frames.
    // Ack duplicates too: our earlier ack may have been lost.
    this.ctx.send(from, { kind: 'ack', upTo: this.delivered.get(from) ?? 0 });
  }

  onTimer(tag: string): void {
    const peer = tag.slice('retransmit:'.length);
    this.timers.delete(peer);
    // Re-arm after every retry: a retransmission can be lost too.
    if (this.resendOldest(peer, 0)) this.arm(peer);
  }

  /**
   * Resends the oldest unacknowledged frame, if it last went out at least `olderThan` ms ago; false when
   * nothing waits. Only the oldest (a Map iterates in insertion order, so in seq order): the cumulative
   * ack says the peer lacks exactly that one (or its ack was lost), and the frames behind it wait in the
   * peer's reorder buffer until it arrives. Resending the whole backlog on every tick would multiply the
   * traffic by the backlog while the peer is cut off: a retransmission storm.
   */
  private resendOldest(peer: NodeId, olderThan: number): boolean {
    const oldest = this.pending(peer).entries().next();
    if (oldest.done === true) return false;
    const [seq, w] = oldest.value;
    const now = this.ctx.monoNow();
    if (now - w.sentAt >= olderThan) {
      w.sentAt = now;
      this.ctx.send(peer, { kind: 'data', seq, payload: w.payload });
    }
    return true;
  }

  private arm(peer: NodeId): void {
    if (!this.timers.has(peer)) this.timers.set(peer, this.ctx.setTimer(RETRANSMIT_MS, `retransmit:${peer}`));
  }

  private disarm(peer: NodeId): void {
    const t = this.timers.get(peer);
    if (t !== undefined) this.ctx.cancelTimer(t);
    this.timers.delete(peer);
  }

  private pending(peer: NodeId): Map<number, Waiting<P>> {
    let m = this.unacked.get(peer);
    if (m === undefined) this.unacked.set(peer, (m = new Map()));
    return m;
  }

  private buffer(peer: NodeId): Map<number, P> {
    let m = this.early.get(peer);
    if (m === undefined) this.early.set(peer, (m = new Map()));
    return m;
  }
}
