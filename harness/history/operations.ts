// Pairs a history's invocations with their completions: the operations a checker reasons about.
import type { History } from './types.ts';

/**
 * How an operation ended: `ok` took effect with `result`; `fail` certainly did not take effect; `info` may or
 * may not have taken effect (an `info` completion, or an invocation that never completed).
 */
export type OpStatus = 'ok' | 'fail' | 'info';

export interface Operation {
  /** Position in the list of operations (operations are listed in the order they were invoked). */
  readonly id: number;
  readonly process: number;
  readonly f: string;
  readonly key: string | undefined;
  /** The invocation's value: the argument. */
  readonly value: unknown;
  /** The `ok` completion's value; `undefined` unless `status` is `ok`. */
  readonly result: unknown;
  readonly status: OpStatus;
  /** Index of the invoke event in the history. */
  readonly invoke: number;
  /** Index of the completion event in the history, or -1 when the invocation never completed. */
  readonly complete: number;
}

export type HistoryErrorCode = 'orphan-completion' | 'double-invoke' | 'mismatched-completion' | 'bad-event';

/** Why a history is not well formed; `index` is the offending event's position in the history. */
export interface HistoryError {
  readonly code: HistoryErrorCode;
  readonly message: string;
  readonly index: number;
}

export type PairResult =
  | { readonly ok: true; readonly operations: readonly Operation[] }
  | { readonly ok: false; readonly error: HistoryError };

interface Open {
  id: number;
  process: number;
  f: string;
  key: string | undefined;
  value: unknown;
  invoke: number;
}

/**
 * Pairs each invocation with the next completion of the same process. A process has at most one operation in
 * flight; after an `info` completion it may invoke again (the earlier operation stays possibly in effect).
 */
export function pairOperations(history: History): PairResult {
  const open = new Map<number, Open>();
  const ops: Operation[] = [];
  const done: (Operation | undefined)[] = [];
  for (let i = 0; i < history.length; i++) {
    const e = history[i]!;
    if (!Number.isInteger(e.process)) {
      return fail('bad-event', `event ${i}: process must be an integer, got ${String(e.process)}`, i);
    }
    if (e.type === 'invoke') {
      const prev = open.get(e.process);
      if (prev !== undefined) {
        return fail(
          'double-invoke',
          `event ${i}: process ${e.process} invokes ${e.f} while its ${prev.f} (event ${prev.invoke}) is still in flight`,
          i,
        );
      }
      const id = done.length;
      done.push(undefined);
      open.set(e.process, { id, process: e.process, f: e.f, key: e.key, value: e.value, invoke: i });
      continue;
    }
    if (e.type !== 'ok' && e.type !== 'fail' && e.type !== 'info') {
      return fail('bad-event', `event ${i}: unknown type ${String(e.type)}`, i);
    }
    const o = open.get(e.process);
    if (o === undefined) {
      return fail('orphan-completion', `event ${i}: process ${e.process} completes ${e.f} but invoked nothing`, i);
    }
    if (o.f !== e.f) {
      return fail(
        'mismatched-completion',
        `event ${i}: process ${e.process} invoked ${o.f} (event ${o.invoke}) but completes ${e.f}`,
        i,
      );
    }
    open.delete(e.process);
    done[o.id] = {
      id: o.id,
      process: o.process,
      f: o.f,
      key: o.key ?? e.key,
      value: o.value,
      result: e.type === 'ok' ? e.value : undefined,
      status: e.type,
      invoke: o.invoke,
      complete: i,
    };
  }
  for (const o of open.values()) {
    done[o.id] = {
      id: o.id,
      process: o.process,
      f: o.f,
      key: o.key,
      value: o.value,
      result: undefined,
      status: 'info',
      invoke: o.invoke,
      complete: -1,
    };
  }
  for (const op of done) ops.push(op!);
  return { ok: true, operations: ops };
}

function fail(code: HistoryErrorCode, message: string, index: number): PairResult {
  return { ok: false, error: { code, message, index } };
}
