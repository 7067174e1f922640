// Two-phase commit in which every participant stores a transaction at the same commit timestamp.
// Read the lesson first: `npx dlab lesson 01-foundations/04-2pc-timestamps`.
import { decodeText, encodeText, type Ctx, type NodeId, type Proc } from '@dlab/harness/sim';

/** A version timestamp: a non-negative integer. Larger means later. */
export type Ts = number;
export type Value = string;
/** A key's value as of a timestamp: the versioned value. */
export interface Version {
  readonly ts: Ts;
  readonly value: Value;
}
/** What a transaction writes: key → value. Keys name their participant: 'p2:y' lives on p2. */
export type Writes = Readonly<Record<string, Value>>;
export type CommitResult = { readonly committed: true; readonly commitTs: Ts } | { readonly committed: false };

/** The participant that owns a key: the part before the colon. */
export function ownerOf(key: string): NodeId {
  const i = key.indexOf(':');
  return i < 0 ? key : key.slice(0, i);
}

/** The messages between coordinators and participants (yours to change: the grader never reads them). */
export type Msg =
  | { readonly kind: 'prepare'; readonly txId: string; readonly writes: Writes }
  | { readonly kind: 'vote'; readonly txId: string; readonly yes: boolean; readonly prepareTs: Ts }
  | { readonly kind: 'commit'; readonly txId: string; readonly commitTs: Ts }
  | { readonly kind: 'abort'; readonly txId: string }
  | { readonly kind: 'done'; readonly txId: string };

/** Holds a shard of keys as versioned values; prepares, commits and aborts transactions; serves snapshot reads. */
export class TxnParticipant implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  // TODO: the state you need: a clock (a Lamport counter is enough), each key's versions sorted by ts,
  // which keys are locked by which prepared transaction, the prepared transactions (writes, prepareTs).

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // TODO: recover from ctx.disk (decodeText): prepared transactions (with their locks), installed versions,
    // which transactions were decided, and how far the clock had gone: a timestamp already handed out, to a vote
    // or a read, is a promise. A last record cut short by a crash must not stay in front of the next one.
    void decodeText;
  }

  async onMessage(_from: NodeId, msg: Msg, reply?: (res: Msg) => void): Promise<void> {
    // TODO: the coordinator uses ctx.rpc, so answer with reply(...). Every message may arrive twice.
    // - prepare: already prepared? the same vote again. A key locked by another transaction? vote no.
    //   Otherwise propose prepareTs above everything you have seen (versions, reads, commit timestamps),
    //   lock the keys, make the prepared transaction durable (append + fsync, encodeText), then vote yes.
    // - commit: install the writes at commitTs (the coordinator's, not yours), durably; move your clock
    //   past commitTs; release the locks; wake reads that were waiting. Answer 'done' (also if unknown).
    // - abort: forget the prepared transaction (durably), release its locks, answer 'done'.
    // A prepare may arrive again after the decision, even after a crash and restart (a copy that was still in
    // the network): a decided transaction, committed or aborted, must never lock anything again. A crash can
    // strike between any two disk operations.
    void msg;
    void reply;
    void encodeText;
    void this.ctx;
    throw new Error('TODO: TxnParticipant.onMessage');
  }

  /** The value of `key` as of `ts`: the latest version at or below ts, or undefined. */
  async readAt(key: string, ts: Ts): Promise<Value | undefined> {
    // TODO: first make sure nothing will ever be installed at or below ts (your clock must pass ts, durably).
    // Then, while a prepared transaction on this key has prepareTs <= ts, wait for its decision (it may
    // commit at a ts at or below this one). Then return the latest version at or below ts.
    void key;
    void ts;
    throw new Error('TODO: TxnParticipant.readAt');
  }

  /** Every committed version of `key`, oldest first (the grader watches this; it must not change anything). */
  versions(key: string): readonly Version[] {
    // TODO: the key's installed versions ([] for a key never written).
    void key;
    throw new Error('TODO: TxnParticipant.versions');
  }
}

/** Runs two-phase commit for transactions; never crashes in this exercise (recovering a coordinator is 10.4). */
export class TxnCoordinator implements Proc<Msg> {
  private ctx!: Ctx<Msg>;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
  }

  onMessage(): void {}

  async commit(writes: Writes): Promise<CommitResult> {
    // TODO: a fresh txId; group the writes by ownerOf(key).
    // Phase 1: send each participant its prepare and collect the votes (ctx.rpc with a timeout, and ask again
    // until an answer comes: every message here is safe to repeat). Any no: abort everywhere, { committed: false }.
    // Phase 2: commitTs = the maximum of the proposed timestamps; send commit(commitTs) to every participant
    // until each answers; return { committed: true, commitTs }.
    void writes;
    void this.ctx;
    throw new Error('TODO: TxnCoordinator.commit');
  }
}
