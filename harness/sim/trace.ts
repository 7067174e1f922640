// Everything that happened in a run, kept as flat typed arrays (a ring when bounded) and read back as events.
import type { NodeId } from './types.ts';

export type TraceKind = 'send' | 'deliver' | 'drop' | 'timer' | 'crash' | 'restart' | 'fault' | 'note' | 'op';

/** What a message was for: a plain `send`, an `rpc` and its `rpc-reply`, a client `request` and its `reply`. */
export type Flavor = 'msg' | 'rpc' | 'rpc-reply' | 'request' | 'reply';

export interface TraceEvent {
  /** Position in the whole run (0 = first event), stable even when early events were evicted. */
  readonly index: number;
  /** Virtual time in ms. */
  readonly time: number;
  readonly kind: TraceKind;
  /** Where it happened (the receiver of a delivery or drop); undefined for network-wide faults. */
  readonly node: NodeId | undefined;
  /** The other end of a message. */
  readonly peer: NodeId | undefined;
  /** The message id (send, deliver, drop), 0 otherwise. The two copies of a duplicate share it. */
  readonly msg: number;
  readonly flavor: Flavor | undefined;
  /** A word of detail: a drop's reason, `duplicate`, `late`, a timer's kind. */
  readonly detail: string;
  /** The payload, the timer tag, the fault, the annotation or the history event. */
  readonly data: unknown;
}

export const KINDS: readonly TraceKind[] = ['send', 'deliver', 'drop', 'timer', 'crash', 'restart', 'fault', 'note', 'op'];
export const FLAVORS: readonly Flavor[] = ['msg', 'rpc', 'rpc-reply', 'request', 'reply'];

/** Kind codes for `Trace.record` (indexes into KINDS). */
export const K = { send: 0, deliver: 1, drop: 2, timer: 3, crash: 4, restart: 5, fault: 6, note: 7, op: 8 } as const;

/**
 * An append-only log of trace events. With a finite `limit` it keeps the last `limit` events (enough for
 * a windowed diagram); with `Infinity` it keeps everything (for `dlab replay`).
 */
export class Trace {
  private cap: number;
  private count = 0;
  private time: Float64Array;
  private kind: Uint8Array;
  private node: Int32Array;
  private peer: Int32Array;
  private msg: Int32Array;
  private flavor: Int8Array;
  private detail: (string | undefined)[];
  private data: unknown[];

  constructor(
    /** Endpoint names by index (nodes, then clients). */
    readonly names: readonly NodeId[],
    readonly limit: number = 10_000,
  ) {
    this.cap = Math.min(limit, 1024);
    this.time = new Float64Array(this.cap);
    this.kind = new Uint8Array(this.cap);
    this.node = new Int32Array(this.cap);
    this.peer = new Int32Array(this.cap);
    this.msg = new Int32Array(this.cap);
    this.flavor = new Int8Array(this.cap);
    this.detail = new Array<string | undefined>(this.cap);
    this.data = new Array<unknown>(this.cap);
  }

  /** Events recorded so far, including evicted ones. */
  get length(): number {
    return this.count;
  }

  /** The index of the oldest event still kept. */
  get first(): number {
    return Math.max(0, this.count - this.cap);
  }

  /** Records one event. node/peer are endpoint indexes (-1: none); flavor is an index into FLAVORS or -1. */
  record(kind: number, time: number, node: number, peer: number, msg: number, flavor: number, detail: string | undefined, data: unknown): void {
    if (this.count === this.cap && this.cap < this.limit) this.grow();
    const i = this.count % this.cap;
    this.time[i] = time;
    this.kind[i] = kind;
    this.node[i] = node;
    this.peer[i] = peer;
    this.msg[i] = msg;
    this.flavor[i] = flavor;
    this.detail[i] = detail;
    this.data[i] = data;
    this.count++;
  }

  private grow(): void {
    const cap = Math.min(this.limit, this.cap * 2);
    const t = new Float64Array(cap);
    t.set(this.time);
    this.time = t;
    const k = new Uint8Array(cap);
    k.set(this.kind);
    this.kind = k;
    const n = new Int32Array(cap);
    n.set(this.node);
    this.node = n;
    const p = new Int32Array(cap);
    p.set(this.peer);
    this.peer = p;
    const m = new Int32Array(cap);
    m.set(this.msg);
    this.msg = m;
    const f = new Int8Array(cap);
    f.set(this.flavor);
    this.flavor = f;
    this.detail.length = cap;
    this.data.length = cap;
    this.cap = cap;
  }

  /** The event at run position `index`, or undefined if it was evicted or not yet recorded. */
  at(index: number): TraceEvent | undefined {
    if (index < this.first || index >= this.count) return undefined;
    const i = index % this.cap;
    const nd = this.node[i] as number;
    const pr = this.peer[i] as number;
    const fl = this.flavor[i] as number;
    return {
      index,
      time: this.time[i] as number,
      kind: KINDS[this.kind[i] as number] as TraceKind,
      node: nd < 0 ? undefined : this.names[nd],
      peer: pr < 0 ? undefined : this.names[pr],
      msg: this.msg[i] as number,
      flavor: fl < 0 ? undefined : FLAVORS[fl],
      detail: this.detail[i] ?? '',
      data: this.data[i],
    };
  }

  /** Kept events with from <= index < to (defaults: everything kept). */
  events(from = 0, to = this.count): TraceEvent[] {
    const out: TraceEvent[] = [];
    for (let i = Math.max(from, this.first); i < Math.min(to, this.count); i++) out.push(this.at(i) as TraceEvent);
    return out;
  }
}
