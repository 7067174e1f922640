// Two-phase commit in which every participant stores a transaction at the same commit timestamp.
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

/** The participant's log: prepared transactions, decisions, and how far the clock may have gone. */
const LOG = 'txn.log';
type LogRecord =
  | { readonly t: 'prepare'; readonly txId: string; readonly writes: Writes; readonly prepareTs: Ts }
  | { readonly t: 'commit'; readonly txId: string; readonly commitTs: Ts }
  | { readonly t: 'abort'; readonly txId: string }
  | { readonly t: 'ceiling'; readonly ts: Ts };
/** The clock reserves timestamps in blocks, so that it writes its ceiling once per block, not once per tick. */
const CEILING_STEP = 1000;
const NEWLINE = 0x0a;

interface Prepared {
  readonly writes: Writes;
  readonly prepareTs: Ts;
  /** Reads waiting for this transaction to be decided. */
  readonly waiting: (() => void)[];
}

/** Holds a shard of keys as versioned values; prepares, commits and aborts transactions; serves snapshot reads. */
export class TxnParticipant implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  /**
   * A Lamport clock. Every timestamp this participant proposes is above every timestamp it has seen: versions
   * it installed, reads it served, commit timestamps it was told. That single rule gives all the guarantees.
   */
  private clock: Ts = 0;
  /** Durable: the clock never goes past this without writing a higher one first. */
  private ceiling: Ts = 0;
  private readonly store = new Map<string, Version[]>();
  private readonly locks = new Map<string, string>();
  private readonly prepared = new Map<string, Prepared>();
  /**
   * Decided here (committed or aborted), rebuilt from the log at boot: a late copy of a prepare of one of these,
   * sent before a crash and arriving after the restart, must not lock anything again, since nobody would ever
   * come to release it.
   */
  private readonly finished = new Set<string>();
  /** False while the log is replayed at boot: replaying must not write to the log. */
  private recovered = false;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    const bytes = ctx.disk.read(LOG) ?? new Uint8Array();
    // A torn last record (a crash in the middle of an append) was never acted on: cut it off the file itself, or
    // the next record would be appended right after it and read back glued to it (as in 01.3).
    const valid = bytes.subarray(0, bytes.lastIndexOf(NEWLINE) + 1);
    if (valid.length < bytes.length) {
      ctx.disk.write(LOG, valid);
      ctx.disk.fsync(LOG);
    }
    for (const line of decodeText(valid).split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as LogRecord;
      switch (r.t) {
        case 'prepare':
          // Still prepared after a crash: keep the locks, and keep reads at or above prepareTs waiting.
          this.lock(r.txId, r.writes, r.prepareTs);
          break;
        case 'commit':
          this.install(r.txId, r.commitTs);
          break;
        case 'abort':
          this.unlock(r.txId);
          this.finished.add(r.txId);
          break;
        case 'ceiling':
          this.ceiling = Math.max(this.ceiling, r.ts);
          break;
      }
    }
    // Start above anything handed out before the crash: a timestamp already used by a read is a promise. And above
    // every timestamp in the log: a crash may have struck between a commit record and the higher ceiling that was
    // to follow it, and the clock must never go back below a version it has installed.
    this.clock = Math.max(this.clock, this.ceiling);
    this.recovered = true;
    if (this.clock > this.ceiling) {
      this.ceiling = this.clock + CEILING_STEP;
      this.write({ t: 'ceiling', ts: this.ceiling });
    }
  }

  async onMessage(_from: NodeId, msg: Msg, reply?: (res: Msg) => void): Promise<void> {
    const answer = (m: Msg) => reply?.(m);
    switch (msg.kind) {
      case 'prepare': {
        const p = this.prepared.get(msg.txId);
        // A retried prepare gets the vote it already got (the first answer may have been lost).
        if (p !== undefined) return answer({ kind: 'vote', txId: msg.txId, yes: true, prepareTs: p.prepareTs });
        const busy = Object.keys(msg.writes).some((k) => this.locks.has(k));
        if (this.finished.has(msg.txId) || busy) return answer({ kind: 'vote', txId: msg.txId, yes: false, prepareTs: 0 });
        // Above everything this participant has seen, on any key: versions, reads, commit timestamps.
        const prepareTs = this.tick();
        this.lock(msg.txId, msg.writes, prepareTs);
        // Durable before voting yes: after a crash this participant must still be able to commit.
        this.write({ t: 'prepare', txId: msg.txId, writes: msg.writes, prepareTs });
        return answer({ kind: 'vote', txId: msg.txId, yes: true, prepareTs });
      }
      case 'commit': {
        // Unknown here: committed already (a duplicate message) — or never prepared, which cannot happen.
        if (this.prepared.has(msg.txId)) {
          this.write({ t: 'commit', txId: msg.txId, commitTs: msg.commitTs });
          this.install(msg.txId, msg.commitTs);
        }
        // Lamport's receive rule: whatever this participant does next is stamped after this commit.
        this.observe(msg.commitTs);
        return answer({ kind: 'done', txId: msg.txId });
      }
      case 'abort': {
        // Durable even if this participant never prepared it (it voted no, or the prepare is still on its way):
        // a copy of the prepare that arrives later, perhaps after a crash, must find it decided.
        if (!this.finished.has(msg.txId)) this.write({ t: 'abort', txId: msg.txId });
        this.unlock(msg.txId);
        this.finished.add(msg.txId);
        return answer({ kind: 'done', txId: msg.txId });
      }
      case 'vote':
      case 'done':
        return;
    }
  }

  /** The value of `key` as of `ts`: the latest version at or below ts, or undefined. */
  async readAt(key: string, ts: Ts): Promise<Value | undefined> {
    // Served at ts: from now on nothing may be installed at or below ts, so this participant's next
    // timestamps must be above it (the clock absorbs the read timestamp, and the ceiling makes it durable).
    this.observe(ts);
    // A prepared transaction may still commit at a ts at or below this read's: wait for its decision.
    for (;;) {
      const blocker = [...this.prepared.values()].find((p) => p.prepareTs <= ts && key in p.writes);
      if (blocker === undefined) break;
      await new Promise<void>((resolve) => blocker.waiting.push(resolve));
    }
    const versions = this.store.get(key) ?? [];
    let value: Value | undefined;
    for (const v of versions) if (v.ts <= ts) value = v.value;
    return value;
  }

  /** Every committed version of `key`, oldest first (the grader watches this; it must not change anything). */
  versions(key: string): readonly Version[] {
    return this.store.get(key) ?? [];
  }

  private tick(): Ts {
    this.observe(this.clock + 1);
    return this.clock;
  }

  private observe(ts: Ts): void {
    if (ts <= this.clock) return;
    this.clock = ts;
    if (this.recovered && this.clock > this.ceiling) {
      this.ceiling = this.clock + CEILING_STEP;
      this.write({ t: 'ceiling', ts: this.ceiling });
    }
  }

  private write(r: LogRecord): void {
    this.ctx.disk.append(LOG, encodeText(JSON.stringify(r) + '\n'));
    this.ctx.disk.fsync(LOG);
  }

  private lock(txId: string, writes: Writes, prepareTs: Ts): void {
    for (const k of Object.keys(writes)) this.locks.set(k, txId);
    this.prepared.set(txId, { writes, prepareTs, waiting: [] });
    this.observe(prepareTs);
  }

  private install(txId: string, commitTs: Ts): void {
    const p = this.prepared.get(txId);
    if (p === undefined) return;
    // Every participant installs at the coordinator's commitTs, never at its own prepareTs: one version per transaction.
    for (const [k, value] of Object.entries(p.writes)) {
      const vs = this.store.get(k) ?? [];
      let i = vs.length;
      while (i > 0 && vs[i - 1]!.ts > commitTs) i--;
      vs.splice(i, 0, { ts: commitTs, value });
      this.store.set(k, vs);
    }
    this.observe(commitTs);
    this.unlock(txId);
    this.finished.add(txId);
  }

  private unlock(txId: string): void {
    const p = this.prepared.get(txId);
    if (p === undefined) return;
    for (const k of Object.keys(p.writes)) if (this.locks.get(k) === txId) this.locks.delete(k);
    this.prepared.delete(txId);
    for (const wake of p.waiting) wake();
  }
}

/** How long the coordinator waits for one answer before asking again. */
const RETRY_MS = 40;

/** Runs two-phase commit for transactions; never crashes in this exercise (recovering a coordinator is 10.4). */
export class TxnCoordinator implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  private next = 0;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
  }

  onMessage(): void {}

  async commit(writes: Writes): Promise<CommitResult> {
    const txId = `${this.ctx.id}.${++this.next}`;
    const byOwner = new Map<NodeId, Record<string, Value>>();
    for (const [k, v] of Object.entries(writes)) {
      const part = byOwner.get(ownerOf(k)) ?? {};
      part[k] = v;
      byOwner.set(ownerOf(k), part);
    }
    const parts = [...byOwner.keys()].sort();
    // Phase 1: every participant proposes a timestamp (and promises it can commit).
    const votes = await Promise.all(parts.map((p) => this.ask(p, { kind: 'prepare', txId, writes: byOwner.get(p)! })));
    if (!votes.every((v) => v.kind === 'vote' && v.yes)) {
      await Promise.all(parts.map((p) => this.ask(p, { kind: 'abort', txId })));
      return { committed: false };
    }
    // The commit timestamp is the maximum of the proposals: above everything any participant has seen on
    // these keys, so it lands after every version and every read it must follow — on every participant.
    const commitTs = Math.max(...votes.map((v) => (v.kind === 'vote' ? v.prepareTs : 0)));
    // Phase 2: the same commitTs to everyone, resent until each has it (participants may crash meanwhile).
    await Promise.all(parts.map((p) => this.ask(p, { kind: 'commit', txId, commitTs })));
    return { committed: true, commitTs };
  }

  /** Sends until an answer comes: every message here is safe to repeat. */
  private async ask(to: NodeId, msg: Msg): Promise<Msg> {
    for (;;) {
      const r = await this.ctx.rpc(to, msg, { timeoutMs: RETRY_MS });
      if (r.ok) return r.value;
    }
  }
}
