// Generation numbers and leases: followers fence off a stale leader, and the stale leader learns it was replaced.
// Read the lesson first: `npx dlab lesson 01-foundations/02-fencing-stale-leaders`.
import { decodeText, encodeText, type Ctx, type NodeId, type Proc, type TimerId } from '@dlab/harness/sim';

/** What a node says it is. Only `onElected` makes a node leader; anything else can only make it a follower. */
export type Role = 'leader' | 'follower';

/** The answer to `read()`: the value, or why this node may not answer. */
export type ReadResult =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly reason: 'not-leader' | 'no-lease' };

/** The messages of this design (change them if you like: the grader never reads them). Every one carries a generation. */
export type Msg =
  | { readonly kind: 'heartbeat'; readonly gen: number; readonly round: number }
  | { readonly kind: 'heartbeat-ok'; readonly gen: number; readonly round: number }
  | { readonly kind: 'replicate'; readonly gen: number; readonly id: number; readonly value: string }
  | { readonly kind: 'replicate-ok'; readonly gen: number; readonly id: number }
  /** "Your generation is over: I have seen `gen`." */
  | { readonly kind: 'reject'; readonly gen: number };

/** How often a leader sends heartbeats (the lesson allows up to 25 ms). */
const HEARTBEAT_MS = 20;
/** How long a majority's acknowledgement of a round lets the leader act, on its monotonic clock (at most 100 ms). */
const LEASE_MS = 100;
/** Where the highest generation seen is kept. */
const GEN_FILE = 'max-gen';

/**
 * A member of a leader–followers cluster whose leader is chosen by an outside oracle. Leader messages
 * carry the generation; followers refuse any generation older than the newest they have seen and say
 * so; a leader that hears of a newer generation steps down; and a leader acts (acknowledges writes,
 * serves reads) only while a majority has recently acknowledged it.
 */
export class EpochNode implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  /** The highest generation this node has seen. It must survive a crash. */
  private maxGen = 0;
  private myRole: Role = 'follower';
  private value: string | undefined;
  private timer: TimerId | undefined;
  // TODO: the leader's state: its heartbeat rounds (when each was sent, who answered), its lease,
  // its writes still waiting for a majority (and how to resolve their promises).

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // TODO: a node boots as a follower. Read the highest generation it had seen back from the disk
    // (ctx.disk.read(GEN_FILE), decodeText).
    void decodeText;
    void GEN_FILE;
  }

  /** Called by the election oracle: this node now leads generation `gen` (greater than any before). */
  onElected(gen: number): void {
    // TODO: remember `gen` durably, become leader, and start heartbeat rounds at once
    // (and every HEARTBEAT_MS: ctx.setTimer(HEARTBEAT_MS, 'heartbeat')).
    void gen;
    void this.ctx;
    void this.timer;
    void HEARTBEAT_MS;
    throw new Error('TODO: onElected');
  }

  role(): Role {
    return this.myRole;
  }

  /** The newest generation this node has seen (as leader or follower). It never goes down. */
  generation(): number {
    return this.maxGen;
  }

  /** Leader only: resolves true once a majority has stored `value` while this node held its lease. */
  write(value: string): Promise<boolean> {
    // TODO: a follower answers false at once. A leader sends the value to every follower and resolves
    // the promise later, from onMessage, when a majority (itself included) has stored it and its lease
    // holds; false if it steps down first.
    void value;
    throw new Error('TODO: write');
  }

  /** Leader only, and only while the lease holds: no newer leader can have been elected meanwhile. */
  read(): ReadResult {
    // TODO
    void this.value;
    void LEASE_MS;
    throw new Error('TODO: read');
  }

  onMessage(from: NodeId, msg: Msg): void {
    // TODO: every message carries a generation.
    // - Newer than yours: remember it durably (write, then fsync), and if you were leading, step down.
    // - A heartbeat or write from an older generation: refuse it, and tell the sender the newer one.
    // - Otherwise, as a follower: store, and answer. As the leader: count the answers to your rounds.
    void from;
    void msg;
    void encodeText;
  }

  onTimer(): void {
    // TODO: a leader starts the next heartbeat round (and sets the timer again).
  }
}
