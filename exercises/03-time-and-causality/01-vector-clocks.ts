// Vector clocks: one counter per node, so that causality (and its absence) can be read off two timestamps.
// Read the lesson first: `npx dlab lesson 03-time-and-causality/01-vector-clocks`.

export type NodeId = string;
export type EventId = string;

/**
 * A vector clock. A node missing from the record has counter 0. Clocks are values: never mutate one.
 * Counters are plain numbers and may be large (past 2^31, up to Number.MAX_SAFE_INTEGER).
 */
export type VC = Readonly<Record<NodeId, number>>;

export type Order = 'before' | 'after' | 'equal' | 'concurrent';

/** One event of a run, in the order it happened. A `recv` names the `send` event whose message it receives. */
export type TraceEvent =
  | { readonly kind: 'local'; readonly id: EventId; readonly node: NodeId }
  | { readonly kind: 'send'; readonly id: EventId; readonly node: NodeId }
  | { readonly kind: 'recv'; readonly id: EventId; readonly node: NodeId; readonly send: EventId };

/** The clock after `me` records one more event of its own. */
export function vcTick(v: VC, me: NodeId): VC {
  // TODO: return a new clock with me's counter one higher (a missing counter is 0). Do not mutate `v`.
  throw new Error(`TODO: implement vcTick(${JSON.stringify(v)}, ${me})`);
}

/** The entry-wise maximum: everything either clock has seen. */
export function vcMerge(a: VC, b: VC): VC {
  // TODO: return a new clock holding, for every node in a or b, the larger of the two counters.
  throw new Error(`TODO: implement vcMerge(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
}

/** How two clocks are ordered: `before` when a happened before b, `concurrent` when neither is <= the other. */
export function vcCompare(a: VC, b: VC): Order {
  // TODO: compare entry by entry over the nodes of both clocks.
  throw new Error(`TODO: implement vcCompare(${JSON.stringify(a)}, ${JSON.stringify(b)})`);
}

/** The vector clock of every event in a trace. */
export function stampTrace(trace: readonly TraceEvent[]): Map<EventId, VC> {
  // TODO: keep one clock per node; local and send events tick it; a recv first merges the clock of its send.
  throw new Error(`TODO: implement stampTrace (${trace.length} events)`);
}
