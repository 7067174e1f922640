// Lamport clocks: one replay order for events stored on several nodes, consistent with causality, without wall clocks.
// Read the lesson first: `npx dlab lesson 01-foundations/01-lamport-ordering`.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';
import { ReliableLink, type Frame } from '@solutions/01-foundations/00-network-lies';

/** A Lamport timestamp: a counter, and the node that issued it (which breaks ties between equal counters). */
export interface Ts {
  readonly c: number;
  readonly node: NodeId;
}

/** The total order on timestamps: by counter, then by node id (compared as plain strings, with `<`). */
export function compareTs(a: Ts, b: Ts): -1 | 0 | 1 {
  // TODO: -1 if a comes first, 1 if b does, 0 if they are the same timestamp.
  void a;
  void b;
  throw new Error('TODO: compareTs');
}

/** One node's Lamport clock. Every timestamp it returns is greater than every one it returned or saw before. */
export class LamportClock {
  // TODO: the clock's state.

  constructor(private readonly node: NodeId) {}

  /** A local event: count it. */
  tick(): Ts {
    // TODO
    void this.node;
    throw new Error('TODO: LamportClock.tick');
  }

  /** Sending a message is an event too; the timestamp travels with the message. */
  send(): Ts {
    // TODO
    throw new Error('TODO: LamportClock.send');
  }

  /** Receiving `r`: jump past it, then count the receive. */
  recv(r: Ts): Ts {
    // TODO: the result must be greater than r, and greater than everything this clock returned before.
    void r;
    throw new Error('TODO: LamportClock.recv');
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
  // The reliable link from 00-network-lies: every message you send with link.sendReliable(peer, msg)
  // reaches deliver() on the peer exactly once, in the order you sent it, whatever the network does.
  private readonly link = new ReliableLink<Msg>((from, m) => this.deliver(from, m));
  // TODO: the rest of the state: this node's LamportClock, the events it knows, what it has heard from
  // each peer.

  init(ctx: Ctx<Frame<Msg>>): void {
    this.ctx = ctx;
    this.link.init(ctx);
    // TODO: create the clock, and start advertising it: ctx.setTimer(HEARTBEAT_MS, 'heartbeat').
    void HEARTBEAT_MS;
  }

  onMessage(from: NodeId, frame: Frame<Msg>): void {
    this.link.onMessage(from, frame);
  }

  onTimer(tag: string): void {
    if (tag !== 'heartbeat') return this.link.onTimer(tag);
    // TODO: send every peer your clock ({ kind: 'clock', ts }), and set the timer again.
    void this.ctx;
  }

  /** Stores a client's event and returns its timestamp. `clientCtx`: the last timestamp that client saw. */
  append(event: ClientEvent, clientCtx?: Ts): Ts {
    // TODO: give the event a timestamp after everything this node (and this client) has seen, keep it,
    // and send it to every peer.
    void event;
    void clientCtx;
    throw new Error('TODO: append');
  }

  /** Every event this node knows, in timestamp order. After the network heals, the same on every node. */
  replay(): StoredEvent[] {
    // TODO
    throw new Error('TODO: replay');
  }

  /** The prefix of replay() that can no longer change: it only ever grows at its end. */
  stableReplay(): StoredEvent[] {
    // TODO: only the events that nothing still on its way can sort before.
    throw new Error('TODO: stableReplay');
  }

  private deliver(from: NodeId, m: Msg): void {
    // TODO: an event or a clock advert from a peer. Whatever it is, it carries a timestamp.
    void from;
    void m;
  }
}
