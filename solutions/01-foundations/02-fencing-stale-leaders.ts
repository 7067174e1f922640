// Generation numbers, promises and leases: a new leader needs a majority's promise, followers fence off a stale leader, and it learns it was replaced.
import { decodeText, encodeText, type Ctx, type NodeId, type Proc, type TimerId } from '@dlab/harness/sim';

/** What a node says it is. Only `campaign` makes a node a candidate, and only a majority's promises make it leader. */
export type Role = 'leader' | 'candidate' | 'follower';

/** The answer to `read()`: the value, or why this node may not answer. */
export type ReadResult =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly reason: 'not-leader' | 'no-lease' };

/** The messages of this design. Every one carries a generation. */
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
/** How long a round a majority answered lets the leader act, from when the round was sent, on its monotonic clock (at most 100 ms). */
const LEASE_MS = 100;
/**
 * How long an answer binds the node that gave it: no vote for another generation until this much has passed
 * on its own monotonic clock. At least LEASE_MS·(1+ρ)/(1−ρ) = 102.03 ms for a drift ρ of 1 %, plus a margin.
 */
const PROMISE_MS = 105;
/** A write not acknowledged this long after write() was called resolves false (the lesson allows 150 ms). */
const WRITE_TIMEOUT_MS = 100;
/** Where the highest generation seen is kept. */
const GEN_FILE = 'max-gen';

interface PendingWrite {
  readonly value: string;
  readonly calledAt: number;
  readonly stored: Set<NodeId>;
  readonly resolve: (ok: boolean) => void;
}

/**
 * A member of a leader–followers cluster. An outside oracle nominates a candidate for each new generation;
 * the candidate leads once a majority has promised that generation. Every message carries the generation;
 * a node refuses older generations and says so; a leader that hears of a newer one steps down; a leader acts
 * (acknowledges writes, serves reads) only while a majority has recently answered it; and a node that
 * answered a leader does not vote for anyone else until that leader's lease must have run out.
 */
export class EpochNode implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  /** The highest generation this node has seen. Durable: a node must not forget it in a crash. */
  private maxGen = 0;
  private myRole: Role = 'follower';
  /**
   * monoNow() before which this node must not vote: until then, a lease it helped to (by answering a round,
   * its own included) may still be running. Volatile, so a node that boots with a generation on disk starts bound.
   */
  private boundUntil = -Infinity;
  /** A candidate's promises so far (itself included once it is free). */
  private readonly votes = new Set<NodeId>();
  /** This node's copy of the newest write it stored, by (generation, id), so that a late older write cannot replace it. */
  private readonly copy: { gen: number; id: number; value: string | undefined } = { gen: 0, id: 0, value: undefined };
  // Leader state (volatile: a restarted node is a follower until the oracle nominates it again).
  private round = 0;
  private readonly rounds = new Map<number, { sentAt: number; acks: Set<NodeId> }>();
  private leaseUntil = -Infinity;
  private nextId = 0;
  private readonly pending = new Map<number, PendingWrite>();
  /** The value of the last write this leader acknowledged in its generation: what read() returns. */
  private acked: string | undefined;
  private timer: TimerId | undefined;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // Every boot starts as a follower; only the generation survives a crash.
    const saved = ctx.disk.read(GEN_FILE);
    if (saved !== undefined) this.maxGen = Number(decodeText(saved)) || 0;
    // A node that had seen a generation may have answered a round just before it crashed; that promise died
    // with its memory, and the monotonic clock starts from a new origin at every boot, so no deadline could
    // have been saved either. Assume the worst: bound for a whole promise from now.
    if (this.maxGen > 0) this.boundUntil = ctx.monoNow() + PROMISE_MS;
  }

  /** Called by the election oracle: try to lead generation `gen` (greater than any before). */
  campaign(gen: number): void {
    if (gen <= this.maxGen) return;
    this.stepDown();
    this.persist(gen);
    this.myRole = 'candidate';
    this.votes.clear();
    this.solicit();
    this.timer ??= this.ctx.setTimer(HEARTBEAT_MS, 'tick');
  }

  role(): Role {
    return this.myRole;
  }

  generation(): number {
    return this.maxGen;
  }

  /** Leader only: resolves true once a majority has stored `value` in this generation while the lease holds. */
  write(value: string): Promise<boolean> {
    if (this.myRole !== 'leader') return Promise.resolve(false);
    const id = ++this.nextId;
    return new Promise<boolean>((resolve) => {
      this.pending.set(id, { value, calledAt: this.ctx.monoNow(), stored: new Set([this.ctx.id]), resolve });
      for (const peer of this.ctx.peers) this.ctx.send(peer, { kind: 'replicate', gen: this.maxGen, id, value });
    });
  }

  /** Leader only, and only while the lease holds: no newer leader can have been elected meanwhile. */
  read(): ReadResult {
    if (this.myRole !== 'leader') return { ok: false, reason: 'not-leader' };
    if (!this.leaseValid()) return { ok: false, reason: 'no-lease' };
    return { ok: true, value: this.acked };
  }

  onMessage(from: NodeId, msg: Msg): void {
    if (msg.gen > this.maxGen) {
      // A newer generation exists. Remember it durably before anything else; if we were leading, we are not.
      // Adopting it at once fences the old leader off here, even while our vote must wait.
      this.stepDown();
      this.persist(msg.gen);
    }
    switch (msg.kind) {
      case 'vote-request':
        if (msg.gen < this.maxGen) return this.refuse(from);
        // Promise only when no lease we helped to can still be running; otherwise stay silent: the candidate asks again.
        if (this.free()) this.ctx.send(from, { kind: 'vote', gen: msg.gen });
        return;
      case 'vote':
        if (this.myRole !== 'candidate' || msg.gen !== this.maxGen) return;
        this.votes.add(from);
        this.countVotes();
        return;
      case 'heartbeat':
      case 'replicate':
        // Fencing: a leader from an older generation. Refuse, and tell it why: this is how it learns.
        if (msg.gen < this.maxGen) return this.refuse(from);
        // Answering helps this leader's lease: from now on we are bound to it for PROMISE_MS.
        this.boundUntil = Math.max(this.boundUntil, this.ctx.monoNow() + PROMISE_MS);
        if (msg.kind === 'heartbeat') {
          this.ctx.send(from, { kind: 'heartbeat-ok', gen: msg.gen, round: msg.round });
        } else {
          this.store(msg.gen, msg.id, msg.value);
          this.ctx.send(from, { kind: 'replicate-ok', gen: msg.gen, id: msg.id });
        }
        return;
      case 'heartbeat-ok': {
        // Count only answers to this generation's rounds: an answer from an earlier one proves nothing now.
        if (this.myRole !== 'leader' || msg.gen !== this.maxGen) return;
        const r = this.rounds.get(msg.round);
        if (r === undefined) return;
        r.acks.add(from);
        if (r.acks.size >= this.majority()) this.extendLease(r.sentAt);
        return;
      }
      case 'replicate-ok': {
        if (this.myRole !== 'leader' || msg.gen !== this.maxGen) return;
        const w = this.pending.get(msg.id);
        if (w === undefined) return;
        w.stored.add(from);
        this.acknowledge();
        return;
      }
      case 'reject':
        // Handled above: a reject carries a generation newer than ours, or it is an old, stale reply.
        return;
    }
  }

  onTimer(): void {
    this.timer = undefined;
    if (this.myRole === 'candidate') this.solicit();
    else if (this.myRole === 'leader') this.heartbeat();
    // A follower lets its timer lapse.
    else return;
    this.timer = this.ctx.setTimer(HEARTBEAT_MS, 'tick');
  }

  private solicit(): void {
    if (this.countVotes()) return;
    for (const peer of this.ctx.peers) if (!this.votes.has(peer)) this.ctx.send(peer, { kind: 'vote-request', gen: this.maxGen });
  }

  /** Adds our own vote once we are free, and wins with a majority. True if this node now leads. */
  private countVotes(): boolean {
    if (this.free()) this.votes.add(this.ctx.id);
    if (this.votes.size < this.majority()) return false;
    this.myRole = 'leader';
    this.votes.clear();
    // A new generation starts empty: this exercise does not carry values from one generation to the next.
    this.acked = undefined;
    this.nextId = 0;
    // Start a round at once, so that the lease (and the news of the new generation) does not wait for the timer.
    this.heartbeat();
    return true;
  }

  private heartbeat(): void {
    const now = this.ctx.monoNow();
    const round = ++this.round;
    // The lease runs from when the round was *sent*: an answer only proves that the follower had not moved on
    // at some moment after that. Measuring from when the answer arrived would stretch the lease by the
    // answer's delay, past the follower's promise.
    this.rounds.set(round, { sentAt: now, acks: new Set([this.ctx.id]) });
    // Our own answer counts towards the majority, so it binds us like any other.
    this.boundUntil = Math.max(this.boundUntil, now + PROMISE_MS);
    // Bounded memory: an answer to a round this old could not extend the lease anyway.
    this.rounds.delete(round - 8);
    for (const peer of this.ctx.peers) this.ctx.send(peer, { kind: 'heartbeat', gen: this.maxGen, round });
    for (const [id, w] of this.pending) {
      if (now - w.calledAt >= WRITE_TIMEOUT_MS) {
        // Every promise settles: a write that could not be acknowledged in time fails, and will never be read.
        this.pending.delete(id);
        w.resolve(false);
      } else if (w.stored.size < this.majority()) {
        // Sent again: the network may have lost it.
        for (const peer of this.ctx.peers) if (!w.stored.has(peer)) this.ctx.send(peer, { kind: 'replicate', gen: this.maxGen, id, value: w.value });
      }
    }
  }

  private extendLease(sentAt: number): void {
    this.leaseUntil = Math.max(this.leaseUntil, sentAt + LEASE_MS);
    this.acknowledge();
  }

  /** Resolves true every waiting write a majority has stored, if the lease holds now. */
  private acknowledge(): void {
    // A write a majority stored long ago (its answers delayed, or this node paused) may have been overtaken by
    // a newer generation since: acknowledge only under a valid lease.
    if (!this.leaseValid()) return;
    for (const [id, w] of this.pending) {
      if (w.stored.size < this.majority()) continue;
      this.pending.delete(id);
      this.acked = w.value;
      w.resolve(true);
    }
  }

  private leaseValid(): boolean {
    // The monotonic clock: the wall clock can be stepped, even backwards, and a lease on it could last for ever.
    return this.ctx.monoNow() < this.leaseUntil;
  }

  /** True when no lease this node helped to can still be running, so it may promise a new generation. */
  private free(): boolean {
    return this.ctx.monoNow() >= this.boundUntil;
  }

  private refuse(to: NodeId): void {
    this.ctx.send(to, { kind: 'reject', gen: this.maxGen });
  }

  private stepDown(): void {
    this.myRole = 'follower';
    this.votes.clear();
    this.leaseUntil = -Infinity;
    this.rounds.clear();
    // Writes still waiting can no longer be acknowledged by this generation: they fail now.
    for (const w of this.pending.values()) w.resolve(false);
    this.pending.clear();
  }

  private persist(gen: number): void {
    // fsync before the new generation is used or reported: a node that forgot it after a crash would accept
    // the old leader again.
    this.ctx.disk.write(GEN_FILE, encodeText(String(gen)));
    this.ctx.disk.fsync(GEN_FILE);
    this.maxGen = gen;
  }

  private store(gen: number, id: number, value: string): void {
    // A follower's copy. Nothing in this exercise reads it back (a new generation starts empty): carrying
    // acknowledged writes over to the next leader is Raft's job, chapter 08.
    const c = this.copy;
    if (gen > c.gen || (gen === c.gen && id > c.id)) {
      c.gen = gen;
      c.id = id;
      c.value = value;
    }
  }

  private majority(): number {
    return Math.floor((this.ctx.peers.length + 1) / 2) + 1;
  }
}
