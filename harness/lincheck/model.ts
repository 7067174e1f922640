// The sequential specification a history is checked against, and a typed way for exercises to write one.
import type { Operation } from '../history/operations.ts';

/** Any value but `undefined` (which `step` uses to say "illegal"). */
export type Defined = {} | null;

/** A primitive that identifies a state: equal states must give equal keys (compared with SameValueZero). */
export type StateKey = string | number | boolean | bigint | null;

/** What `decode` makes of one operation: the model's input, and its output (`undefined` when unknown). */
export interface Decoded<Input, Output> {
  readonly input: Input;
  readonly output: Output | undefined;
}

/**
 * A deterministic sequential specification. The checker asks `step` whether an operation with this input could
 * have returned this output in this state, and if so which state follows.
 */
export interface Model<State extends Defined, Input = unknown, Output = unknown> {
  /** Named in reports: `cas-register`, `kv`, or the exercise's own. */
  readonly name: string;
  /** The state before any operation. */
  init(): State;
  /**
   * Reads one `ok` or `info` operation of the history into the model's terms; a string is the reason the
   * operation makes no sense for this model (a bad history, reported as such). For an `info` operation (or an
   * invocation that never completed) return `output: undefined`.
   */
  decode(op: Operation): Decoded<Input, Output> | string;
  /**
   * The state after the operation, or `undefined` if `output` is impossible in `state`. `output` is `undefined`
   * when the outcome is unknown: accept it, and return the state as if the operation took effect.
   */
  step(state: State, input: Input, output: Output | undefined): State | undefined;
  /** Identifies a state for memoisation; without it, states must themselves be primitives. */
  key?(state: State): StateKey;
  /**
   * P-compositionality: operations on different partitions (keys) are independent and are checked separately.
   * Without it, the whole history is one partition.
   */
  partition?(op: Operation): string;
  /** One operation in a counterexample, as a reader would write it: `write(3)`, `read() -> 3`. */
  describe?(op: Operation): string;
}

/** Any model, whatever its types (for code that only passes models along, such as the CLI). */
export type AnyModel = Model<Defined, unknown, unknown>;

/** What `defineModel` needs; `decode` may be left out, and then inputs and outputs are the history's values. */
export interface ModelSpec<State extends Defined, Input, Output> {
  readonly name: string;
  init(): State;
  decode?(op: Operation): Decoded<Input, Output> | string;
  step(state: State, input: Input, output: Output | undefined): State | undefined;
  key?(state: State): StateKey;
  partition?(op: Operation): string;
  describe?(op: Operation): string;
}

/** The input of a model without its own `decode`: the operation's function and argument. */
export interface RawInput {
  readonly f: string;
  readonly value: unknown;
}

/**
 * Builds a model for an exercise. Without `decode`, `step` sees `{ f, value }` and the `ok` result as it is in
 * the history (an `info` operation's output is `undefined`):
 *
 *     const counter = defineModel({
 *       name: 'counter',
 *       init: () => 0,
 *       step: (n, op, out) => (op.f === 'inc' ? n + 1 : out === undefined || out === n ? n : undefined),
 *     });
 */
export function defineModel<State extends Defined, Input, Output>(
  spec: ModelSpec<State, Input, Output> & Pick<Required<ModelSpec<State, Input, Output>>, 'decode'>,
): Model<State, Input, Output>;
export function defineModel<State extends Defined>(spec: ModelSpec<State, RawInput, unknown>): Model<State, RawInput, unknown>;
export function defineModel<State extends Defined, Input, Output>(
  spec: ModelSpec<State, Input, Output>,
): Model<State, Input, Output> {
  const decode = spec.decode ?? (rawDecode as unknown as (op: Operation) => Decoded<Input, Output>);
  return { ...spec, decode };
}

function rawDecode(op: Operation): Decoded<RawInput, unknown> {
  return { input: { f: op.f, value: op.value }, output: op.status === 'ok' ? op.result : undefined };
}
