// Pure fast-check properties with dlab's failure report: plain-words property, counterexample, seed, replay.
import fc from 'fast-check';
import { PropertyFailure, writeReplayOut } from './report.ts';
import { isReplayOf, replayCommand, runConfig, SEED_STRIDE, seedFor, type RunConfig } from './run-config.ts';

export interface PropertyOptions {
  /** Runs per fixed seed (default 200). */
  readonly numRuns?: number;
  /** The fixed seed for this property, distinct within the exercise, in [0, 65536) (see SEED_STRIDE). */
  readonly seed: number;
  /** Hand-picked inputs tried first, so a classic bug fails fast and with a small example. */
  readonly examples?: readonly unknown[][];
}

function show(value: unknown): string {
  return fc.stringify(value);
}

/**
 * Checks `predicate` on values from `arbs`; a predicate fails by returning false or throwing.
 * On failure throws PropertyFailure: the property in plain words, the shrunk counterexample, the reason,
 * the seed and the replay command. Under `dlab replay` it runs exactly the given seed and path.
 */
export function checkProperty<Ts extends [unknown, ...unknown[]]>(
  property: string,
  arbs: { [K in keyof Ts]: fc.Arbitrary<Ts[K]> },
  predicate: (...args: Ts) => boolean | void,
  opts: PropertyOptions,
  cfg: RunConfig = runConfig(),
): void {
  if (!Number.isInteger(opts.seed) || opts.seed < 0 || opts.seed >= SEED_STRIDE) throw new Error(`checkProperty: seed ${opts.seed} must be an integer in [0, ${SEED_STRIDE})`);
  const replaying = cfg.replay !== undefined;
  // A replay names one property by its seed; every other property of the file stands aside.
  if (replaying && !isReplayOf(opts.seed, cfg)) return;
  const seed = cfg.replay?.seed ?? seedFor(opts.seed, cfg);
  const params: fc.Parameters<Ts> = {
    seed,
    numRuns: opts.numRuns ?? 200,
    ...(cfg.replay?.path !== undefined ? { path: cfg.replay.path } : {}),
    // Examples come first in fast-check's numbering, so they stay in a replay to keep paths valid.
    ...(opts.examples !== undefined ? { examples: opts.examples as Ts[] } : {}),
  };
  const prop = fc.property(...(arbs as unknown as [fc.Arbitrary<unknown>]), ((...args: unknown[]) => predicate(...(args as Ts))) as never);
  const details = fc.check(prop as unknown as fc.IProperty<Ts>, params);
  if (!details.failed) {
    if (replaying) writeReplayOut(`✓ ${property}\n  this case passes now (seed ${seed}${cfg.replay?.path !== undefined ? `, path ${cfg.replay.path}` : ''})\n`, cfg);
    return;
  }
  const example = details.counterexample === null ? '(none)' : details.counterexample.map(show).join(', ');
  const reason = details.errorInstance instanceof Error ? details.errorInstance.message : 'the check returned false';
  const replay = replayCommand(details.seed, details.counterexamplePath ?? undefined, cfg);
  const report = [
    `Property violated: ${property}`,
    `Counterexample: ${example}`,
    `Why: ${reason}`,
    `Found after ${details.numRuns} run${details.numRuns === 1 ? '' : 's'}, shrunk ${details.numShrinks} time${details.numShrinks === 1 ? '' : 's'}; seed ${details.seed}, path ${details.counterexamplePath ?? '-'}`,
    `Replay: ${replay}`,
  ].join('\n');
  if (replaying) writeReplayOut(report + '\n', cfg);
  throw new PropertyFailure(report, {
    property,
    seed: details.seed,
    ...(details.counterexamplePath !== null ? { path: details.counterexamplePath } : {}),
    replay,
  });
}
