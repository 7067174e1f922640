// Another correct design: the message format of Kleppmann's lecture notes (deps[origin] counts the origin's earlier
// broadcasts, from 0), dependencies as an array over the sorted node ids, a hold-back queue per origin keyed by
// sequence number (only the next one expected from each origin is ever tested), acknowledgements by message id
// instead of a cumulative vector, and one resend per peer every 50 ms, without backoff.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';
import type { VC } from '@solutions/03-time-and-causality/01-vector-clocks';

export interface Bcast<P = unknown> {
  readonly origin: NodeId;
  readonly vc: VC;
  readonly payload: P;
}
type M<P> = { readonly o: NodeId; readonly deps: readonly number[]; readonly p: P };
export type Msg<P = unknown> = { readonly t: 'm'; readonly list: readonly M<P>[] } | { readonly t: 'a'; readonly ids: readonly string[] };

const TICK = 50;
const id = (m: { o: NodeId; deps: readonly number[] }, idx: number): string => `${m.o}/${m.deps[idx]}`;

export class CausalBroadcast<P> implements Proc<Msg<P>> {
  private ctx!: Ctx<Msg<P>>;
  private all: NodeId[] = [];
  private delivered: number[] = [];
  private sendSeq = 0;
  private readonly held = new Map<NodeId, Map<number, M<P>>>();
  private heldCount = 0;
  /** Per peer: messages it has not confirmed, by id. */
  private readonly unacked = new Map<NodeId, Map<string, M<P>>>();
  private ticking = false;

  constructor(private readonly deliver: (origin: NodeId, p: P) => void) {}

  init(ctx: Ctx<Msg<P>>): void {
    this.ctx = ctx;
    this.all = [ctx.id, ...ctx.peers].sort();
    this.delivered = this.all.map(() => 0);
    for (const p of ctx.peers) this.unacked.set(p, new Map());
  }

  private ix(n: NodeId): number {
    return this.all.indexOf(n);
  }

  broadcast(p: P): void {
    const me = this.ix(this.ctx.id);
    const deps = [...this.delivered];
    deps[me] = this.sendSeq++;
    const m: M<P> = { o: this.ctx.id, deps, p };
    this.delivered[me]!++;
    this.deliver(m.o, m.p);
    for (const peer of this.ctx.peers) {
      this.unacked.get(peer)!.set(id(m, me), m);
      this.ctx.send(peer, { t: 'm', list: [m] });
    }
    this.tick();
  }

  pending(): number {
    return this.heldCount;
  }

  onMessage(from: NodeId, msg: Msg<P>): void {
    if (msg.t === 'a') {
      const u = this.unacked.get(from)!;
      for (const i of msg.ids) u.delete(i);
      return;
    }
    const ids: string[] = [];
    const fresh: M<P>[] = [];
    for (const m of msg.list) {
      const oi = this.ix(m.o);
      const key = id(m, oi);
      ids.push(key);
      this.unacked.get(from)?.delete(key); // from has it
      const seq = m.deps[oi]!;
      let q = this.held.get(m.o);
      if (seq < this.delivered[oi]! || q?.has(seq) === true) continue;
      if (q === undefined) this.held.set(m.o, (q = new Map()));
      q.set(seq, m);
      this.heldCount++;
      fresh.push(m);
    }
    for (const peer of this.ctx.peers) {
      if (peer === from) continue;
      const out = fresh.filter((m) => m.o !== peer);
      if (out.length === 0) continue;
      const u = this.unacked.get(peer)!;
      for (const m of out) u.set(id(m, this.ix(m.o)), m);
      this.ctx.send(peer, { t: 'm', list: out });
    }
    if (fresh.length > 0) this.tick();
    this.ctx.send(from, { t: 'a', ids });
    this.deliverReady();
  }

  private deliverReady(): void {
    let moved = true;
    while (moved) {
      moved = false;
      for (const [o, q] of this.held) {
        const oi = this.ix(o);
        const m = q.get(this.delivered[oi]!);
        if (m === undefined) continue;
        if (!m.deps.every((d, i) => i === oi || d <= this.delivered[i]!)) continue;
        q.delete(this.delivered[oi]!);
        this.heldCount--;
        this.delivered[oi]!++;
        this.deliver(m.o, m.p);
        moved = true;
      }
    }
  }

  onTimer(): void {
    this.ticking = false;
    let any = false;
    for (const [peer, u] of this.unacked) {
      if (u.size === 0) continue;
      any = true;
      this.ctx.send(peer, { t: 'm', list: [...u.values()] });
    }
    if (any) this.tick();
  }

  private tick(): void {
    if (this.ticking) return;
    this.ticking = true;
    this.ctx.setTimer(TICK, 'resend');
  }
}
