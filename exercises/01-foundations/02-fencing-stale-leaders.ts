// Generation numbers, promises and leases: a new leader needs a majority's promise, followers fence off a stale leader, and it learns it was replaced.
// Read the lesson first: `npx dlab lesson 01-foundations/02-fencing-stale-leaders`.
import { decodeText, encodeText, type Ctx, type NodeId, type Proc, type TimerId } from '@dlab/harness/sim';

/** What a node says it is. Only `campaign` makes a node a candidate, and only a majority's promises make it leader. */
export type Role = 'leader' | 'candidate' | 'follower';

/** The answer to `read()`: the value, or why this node may not answer. */
export type ReadResult =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly reason: 'not-leader' | 'no-lease' };

/** The messages of this design (change them if you like: the grader never reads them). Every one carries a generation. */
export type Msg =
  /** A candidate asks: "promise me generation `gen`". */
  | { readonly kind: 'vote-request'; readonly gen: number }
  /** "I promise: I have adopted `gen`, and no lease I helped an older generation to is still running." */
  | { readonly kind: 'vote'; readonly gen: number }
  | { readonly kind: 'heartbeat'; readonly gen: number; readonly round: number }
  | { readonly kind: 'heartbeat-ok'; readonly gen: number; readonly round: number }
  | { readonly kind: 'replicate'; readonly gen: number; readonly id: number; readonly value: string }
  | { readonly kind: 'replicate-ok'; readonly gen: number; readonly id: number }
  /** "Your generation is over: I have seen `gen`." */
  | { readonly kind: 'reject'; readonly gen: number };

/** How often a leader starts a heartbeat round, and a candidate asks again (the lesson allows up to 25 ms). */
const HEARTBEAT_MS = 20;
/** How long a round a majority answered lets the leader act, from when it was sent, on ctx.monoNow() (at most 100 ms). */
const LEASE_MS = 100;
/** How long an answer binds the node that gave it: no vote for another generation meanwhile (at least 102.03 ms: see the lesson). */
const PROMISE_MS = 105;
/** A write not acknowledged this long after write() was called must resolve false (the lesson allows 150 ms in all). */
const WRITE_TIMEOUT_MS = 100;
/** Where the highest generation seen is kept. */
const GEN_FILE = 'max-gen';

/**
 * A member of a leader–followers cluster. An outside oracle nominates a candidate for each new generation.
 * Invariants to keep:
 * - every message carries a generation; a node never lets its generation go down, not even across a crash
 *   (write it to disk and fsync before you act on it or report it);
 * - a node refuses heartbeats and writes of an older generation, and says so; a leader or candidate that hears
 *   of a newer generation becomes a follower at once, and its waiting writes resolve false;
 * - a candidate becomes leader only once a majority (itself included) has promised its generation, and a node
 *   never promises while a lease it helped an older generation to may still be running;
 * - a leader acknowledges writes and serves reads only under a lease: a majority answered a round it sent
 *   less than LEASE_MS ago by its monotonic clock;
 * - every promise write() returns settles.
 */
export class EpochNode implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  /** The highest generation this node has seen. It must survive a crash. */
  private maxGen = 0;
  private myRole: Role = 'follower';
  private timer: TimerId | undefined;
  // TODO: the rest of the state: until when this node is bound by the answers it gave (monoNow()), a candidate's
  // promises, a leader's heartbeat rounds (when each was sent, who answered), its lease, its writes still waiting
  // for a majority (and how to resolve their promises), and the last value it acknowledged.

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // TODO: a node boots as a follower. Read the highest generation it had seen back from the disk
    // (ctx.disk.read(GEN_FILE), decodeText). What could it have promised before it crashed?
    void decodeText;
    void GEN_FILE;
    void PROMISE_MS;
  }

  /** Called by the election oracle: try to lead generation `gen` (greater than any before). */
  campaign(gen: number): void {
    // TODO: remember `gen` durably, become a candidate, and ask the others to promise it (and again every
    // HEARTBEAT_MS until a majority has: ctx.setTimer(HEARTBEAT_MS, 'tick')).
    void gen;
    void this.ctx;
    void this.timer;
    void HEARTBEAT_MS;
    throw new Error('TODO: campaign');
  }

  role(): Role {
    return this.myRole;
  }

  /** The newest generation this node has seen (as leader, candidate or follower). It never goes down. */
  generation(): number {
    return this.maxGen;
  }

  /**
   * On the leader: resolves true once a majority (itself included) has stored `value` in this generation and
   * its lease holds; false if it steps down first, or after WRITE_TIMEOUT_MS. On any other node: false at once.
   */
  write(value: string): Promise<boolean> {
    // TODO
    void value;
    void WRITE_TIMEOUT_MS;
    throw new Error('TODO: write');
  }

  /**
   * On the leader, while its lease holds: the value of the last write it acknowledged in this generation
   * (undefined before the first). Otherwise { ok: false } with the reason.
   */
  read(): ReadResult {
    // TODO
    void LEASE_MS;
    throw new Error('TODO: read');
  }

  onMessage(from: NodeId, msg: Msg): void {
    // TODO: every message carries a generation.
    // - Newer than yours: remember it durably (write, then fsync); if you were leading or campaigning, step down.
    // - A heartbeat or write from an older generation: refuse it, and tell the sender the newer one.
    // - Otherwise, as a follower: answer (a write is also stored). Which promise does an answer make?
    // - A vote request: promise only when no lease you helped to can still be running.
    // - As the candidate: count the promises. As the leader: count the answers to your rounds and writes.
    void from;
    void msg;
    void encodeText;
  }

  onTimer(): void {
    // TODO: a candidate asks again; a leader starts the next heartbeat round (and sets the timer again).
  }
}
