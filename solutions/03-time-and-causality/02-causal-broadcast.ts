// Causal broadcast: every correct node delivers every message once, and never before a message that could have caused it.
import type { Ctx, NodeId, Proc, TimerId } from '@dlab/harness/sim';
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
/** At most this many messages in one resent frame: a peer that is cut off for long must not cost ever bigger frames. */
const BATCH = 8;
/** A peer that answers nothing gets resends less and less often, down to one per this (as TCP backs off). */
const MAX_BACKOFF_MS = 240;

const entry = (v: VC, node: NodeId): number => v[node] ?? 0;

/**
 * Delivers every message any correct node delivers to every correct node, exactly once, in causal order: if
 * broadcast(m1) happened before broadcast(m2), every node delivers m1 first. Survives loss, duplication,
 * reordering, partitions that heal, and the crash of any node, the origin of a message included.
 */
export class CausalBroadcast<P> implements Proc<Msg<P>> {
  private ctx!: Ctx<Msg<P>>;
  /** How many messages from each origin this node has delivered: always that origin's first ones, in order. */
  private readonly delivered: Record<NodeId, number> = {};
  /** Every message delivered here, in the order delivered: kept to resend. */
  private readonly log: Bcast<P>[] = [];
  /** The hold-back queue: received, not yet deliverable. */
  private readonly held: Bcast<P>[] = [];
  /** What each peer has acknowledged: how many messages from each origin it has delivered. */
  private readonly acked = new Map<NodeId, VC>();
  /** Per peer we have resent to: how long it waits for the next resend, and when (monoNow) that is due. */
  private readonly backoff = new Map<NodeId, { wait: number; due: number }>();
  /** The one retransmit timer, and when (monoNow) it fires. */
  private timer: { id: TimerId; at: number } | undefined;

  constructor(private readonly deliver: (origin: NodeId, p: P) => void) {}

  init(ctx: Ctx<Msg<P>>): void {
    this.ctx = ctx;
  }

  broadcast(p: P): void {
    const me = this.ctx.id;
    // A copy of what we delivered, not the live record: this message depends on those, and on nothing we
    // deliver later (a shared object would grow new dependencies after the fact).
    const m: Bcast<P> = { origin: me, vc: { ...this.delivered, [me]: entry(this.delivered, me) + 1 }, payload: p };
    // Our own message is deliverable at once: it depends only on what we have delivered.
    this.apply(m);
    for (const peer of this.ctx.peers) this.ctx.send(peer, { kind: 'data', msgs: [m] });
  }

  /** How many received messages wait in the hold-back queue. */
  pending(): number {
    return this.held.length;
  }

  onMessage(from: NodeId, msg: Msg<P>): void {
    if (msg.kind === 'ack') {
      this.acked.set(from, vcMerge(this.acked.get(from) ?? {}, msg.delivered));
      // It answers: if we were backing off, resend what it still lacks at full speed again.
      if (this.backoff.delete(from)) this.arm(RETRANSMIT_MS);
      return;
    }
    const fresh: Bcast<P>[] = [];
    for (const m of msg.msgs) {
      if (this.seen(m)) continue; // a duplicate, a resend, or a copy relayed by another node
      this.held.push(m);
      fresh.push(m);
    }
    // Relay on first receipt, before delivering: if the origin crashed after reaching only us, we are the only
    // way the others get it. Not to the node it came from, nor to its origin: both have it.
    if (fresh.length > 0) {
      for (const peer of this.ctx.peers) {
        if (peer === from) continue;
        const out = fresh.filter((m) => m.origin !== peer);
        if (out.length > 0) this.ctx.send(peer, { kind: 'data', msgs: out });
      }
    }
    this.drain();
    // Acknowledge every data frame, duplicates too (our earlier ack may have been lost), with what we delivered:
    // a peer keeps resending a message until we say we delivered it, so nothing is forgotten while it waits here.
    this.ctx.send(from, { kind: 'ack', delivered: { ...this.delivered } });
  }

  onTimer(tag: string): void {
    if (tag !== 'retransmit') return;
    this.timer = undefined;
    const now = this.ctx.monoNow();
    let next = Infinity;
    for (const peer of this.ctx.peers) {
      const missing = this.missingAt(peer);
      if (missing.length === 0) {
        this.backoff.delete(peer);
        continue;
      }
      let b = this.backoff.get(peer) ?? { wait: RETRANSMIT_MS, due: now };
      // Due within the next millisecond counts as due: a timer set for a sliver of a millisecond could fire a
      // hair early (clock drift, rounding) and find it still in the future, again and again.
      if (b.due < now + 1) {
        // One frame per peer, whatever the backlog: a peer that is cut off costs a frame per resend, not one per
        // message it lacks (that would be a retransmission storm).
        this.ctx.send(peer, { kind: 'data', msgs: missing });
        // A peer that leaves our resends unanswered (cut off, or dead) waits twice as long for the next one, up
        // to MAX_BACKOFF_MS; an ack from it resets that.
        b = { wait: Math.min(2 * b.wait, MAX_BACKOFF_MS), due: now + b.wait };
        this.backoff.set(peer, b);
      }
      next = Math.min(next, b.due - now);
    }
    if (next < Infinity) this.arm(Math.max(1, next));
  }

  /** Delivered already, or waiting in the hold-back queue. */
  private seen(m: Bcast<P>): boolean {
    const k = entry(m.vc, m.origin);
    if (k <= entry(this.delivered, m.origin)) return true;
    return this.held.some((h) => h.origin === m.origin && entry(h.vc, h.origin) === k);
  }

  /** Causally ready: the next message from its origin, and everything it depends on is delivered here. */
  private deliverable(m: Bcast<P>): boolean {
    // Exactly the next one from its origin: `>=` would deliver it over a gap, and the gap could never be filled.
    if (entry(m.vc, m.origin) !== entry(this.delivered, m.origin) + 1) return false;
    // ... and every other dependency: this is what FIFO per sender alone misses.
    for (const node of Object.keys(m.vc)) {
      if (node !== m.origin && entry(m.vc, node) > entry(this.delivered, node)) return false;
    }
    return true;
  }

  /** Delivers whatever the hold-back queue allows, until nothing more is ready: one delivery can unblock others. */
  private drain(): void {
    for (let i = 0; i < this.held.length; ) {
      const m = this.held[i] as Bcast<P>;
      if (this.deliverable(m)) {
        this.held.splice(i, 1);
        this.apply(m);
        i = 0; // start over: this delivery may have made an earlier entry ready
      } else {
        i++;
      }
    }
  }

  private apply(m: Bcast<P>): void {
    // Count it before handing it over: everything the application does next (a broadcast) happens after it.
    this.delivered[m.origin] = entry(m.vc, m.origin);
    this.log.push(m);
    this.deliver(m.origin, m.payload);
    // We now owe it to every peer that has not acknowledged it: the timer resends until they all have.
    this.arm(RETRANSMIT_MS);
  }

  /**
   * The first BATCH messages we delivered that `peer` has not acknowledged (not its own: it has those). In our
   * delivery order, so that the peer can deliver all of them: everything one depends on comes before it.
   */
  private missingAt(peer: NodeId): Bcast<P>[] {
    const acked = this.acked.get(peer) ?? {};
    const out: Bcast<P>[] = [];
    for (const m of this.log) {
      if (m.origin === peer || entry(m.vc, m.origin) <= entry(acked, m.origin)) continue;
      out.push(m);
      if (out.length === BATCH) break;
    }
    return out;
  }

  /** Makes sure the timer fires within `ms`. */
  private arm(ms: number): void {
    const at = this.ctx.monoNow() + ms;
    if (this.timer !== undefined) {
      if (this.timer.at <= at) return;
      this.ctx.cancelTimer(this.timer.id);
    }
    this.timer = { id: this.ctx.setTimer(ms, 'retransmit'), at };
  }
}
