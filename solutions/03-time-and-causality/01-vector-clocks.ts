// Vector clocks: one counter per node, so that causality (and its absence) can be read off two timestamps.

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

// Reading through this helper is the whole fix for "missing entry": an absent node has seen 0 events.
function entry(v: VC, node: NodeId): number {
  return v[node] ?? 0;
}

/** The clock after `me` records one more event of its own. */
export function vcTick(v: VC, me: NodeId): VC {
  // A new object: the caller's clock is a value and may be frozen or shared.
  return { ...v, [me]: entry(v, me) + 1 };
}

/** The entry-wise maximum: everything either clock has seen. */
export function vcMerge(a: VC, b: VC): VC {
  const out: Record<NodeId, number> = { ...a };
  for (const node of Object.keys(b)) out[node] = Math.max(entry(a, node), entry(b, node));
  return out;
}

/** How two clocks are ordered: `before` when a happened before b, `concurrent` when neither is <= the other. */
export function vcCompare(a: VC, b: VC): Order {
  let aSmaller = false; // some entry of a is below b's
  let bSmaller = false; // some entry of b is below a's
  for (const node of new Set([...Object.keys(a), ...Object.keys(b)])) {
    const x = entry(a, node);
    const y = entry(b, node);
    if (x < y) aSmaller = true;
    else if (x > y) bSmaller = true;
  }
  // A partial order has four answers, not three: both smaller somewhere means neither saw the other.
  if (aSmaller && bSmaller) return 'concurrent';
  if (aSmaller) return 'before';
  if (bSmaller) return 'after';
  return 'equal';
}

/** The vector clock of every event in a trace. */
export function stampTrace(trace: readonly TraceEvent[]): Map<EventId, VC> {
  const clocks = new Map<NodeId, VC>();
  const stamps = new Map<EventId, VC>();
  for (const ev of trace) {
    let clock = clocks.get(ev.node) ?? {};
    if (ev.kind === 'recv') {
      const sent = stamps.get(ev.send);
      if (sent === undefined) throw new Error(`event ${ev.id} receives ${ev.send}, which was not sent before it`);
      // Merge first, then tick: the receive must come strictly after the send, and after this node's past.
      clock = vcMerge(clock, sent);
    }
    clock = vcTick(clock, ev.node);
    clocks.set(ev.node, clock);
    stamps.set(ev.id, clock);
  }
  return stamps;
}
