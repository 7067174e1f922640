// A Jepsen-style history: what clients asked for and what they were told, in order.

/**
 * `invoke` starts an operation; `ok` says it took effect; `fail` says it certainly did not;
 * `info` (and an invoke with no completion at all) says it may or may not have taken effect.
 */
export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

export interface HistoryEvent {
  /** The client process; one process has at most one operation outstanding. */
  readonly process: number;
  readonly type: OpType;
  /** The operation's function: `read`, `write`, `cas`, `get`, `put`, `append`, or an exercise's own. */
  readonly f: string;
  /** The argument on `invoke`, the result on `ok`. */
  readonly value: unknown;
  /** The key, for per-key (P-compositional) checking. */
  readonly key?: string;
  /** Virtual (or real) time in ms, when known. */
  readonly time?: number;
}

export type History = readonly HistoryEvent[];
