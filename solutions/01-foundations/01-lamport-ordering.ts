// Lamport clocks: one replay order for events stored on several nodes, consistent with causality, without wall clocks.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';
import { ReliableLink, type Frame } from '@solutions/01-foundations/00-network-lies';

/** A Lamport timestamp: a counter, and the node that issued it (which breaks ties between equal counters). */
export interface Ts {
  readonly c: number;
  readonly node: NodeId;
}

/** The total order on timestamps: by counter, then by node id (compared as plain strings, with `<`). */
export function compareTs(a: Ts, b: Ts): -1 | 0 | 1 {
  if (a.c !== b.c) return a.c < b.c ? -1 : 1;
  // Equal counters mean "neither happened before the other" (concurrent); the node id only makes the
  // order total, so that every node sorts the same events the same way.
  if (a.node !== b.node) return a.node < b.node ? -1 : 1;
  return 0;
}

/** One node's Lamport clock. Every timestamp it returns is greater than every one it returned or saw before. */
export class LamportClock {
  private c = 0;

  constructor(private readonly node: NodeId) {}

  /** A local event: count it. */
  tick(): Ts {
    this.c += 1;
    return { c: this.c, node: this.node };
  }

  /** Sending a message is an event too; the timestamp travels with the message. */
  send(): Ts {
    return this.tick();
  }

  /** Receiving `r`: jump past it, then count the receive. */
  recv(r: Ts): Ts {
    // max: never go back (our own earlier events must stay earlier). +1: the receive comes after the send,
    // so it must get a strictly greater counter, not an equal one.
    this.c = Math.max(this.c, r.c) + 1;
    return { c: this.c, node: this.node };
  }
}

/** What a client asks a node to store. `id` is unique. */
export interface ClientEvent {
  readonly id: string;
  readonly client: string;
  readonly body: string;
}

/** An event as stored: with the timestamp its node gave it. */
export interface StoredEvent {
  readonly ts: Ts;
  readonly event: ClientEvent;
}

/** What the nodes tell each other (through a ReliableLink, so each message arrives once and in order). */
export type Msg =
  | { readonly kind: 'event'; readonly stored: StoredEvent }
  | { readonly kind: 'clock'; readonly ts: Ts };

/**
 * How often a node advertises its clock to every peer (the lesson allows up to 50 ms: on a calm network
 * every event must be stable at every node within 60 ms of its append).
 */
const HEARTBEAT_MS = 40;

/**
 * A node of a replicated event store. Clients append events at any node; every node keeps every event,
 * and all nodes replay them in the same order, one that respects causality. `stableReplay()` is the part
 * of that order that can no longer change.
 */
export class EventStoreNode implements Proc<Frame<Msg>> {
  private ctx!: Ctx<Frame<Msg>>;
  private clock!: LamportClock;
  // Per-peer FIFO, exactly-once delivery from the warm-up exercise: the stability rule below relies on FIFO.
  private readonly link = new ReliableLink<Msg>((from, m) => this.deliver(from, m));
  /** Every event this node knows, sorted by compareTs. */
  private readonly log: StoredEvent[] = [];
  /** The latest timestamp each peer sent us. Its future messages all carry greater ones. */
  private readonly heard = new Map<NodeId, Ts>();
  /** How many events of `log` stableReplay() has already emitted: they can never move again. */
  private stable = 0;

  init(ctx: Ctx<Frame<Msg>>): void {
    this.ctx = ctx;
    this.clock = new LamportClock(ctx.id);
    this.link.init(ctx);
    ctx.setTimer(HEARTBEAT_MS, 'heartbeat');
  }

  onMessage(from: NodeId, frame: Frame<Msg>): void {
    this.link.onMessage(from, frame);
  }

  onTimer(tag: string): void {
    if (tag !== 'heartbeat') return this.link.onTimer(tag);
    // Advertise the clock even when idle: a peer can only call an event stable once it has heard a
    // greater timestamp from everyone, and a quiet node would otherwise hold everyone's replay back.
    const ts = this.clock.send();
    for (const peer of this.ctx.peers) this.link.sendReliable(peer, { kind: 'clock', ts });
    this.ctx.setTimer(HEARTBEAT_MS, 'heartbeat');
  }

  /** Stores a client's event and returns its timestamp. `clientCtx`: the last timestamp that client saw. */
  append(event: ClientEvent, clientCtx?: Ts): Ts {
    // The client may have appended at another node a moment ago: treat its context like a received
    // message, so this event is ordered after everything the client has already seen.
    const ts = clientCtx === undefined ? this.clock.tick() : this.clock.recv(clientCtx);
    const stored: StoredEvent = { ts, event };
    this.insert(stored);
    for (const peer of this.ctx.peers) this.link.sendReliable(peer, { kind: 'event', stored });
    return ts;
  }

  /** Every event this node knows, in timestamp order. After the network heals, the same on every node. */
  replay(): StoredEvent[] {
    return [...this.log];
  }

  /** The prefix of replay() that can no longer change: it only ever grows at its end. */
  stableReplay(): StoredEvent[] {
    // Stable: below the latest timestamp heard from every peer. Links are FIFO and clocks only grow, so
    // nothing a peer sends from now on can sort before that (and our own future events sort after
    // everything we have seen).
    if (this.heard.size === this.ctx.peers.length) {
      let bound: Ts | undefined;
      for (const ts of this.heard.values()) if (bound === undefined || compareTs(ts, bound) < 0) bound = ts;
      while (this.stable < this.log.length && compareTs((this.log[this.stable] as StoredEvent).ts, bound as Ts) < 0) this.stable++;
    }
    return this.log.slice(0, this.stable);
  }

  private deliver(from: NodeId, m: Msg): void {
    const ts = m.kind === 'event' ? m.stored.ts : m.ts;
    // Every receive moves the clock past the sender's timestamp: what we do next happened after it.
    this.clock.recv(ts);
    this.heard.set(from, ts);
    if (m.kind === 'event') this.insert(m.stored);
  }

  private insert(e: StoredEvent): void {
    // Binary search for the place: events mostly arrive nearly in order, but not always.
    let lo = 0;
    let hi = this.log.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (compareTs((this.log[mid] as StoredEvent).ts, e.ts) < 0) lo = mid + 1;
      else hi = mid;
    }
    this.log.splice(lo, 0, e);
  }
}
