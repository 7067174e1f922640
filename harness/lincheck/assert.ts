// One-line linearizability assertion for hidden tests: throws a PropertyFailure that explains the violation.
import type { History } from '../history/types.ts';
import { PropertyFailure, type FailureFacts } from '../report.ts';
import { checkLinearizable, type CheckOptions, type CheckResult } from './checker.ts';
import type { Defined, Model } from './model.ts';

export interface AssertOptions extends CheckOptions {
  /** The property in plain words; default "every operation appears to take effect at one instant ...". */
  readonly property?: string;
  /** Passed through to the failure so that the report can say how to replay the case. */
  readonly seed?: number;
  readonly path?: string;
  readonly replay?: string;
}

const PROPERTY = 'every operation appears to take effect at one instant between its invocation and its completion';

/**
 * Returns the check's result when `history` is linearizable for `model`; otherwise throws a `PropertyFailure`
 * whose message is the rendered counterexample. An undecided check (budget exhausted) and a history the model
 * cannot read fail too: the assertion is that linearizability was shown.
 */
export function assertLinearizable<S extends Defined, I, O>(
  history: History,
  model: Model<S, I, O>,
  options: AssertOptions = {},
): CheckResult & { readonly verdict: 'linearizable' } {
  const result = checkLinearizable(history, model, options);
  if (result.verdict === 'linearizable') return result;
  const property = options.property ?? PROPERTY;
  const facts: FailureFacts = {
    property,
    ...(options.seed === undefined ? {} : { seed: options.seed }),
    ...(options.path === undefined ? {} : { path: options.path }),
    ...(options.replay === undefined ? {} : { replay: options.replay }),
  };
  const head = `Linearizability (${model.name}): ${property}.`;
  const tail = [
    options.seed === undefined ? undefined : `seed: ${options.seed}${options.path === undefined ? '' : ` (path ${options.path})`}`,
    options.replay === undefined ? undefined : `replay: ${options.replay}`,
  ].filter((l) => l !== undefined);
  let body: string;
  switch (result.verdict) {
    case 'not-linearizable':
      body = result.rendered;
      break;
    case 'unknown':
      body =
        `could not decide: ${result.reason} (${result.ops} operations). ` +
        'A smaller history, or fewer operations left without a reply, makes it decidable.';
      break;
    case 'invalid':
      body = `the history cannot be checked: ${result.error.message}`;
      break;
  }
  throw new PropertyFailure([head, '', body, ...(tail.length > 0 ? ['', ...tail] : [])].join('\n'), facts);
}
