// The search at the heart of the checker: Wing & Gong's algorithm with Lowe's memoisation, on typed arrays.
//
// Operations are entries in a doubly linked list ordered by real time: a call entry per operation and a return
// entry per operation whose output is known. Walking the list from the front, a call may be linearized now if
// the model accepts it in the current state; it is then lifted out of the list (call and return) and the walk
// restarts. Reaching a return entry means that operation should already be linearized: undo the last choice and
// try the next call after it. (linearized set, state) pairs already explored are remembered in a hash table, so
// no configuration is explored twice. Operations with unknown outputs have no return entry: they may take effect
// at any time after their call, or never, and the search succeeds once every known operation is linearized.
import type { Defined, Model, StateKey } from './model.ts';

/** One operation of a search problem, in the model's terms. */
export interface Item {
  readonly input: unknown;
  /** `undefined`: the outcome is unknown (no return entry). */
  readonly output: unknown;
  /** Real-time positions: the call's and the return's (ignored when the output is unknown); all distinct. */
  readonly call: number;
  readonly ret: number;
  /**
   * Identifies the input (equal inputs, equal keys), or undefined. Operations of unknown outcome with equal inputs
   * are interchangeable, so the search uses them in invocation order only: without that, a history with many
   * timed-out writes of the same few values explores every subset of them.
   */
  readonly inputKey: StateKey | undefined;
  /**
   * For an item of unknown outcome: it may take effect any number of times after its call, not just once or
   * never. A weaker question (illegal with it implies illegal without), but a much smaller search, since such an
   * item never leaves the list and the memo need not record it. The counterexample shrinker uses it.
   */
  readonly reusable?: boolean;
}

/** How a search ended. */
export const Outcome = {
  Linearizable: 0,
  Illegal: 1,
  OutOfTime: 2,
  OutOfMemory: 3,
  /** A reusable item is not idempotent (applying it twice differs from once): reuse could grow states forever. */
  NotIdempotent: 4,
  /** Linearizable only by using a use-once item more than once (a weak search's answer, not the exact one). */
  Reused: 5,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface Limits {
  /** `performance.now()` value after which the search gives up. */
  readonly deadline: number;
  /** Bytes the memo table may use before the search gives up. */
  readonly maxMemoBytes: number;
}

// Zobrist keys: one fixed pseudo-random word per operation index, so the hash of a linearized set is kept
// up to date with one XOR per change instead of rehashing the bitset.
let zobrist = new Int32Array(0);

function zobristKeys(n: number): Int32Array {
  if (zobrist.length >= n) return zobrist;
  const keys = new Int32Array(Math.max(n, zobrist.length * 2, 256));
  let s = 0x2545f491;
  for (let i = 0; i < keys.length; i++) {
    // splitmix32
    s = (s + 0x9e3779b9) | 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    keys[i] = z ^ (z >>> 16);
  }
  zobrist = keys;
  return keys;
}

/**
 * An open-addressing set of (bitset, state id) pairs, all in typed arrays. One instance is reused by every
 * search (the checker is synchronous): slots carry the generation that filled them, so clearing is free.
 */
class Memo {
  private mask = 0;
  private gen = 0;
  private stamp = new Int32Array(0);
  private table = new Int32Array(0);
  private hashes = new Int32Array(0);
  private ids = new Int32Array(0);
  private bits = new Uint32Array(0);
  private words = 1;
  private maxBytes = Infinity;
  count = 0;

  reset(words: number, maxBytes: number): void {
    this.words = words;
    this.maxBytes = maxBytes;
    this.count = 0;
    // A table left large by an earlier search would spread a small search over cold memory.
    if (this.table.length === 0 || this.table.length > 1 << 16) this.allocate(1 << 12);
    else if (this.bits.length < (this.hashes.length * words)) this.bits = new Uint32Array(this.hashes.length * words);
    this.gen++;
    if (this.gen === 0x7fffffff) {
      this.stamp.fill(0);
      this.gen = 1;
    }
  }

  private allocate(cap: number): void {
    this.mask = cap - 1;
    this.stamp = new Int32Array(cap);
    this.table = new Int32Array(cap);
    this.hashes = new Int32Array(cap >> 1);
    this.ids = new Int32Array(cap >> 1);
    this.bits = new Uint32Array((cap >> 1) * this.words);
    this.gen = 0;
  }

  /** Adds the pair unless present: ADDED, PRESENT, or FULL when growing would pass the memory budget. */
  add(set: Uint32Array, hash: number, id: number): number {
    const w = this.words;
    const gen = this.gen;
    const stamp = this.stamp;
    const table = this.table;
    const mask = this.mask;
    let slot = mix(hash) & mask;
    while (stamp[slot] === gen) {
      const i = table[slot]!;
      if (this.hashes[i] === hash && this.ids[i] === id) {
        const base = i * w;
        let k = 0;
        while (k < w && this.bits[base + k] === set[k]) k++;
        if (k === w) return PRESENT;
      }
      slot = (slot + 1) & mask;
    }
    const i = this.count;
    if (i >= this.hashes.length) {
      // Doubling: two tables' worth of slots, hashes, ids and bitsets.
      const next = (this.mask + 1) * 2;
      if (next * 8 + next * (4 + 2 * this.words) > this.maxBytes) return FULL;
      this.grow();
      return this.add(set, hash, id);
    }
    this.count = i + 1;
    stamp[slot] = gen;
    table[slot] = i;
    this.hashes[i] = hash;
    this.ids[i] = id;
    const base = i * w;
    for (let k = 0; k < w; k++) this.bits[base + k] = set[k]!;
    return ADDED;
  }

  private grow(): void {
    const n = this.count;
    const { hashes, ids, bits } = this;
    const gen = this.gen;
    this.allocate((this.mask + 1) * 2);
    this.gen = gen;
    this.hashes.set(hashes);
    this.ids.set(ids);
    this.bits.set(bits.subarray(0, n * this.words));
    for (let i = 0; i < n; i++) {
      let slot = mix(this.hashes[i]!) & this.mask;
      while (this.stamp[slot] === gen) slot = (slot + 1) & this.mask;
      this.stamp[slot] = gen;
      this.table[slot] = i;
    }
  }
}

const ADDED = 1;
const PRESENT = 0;
const FULL = 2;
const memo = new Memo();

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

/**
 * Is there an order of `items` that respects real time and that `model` accepts from `initial`? Items with an
 * unknown output may be left out. Deterministic: the same items give the same outcome (unless a limit is hit).
 */
export function search<S extends Defined>(
  model: Model<S, unknown, unknown>,
  initial: S,
  items: readonly Item[],
  limits: Limits,
  allReusable = false,
): Outcome {
  const n = items.length;
  const inputs = new Array<unknown>(n);
  const outputs = new Array<unknown>(n);
  // kind: 1 known output; 0 unknown, at most once; 2 unknown, any number of times.
  const kind = new Uint8Array(n);
  let mustLinearize = 0;
  for (let i = 0; i < n; i++) {
    const it = items[i]!;
    inputs[i] = it.input;
    outputs[i] = it.output;
    kind[i] = it.output !== undefined ? 1 : allReusable || it.reusable === true ? 2 : 0;
    if (kind[i] === 1) mustLinearize++;
  }
  if (mustLinearize === 0) return Outcome.Linearizable;

  // before[i]: the item of the same kind and input invoked just before unknown-outcome item i, or -1. A reusable
  // item with such a twin is redundant (and left out); a use-once item waits until its twin has been used.
  const before = new Int32Array(n).fill(-1);
  {
    const lastOf = [new Map<StateKey, number>(), undefined, new Map<StateKey, number>()];
    const byCall: number[] = [];
    for (let i = 0; i < n; i++) if (kind[i] !== 1 && items[i]!.inputKey !== undefined) byCall.push(i);
    byCall.sort((a, b) => items[a]!.call - items[b]!.call);
    for (const i of byCall) {
      const k = items[i]!.inputKey!;
      const last = lastOf[kind[i]!]!;
      const j = last.get(k);
      if (j !== undefined) before[i] = j;
      last.set(k, i);
    }
  }

  // Entries: call of item i = 2i, return = 2i + 1; HEAD = 2n is the list's sentinel.
  const HEAD = 2 * n;
  const next = new Int32Array(2 * n + 1);
  const prev = new Int32Array(2 * n + 1);
  const order: number[] = [];
  for (let i = 0; i < n; i++) {
    if (kind[i] === 2 && before[i]! >= 0) continue;
    order.push(2 * i);
    if (kind[i] === 1) order.push(2 * i + 1);
  }
  order.sort((a, b) => pos(items, a) - pos(items, b));
  let last = HEAD;
  for (const e of order) {
    next[last] = e;
    prev[e] = last;
    last = e;
  }
  next[last] = HEAD;
  prev[HEAD] = last;

  const words = (n + 31) >>> 5;
  const set = new Uint32Array(words);
  const zkeys = zobristKeys(n);
  memo.reset(words, limits.maxMemoBytes);
  const keyOf = model.key === undefined ? (s: S) => s as unknown as StateKey : model.key.bind(model);
  const ids = new Map<StateKey, number>();
  const intern = (s: S): number => {
    const k = keyOf(s);
    let id = ids.get(k);
    if (id === undefined) {
      id = ids.size;
      ids.set(k, id);
    }
    return id;
  };
  let stackItem = new Int32Array(n + 1);
  let stackId = new Int32Array(n + 1);
  const stackState: S[] = [];
  let sp = 0;
  let state = initial;
  let stateId = intern(initial);
  let hash = 0;
  let remaining = mustLinearize;
  let entry = next[HEAD]!;
  let ticks = 0;

  for (;;) {
    if ((++ticks & 1023) === 0) {
      if (performance.now() > limits.deadline) return Outcome.OutOfTime;
    }
    if ((entry & 1) === 0 && entry !== HEAD) {
      const i = entry >>> 1;
      const b = before[i]!;
      if (b >= 0 && (set[b >>> 5]! & (1 << (b & 31))) === 0) {
        entry = next[entry]!;
        continue;
      }
      const after = model.step(state, inputs[i], outputs[i]);
      // An operation of unknown outcome that leaves the state as it was need never be linearized: skip it.
      const afterId = after === undefined ? -1 : after === state ? stateId : intern(after);
      if (after !== undefined && (kind[i] === 1 || afterId !== stateId)) {
        const w = i >>> 5;
        const bit = kind[i] === 2 ? 0 : 1 << (i & 31);
        if (bit === 0 && before[i] === -1) {
          // Reuse only needs to end, not to be exact: checking an item's first use is enough to stop appends.
          before[i] = -2;
          const again = model.step(after, inputs[i], undefined);
          if (again === undefined || intern(again) !== afterId) return Outcome.NotIdempotent;
        }
        set[w]! |= bit;
        const h = bit === 0 ? hash : hash ^ zkeys[i]!;
        const added = memo.add(set, (h ^ Math.imul(afterId + 1, 0x9e3779b1)) | 0, afterId);
        if (added === FULL) return Outcome.OutOfMemory;
        if (added === ADDED) {
          if (sp === stackItem.length) {
            stackItem = grow(stackItem);
            stackId = grow(stackId);
          }
          stackItem[sp] = i;
          stackId[sp] = stateId;
          stackState[sp] = state;
          sp++;
          state = after;
          stateId = afterId;
          hash = h;
          if (bit === 0) {
            // Reused items stay in the list.
            entry = next[HEAD]!;
            continue;
          }
          // Lift: unlink the call and (if any) the return.
          const r = entry + 1;
          next[prev[entry]!] = next[entry]!;
          prev[next[entry]!] = prev[entry]!;
          if (kind[i] === 1) {
            next[prev[r]!] = next[r]!;
            prev[next[r]!] = prev[r]!;
            if (--remaining === 0) return allReusable && usedTwice() ? Outcome.Reused : Outcome.Linearizable;
          }
          entry = next[HEAD]!;
          continue;
        }
        set[w]! &= ~bit;
      }
      entry = next[entry]!;
    } else {
      // A return (or the end): its operation had to be linearized by now. Undo the last choice.
      if (sp === 0) return Outcome.Illegal;
      sp--;
      const i = stackItem[sp]!;
      state = stackState[sp]!;
      stateId = stackId[sp]!;
      const c = 2 * i;
      if (kind[i] === 2) {
        entry = next[c]!;
        continue;
      }
      hash ^= zkeys[i]!;
      set[i >>> 5]! &= ~(1 << (i & 31));
      if (kind[i] === 1) {
        remaining++;
        const r = c + 1;
        next[prev[r]!] = r;
        prev[next[r]!] = r;
      }
      next[prev[c]!] = c;
      prev[next[c]!] = c;
      entry = next[c]!;
    }
  }

  /** Whether the path found uses an item that may take effect only once more than once. */
  function usedTwice(): boolean {
    const uses = new Uint8Array(n);
    for (let k = 0; k < sp; k++) {
      const i = stackItem[k]!;
      if (kind[i] !== 2 || items[i]!.reusable === true) continue;
      if (uses[i]++ === 1) return true;
    }
    return false;
  }
}

/**
 * `search`, answered faster when it can: first with every unknown-outcome item reusable, a weaker question whose
 * search is much smaller (no subsets of those items to enumerate). Illegal there means illegal here, and a
 * linearization that used no item twice is one here; otherwise the exact search decides. This is what makes
 * histories with many timed-out writes cheap to check.
 */
export function decide<S extends Defined>(
  model: Model<S, unknown, unknown>,
  initial: S,
  items: readonly Item[],
  limits: Limits,
): Outcome {
  let once = 0;
  for (const it of items) if (it.output === undefined && it.reusable !== true) once++;
  if (once > 0) {
    const weak = search(model, initial, items, limits, true);
    // A path that used no item twice is a path of the exact search too.
    if (weak !== Outcome.Reused && weak !== Outcome.NotIdempotent) return weak;
  }
  return search(model, initial, items, limits);
}

function grow(a: Int32Array<ArrayBuffer>): Int32Array<ArrayBuffer> {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}

function pos(items: readonly Item[], entry: number): number {
  const it = items[entry >>> 1]!;
  return (entry & 1) === 0 ? it.call : it.ret;
}
