// The one error a hidden test throws when a property fails: a readable report plus the data to replay it.

export interface FailureFacts {
  /** The violated property, in plain words ("every node replays the same order"). */
  readonly property: string;
  /** The seed that reproduces the failure with `dlab replay`. */
  readonly seed?: number;
  /** fast-check's shrink path, when the case came from fast-check. */
  readonly path?: string;
  /** The command that replays this case. */
  readonly replay?: string;
}

/**
 * Thrown by checkers and property helpers. `message` is the whole report (property, counterexample, seed,
 * schedule, diagram, replay command); `dlab` carries the structured facts the runner records.
 * Vitest serialises own enumerable fields, so the runner sees `dlab` on the failure.
 */
export class PropertyFailure extends Error {
  readonly dlab: FailureFacts;

  constructor(report: string, facts: FailureFacts) {
    super(report);
    this.name = 'PropertyFailure';
    this.dlab = { ...facts };
  }
}
