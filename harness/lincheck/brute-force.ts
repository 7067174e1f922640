// A brute-force linearizability oracle for the tests: tries every order of the completed operations, with each
// operation of unknown outcome placed anywhere after its invocation, or nowhere. Exponential, so only for small
// histories (about eight operations); it shares no code with the checker, so that the two can check each other.
import { pairOperations } from '../history/operations.ts';
import type { HistoryEvent } from '../history/types.ts';

/** An operation as the oracle sees it: its outcome `known` (an `ok`), or not (`info`, or never completed). */
export interface RefOp {
  readonly f: string;
  readonly key: string | undefined;
  readonly value: unknown;
  readonly result: unknown;
  readonly known: boolean;
  /** Positions of the invocation and the completion in the history (`Infinity` when the outcome is unknown). */
  readonly call: number;
  readonly ret: number;
}

/** The next state after `op`, or undefined when `op`'s known result is impossible in `state`. */
export type RefStep<S> = (state: S, op: RefOp) => S | undefined;

/** Whether some order of the operations respects real time and the sequential specification `step`. */
export function bruteLinearizable<S>(ops: readonly RefOp[], init: S, step: RefStep<S>): boolean {
  const done = ops.map(() => false);
  const go = (state: S): boolean => {
    if (ops.every((o, i) => done[i] || !o.known)) return true;
    for (let x = 0; x < ops.length; x++) {
      if (done[x]) continue;
      // x may come next only if no unplaced known operation completed before x was invoked.
      if (ops.some((y, j) => !done[j] && j !== x && y.known && y.ret < ops[x]!.call)) continue;
      const next = step(state, ops[x]!);
      if (next === undefined) continue;
      done[x] = true;
      if (go(next)) return true;
      done[x] = false;
    }
    return false;
  };
  return go(init);
}

/** The operations of a history, failed ones dropped (they did not happen). */
export function refOps(history: readonly HistoryEvent[]): RefOp[] {
  const paired = pairOperations(history);
  if (!paired.ok) throw new Error(paired.error.message);
  return paired.operations
    .filter((o) => o.status !== 'fail')
    .map((o) => ({
      f: o.f,
      key: o.key,
      value: o.value,
      result: o.result,
      known: o.status === 'ok',
      call: o.invoke,
      ret: o.status === 'ok' ? o.complete : Infinity,
    }));
}

/** A value of the register histories the tests build: small integers, or nil. */
export type RefValue = number | null;

/**
 * A register with read, write and cas (`[from to]`). With `nilUnknown`, a completed read of nil fits any state,
 * as in Knossos's `Register` and `CASRegister`; otherwise it reads the value nil.
 */
export function registerStep(nilUnknown = false): RefStep<RefValue> {
  return (state, op) => {
    switch (op.f) {
      case 'read':
        if (!op.known || (nilUnknown && op.result === null)) return state;
        return op.result === state ? state : undefined;
      case 'write':
        return op.value as RefValue;
      case 'cas': {
        const [from, to] = op.value as [RefValue, RefValue];
        if (state === from) return to;
        // A cas that did not swap failed, and a failed one is not in the history; one of unknown outcome may have.
        return op.known ? undefined : state;
      }
      default:
        throw new Error(`a register has no ${op.f}`);
    }
  };
}

/** A whole key-value store (every key at once, not one key at a time as the checker goes), keys starting at "". */
export const kvStep: RefStep<Readonly<Record<string, string>>> = (store, op) => {
  const key = op.key ?? '';
  const current = store[key] ?? '';
  switch (op.f) {
    case 'get':
      return !op.known || (op.result ?? '') === current ? store : undefined;
    case 'put':
      return { ...store, [key]: op.value as string };
    case 'append':
      return { ...store, [key]: current + (op.value as string) };
    default:
      throw new Error(`a kv store has no ${op.f}`);
  }
};
