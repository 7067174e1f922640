// Causal broadcast: every correct node delivers every message once, and never before a message that could have caused it.
// Read the lesson first: `npx dlab lesson 03-time-and-causality/02-causal-broadcast`.
import type { Ctx, NodeId, Proc, TimerId } from '@dlab/harness/sim';
// Vector clocks from 01-vector-clocks (the reference; point the import at your own if you like).
import { vcMerge, type VC } from '@solutions/03-time-and-causality/01-vector-clocks';

/**
 * One broadcast message. `vc[origin]` is its number among its origin's broadcasts (1, 2, 3, ...); every other
 * entry says how many messages from that node the origin had delivered when it broadcast this one: the messages
 * this one may depend on. A missing entry is 0.
 */
export interface Bcast<P = unknown> {
  readonly origin: NodeId;
  readonly vc: VC;
  readonly payload: P;
}

/**
 * What travels on the wire (your own design: the grader never reads it). `data` carries one or more broadcast
 * messages, first copies or resent ones; `ack` says how many messages from each origin the sender has delivered.
 */
export type Msg<P = unknown> =
  | { readonly kind: 'data'; readonly msgs: readonly Bcast<P>[] }
  | { readonly kind: 'ack'; readonly delivered: VC };

/** How long a node waits before it resends what a peer has not acknowledged (a heal leaves 1000 ms to catch up). */
const RETRANSMIT_MS = 30;

/**
 * Delivers every message any correct node delivers to every correct node, exactly once, in causal order: if
 * broadcast(m1) happened before broadcast(m2), every node delivers m1 first. It runs directly on the network
 * (ctx.send), which loses, duplicates and reorders frames; a crashed node never comes back.
 *
 * The contract the grader checks (the lesson has every number):
 * - `deliver(origin, p)` is called once per message at every correct node, the origin included (a node delivers
 *   its own broadcasts, at once); payloads are opaque: '', 0, null, undefined and repeated values are ordinary;
 * - causal order: a message is delivered only after everything its origin had delivered (or broadcast) before
 *   broadcasting it;
 * - if any correct node delivers a message, every correct node does, even if its origin crashed right after
 *   sending it to only some nodes;
 * - `pending()` is the number of received messages waiting in the hold-back queue; after the network heals and
 *   everything is delivered, it is 0 (but for messages that wait for one no correct node has: see the lesson);
 * - send and deliver without waiting for a timer: on a network that loses and delays nothing, every node delivers
 *   every message within 10 ms of its broadcast;
 * - no retransmission storm: a peer that is cut off, or dead, costs a few frames per 100 ms, not one per message it
 *   lacks; once everything is acknowledged, the nodes go quiet;
 * - the grader never calls `broadcast` from inside `deliver`.
 */
export class CausalBroadcast<P> implements Proc<Msg<P>> {
  private ctx!: Ctx<Msg<P>>;
  // TODO: the state you need: what this node has delivered from each origin, the hold-back queue, what you must
  // keep to resend, and what each peer has acknowledged.
  private timer: TimerId | undefined;

  constructor(private readonly deliver: (origin: NodeId, p: P) => void) {}

  init(ctx: Ctx<Msg<P>>): void {
    this.ctx = ctx;
  }

  broadcast(p: P): void {
    // TODO: stamp the message, deliver it here, and send it to every peer.
    void p;
    void this.deliver;
    throw new Error('TODO: broadcast');
  }

  /** How many received messages wait in the hold-back queue. */
  pending(): number {
    // TODO
    throw new Error('TODO: pending');
  }

  onMessage(from: NodeId, msg: Msg<P>): void {
    // TODO: an ack tells you what `from` has delivered. Data: what is new to you goes to the hold-back queue
    // (and onwards: the origin may be gone); deliver whatever has become ready; acknowledge.
    void from;
    void msg;
    void vcMerge;
  }

  onTimer(tag: string): void {
    // TODO: resend what peers have not acknowledged (ctx.setTimer(RETRANSMIT_MS, tag) arms the timer).
    void tag;
    void RETRANSMIT_MS;
    void this.ctx;
    void this.timer;
  }
}
