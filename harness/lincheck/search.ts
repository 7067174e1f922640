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

/** How a search ended, or why it stopped. */
export const Outcome = {
  Linearizable: 0,
  Illegal: 1,
  /** The wall-clock deadline passed (only when one was set). */
  OutOfTime: 2,
  OutOfMemory: 3,
  /** A reusable item is not idempotent (applying it twice differs from once): reuse could grow states forever. */
  NotIdempotent: 4,
  /** Linearizable only by using a use-once item more than once (a weak search's answer, not the exact one). */
  Reused: 5,
  /** The steps granted to this call ran out: call `run` again to go on where it stopped. */
  Paused: 6,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

/**
 * Bytes that the memo tables and the states of one check may use together. Partitions are searched side by side,
 * so the budget is shared: a search that must grow its table or keep a new state past it stops with
 * `OutOfMemory`; a finished one gives its share back.
 */
export class MemoryBudget {
  used = 0;
  constructor(readonly max: number) {}
}

export interface Limits {
  /** `performance.now()` value after which a search gives up with `OutOfTime`; `Infinity` for none. */
  readonly deadline: number;
  readonly memory: MemoryBudget;
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

const ADDED = 1;
const PRESENT = 0;
const FULL = 2;
/** Slots of a fresh table: small, so that the many tiny searches of shrinking stay in cache. */
const INITIAL_SLOTS = 1 << 12;
/** An estimate of what keeping one more state costs: a Map entry, plus a string key's header (its text on top). */
const STATE_BYTES = 48;
/** A search keeps fewer states than a Map can hold (2^24). */
const MAX_STATES = (1 << 24) - 1;

/**
 * An open-addressing set of (bitset, state id) pairs, all in typed arrays. Slots carry the generation that filled
 * them, so clearing a table for its next search is free; finished searches hand their table to a small pool.
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
  /** Bytes of this table counted in `budget`. */
  private bytes = 0;
  private budget = new MemoryBudget(Infinity);
  count = 0;

  reset(words: number, budget: MemoryBudget): void {
    this.words = words;
    this.budget = budget;
    this.count = 0;
    // A table left large by an earlier search would spread a small search over cold memory.
    if (this.table.length === 0 || this.table.length > 1 << 16) this.allocate(INITIAL_SLOTS);
    else if (this.bits.length < this.hashes.length * words) this.bits = new Uint32Array(this.hashes.length * words);
    this.gen++;
    if (this.gen === 0x7fffffff) {
      this.stamp.fill(0);
      this.gen = 1;
    }
    this.bytes = Memo.size(this.mask + 1, words);
    budget.used += this.bytes;
  }

  /** Gives the table's bytes back to the budget. */
  release(): void {
    this.budget.used -= this.bytes;
    this.bytes = 0;
  }

  /** Two tables' worth of slots: the slot table and stamps, plus hashes, ids and bitsets for half as many. */
  private static size(slots: number, words: number): number {
    return slots * 8 + slots * (4 + 2 * words);
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
      const bigger = Memo.size((this.mask + 1) * 2, w);
      if (this.budget.used - this.bytes + bigger > this.budget.max) return FULL;
      this.budget.used += bigger - this.bytes;
      this.bytes = bigger;
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

function mix(h: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return h ^ (h >>> 16);
}

const pool: Memo[] = [];

function acquireMemo(words: number, budget: MemoryBudget): Memo {
  const memo = pool.pop() ?? new Memo();
  memo.reset(words, budget);
  return memo;
}

function releaseMemo(memo: Memo): void {
  memo.release();
  if (pool.length < 4) pool.push(memo);
}

/** A search that can be stopped after any number of steps and resumed: one step per loop turn. */
export interface Resumable {
  /** Steps taken so far. A step is one attempt to linearize a call, or one backtrack: the unit of every budget. */
  readonly steps: number;
  /** Runs at most `steps` more steps; `Paused` when they ran out before an answer. */
  run(steps: number): Outcome;
  /** Frees the memo table of a search that will not be resumed (a finished one frees it by itself). */
  release(): void;
}

/**
 * Is there an order of `items` that respects real time and that `model` accepts from `initial`? Items with an
 * unknown output may be left out. Deterministic: the same items take the same steps to the same outcome, which is
 * what makes step budgets independent of the machine and its load.
 */
export class Search<S extends Defined> implements Resumable {
  steps = 0;
  /**
   * The latest return position (`Item.ret`) the walk has been stopped by: every configuration explored so far had
   * all operations returning before it linearized, but none got past it. After `Illegal`, every prefix of the history
   * that ends before it is linearizable, which lets the shrinker find the culprit in one or two searches.
   */
  furthest = -1;
  private outcome: Outcome | undefined;
  private readonly n: number;
  private readonly inputs: unknown[];
  private readonly outputs: unknown[];
  /** 1 known output; 0 unknown, at most once; 2 unknown, any number of times. */
  private readonly kind: Uint8Array;
  /**
   * The item of the same kind and input invoked just before unknown-outcome item i, or -1. A reusable item with
   * such a twin is redundant (and left out); a use-once item waits until its twin has been used.
   */
  private readonly before: Int32Array;
  private readonly next: Int32Array;
  private readonly prev: Int32Array;
  private readonly set: Uint32Array;
  private readonly zkeys: Int32Array;
  private memo: Memo | undefined;
  /** Every state met, by key, to its id: what the memo stores instead of the state. */
  private readonly ids = new Map<StateKey, number>();
  /** Estimated bytes of `ids`, counted in the memory budget. */
  private stateBytes = 0;
  /** Set when keeping a new state passed the memory budget (the walk then stops with `OutOfMemory`). */
  private full = false;
  private readonly keyOf: (s: S) => StateKey;
  private stackItem: Int32Array<ArrayBuffer>;
  private stackId: Int32Array<ArrayBuffer>;
  private readonly stackState: S[] = [];
  // The position of the walk, saved between calls of `run`.
  private sp = 0;
  private state: S;
  private stateId: number;
  private hash = 0;
  private remaining: number;
  private entry: number;
  private ticks = 0;

  constructor(
    private readonly model: Model<S, unknown, unknown>,
    initial: S,
    private readonly items: readonly Item[],
    private readonly limits: Limits,
    private readonly allReusable = false,
  ) {
    const n = items.length;
    this.n = n;
    this.inputs = new Array<unknown>(n);
    this.outputs = new Array<unknown>(n);
    const kind = (this.kind = new Uint8Array(n));
    let mustLinearize = 0;
    for (let i = 0; i < n; i++) {
      const it = items[i]!;
      this.inputs[i] = it.input;
      this.outputs[i] = it.output;
      kind[i] = it.output !== undefined ? 1 : allReusable || it.reusable === true ? 2 : 0;
      if (kind[i] === 1) mustLinearize++;
    }
    this.remaining = mustLinearize;

    const before = (this.before = new Int32Array(n).fill(-1));
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

    // Entries: call of item i = 2i, return = 2i + 1; HEAD = 2n is the list's sentinel.
    const HEAD = 2 * n;
    const next = (this.next = new Int32Array(2 * n + 1));
    const prev = (this.prev = new Int32Array(2 * n + 1));
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
    this.entry = next[HEAD]!;

    this.set = new Uint32Array((n + 31) >>> 5);
    this.zkeys = zobristKeys(n);
    this.keyOf = model.key === undefined ? (s: S) => s as unknown as StateKey : model.key.bind(model);
    this.stackItem = new Int32Array(n + 1);
    this.stackId = new Int32Array(n + 1);
    this.state = initial;
    this.stateId = this.intern(initial);
    if (mustLinearize === 0) this.outcome = Outcome.Linearizable;
  }

  private intern(s: S): number {
    const k = this.keyOf(s);
    let id = this.ids.get(k);
    if (id === undefined) {
      id = this.ids.size;
      this.ids.set(k, id);
      // A model whose every step makes a new state (appends) can keep more states than memo entries: they count
      // too, and a Map holds at most 2^24 entries however much memory there is.
      const bytes = STATE_BYTES + (typeof k === 'string' ? k.length : 0);
      this.stateBytes += bytes;
      const memory = this.limits.memory;
      memory.used += bytes;
      if (memory.used > memory.max || id === MAX_STATES) this.full = true;
    }
    return id;
  }

  release(): void {
    if (this.memo !== undefined) releaseMemo(this.memo);
    this.memo = undefined;
    this.limits.memory.used -= this.stateBytes;
    this.stateBytes = 0;
    this.ids.clear();
  }

  run(budget: number): Outcome {
    if (this.outcome !== undefined) return this.outcome;
    // The memo is taken on the first step, not at construction: searches queued behind others cost no memory.
    const memo = (this.memo ??= acquireMemo(this.set.length, this.limits.memory));
    const { model, items, inputs, outputs, kind, before, next, prev, set, zkeys, stackState } = this;
    const HEAD = 2 * this.n;
    const deadline = this.limits.deadline;
    const timed = deadline !== Infinity;
    let { stackItem, stackId, sp, state, stateId, hash, remaining, entry, ticks, furthest } = this;
    let taken = 0;
    let outcome: Outcome;

    walk: for (;;) {
      if (taken === budget) {
        outcome = Outcome.Paused;
        break;
      }
      taken++;
      if (timed && (++ticks & 1023) === 0 && performance.now() > deadline) {
        outcome = Outcome.OutOfTime;
        break;
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
        const afterId = after === undefined ? -1 : after === state ? stateId : this.intern(after);
        if (this.full) {
          outcome = Outcome.OutOfMemory;
          break;
        }
        if (after !== undefined && (kind[i] === 1 || afterId !== stateId)) {
          const w = i >>> 5;
          const bit = kind[i] === 2 ? 0 : 1 << (i & 31);
          if (bit === 0 && before[i] === -1) {
            // Reuse only needs to end, not to be exact: checking an item's first use is enough to stop appends.
            before[i] = -2;
            const again = model.step(after, inputs[i], undefined);
            if (again === undefined || (again !== after && this.intern(again) !== afterId)) {
              outcome = Outcome.NotIdempotent;
              break;
            }
          }
          set[w]! |= bit;
          const h = bit === 0 ? hash : hash ^ zkeys[i]!;
          const added = memo.add(set, (h ^ Math.imul(afterId + 1, 0x9e3779b1)) | 0, afterId);
          if (added === FULL) {
            set[w]! &= ~bit;
            outcome = Outcome.OutOfMemory;
            break;
          }
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
              if (--remaining === 0) {
                outcome = this.allReusable && this.usedTwice(stackItem, sp) ? Outcome.Reused : Outcome.Linearizable;
                break walk;
              }
            }
            entry = next[HEAD]!;
            continue;
          }
          set[w]! &= ~bit;
        }
        entry = next[entry]!;
      } else {
        // A return (or the end): its operation had to be linearized by now. Undo the last choice.
        if (entry !== HEAD) {
          const ret = items[entry >>> 1]!.ret;
          if (ret > furthest) furthest = ret;
        }
        if (sp === 0) {
          outcome = Outcome.Illegal;
          break;
        }
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

    this.stackItem = stackItem;
    this.stackId = stackId;
    this.sp = sp;
    this.state = state;
    this.stateId = stateId;
    this.hash = hash;
    this.remaining = remaining;
    this.entry = entry;
    this.ticks = ticks;
    this.furthest = furthest;
    this.steps += taken;
    if (outcome !== Outcome.Paused && outcome !== Outcome.OutOfTime) {
      this.outcome = outcome;
      this.release();
    }
    return outcome;
  }

  /** Whether the path found uses an item that may take effect only once more than once. */
  private usedTwice(stackItem: Int32Array, sp: number): boolean {
    const uses = new Uint8Array(this.n);
    for (let k = 0; k < sp; k++) {
      const i = stackItem[k]!;
      if (this.kind[i] !== 2 || this.items[i]!.reusable === true) continue;
      if (uses[i]++ === 1) return true;
    }
    return false;
  }
}

/**
 * `Search`, answered faster when it can: first with every unknown-outcome item reusable, a weaker question whose
 * search is much smaller (no subsets of those items to enumerate). Illegal there means illegal here, and a
 * linearization that used no item twice is one here; otherwise the exact search decides. This is what makes
 * histories with many timed-out writes cheap to check. Resumable like the searches it runs.
 */
export class Decision<S extends Defined> implements Resumable {
  private search: Search<S>;
  private weak: boolean;
  private done = 0;

  constructor(
    private readonly model: Model<S, unknown, unknown>,
    private readonly initial: S,
    private readonly items: readonly Item[],
    private readonly limits: Limits,
  ) {
    let once = 0;
    for (const it of items) if (it.output === undefined && it.reusable !== true) once++;
    this.weak = once > 0;
    this.search = new Search(model, initial, items, limits, this.weak);
  }

  get steps(): number {
    return this.done + this.search.steps;
  }

  /** `Search.furthest` of the exact search, or -1 while the weaker one (whose walk proves less) is running. */
  get furthest(): number {
    return this.weak ? -1 : this.search.furthest;
  }

  run(budget: number): Outcome {
    const start = this.steps;
    for (;;) {
      const o = this.search.run(budget - (this.steps - start));
      // A path that used no item twice is a path of the exact search too.
      if (!this.weak || (o !== Outcome.Reused && o !== Outcome.NotIdempotent)) return o;
      this.done += this.search.steps;
      this.weak = false;
      this.search = new Search(this.model, this.initial, this.items, this.limits);
    }
  }

  release(): void {
    this.search.release();
  }
}

/** Decides `items` within `budget` steps (`Paused` if they run out), freeing the search's memory either way. */
export function decide<S extends Defined>(
  model: Model<S, unknown, unknown>,
  initial: S,
  items: readonly Item[],
  limits: Limits,
  budget = Infinity,
): { readonly outcome: Outcome; readonly steps: number; readonly furthest: number } {
  const d = new Decision(model, initial, items, limits);
  const outcome = d.run(budget);
  d.release();
  return { outcome, steps: d.steps, furthest: d.furthest };
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
