// The linearizability checker: pairs, decodes and partitions a history, searches each key, explains a failure.
import { printEdn } from '../history/edn.ts';
import { pairOperations, type HistoryError, type Operation } from '../history/operations.ts';
import type { History } from '../history/types.ts';
import type { Defined, Model, StateKey } from './model.ts';
import { valueKey } from './models.ts';
import { renderCounterexample } from './render.ts';
import { decide, Outcome, type Item, type Limits } from './search.ts';

export interface CheckOptions {
  /** Wall-clock budget for the search, in ms; when it runs out the verdict is `unknown`. Default 10 000. */
  readonly timeoutMs?: number;
  /** Extra budget for shrinking a counterexample, in ms. Default 2 000. */
  readonly minimiseMs?: number;
  /** Memory the memo table of one key may use, in bytes, before the verdict is `unknown`. Default 512 MiB. */
  readonly maxMemoBytes?: number;
}

/** One operation of a counterexample, in JSON-friendly terms. */
export interface CounterexampleOp {
  readonly process: number;
  readonly f: string;
  /** The invocation's argument. */
  readonly value: unknown;
  /** The `ok` completion's value (absent for an operation whose outcome is unknown). */
  readonly result?: unknown;
  readonly status: 'ok' | 'info';
  /** As the model describes it: `read() -> 3`. */
  readonly description: string;
  /** Index of the invocation in the checked history. */
  readonly invokeIndex: number;
  /** Index of the completion in the checked history; null if it never completed. */
  readonly completeIndex: number | null;
  readonly invokeTime?: number;
  readonly completeTime?: number;
}

/**
 * A small illegal sub-history: `ops` (in invocation order) admit no linearization even with every other operation
 * of this key invoked by then free to take effect at any moment after its invocation, or never; and (unless
 * `truncated`) every event of this key before the completion of `ops[culprit]` is linearizable.
 */
export interface Counterexample {
  readonly model: string;
  /** The partition (key) the history fails on, when the model partitions. */
  readonly key?: string;
  readonly ops: readonly CounterexampleOp[];
  /** Index in `ops` of the operation that cannot be linearized. */
  readonly culprit: number;
  /**
   * Other operations of this key invoked before the culprit completed. They are left out because no timing or
   * outcome of theirs (taking effect at any moment after their invocation, or never) makes `ops` legal.
   */
  readonly others: number;
  /**
   * True when shrinking ran out of budget: `ops` may not be minimal, and the history may already fail before the
   * culprit completes.
   */
  readonly truncated: boolean;
}

interface Common {
  /** Operations in the history (every invocation, including failed ones). */
  readonly ops: number;
  readonly durationMs: number;
}

export type CheckResult =
  | ({ readonly verdict: 'linearizable' } & Common)
  | ({ readonly verdict: 'not-linearizable'; readonly counterexample: Counterexample; readonly rendered: string } & Common)
  | ({ readonly verdict: 'unknown'; readonly reason: string } & Common)
  | ({ readonly verdict: 'invalid'; readonly error: HistoryError } & Common);

const DEFAULTS = { timeoutMs: 10_000, minimiseMs: 2_000, maxMemoBytes: 512 * 1024 * 1024 };

/** An operation with its decoded input and output. */
interface Prepared {
  readonly op: Operation;
  readonly input: unknown;
  readonly output: unknown;
  readonly inputKey: StateKey | undefined;
}

type Prepare =
  | { readonly ok: true; readonly ops: number; readonly partitions: ReadonlyMap<string, readonly Prepared[]> }
  | { readonly ok: false; readonly ops: number; readonly error: HistoryError };

/** Pairs, decodes and partitions; the first operation the model cannot read is an error. */
function prepare<S extends Defined>(history: History, m: Model<S, unknown, unknown>): Prepare {
  const paired = pairOperations(history);
  if (!paired.ok) return { ok: false, ops: 0, error: paired.error };
  const all = paired.operations;
  const partitions = new Map<string, Prepared[]>();
  for (const op of all) {
    if (op.status === 'fail') continue;
    const d = m.decode(op);
    if (typeof d === 'string') {
      const message = `event ${op.invoke}: ${op.f}: ${d}`;
      return { ok: false, ops: all.length, error: { code: 'bad-event', message, index: op.invoke } };
    }
    const key = m.partition === undefined ? '' : m.partition(op);
    let list = partitions.get(key);
    if (list === undefined) partitions.set(key, (list = []));
    list.push({ op, input: d.input, output: op.status === 'ok' ? d.output : undefined, inputKey: inputKey(d.input) });
  }
  return { ok: true, ops: all.length, partitions };
}

/**
 * Why `model` cannot check `history` (operations that do not pair up, or that the model cannot read), or
 * undefined when it can. Cheap: no search.
 */
export function validateHistory<S extends Defined, I, O>(history: History, model: Model<S, I, O>): HistoryError | undefined {
  const p = prepare(history, model as unknown as Model<S, unknown, unknown>);
  return p.ok ? undefined : p.error;
}

/**
 * Checks a history against a model. The history lists events in the order they happened (array order is real
 * time; `time` is used only for display). `fail` operations are dropped; `info` operations and invocations that
 * never completed may have taken effect at any time after their invocation, or never. Keys (when the model
 * partitions) are checked one at a time in order of first appearance, stopping at the first illegal one.
 */
export function checkLinearizable<S extends Defined, I, O>(
  history: History,
  model: Model<S, I, O>,
  options: CheckOptions = {},
): CheckResult {
  const started = performance.now();
  const opt = { ...DEFAULTS, ...options };
  const limits: Limits = { deadline: started + opt.timeoutMs, maxMemoBytes: opt.maxMemoBytes };
  const m = model as unknown as Model<S, unknown, unknown>;
  const elapsed = () => performance.now() - started;
  const p = prepare(history, m);
  if (!p.ok) return { verdict: 'invalid', error: p.error, ops: p.ops, durationMs: elapsed() };

  for (const [key, prepared] of p.partitions) {
    const outcome = decide(m, m.init(), toItems(prepared, Infinity), limits);
    if (outcome === Outcome.Linearizable) continue;
    const where = m.partition === undefined ? '' : ` on key ${JSON.stringify(key)}`;
    if (outcome === Outcome.Illegal) {
      const cx = counterexample(m, prepared, limits, opt.minimiseMs, history, m.partition === undefined ? undefined : key);
      const rendered = renderCounterexample(cx);
      return { verdict: 'not-linearizable', counterexample: cx, rendered, ops: p.ops, durationMs: elapsed() };
    }
    const reason =
      outcome === Outcome.OutOfTime
        ? `no answer within the ${opt.timeoutMs} ms budget${where}`
        : `the search outgrew its ${Math.round(opt.maxMemoBytes / 1048576)} MiB memory budget${where}`;
    return { verdict: 'unknown', reason, ops: p.ops, durationMs: elapsed() };
  }
  return { verdict: 'linearizable', ops: p.ops, durationMs: elapsed() };
}

/**
 * Search items for the operations, as seen at history position `cut`: an operation completing after the cut is
 * still running there, so its output is unknown; so is the output of any operation outside `keep` (when given).
 */
function toItems(prepared: readonly Prepared[], cut: number, keep?: ReadonlySet<Prepared>, reuse = true): Item[] {
  const items: Item[] = [];
  for (const p of prepared) {
    if (p.op.invoke > cut) continue;
    const done = p.output !== undefined && p.op.complete <= cut;
    const known = done && (keep === undefined || keep.has(p));
    items.push({
      input: p.input,
      output: known ? p.output : undefined,
      call: p.op.invoke,
      ret: known ? p.op.complete : Infinity,
      inputKey: p.inputKey,
      // A completed operation dropped from the witness may even take effect repeatedly: weaker still, and cheap.
      reusable: reuse && done && !known,
    });
  }
  return items;
}

/**
 * Shrinks an illegal partition to a small witness. Each step only weakens the history, so that the witness being
 * illegal proves the history illegal:
 * 1. the shortest illegal prefix: it ends at the completion of the operation that cannot be placed (the
 *    culprit); operations still running at that point have unknown outcomes;
 * 2. delta debugging over the other completed operations: an operation leaves the witness when, with its outcome
 *    and completion forgotten (it may then take effect at any time after its invocation, any number of times, or
 *    never), the prefix stays illegal.
 * The witness is the operations that keep their outcomes; the others could not rescue them whatever they did.
 */
function counterexample<S extends Defined>(
  m: Model<S, unknown, unknown>,
  prepared: readonly Prepared[],
  checkLimits: Limits,
  minimiseMs: number,
  history: History,
  key: string | undefined,
): Counterexample {
  let truncated = false;
  // Finding the culprit is part of the answer (the main budget, at least minimiseMs more); shrinking is extra.
  const now = performance.now();
  const cutLimits: Limits = { ...checkLimits, deadline: Math.max(checkLimits.deadline, now + minimiseMs) };
  const limits: Limits = { ...checkLimits, deadline: now + minimiseMs };
  const cuts = prepared
    .filter((p) => p.output !== undefined)
    .map((p) => p.op.complete)
    .sort((a, b) => a - b);
  // Illegality only grows with the prefix: binary search the first illegal cut (the last one is the whole).
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const o = decide(m, m.init(), toItems(prepared, cuts[mid]!), cutLimits);
    if (o === Outcome.Illegal) hi = mid;
    else {
      if (o !== Outcome.Linearizable) truncated = true;
      lo = mid + 1;
    }
  }
  const cut = cuts[lo]!;
  const culprit = prepared.find((p) => p.output !== undefined && p.op.complete === cut)!;
  const prefix = prepared.filter((p) => p.op.invoke <= cut);
  let kept = prefix.filter((p) => p !== culprit && p.output !== undefined && p.op.complete < cut);

  let reuse = true;
  const test = (candidate: readonly Prepared[]): boolean => {
    if (performance.now() > limits.deadline) {
      truncated = true;
      return false;
    }
    const keep = new Set(candidate);
    keep.add(culprit);
    let o = decide(m, m.init(), toItems(prefix, cut, keep, reuse), limits);
    if (o === Outcome.NotIdempotent) {
      // This model's operations cannot be replayed freely (appends): forget outcomes, but use each at most once.
      reuse = false;
      o = decide(m, m.init(), toItems(prefix, cut, keep, reuse), limits);
    }
    const res = o === Outcome.Illegal;
    if (o !== Outcome.Illegal && o !== Outcome.Linearizable) truncated = true;
    return res;
  };
  // Delta debugging: drop chunks, halving the chunk size, then single operations until none can go. In a single
  // pass, the operations after its last removal were tried against the final set already: the next pass stops there.
  let bound = kept.length;
  for (let chunk = Math.max(1, kept.length >>> 1); ; chunk = Math.max(1, chunk >>> 1)) {
    let end = chunk === 1 ? bound : Infinity;
    let lastRemoval = -1;
    for (let i = 0; i < Math.min(end, kept.length); ) {
      const candidate = kept.slice(0, i).concat(kept.slice(i + chunk));
      if (test(candidate)) {
        kept = candidate;
        lastRemoval = i;
        end -= chunk;
      } else {
        i += chunk;
      }
    }
    if (chunk === 1) {
      if (lastRemoval < 0) break;
      bound = lastRemoval;
    }
  }

  const ops = [...kept, culprit].sort((a, b) => a.op.invoke - b.op.invoke);
  return {
    model: m.name,
    ...(key === undefined ? {} : { key }),
    ops: ops.map((p) => describeOp(m, p.op, history)),
    culprit: ops.indexOf(culprit),
    others: prefix.length - ops.length,
    truncated,
  };
}

/** A key for a decoded input, or undefined when it is not plain data (then no two inputs are taken as equal). */
function inputKey(input: unknown): StateKey | undefined {
  if (input === undefined) return null;
  if (typeof input === 'function' || typeof input === 'symbol') return undefined;
  if (typeof input === 'object' && input !== null) {
    const proto = Object.getPrototypeOf(input);
    if (proto !== Object.prototype && proto !== Array.prototype && proto !== null) return undefined;
  }
  try {
    return valueKey(input);
  } catch {
    return undefined;
  }
}

function describeOp<S extends Defined>(m: Model<S, unknown, unknown>, op: Operation, history: History): CounterexampleOp {
  const description = m.describe === undefined ? defaultDescription(op) : m.describe(op);
  const invokeTime = history[op.invoke]?.time;
  const completeTime = op.complete >= 0 ? history[op.complete]?.time : undefined;
  return {
    process: op.process,
    f: op.f,
    value: op.value,
    ...(op.status === 'ok' ? { result: op.result } : {}),
    status: op.status === 'ok' ? 'ok' : 'info',
    description,
    invokeIndex: op.invoke,
    completeIndex: op.complete >= 0 ? op.complete : null,
    ...(invokeTime === undefined ? {} : { invokeTime }),
    ...(completeTime === undefined ? {} : { completeTime }),
  };
}

function defaultDescription(op: Operation): string {
  const arg = op.value === undefined || op.value === null ? '' : printEdn(op.value);
  // A result that repeats the argument (Jepsen's habit for writes) says nothing new.
  const same = op.result === undefined || printEdn(op.result) === printEdn(op.value);
  const res = op.status === 'ok' ? (same ? '' : ` -> ${printEdn(op.result)}`) : ' -> ?';
  return `${op.f}(${arg})${res}`;
}
