// The simulator's agenda: a binary min-heap of events ordered by (virtual time, sequence number).

/** Anything the queue can order. `seq` breaks ties, so equal times run in the order they were scheduled. */
export interface Queued {
  time: number;
  seq: number;
}

function before(a: Queued, b: Queued): boolean {
  return a.time < b.time || (a.time === b.time && a.seq < b.seq);
}

/** A plain array heap: push and pop are O(log n) and allocate nothing beyond the array's own growth. */
export class EventQueue<E extends Queued> {
  private readonly heap: E[] = [];
  private nextSeq = 0;

  get size(): number {
    return this.heap.length;
  }

  /** Stamps `ev.seq` and inserts it. */
  push(ev: E): void {
    ev.seq = this.nextSeq++;
    const h = this.heap;
    let i = h.length;
    h.push(ev);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = h[parent] as E;
      if (!before(ev, p)) break;
      h[i] = p;
      i = parent;
    }
    h[i] = ev;
  }

  /** The earliest event, without removing it. */
  peek(): E | undefined {
    return this.heap[0];
  }

  /** Removes and returns the earliest event. */
  pop(): E | undefined {
    const h = this.heap;
    const top = h[0];
    if (top === undefined) return undefined;
    const last = h.pop() as E;
    const n = h.length;
    if (n > 0) {
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        if (l >= n) break;
        const r = l + 1;
        let c = l;
        let child = h[l] as E;
        if (r < n) {
          const rc = h[r] as E;
          if (before(rc, child)) {
            c = r;
            child = rc;
          }
        }
        if (!before(child, last)) break;
        h[i] = child;
        i = c;
      }
      h[i] = last;
    }
    return top;
  }

  /** Every queued event, in no particular order (for counting, never for running). */
  items(): readonly E[] {
    return this.heap;
  }
}
