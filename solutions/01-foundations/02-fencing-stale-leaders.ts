// Generation numbers and leases: followers fence off a stale leader, and the stale leader learns it was replaced.
import { decodeText, encodeText, type Ctx, type NodeId, type Proc, type TimerId } from '@dlab/harness/sim';

/** What a node says it is. Only `onElected` makes a node leader; anything else can only make it a follower. */
export type Role = 'leader' | 'follower';

/** The answer to `read()`: the value, or why this node may not answer. */
export type ReadResult =
  | { readonly ok: true; readonly value: string | undefined }
  | { readonly ok: false; readonly reason: 'not-leader' | 'no-lease' };

/** The messages of this design. Every one carries the sender's generation. */
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

interface PendingWrite {
  readonly value: string;
  readonly sentAt: number;
  readonly accepted: Set<NodeId>;
  readonly resolve: (ok: boolean) => void;
}

/**
 * A member of a leader–followers cluster whose leader is chosen by an outside oracle. Leader messages
 * carry the generation; followers refuse any generation older than the newest they have seen and say
 * so; a leader that hears of a newer generation steps down; and a leader acts (acknowledges writes,
 * serves reads) only while a majority has recently acknowledged it.
 */
export class EpochNode implements Proc<Msg> {
  private ctx!: Ctx<Msg>;
  /** The highest generation this node has seen. Durable: a follower must not forget it in a crash. */
  private maxGen = 0;
  private myRole: Role = 'follower';
  private value: string | undefined;
  /** The (gen, id) of `value`, so that an older write arriving late does not overwrite a newer one. */
  private valueGen = 0;
  private valueId = 0;
  // Leader state (volatile: a restarted node is a follower until the oracle says otherwise).
  private round = 0;
  private readonly rounds = new Map<number, { sentAt: number; acks: Set<NodeId> }>();
  private leaseUntil = -Infinity;
  private nextId = 0;
  private readonly pending = new Map<number, PendingWrite>();
  private timer: TimerId | undefined;

  init(ctx: Ctx<Msg>): void {
    this.ctx = ctx;
    // Every boot starts as a follower; only the generation survives a crash.
    const saved = ctx.disk.read(GEN_FILE);
    if (saved !== undefined) this.maxGen = Number(decodeText(saved)) || 0;
  }

  /** Called by the election oracle: this node now leads generation `gen` (greater than any before). */
  onElected(gen: number): void {
    if (gen <= this.maxGen) return;
    this.stepDown();
    this.persist(gen);
    this.myRole = 'leader';
    this.nextId = 0;
    // Start a round at once, so the lease (and the news of the new generation) does not wait for the timer.
    this.heartbeat();
    this.timer ??= this.ctx.setTimer(HEARTBEAT_MS, 'heartbeat');
  }

  role(): Role {
    return this.myRole;
  }

  generation(): number {
    return this.maxGen;
  }

  /** Leader only: resolves true once a majority has stored `value` while this node held its lease. */
  write(value: string): Promise<boolean> {
    if (this.myRole !== 'leader') return Promise.resolve(false);
    const id = ++this.nextId;
    return new Promise<boolean>((resolve) => {
      this.pending.set(id, { value, sentAt: this.ctx.monoNow(), accepted: new Set([this.ctx.id]), resolve });
      this.store(this.maxGen, id, value);
      for (const peer of this.ctx.peers) this.ctx.send(peer, { kind: 'replicate', gen: this.maxGen, id, value });
    });
  }

  /** Leader only, and only while the lease holds: no newer leader can have been elected meanwhile. */
  read(): ReadResult {
    if (this.myRole !== 'leader') return { ok: false, reason: 'not-leader' };
    if (!this.leaseValid()) return { ok: false, reason: 'no-lease' };
    return { ok: true, value: this.value };
  }

  onMessage(from: NodeId, msg: Msg): void {
    if (msg.gen > this.maxGen) {
      // A newer generation exists. Remember it durably before anything else; if we were leading, we are not.
      this.stepDown();
      this.persist(msg.gen);
    }
    switch (msg.kind) {
      case 'heartbeat':
      case 'replicate':
        if (msg.gen < this.maxGen) {
          // Fencing: a leader from an older generation. Refuse, and tell it why: this is how it learns.
          this.ctx.send(from, { kind: 'reject', gen: this.maxGen });
          return;
        }
        if (msg.kind === 'heartbeat') {
          this.ctx.send(from, { kind: 'heartbeat-ok', gen: msg.gen, round: msg.round });
        } else {
          this.store(msg.gen, msg.id, msg.value);
          this.ctx.send(from, { kind: 'replicate-ok', gen: msg.gen, id: msg.id });
        }
        return;
      case 'heartbeat-ok': {
        // Count only answers to this generation's rounds: an answer from an earlier term proves nothing now.
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
        w.accepted.add(from);
        // A write round is also a round: a majority accepting it renews the lease from when it was sent.
        if (w.accepted.size >= this.majority()) this.extendLease(w.sentAt);
        return;
      }
      case 'reject':
        // Handled above: a reject carries a generation newer than ours, or it is an old, stale reply.
        return;
    }
  }

  onTimer(): void {
    this.timer = undefined;
    // Only a leader sends heartbeats; a node that stepped down lets its timer lapse.
    if (this.myRole !== 'leader') return;
    this.heartbeat();
    this.timer = this.ctx.setTimer(HEARTBEAT_MS, 'heartbeat');
  }

  private heartbeat(): void {
    const round = ++this.round;
    // The lease runs from when the round was *sent*: a follower's answer only proves it had not moved on
    // at some moment after that. Measuring from when the answer arrived would stretch the lease by the
    // answer's delay, and a delayed answer can arrive after a new leader was elected.
    this.rounds.set(round, { sentAt: this.ctx.monoNow(), acks: new Set([this.ctx.id]) });
    // Bounded memory: an answer to a round this old could not extend the lease anyway.
    this.rounds.delete(round - 64);
    for (const peer of this.ctx.peers) this.ctx.send(peer, { kind: 'heartbeat', gen: this.maxGen, round });
    // Writes not yet stored by a majority are sent again (the network may have lost them).
    for (const [id, w] of this.pending) {
      if (w.accepted.size < this.majority()) {
        for (const peer of this.ctx.peers) if (!w.accepted.has(peer)) this.ctx.send(peer, { kind: 'replicate', gen: this.maxGen, id, value: w.value });
      }
    }
  }

  private extendLease(sentAt: number): void {
    this.leaseUntil = Math.max(this.leaseUntil, sentAt + LEASE_MS);
    // Acknowledge writes only under a valid lease: a write a majority stored long ago (its answers
    // delayed) may have been overtaken by a newer generation's writes since.
    if (!this.leaseValid()) return;
    for (const [id, w] of this.pending) {
      if (w.accepted.size >= this.majority()) {
        this.pending.delete(id);
        w.resolve(true);
      }
    }
  }

  private leaseValid(): boolean {
    // The monotonic clock: the wall clock can be stepped, and a lease on it could last for ever.
    return this.ctx.monoNow() < this.leaseUntil;
  }

  private stepDown(): void {
    this.myRole = 'follower';
    this.leaseUntil = -Infinity;
    this.rounds.clear();
    // Writes still waiting can no longer be acknowledged by this generation.
    for (const w of this.pending.values()) w.resolve(false);
    this.pending.clear();
  }

  private persist(gen: number): void {
    // fsync before the new generation is used or reported: a follower that forgot it after a crash
    // would accept the old leader again.
    this.ctx.disk.write(GEN_FILE, encodeText(String(gen)));
    this.ctx.disk.fsync(GEN_FILE);
    this.maxGen = gen;
  }

  private store(gen: number, id: number, value: string): void {
    if (gen > this.valueGen || (gen === this.valueGen && id > this.valueId)) {
      this.value = value;
      this.valueGen = gen;
      this.valueId = id;
    }
  }

  private majority(): number {
    return Math.floor((this.ctx.peers.length + 1) / 2) + 1;
  }
}
