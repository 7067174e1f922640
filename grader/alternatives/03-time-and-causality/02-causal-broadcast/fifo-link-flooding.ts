// Another correct design: eager reliable broadcast over the FIFO ReliableLink of 00-network-lies, with no vector
// clock at all. Every node forwards every message to every peer the first time it receives it, and delivers it at
// once. Causal order follows from the links: a node forwards messages in the order it first received them, and it
// received (so forwarded) m1 before it broadcast anything that depends on m1; so on every link m1 travels first, and
// by induction every node receives m1 before anything broadcast after it. It pays with relaying everything, always.
import type { Ctx, NodeId, Proc } from '@dlab/harness/sim';
import { ReliableLink, type Frame } from '@solutions/01-foundations/00-network-lies';
import type { VC } from '@solutions/03-time-and-causality/01-vector-clocks';

export interface Bcast<P = unknown> {
  readonly origin: NodeId;
  readonly vc: VC;
  readonly payload: P;
}
type Inner<P> = { readonly origin: NodeId; readonly seq: number; readonly payload: P };
export type Msg<P = unknown> = Frame<Inner<P>>;

export class CausalBroadcast<P> implements Proc<Msg<P>> {
  private ctx!: Ctx<Msg<P>>;
  private readonly link = new ReliableLink<Inner<P>>((from, m) => this.receive(from, m));
  private readonly seen = new Map<NodeId, Set<number>>();
  private sent = 0;

  constructor(private readonly deliver: (origin: NodeId, p: P) => void) {}

  init(ctx: Ctx<Msg<P>>): void {
    this.ctx = ctx;
    this.link.init(ctx);
  }

  broadcast(p: P): void {
    const m: Inner<P> = { origin: this.ctx.id, seq: ++this.sent, payload: p };
    this.mark(m);
    this.deliver(m.origin, m.payload);
    for (const peer of this.ctx.peers) this.link.sendReliable(peer, m);
  }

  pending(): number {
    return 0;
  }

  onMessage(from: NodeId, msg: Msg<P>): void {
    this.link.onMessage(from, msg);
  }

  onTimer(tag: string): void {
    this.link.onTimer(tag);
  }

  private receive(from: NodeId, m: Inner<P>): void {
    if (!this.mark(m)) return;
    for (const peer of this.ctx.peers) if (peer !== from && peer !== m.origin) this.link.sendReliable(peer, m);
    this.deliver(m.origin, m.payload);
  }

  private mark(m: Inner<P>): boolean {
    let s = this.seen.get(m.origin);
    if (s === undefined) this.seen.set(m.origin, (s = new Set()));
    if (s.has(m.seq)) return false;
    s.add(m.seq);
    return true;
  }
}
