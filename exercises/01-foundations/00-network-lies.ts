// A reliable, ordered link over a network that loses, duplicates, delays and reorders messages.
// Read the lesson first: `npx dlab lesson 01-foundations/00-network-lies`.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';

/** What travels on the wire. `upTo` acknowledges every frame with seq <= upTo (a cumulative ack). */
export type Frame<P = unknown> =
  | { readonly kind: 'data'; readonly seq: number; readonly payload: P }
  | { readonly kind: 'ack'; readonly upTo: number };

/** How long the link waits for an ack before it sends again (the lesson allows up to 100 ms). */
const RETRANSMIT_MS = 30;

/**
 * Delivers every payload handed to `sendReliable(to, p)` to `to`'s `deliver` exactly once, in the order
 * it was sent, however the network misbehaves, as long as it eventually heals.
 *
 * The rules the grader measures (the lesson has them all):
 * - payloads are opaque: '', 0, null, undefined and the same value twice in a row are ordinary payloads;
 * - while a peer has not acknowledged everything, send it something at least every 100 ms;
 * - no storm: every frame to a peer is paid for by a payload handed over for it (once each), by a frame
 *   received from it in the last 100 ms, or from an allowance of 8 frames per 100 ms;
 * - on a perfect network a payload is delivered within 10 ms of its hand-over, and an idle link is quiet.
 */
export class ReliableLink<P> implements Proc<Frame<P>> {
  private ctx!: Ctx<Frame<P>>;
  // TODO: the state you need. Per peer, on the sending side: the last sequence number used and the
  // frames not yet acknowledged (and whether a retransmit timer is running). Per peer, on the receiving
  // side: how far you have delivered in order, and the frames that arrived early.

  constructor(private readonly deliver: (from: NodeId, p: P) => void) {}

  init(ctx: Ctx<Frame<P>>): void {
    this.ctx = ctx;
  }

  sendReliable(to: NodeId, p: P): void {
    // TODO: number the payload (1, 2, 3, ... per peer), keep it until it is acknowledged, send a data
    // frame, and make sure a retransmit timer (ctx.setTimer(RETRANSMIT_MS, tag)) is running for `to`.
    void to;
    void p;
  }

  onMessage(from: NodeId, frame: Frame<P>): void {
    // TODO: an ack lets you forget every frame up to `upTo` (and stop the timer when nothing is left).
    // A data frame: deliver it only if it is the next one in order, then any early frames behind it;
    // hold a frame that arrives after a gap; never deliver a frame twice. Always answer with a
    // cumulative ack of what you have delivered in order.
    void from;
    void frame;
    void this.deliver;
  }

  onTimer(tag: string): void {
    // TODO: resend to the peer named in `tag` (not the whole backlog: see the rules above), and arm the
    // timer again while something is still unacknowledged.
    void tag;
    void RETRANSMIT_MS;
    void this.ctx;
  }
}
