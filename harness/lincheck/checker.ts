// The linearizability checker: pairs, decodes and partitions a history, searches each key, explains a failure.
import { printEdn } from '../history/edn.ts';
import { pairOperations, type HistoryError, type Operation } from '../history/operations.ts';
import type { History } from '../history/types.ts';
import type { Defined, Model, StateKey } from './model.ts';
import { valueKey } from './models.ts';
import { renderCounterexample } from './render.ts';
import { Outcome, search, type Item, type Limits } from './search.ts';

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
 * A smallest illegal sub-history found: `ops` (in invocation order) admit no linearization, while every event
 * of this key before the completion of `ops[culprit]` does.
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
  /** True when shrinking ran out of budget and `ops` may not be minimal. */
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

/**
 * Checks a history against a model. The history lists events in the order they happened (array order is real
 * time; `time` is used only for display). `fail` operations are dropped; `info` operations and invocations that
 * never completed may have taken effect at any time after their invocation, or never.
 */
export function check<S extends Defined, I, O>(history: History, model: Model<S, I, O>, options: CheckOptions = {}): CheckResult {
  const started = performance.now();
  const opt = { ...DEFAULTS, ...options };
  const limits: Limits = { deadline: started + opt.timeoutMs, maxMemoBytes: opt.maxMemoBytes };
  const m = model as unknown as Model<S, unknown, unknown>;
  const paired = pairOperations(history);
  if (!paired.ok) return { verdict: 'invalid', error: paired.error, ops: 0, durationMs: performance.now() - started };
  const all = paired.operations;
  const elapsed = () => performance.now() - started;

  const partitions = new Map<string, Prepared[]>();
  for (const op of all) {
    if (op.status === 'fail') continue;
    const d = m.decode(op);
    if (typeof d === 'string') {
      return {
        verdict: 'invalid',
        error: { code: 'bad-event', message: `event ${op.invoke}: ${op.f}: ${d}`, index: op.invoke },
        ops: all.length,
        durationMs: elapsed(),
      };
    }
    const key = m.partition === undefined ? '' : m.partition(op);
    let list = partitions.get(key);
    if (list === undefined) partitions.set(key, (list = []));
    list.push({ op, input: d.input, output: op.status === 'ok' ? d.output : undefined, inputKey: inputKey(d.input) });
  }

  for (const [key, prepared] of partitions) {
    const outcome = search(m, m.init(), toItems(prepared, Infinity), limits);
    if (outcome === Outcome.Linearizable) continue;
    const where = m.partition === undefined ? '' : ` on key ${JSON.stringify(key)}`;
    if (outcome === Outcome.OutOfTime) {
      return { verdict: 'unknown', reason: `no answer within the ${opt.timeoutMs} ms budget${where}`, ops: all.length, durationMs: elapsed() };
    }
    if (outcome === Outcome.OutOfMemory) {
      const mib = Math.round(opt.maxMemoBytes / 1048576);
      return { verdict: 'unknown', reason: `the search outgrew its ${mib} MiB memory budget${where}`, ops: all.length, durationMs: elapsed() };
    }
    const minLimits: Limits = { deadline: performance.now() + opt.minimiseMs, maxMemoBytes: opt.maxMemoBytes };
    const cx = counterexample(m, prepared, minLimits, history, m.partition === undefined ? undefined : key);
    return { verdict: 'not-linearizable', counterexample: cx, rendered: renderCounterexample(cx), ops: all.length, durationMs: elapsed() };
  }
  return { verdict: 'linearizable', ops: all.length, durationMs: elapsed() };
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
  limits: Limits,
  history: History,
  key: string | undefined,
): Counterexample {
  let truncated = false;
  const cuts = prepared
    .filter((p) => p.output !== undefined)
    .map((p) => p.op.complete)
    .sort((a, b) => a - b);
  // Illegality only grows with the prefix: binary search the first illegal cut (the last one is the whole).
  let lo = 0;
  let hi = cuts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    const tb = performance.now();
    const o = search(m, m.init(), toItems(prepared, cuts[mid]!), limits);
    const G = globalThis as any; G.__bs = (G.__bs ?? 0) + performance.now() - tb; G.__bsn = (G.__bsn ?? 0) + 1;
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
    const t0 = performance.now(); const st = { memoEntries: 0 };
    let o = search(m, m.init(), toItems(prefix, cut, keep, reuse), limits, st);
    if (o === Outcome.NotIdempotent) {
      // This model's operations cannot be replayed freely (appends): forget outcomes, but use each at most once.
      reuse = false;
      o = search(m, m.init(), toItems(prefix, cut, keep, reuse), limits, st);
    }
    const res = o === Outcome.Illegal;
    { const G = globalThis as any; G.__dd = (G.__dd ?? 0) + performance.now() - t0; G.__ddn = (G.__ddn ?? 0) + 1; }
    if (o !== Outcome.Illegal && o !== Outcome.Linearizable) truncated = true;
    (globalThis as any).__trace?.push({ kept: candidate.length, ok: res, ms: performance.now() - t0, memo: st.memoEntries });
    return res;
  };
  // Delta debugging: drop chunks, halving the chunk size, then single operations until none can go.
  for (let chunk = Math.max(1, kept.length >>> 1); ; chunk = chunk >>> 1) {
    let changed = false;
    for (let i = 0; i < kept.length; ) {
      const candidate = kept.slice(0, i).concat(kept.slice(i + chunk));
      if (test(candidate)) {
        kept = candidate;
        changed = true;
      } else {
        i += chunk;
      }
    }
    if (chunk <= 1 && !changed) break;
    if (chunk <= 1) chunk = 2;
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
  const res = op.status === 'ok' ? (op.result === undefined ? '' : ` -> ${printEdn(op.result)}`) : ' -> ?';
  return `${op.f}(${arg})${res}`;
}
