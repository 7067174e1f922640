// The linearizability checker: pairs, decodes and partitions a history, searches each key, explains a failure.
import { printEdn } from '../history/edn.ts';
import { pairOperations, type HistoryError, type Operation } from '../history/operations.ts';
import type { History } from '../history/types.ts';
import type { Defined, Model, StateKey } from './model.ts';
import { valueKey } from './models.ts';
import { renderCounterexample } from './render.ts';
import { Decision, decide, MemoryBudget, Outcome, type Item, type Limits } from './search.ts';

/**
 * Budgets count search steps (one attempt to linearize an operation, or one backtrack), not time: the same history
 * gets the same verdict, counterexample and text on any machine under any load. The wall-clock limits are off
 * unless given; the CLI sets `timeoutMs` as a safety net.
 */
export interface CheckOptions {
  /** Steps for the verdict, shared by all partitions; past them the verdict is `unknown`. Default 10 000 000. */
  readonly maxSteps?: number;
  /** Steps for shrinking a counterexample (finding the culprit, then dropping operations). Default 5 000 000. */
  readonly minimiseSteps?: number;
  /**
   * Memory the memo tables and the states they refer to may use together, in bytes, shared by all partitions;
   * past it a partition is `unknown`. Default 512 MiB.
   */
  readonly maxMemoBytes?: number;
  /**
   * A wall-clock limit on the verdict search, in ms (none by default). Past it the verdict is `unknown`, so with it
   * the verdict may depend on the machine's load: prefer `maxSteps`.
   */
  readonly timeoutMs?: number;
  /** A wall-clock limit on dropping operations from a counterexample, in ms (none by default; 0 skips that stage). */
  readonly minimiseMs?: number;
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

const DEFAULTS = { maxSteps: 10_000_000, minimiseSteps: 5_000_000, maxMemoBytes: 512 * 1024 * 1024 };

/**
 * Partitions are searched side by side, each in turn for this many steps, in order of first appearance: an
 * illegal partition that is quick to refute is found long before a hard, legal one is finished.
 */
const SLICE = 1 << 14;

/** An attempt to drop operations from a counterexample may take this multiple of refuting it whole (at least the floor). */
const ATTEMPT_FACTOR = 16;
const ATTEMPT_FLOOR = 1 << 16;

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
 * never completed may have taken effect at any time after their invocation, or never. Partitions (keys, when the
 * model partitions) are searched side by side: any illegal partition makes the history illegal; the verdict is
 * `unknown` only when none is illegal and one is undecided.
 */
export function checkLinearizable<S extends Defined, I, O>(
  history: History,
  model: Model<S, I, O>,
  options: CheckOptions = {},
): CheckResult {
  const started = performance.now();
  const opt = { ...DEFAULTS, ...options };
  const limits: Limits = {
    deadline: opt.timeoutMs === undefined ? Infinity : started + opt.timeoutMs,
    memory: new MemoryBudget(opt.maxMemoBytes),
  };
  const m = model as unknown as Model<S, unknown, unknown>;
  const elapsed = () => performance.now() - started;
  const p = prepare(history, m);
  if (!p.ok) return { verdict: 'invalid', error: p.error, ops: p.ops, durationMs: elapsed() };

  const run = searchPartitions(m, p.partitions, limits, opt.maxSteps);
  if (run.illegal !== undefined) {
    const { key, steps, furthest } = run.illegal;
    const partition = m.partition === undefined ? undefined : key;
    const cx = counterexample(m, p.partitions.get(key)!, limits, opt, { steps, furthest }, history, partition);
    const rendered = renderCounterexample(cx);
    return { verdict: 'not-linearizable', counterexample: cx, rendered, ops: p.ops, durationMs: elapsed() };
  }
  if (run.undecided.length > 0) {
    const reason = undecidedReason(run, opt, m.partition !== undefined);
    return { verdict: 'unknown', reason, ops: p.ops, durationMs: elapsed() };
  }
  return { verdict: 'linearizable', ops: p.ops, durationMs: elapsed() };
}

/** Why a partition was left undecided. */
type Stop = typeof Outcome.OutOfTime | typeof Outcome.OutOfMemory | typeof Outcome.Paused;

interface PartitionRun {
  /** The first partition shown illegal, if any, with its search's steps and `furthest` return (see `Search`). */
  readonly illegal?: { readonly key: string; readonly steps: number; readonly furthest: number };
  /** Partitions without an answer, in order of first appearance, with what stopped them. */
  readonly undecided: readonly { readonly key: string; readonly stop: Stop }[];
}

/**
 * Round-robin over the partitions, `SLICE` steps each in turn, until one is illegal, all are answered, or the
 * `maxSteps` budget is spent. Deterministic: the same partitions take the same steps in the same order.
 */
function searchPartitions<S extends Defined>(
  m: Model<S, unknown, unknown>,
  partitions: ReadonlyMap<string, readonly Prepared[]>,
  limits: Limits,
  maxSteps: number,
): PartitionRun {
  const tasks = [...partitions].map(([key, prepared]) => ({
    key,
    decision: new Decision(m, m.init(), toItems(prepared, Infinity), limits),
  }));
  const status = new Map<string, Stop | 'done'>();
  let spent = 0;
  try {
    let active = tasks;
    rounds: while (active.length > 0) {
      const next: typeof tasks = [];
      for (const t of active) {
        if (spent >= maxSteps) {
          status.set(t.key, Outcome.Paused);
          continue;
        }
        const before = t.decision.steps;
        // A single partition gets the whole budget at once: there is nothing to interleave it with.
        const slice = tasks.length === 1 ? maxSteps - spent : Math.min(SLICE, maxSteps - spent);
        const o = t.decision.run(slice);
        spent += t.decision.steps - before;
        if (o === Outcome.Illegal) {
          return { illegal: { key: t.key, steps: t.decision.steps, furthest: t.decision.furthest }, undecided: [] };
        }
        if (o === Outcome.Linearizable) status.set(t.key, 'done');
        else if (o === Outcome.Paused) next.push(t);
        else if (o === Outcome.OutOfMemory) status.set(t.key, o);
        else {
          // The wall clock ran out, for every partition still searching.
          for (const u of tasks) if (!status.has(u.key)) status.set(u.key, Outcome.OutOfTime);
          break rounds;
        }
      }
      active = next;
    }
  } finally {
    for (const t of tasks) t.decision.release();
  }
  const undecided: { key: string; stop: Stop }[] = [];
  for (const t of tasks) {
    const st = status.get(t.key);
    if (st !== undefined && st !== 'done') undecided.push({ key: t.key, stop: st });
  }
  return { undecided };
}

/** The reason of an `unknown` verdict: what ran out, and on which keys (when the model partitions). */
function undecidedReason(run: PartitionRun, opt: CheckOptions & typeof DEFAULTS, partitioned: boolean): string {
  const first = run.undecided[0]!;
  const keys = run.undecided.map((u) => JSON.stringify(u.key));
  const list = keys.length === 1 ? keys[0] : `${keys.slice(0, -1).join(', ')} and ${keys.at(-1)}`;
  const where = !partitioned ? '' : ` on key${keys.length === 1 ? '' : 's'} ${list}`;
  switch (first.stop) {
    case Outcome.OutOfTime:
      return `no answer within the ${opt.timeoutMs} ms budget${where}`;
    case Outcome.OutOfMemory:
      return `the search outgrew its ${Math.round(opt.maxMemoBytes / 1048576)} MiB memory budget${where}`;
    default:
      return `no answer within the budget of ${opt.maxSteps.toLocaleString('en-US')} search steps${where}`;
  }
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
  opt: CheckOptions & typeof DEFAULTS,
  verdict: { readonly steps: number; readonly furthest: number },
  history: History,
  key: string | undefined,
): Counterexample {
  let truncated = false;
  // One budget of steps for both stages, so that the text, like the verdict, is the same under any load.
  let budget = opt.minimiseSteps;
  const shrinkLimits: Limits = { ...limits, deadline: Infinity };
  // Forgetting outcomes can make a search much bigger (each forgotten append may happen or not): an attempt may
  // take a bounded multiple of what refuting the whole prefix took, and one that needs more keeps its operations.
  let base = verdict.steps;
  const attempt = (items: readonly Item[], capped: boolean): Outcome => {
    const cap = capped ? Math.max(ATTEMPT_FLOOR, ATTEMPT_FACTOR * base) : Infinity;
    const r = decide(m, m.init(), items, shrinkLimits, Math.min(budget, cap));
    budget -= r.steps;
    return r.outcome;
  };
  const cuts = prepared
    .filter((p) => p.output !== undefined)
    .map((p) => p.op.complete)
    .sort((a, b) => a - b);
  // Illegality only grows with the prefix: binary search the first illegal cut (the last one is the whole). The
  // verdict's search was stopped by the return at `furthest` and never got past it, so every cut before it is
  // linearizable and the culprit is usually that very operation: try it first.
  let lo = Math.max(0, cuts.indexOf(verdict.furthest));
  let hi = cuts.length - 1;
  let probe = lo;
  while (lo < hi) {
    const before = budget;
    const o = attempt(toItems(prepared, cuts[probe]!), false);
    if (o === Outcome.Illegal) {
      hi = probe;
      base = before - budget;
    } else {
      if (o !== Outcome.Linearizable) truncated = true;
      lo = probe + 1;
    }
    probe = (lo + hi) >>> 1;
  }
  const cut = cuts[lo]!;
  const culprit = prepared.find((p) => p.output !== undefined && p.op.complete === cut)!;
  const prefix = prepared.filter((p) => p.op.invoke <= cut);
  let kept = prefix.filter((p) => p !== culprit && p.output !== undefined && p.op.complete < cut);

  const deadline = opt.minimiseMs === undefined ? Infinity : performance.now() + opt.minimiseMs;
  let reuse = true;
  /** Whether the witness stays illegal without `candidate`'s complement: illegal, legal, or undecided (capped). */
  const test = (candidate: readonly Prepared[]): Outcome => {
    if (budget <= 0 || performance.now() > deadline) {
      truncated = true;
      return Outcome.Paused;
    }
    const keep = new Set(candidate);
    keep.add(culprit);
    let o = attempt(toItems(prefix, cut, keep, reuse), true);
    if (o === Outcome.NotIdempotent) {
      // This model's operations cannot be replayed freely (appends): forget outcomes, but use each at most once.
      reuse = false;
      o = attempt(toItems(prefix, cut, keep, reuse), true);
    }
    if (o !== Outcome.Illegal && o !== Outcome.Linearizable) truncated = true;
    return o;
  };
  // Delta debugging: drop chunks, halving the chunk size, then single operations until none can go. In a single
  // pass, the operations after its last removal were tried against the final set already: the next pass stops there.
  // A chunk too costly to decide means its neighbours likely are too: go on with smaller chunks at once.
  let bound = kept.length;
  for (let chunk = Math.max(1, kept.length >>> 1); ; chunk = Math.max(1, chunk >>> 1)) {
    let end = chunk === 1 ? bound : Infinity;
    let lastRemoval = -1;
    for (let i = 0; i < Math.min(end, kept.length); ) {
      const candidate = kept.slice(0, i).concat(kept.slice(i + chunk));
      const o = test(candidate);
      if (o === Outcome.Illegal) {
        kept = candidate;
        lastRemoval = i;
        end -= chunk;
      } else if (o !== Outcome.Linearizable && chunk > 1) {
        break;
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
